"""The readers under files a student's tools really produce: separators inside strings, huge numbers, deep
nesting, a JSON array with a missing comma, wrong paths and splits."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefkit.data import DataError, load_preferences
from prefkit.data.read import MAX_DEPTH, read_records

GOOD = Path(__file__).parent / "data" / "good"


def _pair(chosen: str, **extra) -> str:
    return json.dumps({"prompt": "how do i bake bread ?", "chosen": chosen, "rejected": "no .", **extra},
                      ensure_ascii=False)


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\u0085", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e"])
def test_jsonl_strings_may_hold_characters_that_splitlines_would_split_on(sep, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(_pair(f"first{sep}second") + "\n" + _pair("plain") + "\n", encoding="utf-8")
    assert load_preferences(path)["chosen"] == [f"first{sep}second", "plain"]


def test_line_numbers_stay_exact_after_such_characters(tmp_path):
    path = tmp_path / "pairs.jsonl"
    lines = [_pair("a\u2028b"), _pair("c\u0085d"), "", _pair("ok"), '{"prompt": "x", "chosen": "y" "rejected": "z"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.jsonl, line 5: invalid JSON \(Expecting ',' delimiter"):
        load_preferences(path)
    path.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    assert [line for line, _ in read_records(path)] == [1, 2, 4]
    path.write_text("\r\n".join(lines[:4]) + "\r\n", encoding="utf-8")  # Windows line ends
    assert [line for line, _ in read_records(path)] == [1, 2, 4]


@pytest.mark.parametrize("value, problem", [
    ("9" * 401, r"the integer 9{20}\.\.\. \(401 digits\) is outside the 64-bit range"),
    ("-" + "9" * 5000, r"the integer -9{19}\.\.\. \(5000 digits\) is outside the 64-bit range"),
    (str(2**63), r"the integer 9223372036854775808 \(19 digits\) is outside the 64-bit range"),
    ("1e400", r"the number 1e400 is too large for a float"),
    ("-2.5e999", r"the number -2.5e999 is too large for a float"),
])
def test_numbers_python_or_arrow_cannot_hold_are_a_data_error_on_their_line(value, problem, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(_pair("fine") + "\n" + _pair("x")[:-1] + f', "margin": {value}}}\n')
    with pytest.raises(DataError, match=rf"pairs.jsonl, line 2: {problem}"):
        load_preferences(path)
    edge = tmp_path / "edge.jsonl"
    edge.write_text(_pair("x", votes=2**63 - 1) + "\n")  # the largest integer that fits still loads, exactly
    assert load_preferences(edge)["votes"] == [2**63 - 1]


@pytest.mark.parametrize("depth, problem", [(MAX_DEPTH + 1, "nests lists and objects more than 64 levels deep"),
                                            (100_000, "nested too deeply to parse")])
def test_deep_nesting_is_a_data_error_on_its_line(depth, problem, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(_pair("fine") + "\n" + _pair("x")[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}\n")
    with pytest.raises(DataError, match=f"pairs.jsonl, line 2: the record (is )?{problem}"):
        load_preferences(path)


def test_a_json_array_must_parse_completely(tmp_path):
    a, b = _pair("first"), _pair("second")
    cases = {"missing comma": (f"[\n{a}\n{b}\n]", r"line 3: expected ',' or '\]' after the record that starts on line 2"),
             "trailing comma": (f"[\n{a},\n]", r"line 3: a comma before the closing '\]'"),
             "double comma": (f"[\n{a},,\n{b}\n]", r"line 2: invalid JSON"),
             "leading comma": (f"[,\n{a}\n]", r"line 1: invalid JSON"),
             "not closed": (f"[\n{a},\n{b}\n", r"line 4: the JSON array is not closed"),
             "text after": (f"[\n{a}\n] x", r"line 3: unexpected text after the closing '\]'")}
    for name, (text, problem) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_text(text)
        with pytest.raises(DataError, match=problem):
            load_preferences(path)
    ok = tmp_path / "ok.json"
    ok.write_text(f"[\n{a},\n  {b}\n]\n")
    assert [line for line, _ in read_records(ok)] == [2, 3]
    assert load_preferences(ok)["chosen"] == ["first", "second"]


def test_a_jsonl_line_with_two_records_is_an_error(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(_pair("a") + " " + _pair("b") + "\n")
    with pytest.raises(DataError, match="line 1: unexpected text after the record"):
        load_preferences(path)


def test_path_and_split_problems_are_data_errors_that_list_what_exists(tmp_path):
    (tmp_path / "prefs").mkdir()
    (tmp_path / "prefs" / "clean").mkdir()
    (tmp_path / "prefs" / "notes.txt").write_text("not data")
    (tmp_path / "prefs" / "pairs.jsonl").write_text(_pair("a") + "\n")
    with pytest.raises(DataError, match=r"prefs/clan: no such file or folder .*prefs holds clean/, pairs.jsonl$"):
        load_preferences(tmp_path / "prefs" / "clan")
    with pytest.raises(DataError, match=r"prefs/x/y/z.jsonl: no such file or folder .*prefs holds clean/"):
        load_preferences(tmp_path / "prefs" / "x" / "y" / "z.jsonl")
    with pytest.raises(DataError, match=r"splits: the folder has no split 'validation' .*use one of its splits: "
                                        r"test, train$"):
        load_preferences(GOOD / "splits", split="validation")
    with pytest.raises(DataError, match=r"clean: the folder has no split 'train' .*put the data in train.jsonl "
                                        r"there; the folder holds no data files or folders$"):
        load_preferences(tmp_path / "prefs" / "clean")
    with pytest.raises(DataError, match=r"pairs.jsonl: a single file has only the 'train' split \(asked for 'test'\)"):
        load_preferences(tmp_path / "prefs" / "pairs.jsonl", split="test")
    with pytest.raises(DataError, match=r"split 'train\[::2\]': the slice \[::2\] is not a slice"):
        load_preferences(GOOD / "splits", split="train[::2]")
    with pytest.raises(DataError, match=r"split 'tr ain': not a split name"):
        load_preferences(GOOD / "splits", split="tr ain")

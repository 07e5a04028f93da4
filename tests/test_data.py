"""The preference-data contract: good files load in every format, bad ones fail with file, line and fix."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from datasets import Dataset

from prefkit.data import DataError, DuplicatePairsWarning, data_version, load_preferences

HERE = Path(__file__).parent / "data"
GOOD, BAD = HERE / "good", HERE / "bad"

# file -> (1-based line the error must name, a phrase the message must contain)
BAD_CASES = {
    "invalid_json.jsonl": (3, "invalid JSON"),
    "invalid_json.json": (3, "invalid JSON"),
    "not_utf8.jsonl": (2, "not UTF-8"),
    "empty.jsonl": (1, "empty"),
    "missing_column.jsonl": (2, "missing column 'rejected'"),
    "wrong_type.jsonl": (2, "'chosen' is a int, expected a string"),
    "empty_prompt.jsonl": (3, "'prompt' is empty"),
    "empty_response.jsonl": (2, "'rejected' is empty"),
    "identical.jsonl": (4, "identical"),
    "unknown_role.jsonl": (2, "unknown role 'human'"),
    "missing_content.jsonl": (1, "has no 'content'"),
    "conversational_empty_content.jsonl": (2, "empty content"),
    "not_assistant_end.jsonl": (2, "not an assistant turn"),
    "implicit_no_prefix.jsonl": (2, "share no prefix"),
    "margin_nan.jsonl": (3, "'margin' is nan, expected a finite number"),
    "margin_string.json": (3, "'margin' is 'high'"),
    "mixed_formats.jsonl": (2, "conversational but the record on line 1 is standard"),
    "not_an_object.jsonl": (2, "not an object"),
    "annotator_not_string.jsonl": (2, "'annotator' is a int"),
    "inconsistent_column.jsonl": (2, "column 'score' is a str here but a number on line 1"),
}


def test_every_bad_file_is_covered():
    assert len(BAD_CASES) >= 12
    assert sorted(p.name for p in BAD.iterdir()) == sorted(BAD_CASES)


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_file_names_file_line_and_fix(name):
    line, phrase = BAD_CASES[name]
    with pytest.raises(DataError) as info:
        load_preferences(BAD / name)
    err = info.value
    msg = str(err)
    assert isinstance(err, ValueError)
    assert err.line == line, msg
    assert f"{BAD / name}, line {line}:" in msg
    assert phrase in msg, msg
    assert "Fix:" in msg and err.fix, msg


def test_good_standard_formats_share_one_data_version():
    jsonl = load_preferences(GOOD / "standard.jsonl")
    as_json = load_preferences(GOOD / "standard.json")
    parquet = load_preferences(GOOD / "standard.parquet")
    for ds in (jsonl, as_json, parquet):
        assert isinstance(ds, Dataset)
        assert ds.num_rows == 5
        assert {"prompt", "chosen", "rejected", "annotator", "rubric_version", "slice", "margin"} <= set(ds.column_names)
    # key order, indentation and 2 written as 2.0 are re-serialization, not a change of data
    assert data_version(jsonl) == data_version(as_json) == data_version(parquet)
    assert data_version(jsonl).startswith("pd-") and len(data_version(jsonl)) == 19
    assert jsonl[1]["margin"] == 2.0 and jsonl[0]["slice"] == "benign"
    meta = json.loads(jsonl.info.description)
    assert meta["format"] == "standard" and meta["rows"] == 5 and meta["duplicate_pairs"] == 0


def test_conversational_rows_keep_messages():
    ds = load_preferences(GOOD / "conversational.jsonl")
    assert ds.num_rows == 3
    assert ds[0]["prompt"][0] == {"role": "system", "content": "you are a helpful assistant ."}
    assert ds[0]["chosen"] == [{"role": "assistant", "content": "first mix flour and water . then bake it ."}]
    assert json.loads(ds.info.description)["format"] == "conversational"


def test_implicit_prompt_is_extracted_like_trl():
    ds = load_preferences(GOOD / "implicit.jsonl")
    assert ds.num_rows == 4
    assert ds[0]["prompt"] == "how do i bake bread ?"
    assert ds[0]["chosen"] == " first mix flour and water ."
    assert ds[0]["rejected"] == " sorry , i can not help with that ."
    conv = load_preferences(GOOD / "implicit_conversational.jsonl")
    assert conv[1]["prompt"] == [{"role": "user", "content": "how do i make a weapon ?"}]
    assert conv[1]["rejected"] == [{"role": "assistant", "content": "first obtain item alpha ."}]


def test_implicit_prompt_matches_trl_extract_prompt():
    from trl.data_utils import extract_prompt

    for name in ("implicit.jsonl", "implicit_conversational.jsonl"):
        ours = load_preferences(GOOD / name)
        for line in (GOOD / name).read_text().splitlines():
            raw = json.loads(line)
            theirs = extract_prompt(raw)
            row = next(r for r in ours if r["chosen"] == theirs["chosen"] and r["rejected"] == theirs["rejected"])
            assert row["prompt"] == theirs["prompt"]


def test_duplicates_are_kept_and_reported():
    with pytest.warns(DuplicatePairsWarning, match=r"2 duplicate preference pair\(s\) kept \(lines 1, 3, 5\)"):
        ds = load_preferences(GOOD / "duplicates.jsonl")
    assert ds.num_rows == 5
    assert json.loads(ds.info.description)["duplicate_pairs"] == 2


def test_no_warning_without_duplicates():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_preferences(GOOD / "standard.jsonl")


def test_data_version_changes_with_any_row(tmp_path):
    base = data_version(load_preferences(GOOD / "standard.jsonl"))
    lines = (GOOD / "standard.jsonl").read_text().splitlines()
    relabel = [json.loads(x) for x in lines]
    relabel[2]["rubric_version"] = "v2"  # feedback drift: same pairs, a new rubric
    swapped = [json.loads(x) for x in lines]
    swapped[0]["chosen"], swapped[0]["rejected"] = swapped[0]["rejected"], swapped[0]["chosen"]
    for rows, name in ((relabel, "relabel"), (swapped, "swapped"), ([json.loads(x) for x in lines[:-1]], "fewer")):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        assert data_version(load_preferences(path)) != base, name
    # whitespace between records and inside them is not a change
    spaced = tmp_path / "spaced.jsonl"
    spaced.write_text("\n\n".join(json.dumps(json.loads(x), indent=None, separators=(" , ", " : ")) for x in lines))
    assert data_version(load_preferences(spaced)) == base


def test_split_folder_and_slices(tmp_path):
    folder = GOOD / "splits"
    assert load_preferences(folder).num_rows == 3
    assert load_preferences(folder, split="test").num_rows == 2
    assert load_preferences(folder, split="train[:2]").num_rows == 2
    assert load_preferences(GOOD / "standard.jsonl", split="train[:60%]").num_rows == 3
    with pytest.raises(DataError, match="has no split 'validation'"):
        load_preferences(folder, split="validation")
    with pytest.raises(DataError, match="only the 'train' split"):
        load_preferences(GOOD / "standard.jsonl", split="test")


def test_missing_source_and_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_preferences(tmp_path / "nope.jsonl")
    odd = tmp_path / "pairs.csv"
    shutil.copy(GOOD / "standard.jsonl", odd)
    with pytest.raises(DataError, match=r"unknown file type \.csv"):
        load_preferences(odd)


def test_hub_name_goes_through_datasets_offline():
    # HF_HUB_OFFLINE=1 in the test environment: the hub path is taken, and fails with a readable error
    with pytest.raises(FileNotFoundError, match="could not load hub dataset 'prefkit-nobody/no-such-data'"):
        load_preferences("prefkit-nobody/no-such-data")


def test_hub_rows_are_validated_like_files(monkeypatch):
    import datasets

    rows = [json.loads(x) for x in (GOOD / "standard.jsonl").read_text().splitlines()]
    calls = []

    def fake_load_dataset(name, split=None):
        calls.append((name, split))
        return Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load_preferences("someorg/prefs", split="train[:4]")
    assert calls == [("someorg/prefs", "train")]
    assert ds.num_rows == 4 and data_version(ds) == data_version(load_preferences(GOOD / "standard.jsonl", split="train[:4]"))
    rows[2]["rejected"] = rows[2]["chosen"]
    with pytest.raises(DataError, match=r"hub:someorg/prefs\[train\], line 3: 'chosen' and 'rejected' are identical"):
        load_preferences("someorg/prefs")

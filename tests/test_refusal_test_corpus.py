"""Format checks of the refusal test corpus tests/data/refusal_test.jsonl and of its card in tests/data/README.md.

The corpus is a held-out set of natural refusals and compliances for judging a refusal detector; this file only
checks that the data is well formed and that the card describes it (it does not run any detector).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "refusal_test.jsonl"
CARD = DATA / "README.md"
LABELS = ("refusal", "compliance")
SOURCES = ("written", "smollm2-135m")
REQUIRED = ("prompt", "response", "label", "source")
OPTIONAL = ("note",)
HEADER = "| source | refusal | compliance | total |"


def read_corpus(path: Path) -> list[dict]:
    """The rows of a corpus file; a malformed line fails with its file:line and what to fix."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path}:{n}"
        if not line.strip():
            raise ValueError(f"{where}: empty line; remove it (one JSON object per line)")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not valid JSON ({err.msg} at column {err.colno}); fix the quoting") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: a JSON {type(row).__name__}, expected an object with keys {REQUIRED}")
        missing = [k for k in REQUIRED if k not in row]
        extra = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
        if missing or extra:
            raise ValueError(f"{where}: missing keys {missing}, unknown keys {extra}; "
                             f"keys are {REQUIRED} and optionally {OPTIONAL}")
        for key in ("prompt", "response") + tuple(k for k in OPTIONAL if k in row):
            if not isinstance(row[key], str) or not row[key].strip():
                raise ValueError(f"{where}: '{key}' must be a non-empty string, got {row[key]!r}")
        if row["label"] not in LABELS:
            raise ValueError(f"{where}: label {row['label']!r} is not one of {LABELS}")
        if row["source"] not in SOURCES:
            raise ValueError(f"{where}: source {row['source']!r} is not one of {SOURCES}")
        rows.append(row)
    return rows


def card_counts(text: str) -> dict[str, tuple[int, int, int]]:
    """The counts table of the card's "## refusal_test.jsonl" section: source -> (refusal, compliance, total)."""
    sections = re.split(r"^## ", text, flags=re.M)
    section = next((s for s in sections if s.startswith("refusal_test.jsonl")), None)
    if section is None:
        raise ValueError(f"{CARD}: no section '## refusal_test.jsonl: ...'; add one with the counts table")
    lines = section.splitlines()
    if HEADER not in lines:
        raise ValueError(f"{CARD}: the refusal_test.jsonl section has no table with header {HEADER!r}")
    counts = {}
    for line in lines[lines.index(HEADER) + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        counts[cells[0]] = tuple(int(c) for c in cells[1:])
    return counts


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return read_corpus(CORPUS)


def test_every_line_is_a_valid_row(rows):
    assert len(rows) >= 100


def test_a_bad_line_is_reported_with_file_and_line(tmp_path):
    good = json.dumps({"prompt": "p", "response": "r", "label": "refusal", "source": "written"})
    cases = {'{"prompt": "p", ': "not valid JSON", '["a"]': "expected an object",
             good.replace('"refusal"', '"refused"'): "label 'refused'",
             good.replace('"written"', '"gpt"'): "source 'gpt'",
             good.replace('"r"', '""'): "'response' must be a non-empty string",
             good.replace('"source"', '"origin"'): "missing keys ['source']"}
    for bad, message in cases.items():
        path = tmp_path / "corpus.jsonl"
        path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(f"{path}:2: ")) as err:
            read_corpus(path)
        assert message in str(err.value)


def test_both_labels_come_from_both_sources(rows):
    seen = Counter((r["source"], r["label"]) for r in rows)
    for source in SOURCES:
        for label in LABELS:
            assert seen[source, label] > 0, f"{CORPUS}: no {label} from source {source}"


def test_no_response_appears_twice(rows):
    lines = {}
    for n, r in enumerate(rows, start=1):
        key = " ".join(r["response"].split()).lower()
        assert key not in lines, f"{CORPUS}:{n} repeats the response of line {lines[key]}"
        lines[key] = n


def test_the_card_counts_match_the_file(rows):
    counts = card_counts(CARD.read_text(encoding="utf-8"))
    seen = Counter((r["source"], r["label"]) for r in rows)
    expected = {s: (seen[s, "refusal"], seen[s, "compliance"], seen[s, "refusal"] + seen[s, "compliance"])
                for s in SOURCES}
    expected["all"] = tuple(sum(v[i] for v in expected.values()) for i in range(3))
    assert counts == expected, f"{CARD}: the refusal_test.jsonl table says {counts}, the file has {expected}"

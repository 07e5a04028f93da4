"""Format checks for the refusal development corpus (tests/data/refusal_dev.jsonl, described in tests/data/README.md).

These tests check the file, not any detector: every line is a well-formed record, both labels come from both
sources, no response appears twice, and the counts the card states are the file's.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "data"
CORPUS = HERE / "refusal_dev.jsonl"
CARD = HERE / "README.md"
REQUIRED = {"prompt", "response", "label", "source"}
OPTIONAL = {"note"}
LABELS = {"refusal", "compliance"}
SOURCES = {"written", "smollm2-135m"}


def _problems(path: Path, lineno: int, line: str) -> tuple[dict | None, list[str]]:
    """The record on one line and what is wrong with it, each problem naming ``path:lineno`` and a fix."""
    where = f"{path}:{lineno}"
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        return None, [f"{where}: not valid JSON ({e.msg} at column {e.colno}); write one JSON object per line"]
    if not isinstance(rec, dict):
        return None, [f"{where}: a JSON {type(rec).__name__}, expected an object with keys {sorted(REQUIRED)}"]
    out = []
    if missing := REQUIRED - rec.keys():
        out.append(f"{where}: missing key(s) {sorted(missing)}")
    if extra := rec.keys() - REQUIRED - OPTIONAL:
        out.append(f"{where}: unknown key(s) {sorted(extra)}; allowed are {sorted(REQUIRED | OPTIONAL)}")
    for key in (REQUIRED | OPTIONAL) & rec.keys():
        if not isinstance(rec[key], str) or not rec[key].strip():
            out.append(f"{where}: '{key}' must be a non-empty string, got {rec[key]!r}")
    if "label" in rec and rec["label"] not in LABELS:
        out.append(f"{where}: label {rec['label']!r} is not one of {sorted(LABELS)}")
    if "source" in rec and rec["source"] not in SOURCES:
        out.append(f"{where}: source {rec['source']!r} is not one of {sorted(SOURCES)}")
    return rec, out


def read_corpus(path: Path = CORPUS) -> list[tuple[int, dict]]:
    """``(line number, record)`` for every line of the corpus; raises listing every malformed line."""
    records, problems = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            problems.append(f"{path}:{lineno}: blank line; remove it")
            continue
        rec, found = _problems(path, lineno, line)
        problems += found
        if rec is not None and not found:
            records.append((lineno, rec))
    if problems:
        raise ValueError("\n".join(problems))
    return records


@pytest.fixture(scope="module")
def corpus() -> list[tuple[int, dict]]:
    return read_corpus()


def test_every_line_is_a_well_formed_record(corpus):
    assert len(corpus) >= 150, f"{CORPUS}: only {len(corpus)} records"


def test_a_malformed_line_is_reported_with_its_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"prompt": "p", "response": "r", "label": "refusal", "source": "written"})
    bad.write_text(good + "\n" + '{"prompt": "p", "response": \n' + good.replace("refusal", "maybe") + "\n")
    with pytest.raises(ValueError) as err:
        read_corpus(bad)
    assert f"{bad}:2: not valid JSON" in str(err.value)
    assert f"{bad}:3: label 'maybe'" in str(err.value)
    assert f"{bad}:1" not in str(err.value)


def test_both_labels_come_from_both_sources(corpus):
    seen = Counter((r["source"], r["label"]) for _, r in corpus)
    absent = [(s, lab) for s in sorted(SOURCES) for lab in sorted(LABELS) if not seen[s, lab]]
    assert not absent, f"{CORPUS}: no records for (source, label) {absent}"


def test_no_response_appears_twice(corpus):
    first: dict[str, int] = {}
    repeats = []
    for lineno, rec in corpus:
        key = " ".join(rec["response"].split()).casefold()
        if key in first:
            repeats.append(f"{CORPUS}:{lineno}: same response as line {first[key]}")
        first.setdefault(key, lineno)
    assert not repeats, "\n".join(repeats)


def test_the_card_states_the_files_counts(corpus):
    """The card's table rows read ``| source | refusals | compliances | total |``."""
    section = CARD.read_text().split("## refusal_dev.jsonl", 1)[1].split("\n## ", 1)[0]  # this corpus's section
    rows = dict(re.findall(r"^\| *`?([\w.-]+)`? *\| *(\d+ *\| *\d+ *\| *\d+) *\|", section, re.M))
    counts = Counter((r["source"], r["label"]) for _, r in corpus)
    for source in sorted(SOURCES):
        want = [counts[source, "refusal"], counts[source, "compliance"]]
        want.append(sum(want))
        assert source in rows, f"{CARD}: no row '| {source} | ... |' in the counts table"
        got = [int(n) for n in rows[source].split("|")]
        assert got == want, f"{CARD}: row {source} says {got} (refusals, compliances, total); the file has {want}"

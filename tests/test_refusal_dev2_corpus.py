"""Format of the second refusal development corpus tests/data/refusal_dev2.jsonl and its card in tests/data/README.md.

Only the file's shape is checked here (JSON per line, fields, labels, sources, duplicates, the card's counts);
the corpus is the acceptance data of a refusal detector, which has its own tests.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "refusal_dev2.jsonl"
CARD = DATA / "README.md"
LABELS = ("refusal", "compliance")
SOURCES = ("written", "smollm2-135m")
REQUIRED = ("prompt", "response", "label", "source")
OPTIONAL = ("note",)
SECTION = "## refusal_dev2.jsonl"


def read_corpus(path: Path) -> tuple[list[dict], list[str]]:
    """The rows of a corpus file and one 'file:line: what is wrong, what to do' message per bad line."""
    rows, errors = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path}:{n}"
        if not line.strip():
            errors.append(f"{where}: empty line; delete it (one JSON object per line)")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: not valid JSON ({e.msg} at column {e.colno}); fix the quoting or escaping")
            continue
        if not isinstance(row, dict):
            errors.append(f"{where}: a JSON {type(row).__name__}, expected an object with keys {REQUIRED}")
            continue
        missing = [k for k in REQUIRED if k not in row]
        extra = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
        if missing or extra:
            errors.append(f"{where}: missing keys {missing}, unknown keys {extra}; allowed: {REQUIRED + OPTIONAL}")
            continue
        bad = [k for k in row if not isinstance(row[k], str) or not row[k].strip()]
        if bad:
            errors.append(f"{where}: {bad} must be non-empty strings")
            continue
        if row["label"] not in LABELS:
            errors.append(f"{where}: label {row['label']!r}, expected one of {LABELS}")
        if row["source"] not in SOURCES:
            errors.append(f"{where}: source {row['source']!r}, expected one of {SOURCES}")
        rows.append({**row, "line": n})
    return rows, errors


def card_counts(text: str) -> dict[tuple[str, str], int]:
    """The (source, label) counts of the card's counts table (the table in the corpus's section whose header is
    'source | refusal | compliance | total'), 'total' rows and column included as written."""
    if SECTION not in text:
        raise AssertionError(f"{CARD}: no section '{SECTION}'; add it with the counts table")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    tables, block = [], []
    for line in section.splitlines() + [""]:
        if line.startswith("|"):
            block.append([c.strip().strip("*") for c in line.strip().strip("|").split("|")])
        elif block:
            tables, block = tables + [block], []
    header = ["source", *LABELS, "total"]
    found = [t for t in tables if t[0] == header]
    if len(found) != 1:
        raise AssertionError(f"{CARD}: section '{SECTION}' needs one table with the header {' | '.join(header)}")
    return {(cells[0], col): int(cell) for cells in found[0][2:] for col, cell in zip(header[1:], cells[1:])}


def file_counts(rows: list[dict]) -> dict[tuple[str, str], int]:
    """The same table computed from the rows."""
    c = Counter((r["source"], r["label"]) for r in rows)
    out = {}
    for s in SOURCES + ("total",):
        for lab in LABELS + ("total",):
            out[(s, lab)] = sum(v for (src, lb), v in c.items() if s in (src, "total") and lab in (lb, "total"))
    return out


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    rows, errors = read_corpus(CORPUS)
    assert not errors, "\n".join(errors)
    return rows


def test_every_line_is_a_valid_row(rows):
    assert len(rows) >= 100, f"{CORPUS}: only {len(rows)} rows"


def test_both_labels_from_both_sources(rows):
    seen = Counter((r["source"], r["label"]) for r in rows)
    absent = [(s, lab) for s in SOURCES for lab in LABELS if not seen[(s, lab)]]
    assert not absent, f"{CORPUS}: no rows for (source, label) {absent}"


def test_no_duplicate_responses(rows):
    first: dict[str, int] = {}
    dup = []
    for r in rows:
        key = " ".join(r["response"].split()).lower()
        if key in first:
            dup.append(f"{CORPUS}:{r['line']}: same response as line {first[key]}")
        first.setdefault(key, r["line"])
    assert not dup, "\n".join(dup)


def test_card_counts_match_the_file(rows):
    card = card_counts(CARD.read_text(encoding="utf-8"))
    real = file_counts(rows)
    wrong = [f"{k}: card says {card.get(k)}, file has {v}" for k, v in real.items() if card.get(k) != v]
    assert not wrong, f"{CARD}, section '{SECTION}': counts differ from {CORPUS}:\n" + "\n".join(wrong)


def test_bad_lines_are_reported_with_file_and_line(tmp_path):
    good = {"prompt": "p", "response": "r", "label": "refusal", "source": "written"}
    path = tmp_path / "c.jsonl"
    lines = [good, "{not json", {**good, "label": "maybe"}, {**good, "source": "gpt"}, {**good, "extra": 1},
             {k: v for k, v in good.items() if k != "prompt"}, {**good, "response": " "}, [1]]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    rows, errors = read_corpus(path)
    assert [r["line"] for r in rows] == [1, 3, 4]
    assert [int(re.match(rf"{re.escape(str(path))}:(\d+):", e).group(1)) for e in errors] == [2, 3, 4, 5, 6, 7, 8, 9]


def test_card_table_is_read_and_compared():
    text = (f"# x\n\n{SECTION}\n\n| key | what |\n|---|---|\n| label | x |\n\ntext\n\n"
            "| source | refusal | compliance | total |\n|---|---|---|---|\n"
            "| written | 2 | 1 | 3 |\n| **total** | **2** | **1** | **3** |\n\n"
            "## next\n\n| a | b |\n|---|---|\n| 9 | 9 |\n")
    counts = card_counts(text)
    assert counts[("written", "refusal")] == 2 and counts[("total", "total")] == 3 and ("9", "b") not in counts
    rows = [{"source": "written", "label": "refusal"}] * 2 + [{"source": "written", "label": "compliance"}]
    real = file_counts(rows)
    assert all(real[k] == v for k, v in counts.items())
    assert real[("smollm2-135m", "total")] == 0
    rows.append({"source": "written", "label": "refusal"})
    assert file_counts(rows)[("written", "refusal")] != counts[("written", "refusal")]

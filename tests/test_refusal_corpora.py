"""Format checks for the refusal corpora in tests/data/ and their card (tests/data/README.md), one corpus per entry
of ``CORPORA``.

These tests check the files, not any detector (the detector has tests/test_refusal_dev.py): every line is one
well-formed JSON record, both labels come from both sources, no response appears twice, and the counts table in the
corpus's own card section ("## <file name>: ...") is the file's. A new corpus is one more entry of ``CORPORA`` and
its card section with the counts table.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CARD = DATA / "README.md"
CORPORA = {  # file in tests/data -> fewest records it must hold
    "refusal_dev.jsonl": 150,
    "refusal_dev2.jsonl": 100,
    "refusal_test.jsonl": 100,
}
REQUIRED = ("prompt", "response", "label", "source")
OPTIONAL = ("note",)
LABELS = ("refusal", "compliance")
SOURCES = ("written", "smollm2-135m")


def read_corpus(path: Path) -> tuple[list[dict], list[str]]:
    """The well-formed records of a corpus file (each with its ``line``) and one 'file:line: what is wrong, what to
    do' message per bad line."""
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
        wrong = [f"{where}: {k} {row[k]!r}, expected one of {allowed}"
                 for k, allowed in (("label", LABELS), ("source", SOURCES)) if row[k] not in allowed]
        errors += wrong
        if not wrong:
            rows.append({**row, "line": n})
    return rows, errors


def card_counts(text: str, name: str) -> dict[tuple[str, str], int]:
    """The (source, label) counts of the counts table in the card section of corpus ``name``: the table whose header
    is 'source | refusal(s) | compliance(s) | total'; its 'total' (or 'all') row is read as source 'total'."""
    heading = re.search(rf"^## {re.escape(name)}\b.*$", text, re.M)
    if not heading:
        raise AssertionError(f"{CARD}: no section '## {name}'; add it with the counts table")
    section = text[heading.end():].split("\n## ", 1)[0]
    tables, block = [], []
    for line in section.splitlines() + [""]:
        if line.startswith("|"):
            block.append([c.strip().strip("*`").strip() for c in line.strip().strip("|").split("|")])
        elif block:
            tables, block = tables + [block], []
    header = ["source", *LABELS, "total"]
    found = [t for t in tables if [c.rstrip("s") if c != "source" else c for c in t[0]] == header]
    if len(found) != 1:
        raise AssertionError(f"{CARD}: section '## {name}' needs one table with the header {' | '.join(header)}")
    return {("total" if cells[0] == "all" else cells[0], col): int(cell)
            for cells in found[0][2:] for col, cell in zip(header[1:], cells[1:])}


def file_counts(rows: list[dict]) -> dict[tuple[str, str], int]:
    """The same table computed from the records, with the 'total' row and column."""
    c = Counter((r["source"], r["label"]) for r in rows)
    return {(s, lab): sum(v for (src, lb), v in c.items() if s in (src, "total") and lab in (lb, "total"))
            for s in SOURCES + ("total",) for lab in LABELS + ("total",)}


@pytest.fixture(scope="module", params=sorted(CORPORA))
def corpus(request) -> tuple[str, list[dict]]:
    rows, errors = read_corpus(DATA / request.param)
    assert not errors, "\n".join(errors)
    return request.param, rows


def test_every_line_is_a_well_formed_record(corpus):
    name, rows = corpus
    assert len(rows) >= CORPORA[name], f"{DATA / name}: only {len(rows)} records, expected at least {CORPORA[name]}"


def test_both_labels_come_from_both_sources(corpus):
    name, rows = corpus
    seen = Counter((r["source"], r["label"]) for r in rows)
    absent = [(s, lab) for s in SOURCES for lab in LABELS if not seen[(s, lab)]]
    assert not absent, f"{DATA / name}: no records for (source, label) {absent}"


def test_no_response_appears_twice(corpus):
    name, rows = corpus
    first: dict[str, int] = {}
    repeats = []
    for r in rows:
        key = " ".join(r["response"].split()).casefold()
        if key in first:
            repeats.append(f"{DATA / name}:{r['line']}: same response as line {first[key]}")
        first.setdefault(key, r["line"])
    assert not repeats, "\n".join(repeats)


def test_the_card_states_the_files_counts(corpus):
    name, rows = corpus
    card = card_counts(CARD.read_text(encoding="utf-8"), name)
    real = file_counts(rows)
    wrong = [f"{k}: card says {card.get(k)}, file has {v}" for k, v in real.items() if card.get(k) != v]
    assert not wrong, f"{CARD}, section '## {name}': counts differ from {DATA / name}:\n" + "\n".join(wrong)


# --- the checks above fail on broken input ----------------------------------------------------------------------

def test_bad_lines_are_reported_with_file_and_line(tmp_path):
    good = {"prompt": "p", "response": "r", "label": "refusal", "source": "written"}
    path = tmp_path / "c.jsonl"
    lines = [good, "{not json", {**good, "label": "maybe"}, {**good, "source": "gpt"}, {**good, "extra": 1},
             {k: v for k, v in good.items() if k != "prompt"}, {**good, "response": " "}, [1]]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    rows, errors = read_corpus(path)
    assert [r["line"] for r in rows] == [1]
    assert [int(re.match(rf"{re.escape(str(path))}:(\d+):", e).group(1)) for e in errors] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert f"{path}:2: not valid JSON" in errors[0] and f"{path}:3: label 'maybe'" in errors[1]


@pytest.mark.parametrize("refusal,compliance,total", [("refusal", "compliance", "total"),
                                                        ("refusals", "compliances", "all")])
def test_the_card_table_of_the_named_section_is_read(refusal, compliance, total):
    text = ("# x\n\n## other.jsonl: another corpus\n\n| source | refusal | compliance | total |\n|---|---|---|---|\n"
            "| written | 7 | 7 | 14 |\n\n"
            "## c.jsonl: this corpus\n\n| key | what |\n|---|---|\n| label | x |\n\ntext\n\n"
            f"| source | {refusal} | {compliance} | total |\n|---|---|---|---|\n"
            f"| written | 2 | 1 | 3 |\n| **{total}** | **2** | **1** | **3** |\n\n"
            "## next\n\n| a | b |\n|---|---|\n| 9 | 9 |\n")
    counts = card_counts(text, "c.jsonl")
    assert counts[("written", "refusal")] == 2 and counts[("total", "total")] == 3 and ("9", "b") not in counts
    rows = [{"source": "written", "label": "refusal"}] * 2 + [{"source": "written", "label": "compliance"}]
    real = file_counts(rows)
    assert all(real[k] == v for k, v in counts.items()) and real[("smollm2-135m", "total")] == 0
    rows.append({"source": "written", "label": "refusal"})
    assert file_counts(rows)[("written", "refusal")] != counts[("written", "refusal")]
    with pytest.raises(AssertionError, match="no section '## missing.jsonl'"):
        card_counts(text, "missing.jsonl")
    with pytest.raises(AssertionError, match="needs one table"):
        card_counts(text.replace("| source | ", "| origin | "), "c.jsonl")

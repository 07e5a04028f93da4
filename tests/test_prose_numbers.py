"""Every number a chapter's prose states comes from the chapter itself (docs/design.md, Testing).

A number in a markdown cell must either be a constant of the setup (it appears in the source of the first code
cell: SCALE, seeds, step counts) or appear in a stored output of the same chapter (a printed table, a sentence
formatted from variables with ``display(Markdown(...))``). A measured number typed into prose would drift from
the run the day the run changes; this test catches it. Not claims, and skipped: section numbers of headings
("## 3 · ..."), list markers ("2. check ..."), numbers inside identifiers (``v1``, ``k3``, ``lab1``) and code
spans (`` `steps=48` ``), link targets, references ("chapter 05", "section 3", "Exercise 3.1"), citation years
("et al. 2023")
100% (a bound) and the 95% of an interval (a convention). A percentage N% counts as stated when N / 100 is known.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("0[1-5]_*.ipynb"))
NUMBER = re.compile(r"(?<![\w.\-/])\d+(?:\.\d+)?(?![\w/])")
HEADING_NUMBER = re.compile(r"^#+\s*\d+\s*·", re.M)
LINK = re.compile(r"\]\([^)]*\)")                     # link targets (file names) are not claims
LIST_MARKER = re.compile(r"^\s*\d+\.\s", re.M)
CODE_SPAN = re.compile(r"`[^`]*`")
CITATION = re.compile(r"et al\.?,?\s*\d{4}", re.I)
PERCENT = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)%")
REFERENCE = re.compile(r"\b(?:chapters?|labs?|sections?|exercises?|eq\.|SCALE =)\s*\d+(?:\s*(?:,|and|to|-)\s*\d+)*",
                       re.I)


def _text(output: dict) -> str:
    data = output.get("data", {})
    parts = [output.get("text", "")] + [data.get(k, "") for k in ("text/plain", "text/markdown", "text/html")]
    return "".join("".join(p) if isinstance(p, list) else p for p in parts)


def prose_numbers(markdown: str) -> list[str]:
    """The numbers a markdown cell states as claims (headings' section numbers, links and references removed)."""
    text = LINK.sub("]", HEADING_NUMBER.sub("#", markdown))
    for pattern in (CODE_SPAN, CITATION, REFERENCE, LIST_MARKER):
        text = pattern.sub(" ", text)
    text = text.replace("100%", " ").replace("95%", " ")  # a bound and the confidence level: conventions
    text = PERCENT.sub(lambda m: f"{float(m.group(1)) / 100:g}", text)
    return NUMBER.findall(text)


def known_numbers(nb: dict) -> set[str]:
    """Numbers the chapter itself produces: its stored outputs, and the source of its first (setup) code cell."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    texts = ["".join(code[0]["source"])] + [_text(o) for c in code for o in c.get("outputs", [])]
    found = set()
    for t in texts:
        found.update(NUMBER.findall(t))
    return found | {f"{float(x):g}" for x in found}


def test_prose_numbers_finds_a_typed_number():
    nb = {"cells": [{"cell_type": "code", "source": ["SCALE = 1\n"], "outputs": [{"text": "gold 0.42\n"}]}]}
    known = known_numbers(nb)
    assert "0.42" in known and "1" in known
    said = prose_numbers("## 3 · Audit\n1. Gold rose to 0.42, then to 0.57 "
                         "(see chapter 02 and [lab 1](../labs/lab1.ipynb)).\n"
                         "Et al. 2023 say 42% and `steps=48`, not 100%.")
    assert said == ["0.42", "0.57", "0.42"], said
    assert [n for n in said if n not in known] == ["0.57"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_number_in_prose_comes_from_the_chapter(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    known = known_numbers(nb)
    bad = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for n in prose_numbers("".join(cell["source"])):
            if n not in known and f"{float(n):g}" not in known:
                bad.append(f"cell {i}: {n}")
    assert not bad, (f"{path.name}: numbers in markdown that no output and no setup constant of the chapter holds; "
                     "format them from variables in a code cell's output, or say 'see the output above':\n"
                     + "\n".join(bad))

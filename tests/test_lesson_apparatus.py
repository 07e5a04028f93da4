"""The lesson's apparatus: the renderers of prefkit.lesson, the pattern figure, and its place in every chapter.

Every chapter opens (before its first numbered section) with the alignment-object table and the implementation
pattern, and closes with the three easily missed details, the failure-pressure table, consent and provenance,
and the link to real assistants' post-training; the cells are found by their tags (chapters/README.md).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prefkit import lesson, plots

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("0[1-5]_*.ipynb"))
OPENING = ("lesson-objects", "lesson-pattern")
CLOSING = ("lesson-details", "lesson-failures", "lesson-provenance", "lesson-stack")
SECTION = re.compile(r"^##\s+(\d+)\s+·", re.M)


def _objects(**extra):
    return {name: f"{name} artifact" for name in lesson.OBJECTS} | extra


def _pressures(**extra):
    return {name: f"{name}: chapter 0x, 0.5" for name in lesson.PRESSURES} | extra


def test_alignment_table_has_every_object_with_its_two_questions():
    table = lesson.alignment_table(_objects(data="`prefs/clean`, version pd-1 | split a"))
    rows = table.splitlines()
    assert len(rows) == 2 + len(lesson.OBJECTS) == 7
    for name, (math_q, eng_q) in lesson.OBJECTS.items():
        row = next(r for r in rows if r.startswith(f"| **{name}**"))
        assert math_q in row and eng_q in row
    assert "pd-1 \\| split a" in table  # a pipe in a cell is escaped, the row keeps four columns
    assert all(r.count(" | ") == 3 for r in rows[2:])


def test_failure_table_has_every_pressure_with_symptom_mitigation_and_evidence():
    table = lesson.failure_table(_pressures())
    for name, (symptom, fix) in lesson.PRESSURES.items():
        assert f"| **{name}** | {symptom} | {fix} | {name}: chapter 0x, 0.5 |" in table
    assert set(lesson.PRESSURES) == {"proxy reward", "refusal shortcut", "template overfit", "policy ambiguity",
                                     "feedback drift"}


def test_html_is_escaped():
    out = lesson.failure_table(_pressures(**{"proxy reward": "a <b> & c"}), fmt="html")
    assert out.startswith("<table>") and "a &lt;b&gt; &amp; c" in out and out.count("<tr>") == 6


@pytest.mark.parametrize("bad, words", [
    ({k: v for k, v in _objects().items() if k != "feedback"}, "missing ['feedback']"),
    (_objects(reward="x"), "unknown ['reward']"),
    (_objects(policy="  "), "no text for ['policy']"),
])
def test_alignment_table_says_what_is_missing(bad, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        lesson.alignment_table(bad)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="markdown' or 'html"):
        lesson.alignment_table(_objects(), fmt="latex")


def test_pattern_figure_draws_each_box_with_its_text():
    fig, boxes = plots.plot_implementation_pattern("rubric v1", "prefs/clean\npd-abc", "DPO beta 0.1",
                                                   "pi_theta @step24", "run.json", "eval.json: 160 prompts")
    assert list(boxes) == ["rubric", "data", "objective", "system", "audit", "evaluation"]
    assert "pd-abc" in boxes["data"].get_text() and "160 prompts" in boxes["evaluation"].get_text()
    assert len(fig.axes[0].texts) == 6 + 5  # six boxes and five arrows (annotations)
    assert plots.png_bytes(fig)[:4] == b"\x89PNG"


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _tagged(cells, tag):
    return [i for i, c in enumerate(cells) if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_opens_and_closes_with_the_apparatus(path):
    cells = _cells(path)
    sections = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and SECTION.search("".join(c["source"]))]
    first_real = next(i for i in sections if int(SECTION.search("".join(cells[i]["source"])).group(1)) >= 1)
    missing = [t for t in OPENING + CLOSING if not _tagged(cells, t)]
    assert not missing, f"{path.name}: no cell tagged {missing} (chapters/README.md lists what each tag holds)"
    for tag in OPENING:
        assert min(_tagged(cells, tag)) < first_real, f"{path.name}: {tag} must come before section 1"
    for tag in CLOSING:
        assert min(_tagged(cells, tag)) > first_real, f"{path.name}: {tag} belongs to the close of the chapter"
    for tag in ("lesson-objects", "lesson-failures"):  # the tables are rendered by a code cell, not typed
        code = [cells[i] for i in _tagged(cells, tag) if cells[i]["cell_type"] == "code"]
        assert any(f"lesson.{fn}" in "".join(c["source"]) for c in code for fn in ("alignment_table", "failure_table"))
    for i in _tagged(cells, "lesson-pattern"):
        if cells[i]["cell_type"] == "code":
            assert "plot_implementation_pattern" in "".join(cells[i]["source"])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_sections_are_in_order(path):
    numbers = [int(m.group(1)) for c in _cells(path) if c["cell_type"] == "markdown"
               for m in SECTION.finditer("".join(c["source"]))]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers

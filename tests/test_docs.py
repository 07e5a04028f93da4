"""References stay inside the repository: every "docs/design.md, <Section>" names a section that exists, and no
code, test, notebook or page cites a design or testing note that the repository does not contain.

Notebooks are read cell source by cell source: stored outputs are what a run printed, not references.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
SCANNED = ["prefkit", "tests", "chapters", "labs", "docs", "benchmarks", "data", ".ci"]
SUFFIXES = {".py", ".md", ".ipynb", ".cfg", ".toml", ".sh", ""}
# Notes the repository does not hold (written in pieces so that this file does not match itself).
OUTSIDE = re.compile(r"\b(?:" + "|".join(["DESIGN", "TESTING", "STYLE", "LESSON"]) + r")\.md\b|/" + "work/"
                     + r"|\b[Ii]ssues? #?\d+\b")  # and the tracker's numbered threads
SECTION_REF = re.compile(r"docs/design\.md, ([A-Z][A-Za-z ]*[a-z])")


def _texts():
    """(path, text) of every scanned file; notebooks as their cells' sources."""
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for top in SCANNED:
        files += [p for p in (ROOT / top).rglob("*") if p.is_file() and p.suffix in SUFFIXES]
    for path in sorted(set(files)):
        if "__pycache__" in path.parts or path.name.startswith("."):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        yield path.relative_to(ROOT), text


def _headings() -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#{2,4} (.+)$", DESIGN.read_text(encoding="utf-8"), re.M)}


def test_the_scan_reads_code_tests_notebooks_and_pages():
    paths = {str(p) for p, _ in _texts()}
    for expected in ("prefkit/losses.py", "tests/test_bandit.py", "chapters/04_dpo.ipynb",
                     "labs/lab4_dpo_from_scratch.ipynb", "labs/student/lab4_dpo_from_scratch.ipynb", "README.md"):
        assert expected in paths


def test_no_reference_points_outside_the_repository():
    bad = [f"{path}: {m.group(0)!r} in {text[max(0, m.start() - 40):m.end() + 20]!r}"
           for path, text in _texts() for m in OUTSIDE.finditer(text)]
    assert not bad, ("references to notes outside the repository: point them at a section of docs/design.md, or say the thing\n"
                     "itself instead of citing a tracker thread:\n"
                     + "\n".join(bad))


def test_every_section_reference_names_a_section_of_the_design_page():
    headings = _headings()
    assert {"Layers", "Notation", "The two worlds", "The run record", "Testing"} <= headings, headings
    refs = [(path, m.group(1)) for path, text in _texts() for m in SECTION_REF.finditer(text)]
    assert len(refs) >= 15, refs  # the code, tests and labs cite it
    bad = [f"{path}: 'docs/design.md, {name}'" for path, name in refs if name not in headings]
    assert not bad, f"no such section in docs/design.md (sections: {sorted(headings)}):\n" + "\n".join(bad)


def test_the_checks_can_fail():
    assert OUTSIDE.search("see " + "TESTING" + ".md") and OUTSIDE.search("/" + "work/main/data")
    assert OUTSIDE.search("(iss" + "ue #4)") and OUTSIDE.search("Issue" + " 5") and not OUTSIDE.search("a known issue")
    assert not OUTSIDE.search("docs/design.md")
    assert SECTION_REF.findall("(docs/design.md, The two worlds).") == ["The two worlds"]
    assert SECTION_REF.findall("docs/design.md, " + "Notatoin:") == ["Notatoin"]  # then fails the headings check

"""Export the labs as nbgrader source notebooks, for courses that already grade with nbgrader.

The solution notebooks already mark answers the way nbgrader does (``### BEGIN SOLUTION`` / ``### END SOLUTION``),
so an nbgrader source version only needs nbgrader's cell metadata (schema version 3) and three changes:

* an exercise cell becomes an *autograded answer* (``solution: true``) and its ``### HINT:`` lines move above the
  region as a ``# hint:`` comment, since nbgrader replaces the whole region with its own stub;
* a checker cell (``verdict = check.labN.name(fn)``) becomes an *autograder test* (``grade: true``, locked, one
  point) that ends with ``assert verdict, str(verdict)``: nbgrader scores a test cell by whether it raises;
* a written answer (``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` in markdown) becomes a *manually
  graded answer* with nbgrader's delimiters.

Outputs are cleared. Write them with ``prefkit labs export-nbgrader`` into ``<out>/source/<lab>/``, nbgrader's course
layout, then run ``nbgrader generate_assignment <lab>``.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

from .student import BEGIN, END, HINT, MD_BEGIN, MD_END, LabFormatError

CHECK_CALL = re.compile(r"^verdict\s*=\s*check\.(lab\d+)\.(\w+)\((\w+)\)\s*$", re.M)
DEF = re.compile(r"^def (\w+)\(", re.M)


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _hints_above_regions(source: str) -> str:
    """Move each region's ``### HINT:`` lines above its ``### BEGIN SOLUTION`` line as one ``# hint:`` comment."""
    out, region, begin = [], None, ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            region, begin = [], line
        elif stripped == END and region is not None:
            hints = [r.strip()[len(HINT):].strip() for r in region if r.strip().startswith(HINT)]
            if hints:
                out.append(f"{begin[: len(begin) - len(begin.lstrip())]}# hint: {' '.join(hints)}")
            out += [begin, *(r for r in region if not r.strip().startswith(HINT)), line]
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    return "\n".join(out)


def nbgrader_source(nb, lab: str, name: str = "notebook"):
    """An nbgrader source version (nbformat node) of a solution notebook of ``lab`` ("lab4")."""
    nb = copy.deepcopy(nb)
    ids: set[str] = set()

    def unique(grade_id: str) -> str:
        if grade_id in ids:
            raise LabFormatError(f"{name}: two cells would get the nbgrader grade_id {grade_id!r}")
        ids.add(grade_id)
        return grade_id

    answers = 0
    for i, cell in enumerate(nb.cells, start=1):
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if BEGIN in cell.source:
                functions = DEF.findall(cell.source)
                grade_id = f"{lab}_{functions[0]}" if functions else f"{lab}_cell{i}"
                cell.source = _hints_above_regions(cell.source)
                cell.metadata["nbgrader"] = _meta(unique(grade_id), solution=True)
            elif (m := CHECK_CALL.search(cell.source)) and m.group(1) == lab:
                cell.source = cell.source.rstrip() + "\nassert verdict, str(verdict)"
                cell.metadata["nbgrader"] = _meta(unique(f"{lab}_{m.group(2)}_check"), grade=True, locked=True,
                                                  points=1)
        elif cell.cell_type == "markdown" and MD_BEGIN in cell.source:
            if cell.source.count(MD_BEGIN) != cell.source.count(MD_END):
                raise LabFormatError(f"{name}, cell {i}: unpaired {MD_BEGIN} / {MD_END}")
            cell.source = cell.source.replace(MD_BEGIN, f"\n{BEGIN}\n").replace(MD_END, f"\n{END}\n")
            answers += 1
            cell.metadata["nbgrader"] = _meta(unique(f"{lab}_answer{answers}"), solution=True, grade=True, points=1)
    nb.metadata.pop("widgets", None)
    return nb


def export_nbgrader(labs_dir: str | Path = "labs", out_dir: str | Path = "nbgrader") -> list[Path]:
    """Write ``<out>/source/<lab>/<name>.ipynb`` for every solution notebook ``labs/lab*.ipynb``; returns the paths."""
    import nbformat

    written = []
    for path in sorted(Path(labs_dir).glob("lab*.ipynb")):
        lab = path.name.split("_")[0]
        source = nbgrader_source(nbformat.read(path, as_version=4), lab, str(path))
        target = Path(out_dir) / "source" / lab / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(nbformat.writes(source) + "\n", encoding="utf-8")
        written.append(target)
    return written

"""Write student versions of the lab notebooks: solutions out, stubs and hints in.

In a solution notebook (labs/*.ipynb) an exercise's answer sits between two marker lines in a code cell::

    def dpo_loss(policy_chosen_logps, ...):
        ### BEGIN SOLUTION
        h = ...
        ### END SOLUTION

The student version keeps everything else and replaces the region with a stub at the same indentation::

        # YOUR CODE HERE (hint: ...)
        raise NotImplementedError("Exercise 4.1: dpo_loss")

``### HINT: ...`` lines inside a region become the stub's hint. A markdown cell between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` (a written answer) becomes "*Your answer here.*".
Outputs and execution counts are cleared, and the result is written deterministically, so a test can
regenerate the student versions and compare them byte for byte with the committed ones.
"""
from __future__ import annotations

import re
from pathlib import Path

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
EXERCISE = re.compile(r"Exercise (\d+(?:\.\d+)?)")


class LabFormatError(ValueError):
    """A solution notebook whose markers do not pair up."""


def _stub_code(source: str, where: str, exercise: str) -> tuple[str, int]:
    out, region, hints, indent, count = [], None, [], "", 0
    for n, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise LabFormatError(f"{where}, line {n}: BEGIN SOLUTION inside another region")
            region, hints, indent = n, [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if region is None:
                raise LabFormatError(f"{where}, line {n}: END SOLUTION without BEGIN SOLUTION")
            hint = " ".join(hints)
            out.append(f"{indent}# YOUR CODE HERE" + (f" (hint: {hint})" if hint else ""))
            label = f"Exercise {exercise}" if exercise else "this exercise"
            out.append(f'{indent}raise NotImplementedError("{label} is yours to write")')
            region, count = None, count + 1
        elif region is not None:
            if stripped.startswith(HINT):
                hints.append(stripped[len(HINT):].strip())
        else:
            out.append(line)
    if region is not None:
        raise LabFormatError(f"{where}, line {region}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(out), count


def _stub_markdown(source: str, where: str) -> tuple[str, int]:
    pattern = re.compile(re.escape(MD_BEGIN) + r".*?" + re.escape(MD_END), re.S)
    count = len(pattern.findall(source))
    if source.count(MD_BEGIN) != count or source.count(MD_END) != count:
        raise LabFormatError(f"{where}: unpaired {MD_BEGIN} / {MD_END}")
    return pattern.sub("*Your answer here.*", source), count


def student_notebook(nb, name: str = "notebook"):
    """A student copy of a solution notebook (nbformat node) and the number of regions replaced."""
    import copy

    nb = copy.deepcopy(nb)
    exercise, replaced = "", 0
    for i, cell in enumerate(nb.cells, start=1):
        where = f"{name}, cell {i}"
        if cell.cell_type == "markdown":
            found = EXERCISE.findall(cell.source)
            exercise = found[-1] if found else exercise
            cell.source, k = _stub_markdown(cell.source, where)
        elif cell.cell_type == "code":
            cell.source, k = _stub_code(cell.source, where, exercise)
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        else:
            k = 0
        replaced += k
    nb.metadata.pop("widgets", None)  # saved widget state belongs to the solution run
    return nb, replaced


def make_student(labs_dir: str | Path = "labs", out_dir: str | Path | None = None) -> list[Path]:
    """Write ``labs/student/<name>.ipynb`` for every solution notebook ``labs/*.ipynb``; returns the paths."""
    import nbformat

    labs_dir = Path(labs_dir)
    out_dir = Path(out_dir) if out_dir else labs_dir / "student"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(labs_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student, replaced = student_notebook(nb, str(path))
        if replaced == 0:
            raise LabFormatError(f"{path}: no solution regions found; mark answers with {BEGIN} / {END}")
        target = out_dir / path.name
        target.write_text(nbformat.writes(student) + "\n", encoding="utf-8")
        written.append(target)
    return written

"""nbgrader source versions of the labs: valid nbgrader metadata (schema 3), one autograded answer and one
autograder test per exercise, hints kept outside the region nbgrader clears, and test cells that score by raising."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import nbformat
import pytest

from prefkit.labs import check
from prefkit.labs.check import EXERCISES
from prefkit.labs.nbgrader import export_nbgrader
from prefkit.labs.student import BEGIN, END

LABS = Path(__file__).resolve().parent.parent / "labs"


def _release(source: str) -> str:
    """What nbgrader's ClearSolutions makes of a solution cell: each region becomes its code stub."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            indent = line[: line.index(BEGIN)]
            out += [indent + "# YOUR CODE HERE", indent + "raise NotImplementedError()"]
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("nbgrader")
    paths = export_nbgrader(LABS, out)
    return {p.parent.name: nbformat.read(p, as_version=4) for p in paths}


def test_every_lab_is_exported_into_nbgraders_source_layout(exported):
    assert sorted(exported) == sorted(EXERCISES)


def test_metadata_follows_nbgraders_schema_3(exported):
    for lab, nb in exported.items():
        ids = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            assert meta["schema_version"] == 3 and re.fullmatch(r"[A-Za-z0-9_\-]+", meta["grade_id"]), meta
            ids.append(meta["grade_id"])
            if meta["grade"]:
                assert meta["points"] > 0, meta
            if cell.cell_type == "markdown":
                assert meta["grade"] and meta["solution"], meta  # nbgrader's rule for written answers
            if meta["solution"] and cell.cell_type == "code":
                assert BEGIN in cell.source and not meta["grade"] and not meta["locked"], meta
            if meta["grade"] and cell.cell_type == "code":
                assert meta["locked"] and cell.source.rstrip().endswith("assert verdict, str(verdict)"), cell.source
            assert not cell.get("outputs"), meta
        assert len(ids) == len(set(ids)), lab
        want = {f"{lab}_{function}" for _, _, function in EXERCISES[lab]} | \
            {f"{lab}_{checker}_check" for _, checker, _ in EXERCISES[lab]}
        assert want <= set(ids), (lab, want - set(ids))


def test_hints_survive_nbgraders_clearing_and_the_test_cell_scores_by_raising(exported):
    nb = exported["lab1"]
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "lab1_provenance")
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "lab1_provenance_check")
    release = _release(solution.source)
    assert "# hint: collections.Counter over a tuple per row" in release and "Counter((" not in release
    ns = {"check": check, "Counter": Counter, "defaultdict": defaultdict}
    exec(solution.source, ns)
    exec(test.source, ns)                       # the solution: the test cell passes silently
    exec(release, ns)
    with pytest.raises(AssertionError, match="not implemented yet"):
        exec(test.source, ns)                   # the released stub: nbgrader gives 0 points

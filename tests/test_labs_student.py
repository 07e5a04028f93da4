"""Student versions of the labs: up to date with the solution notebooks, and every exercise stub raises."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from prefkit.labs.student import BEGIN, make_student

LABS = Path(__file__).resolve().parent.parent / "labs"
SOLUTIONS = sorted(LABS.glob("*.ipynb"))


def test_there_are_six_labs_and_a_student_version_of_each():
    names = [p.name for p in SOLUTIONS]
    assert [n.split("_")[0] for n in names] == [f"lab{i}" for i in range(1, 7)], names
    assert sorted(p.name for p in (LABS / "student").glob("*.ipynb")) == names


def test_committed_student_versions_are_up_to_date(tmp_path):
    written = make_student(LABS, tmp_path)
    assert [p.name for p in written] == [p.name for p in SOLUTIONS]
    for fresh in written:
        committed = LABS / "student" / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"{committed} is stale: run `make student` (prefkit labs make-student) and commit the result")


def _stub_functions(path: Path):
    """(function name, exercise cell source) for every exercise function in a student notebook."""
    solution = nbformat.read(LABS / path.name, as_version=4)
    student = nbformat.read(path, as_version=4)
    for sol, stu in zip(solution.cells, student.cells):
        if sol.cell_type == "code" and BEGIN in sol.source:
            tree = ast.parse(stu.source)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    yield node.name, stu.source


@pytest.mark.parametrize("path", sorted((LABS / "student").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_stub_raises_not_implemented(path):
    solution_text = (LABS / path.name).read_text(encoding="utf-8")
    student_text = path.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in student_text and "END SOLUTION" not in student_text
    assert solution_text.count("### BEGIN SOLUTION") == student_text.count("raise NotImplementedError(")
    stubs = list(_stub_functions(path))
    assert stubs, f"{path.name}: no exercise functions found"
    for name, source in stubs:
        ns = {"DPOConfig": object}  # lab 6 imports DPOConfig in its exercise cell; the stub never reaches it
        exec(compile(source.replace("from trl import DPOConfig", ""), path.name, "exec"), ns)
        fn = ns[name]
        n_args = fn.__code__.co_argcount
        with pytest.raises(NotImplementedError, match=r"Exercise \d+\.\d+ is yours to write"):
            fn(*([None] * n_args))

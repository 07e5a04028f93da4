"""`prefkit labs grade` on a class of synthetic submissions made from labs/student/: every case scored as it should
be (correct, partly wrong, raising cells, a dead kernel, an endless loop, an empty file, a file that is not a
notebook, a missing lab, a stray file), and none of them stops the batch."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from prefkit.labs import check
from prefkit.labs.check import EXERCISES
from prefkit.labs.grade import GradeConfig, find_submissions, grade
from prefkit.labs.student import BEGIN, END, HINT

LABS = Path(__file__).resolve().parent.parent / "labs"
STUB = re.compile(r"^[ \t]*# YOUR CODE HERE.*\n[ \t]*raise NotImplementedError\(.*\)$", re.M)


def _regions(source: str) -> list[str]:
    """The solution regions of a cell, marker and hint lines left out."""
    regions, current = [], None
    for line in source.splitlines():
        if line.strip() == BEGIN:
            current = []
        elif line.strip() == END:
            regions.append("\n".join(current))
            current = None
        elif current is not None and not line.strip().startswith(HINT):
            current.append(line)
    return regions


def filled(stem: str, replace: dict[str, str] | None = None, insert: dict[int, str] | None = None):
    """labs/student/<stem>.ipynb with every stub replaced by its solution region, except the functions named in
    ``replace`` (function name -> the whole exercise cell); ``insert`` adds code cells before the given cell."""
    name = next(p.name for p in (LABS / "student").glob(f"{stem}*.ipynb"))
    student = nbformat.read(LABS / "student" / name, as_version=4)
    solution = nbformat.read(LABS / name, as_version=4)
    for stu, sol in zip(student.cells, solution.cells):
        if stu.cell_type == "code" and BEGIN in sol.source:
            regions = iter(_regions(sol.source))
            stu.source = STUB.sub(lambda m: next(regions), stu.source)
            for function, source in (replace or {}).items():
                if f"def {function}(" in stu.source:
                    stu.source = source
    for index, source in sorted((insert or {}).items(), reverse=True):
        student.cells.insert(index, nbformat.v4.new_code_cell(source))
    return student


def _write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.mark.parametrize("lab", sorted(EXERCISES))
def test_student_versions_filled_with_the_solutions_pass_every_checker(lab):
    from test_labs_check import PRELUDE

    nb = filled(lab)
    solution = nbformat.read(next(LABS.glob(f"{lab}_*.ipynb")), as_version=4)
    ns = dict(PRELUDE)
    if lab == "lab6":
        from trl import DPOConfig

        from prefkit.models import render_prompt
        ns.update(DPOConfig=DPOConfig, render_prompt=render_prompt)
    for cell, sol in zip(nb.cells, solution.cells):
        if cell.cell_type == "code" and BEGIN in sol.source:
            assert "NotImplementedError" not in cell.source, cell.source
            exec(compile(cell.source, lab, "exec"), ns)
    for number, checker, function in EXERCISES[lab]:
        verdict = getattr(getattr(check, lab), checker)(ns[function], verbose=False)
        assert verdict, f"{number}: {verdict}"


def test_exercise_table_matches_the_checker_cells_of_the_notebooks():
    for path in sorted(LABS.glob("lab*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        lab, exercise, found = path.name.split("_")[0], None, []
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                exercise = (re.findall(r"Exercise (\d+\.\d+)", cell.source) or [exercise])[-1]
            for checker, function in re.findall(rf"check\.{lab}\.(\w+)\((\w+)\)", cell.source):
                found.append((exercise, checker, function))
        assert tuple(found) == EXERCISES[lab], path.name


def test_submissions_are_found_by_student_folder_and_lab_prefix(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "lab1_mine.ipynb").write_text("x")
    (tmp_path / "ann" / "Lab1 copy.ipynb").write_text("x")
    (tmp_path / "ann" / "notes.txt").write_text("x")
    (tmp_path / "lab2.ipynb").write_text("x")
    runs, ignored = find_submissions(tmp_path)
    assert [(r.student, r.lab, r.status) for r in runs] == [("ann", "lab1", "duplicate")] * 2
    assert any("notes.txt" in i for i in ignored) and any("student's folder" in i for i in ignored)
    with pytest.raises(FileNotFoundError, match="one folder per student"):
        find_submissions(tmp_path / "nope")


@pytest.mark.slow
def test_grading_a_synthetic_class(tmp_path):
    subs = tmp_path / "subs"
    _write(subs / "alice" / "lab1_preference_audit.ipynb", filled("lab1"))
    partly = filled("lab3", replace={
        "bon_kl_bound": "import math\ndef bon_kl_bound(n):\n    return math.log(n)",
        "kl_penalized_objective": "def kl_penalized_objective(logits, rewards, ref_probs, beta):\n    return 1 / 0",
    }, insert={2: "raise RuntimeError('a student cell that crashes')"})
    _write(subs / "bob" / "lab3_kl_budget.ipynb", partly)
    _write(subs / "carol" / "lab1_preference_audit.ipynb", filled("lab1", insert={2: "import os\nos._exit(3)"}))
    (subs / "dave").mkdir()
    (subs / "dave" / "lab1_preference_audit.ipynb").write_bytes(b"")
    (subs / "dave" / "lab3_kl_budget.ipynb").write_text("def f():\n    return 1\n")
    (subs / "dave" / "README.txt").write_text("my notes")
    result = grade(GradeConfig(submissions=str(subs), out=str(tmp_path / "grades"), time_limit=240), progress=False)

    rows = {(r["student"], r["exercise"]): r for r in result["rows"]}
    assert len(rows) == 4 * 8  # four students x (4 + 4 exercises): nobody's problem stops the batch
    for ex in ("1.1", "1.2", "1.3", "1.4"):
        assert rows[("alice", ex)]["passed"], rows[("alice", ex)]
        assert not rows[("carol", ex)]["passed"] and "kernel died" in rows[("carol", ex)]["message"]
        assert not rows[("dave", ex)]["passed"] and "empty" in rows[("dave", ex)]["message"]
    assert "no lab3 notebook" in rows[("alice", "3.1")]["message"]
    assert "loose bound" in rows[("bob", "3.1")]["message"] and not rows[("bob", "3.1")]["passed"]
    assert "ZeroDivisionError" in rows[("bob", "3.2")]["message"] and not rows[("bob", "3.2")]["passed"]
    assert rows[("bob", "3.3")]["passed"], rows[("bob", "3.3")]
    assert rows[("bob", "3.4")]["passed"], rows[("bob", "3.4")]  # its own function: the broken 3.2 does not matter
    assert "not a notebook" in rows[("dave", "3.1")]["message"]
    status = {(r.student, r.lab): (r.status, r.detail) for r in result["runs"]}
    assert status[("bob", "lab3")][0] == "cell errors" and "a student cell that crashes" in status[("bob", "lab3")][1]
    assert status[("alice", "lab1")] == ("ok", "")
    assert any("README.txt" in i for i in result["ignored"])

    with open(tmp_path / "grades" / "grades.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert [tuple(r) for r in written[:1]] == [("student", "lab", "exercise", "passed", "message")]
    assert sum(r["passed"] == "True" for r in written) == 4 + 2
    summary = (tmp_path / "grades" / "summary.md").read_text()
    assert "| alice | 4/4 | 0/4 | 4/8 |" in summary and "| bob | 0/4 | 2/4 | 2/8 |" in summary
    assert "carol/lab1_preference_audit.ipynb: kernel died" in summary


@pytest.mark.slow
def test_an_endless_notebook_is_stopped_and_the_batch_goes_on(tmp_path):
    subs = tmp_path / "subs"
    _write(subs / "erin" / "lab5_noise_robustness.ipynb", filled("lab5", insert={2: "while True:\n    pass"}))
    _write(subs / "fred" / "lab5_noise_robustness.ipynb", nbformat.v4.new_notebook())  # a notebook with no cells
    result = grade(GradeConfig(submissions=str(subs), out=str(tmp_path / "grades"), time_limit=4), progress=False)
    rows = {(r["student"], r["exercise"]): r for r in result["rows"]}
    status = {r.student: r.status for r in result["runs"]}
    assert status == {"erin": "timed out", "fred": "ok"}
    for ex in ("5.1", "5.2", "5.3"):
        assert not rows[("erin", ex)]["passed"] and "timed out" in rows[("erin", ex)]["message"]
        assert not rows[("fred", ex)]["passed"] and "no function named" in rows[("fred", ex)]["message"]


def test_a_kernel_that_cannot_start_is_reported_not_raised(tmp_path):
    subs = tmp_path / "subs"
    _write(subs / "gus" / "lab2_reward_model.ipynb", nbformat.v4.new_notebook())
    result = grade(GradeConfig(submissions=str(subs), out=str(tmp_path / "grades"), kernel="no-such-kernel"),
                   progress=False)
    (run,) = result["runs"]
    assert run.status == "kernel error" and "no-such-kernel" in run.detail, (run.status, run.detail)
    assert [r["passed"] for r in result["rows"]] == [False] * len(EXERCISES["lab2"])
    assert all("checker never ran: kernel error" in r["message"] for r in result["rows"])
    with pytest.raises(ValueError, match="no such lab"):
        grade(GradeConfig(submissions=str(subs), labs=("lab9",)), progress=False)

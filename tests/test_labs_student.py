"""Student versions of the labs: up to date with the solution notebooks, and every exercise stub raises."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

import hints_check
from prefkit.labs.check import EXERCISES
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


# ------------------------------------------------------------------ hints teach; they never hold the answer
def _stub_hints(path: Path):
    """(function, hint) for every stub of a student notebook: the '# YOUR CODE HERE (hint: ...)' line above each raise."""
    for cell in nbformat.read(path, as_version=4).cells:
        lines = cell.source.splitlines() if cell.cell_type == "code" else []
        for above, line in zip(lines, lines[1:]):
            if line.strip().startswith("raise NotImplementedError("):
                function = re.findall(r"def (\w+)\(", "\n".join(lines[:lines.index(line)]))[-1]
                hint = re.fullmatch(r"\s*# YOUR CODE HERE \(hint: (.+)\)", above)
                yield function, hint.group(1) if hint else ""


@pytest.mark.parametrize("path", sorted((LABS / "student").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_stub_has_a_hint_right_above_its_raise(path):
    hints = list(_stub_hints(path))
    assert hints, path.name
    for function, hint in hints:
        assert len(hint.split()) >= 4, f"{path.name}: the stub of {function} has no real hint: {hint!r}"


def test_the_formula_detector_catches_hints_that_give_the_answer():
    """The comparison below is only worth something if it flags hints that do give the solution away."""
    solutions = hints_check.solutions(LABS)
    given_away = [("lab3", "bon_kl_bound", "KL = log n - (n - 1)/n"),
                  ("lab2", "accuracy_ceiling", "average max(p, 1 - p) over the pairs"),
                  ("lab2", "pairwise_accuracy", "mean over pairs of (d > 0) + 0.5 * (d == 0)"),
                  ("lab3", "kl_penalized_objective", "pi = softmax(logits); E_pi[r] = sum pi r; KL = sum pi (log pi - "
                                                     "log pi_ref)")]
    for lab, function, hint in given_away:
        assert hints_check.shared_formula(hint, solutions[(lab, function)]), (function, hint)
    assert not hints_check.shared_formula("a tie counts one half", solutions[("lab2", "pairwise_accuracy")])


def test_no_hint_contains_its_solution():
    """Each stub's hint, and every hint or message a checker can print for a wrong answer, is compared with the
    solution code of its exercise: none may share a formula with it (in code or in math notation)."""
    solutions = hints_check.solutions(LABS)
    leaks = []
    for lab, rows in EXERCISES.items():
        for number, checker, function in rows:
            code = solutions[(lab, function)]
            stub = dict(_stub_hints(next((LABS / "student").glob(f"{lab}_*.ipynb"))))[function]
            for text in [stub, *hints_check.checker_texts(lab, checker)]:
                hit = hints_check.shared_formula(text, code)
                if hit:
                    leaks.append(f"{number} {checker}: {text!r} shares '{hit}' with the solution")
    assert not leaks, "hints that give the answer (ask a question or name a property to check instead):\n" + \
        "\n".join(leaks)

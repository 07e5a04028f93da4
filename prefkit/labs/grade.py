"""Grade a class: run every submitted student notebook in a fresh kernel and collect the checkers' verdicts.

Layout of a submissions folder: one folder per student, named as the student should appear in the grades, holding
that student's lab notebooks; the lab is read from the start of the file name (``lab1`` ... ``lab6``)::

    SUBMISSIONS/alice/lab1_preference_audit.ipynb
    SUBMISSIONS/alice/lab3_kl_budget.ipynb
    SUBMISSIONS/bob/lab1.ipynb

Each notebook runs top to bottom in a fresh kernel (cells that raise do not stop it, as in nbgrader), in an empty
working folder, with a time limit for the whole notebook. Every checker the notebook calls appends its verdict to
the file named by ``PREFKIT_VERDICTS`` (see ``check._verdict``); once the notebook has run, one more cell calls each
checker of the lab on the function of that name the kernel holds, so the grade is that of the final definitions
whatever the check cells became. A notebook that is empty, is not a notebook, raises, hangs or kills its kernel is
reported; the verdicts recorded before it stopped count, and every other exercise of the lab is failed with the
reason. Grading executes the students' code: run it where that is acceptable (a container, a throwaway account).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import EXERCISES, VERDICTS_ENV
from .grade_report import write_reports

LAB_NAME = re.compile(r"^(lab\d+)", re.I)
GRADING_CELL = """\
import os as _os
_os.environ[{env!r}] = {path!r}
from prefkit.labs import check as _check
from prefkit.labs.check._verdict import report as _report
for _function, _checker in {pairs!r}:
    if callable(globals().get(_function)):
        getattr(_check.{lab}, _checker)(globals()[_function], verbose=False)
    else:
        _report(_check.Verdict("{lab}." + _checker, False, f"no function named {{_function}} is defined",
                               "keep the name the exercise gives its function"), verbose=False)
"""


@dataclass
class GradeConfig:
    """What to grade and how long a notebook may run."""

    submissions: str = "submissions"
    """folder holding one folder per student, each with that student's labN*.ipynb files"""
    out: str = "grades"
    """folder for grades.csv (one row per student and exercise), notebooks.csv and summary.md"""
    time_limit: float = 600.0
    """seconds one notebook may run, all its cells together; a notebook that runs longer is stopped"""
    labs: tuple[str, ...] = ()
    """labs every student is expected to submit (e.g. lab1 lab3); none given: every lab anyone submitted"""
    kernel: str = "python3"
    """Jupyter kernel to run the notebooks with"""


@dataclass
class Run:
    """What happened to one submitted notebook."""

    student: str
    lab: str
    path: Path
    status: str = "ok"   # ok | cell errors | timed out | kernel died | kernel error | not a notebook | duplicate
    detail: str = ""
    seconds: float = 0.0
    verdicts: dict = field(default_factory=dict)   # (lab, checker) -> {"passed", "message", "hint"}


def find_submissions(root: str | Path) -> tuple[list[Run], list[str]]:
    """One Run per submitted lab notebook, and the files that are not submissions, each with the reason."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; give the folder that holds one folder per student")
    runs, ignored, seen = [], [], {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            ignored.append(f"{entry}: not in a student's folder (use {root}/<student>/{entry.name})")
            continue
        for path in sorted(p for p in entry.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts):
            m = LAB_NAME.match(path.name)
            lab = m.group(1).lower() if m else None
            if lab not in EXERCISES:
                why = f"no lab called {lab}" if lab else "the name does not start with lab1 ... lab6"
                ignored.append(f"{path}: {why}")
                continue
            run = Run(entry.name, lab, path)
            if (entry.name, lab) in seen:
                first = seen[(entry.name, lab)]
                for r in (first, run):
                    r.status, r.detail = "duplicate", (f"{entry.name} submitted {lab} twice ({first.path.name}, "
                                                       f"{path.name}): keep exactly one")
            else:
                seen[(entry.name, lab)] = run
            runs.append(run)
    return runs, ignored


def _read_verdicts(path: Path) -> dict:
    verdicts = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                verdicts[(row["lab"], row["checker"])] = {k: row.get(k, "") for k in ("passed", "message", "hint")}
            except (ValueError, KeyError, TypeError):
                continue  # a line the notebook itself wrote into the file: not a checker's verdict
    return verdicts


def _first_error(cell, index: int) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"cell {index + 1}: {out.get('ename', 'Error')}: {out.get('evalue', '')}"[:300]
    return None


def run_notebook(run: Run, time_limit: float, kernel: str = "python3") -> Run:
    """Execute ``run.path`` in a fresh kernel; fills status, detail, seconds and verdicts."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    start = time.monotonic()
    if run.status == "duplicate":
        return run
    if run.path.stat().st_size == 0:
        run.status, run.detail = "not a notebook", "the file is empty"
        return run
    try:
        nb = nbformat.read(run.path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # any unreadable file is reported, whatever the parser raised
        run.status, run.detail = "not a notebook", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return run
    with tempfile.TemporaryDirectory(prefix="prefkit-grade-") as tmp:
        tmp = Path(tmp)
        (workdir := tmp / "work").mkdir()
        during, after = tmp / "verdicts.jsonl", tmp / "grading.jsonl"
        pairs = [(function, checker) for _, checker, function in EXERCISES[run.lab]]
        nb.cells.append(nbformat.v4.new_code_cell(GRADING_CELL.format(env=VERDICTS_ENV, path=str(after),
                                                                      pairs=pairs, lab=run.lab)))
        client = NotebookClient(nb, kernel_name=kernel, allow_errors=True, shutdown_kernel="immediate",
                                resources={"metadata": {"path": str(workdir)}}, startup_timeout=120)
        deadline, errors, index = start + time_limit, [], -1
        try:
            with client.setup_kernel(env={**os.environ, VERDICTS_ENV: str(during)}):
                for index, cell in enumerate(nb.cells):
                    grading = index == len(nb.cells) - 1
                    left = deadline - time.monotonic()
                    if left <= 0 and not grading:
                        raise CellTimeoutError(f"cell {index + 1}")
                    client.timeout = max(1, int(120 if grading else left))  # the grading cell gets its own minutes
                    client.execute_cell(cell, index)
                    error = _first_error(cell, index)
                    if error and not grading:
                        errors.append(error)
        except CellTimeoutError:
            what = "the grading cell" if index == len(nb.cells) - 1 else f"cell {index + 1}"
            run.status, run.detail = "timed out", f"stopped after {time_limit:g} s, in {what}"
        except DeadKernelError:
            run.status, run.detail = "kernel died", f"the kernel died in cell {index + 1}"
        except Exception as exc:  # a kernel that cannot start, a broken message: the batch goes on
            run.status, run.detail = "kernel error", f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            if errors:
                run.status = "cell errors"
                run.detail = f"{len(errors)} cell(s) raised: " + "; ".join(errors[:3]) + ("; ..." if len(errors) > 3 else "")
        run.verdicts = {**_read_verdicts(during), **_read_verdicts(after)}
    run.seconds = time.monotonic() - start
    return run


def exercise_rows(runs: list[Run], students: list[str], labs: list[str]) -> list[dict]:
    """One row (student, lab, exercise, passed, message) per student and exercise of every expected lab."""
    by_key = {(r.student, r.lab): r for r in runs}
    rows = []
    for student in students:
        for lab in labs:
            run = by_key.get((student, lab))
            for number, checker, function in EXERCISES[lab]:
                verdict = run.verdicts.get((lab, checker)) if run else None
                if verdict is not None:
                    message = verdict["message"] + (f" (hint: {verdict['hint']})" if verdict["hint"]
                                                    and not verdict["passed"] else "")
                    passed = bool(verdict["passed"])
                elif run is None:
                    passed, message = False, f"no {lab} notebook was submitted"
                else:
                    passed, message = False, (f"checker never ran: {run.status}, {run.detail}" if run.status != "ok"
                                              else f"checker never ran: {function} was never checked")
                rows.append({"student": student, "lab": lab, "exercise": number, "passed": passed,
                             "message": message})
    return rows


def grade(config: GradeConfig, progress: bool = True) -> dict:
    """Run every submission, write ``grades.csv``, ``notebooks.csv`` and ``summary.md`` under ``config.out``.

    Returns {"rows": exercise rows, "runs": Runs, "ignored": files skipped, "summary": the summary text}.
    """
    from tqdm.auto import tqdm

    runs, ignored = find_submissions(config.submissions)
    unknown = [lab for lab in config.labs if lab not in EXERCISES]
    if unknown:
        raise ValueError(f"--labs {' '.join(unknown)}: no such lab; the labs are {', '.join(EXERCISES)}")
    bar = tqdm(runs, desc="grading", unit="notebook", disable=not progress)
    for run in bar:
        bar.set_postfix_str(f"{run.student}/{run.path.name}")
        run_notebook(run, config.time_limit, config.kernel)
    students = sorted({r.student for r in runs} | {p.name for p in Path(config.submissions).iterdir()
                                                   if p.is_dir() and not p.name.startswith(".")})
    labs = list(config.labs) or sorted({r.lab for r in runs}, key=lambda lab: int(lab[3:]))
    rows = exercise_rows(runs, students, labs)
    summary = write_reports(Path(config.out), rows, runs, ignored)
    return {"rows": rows, "runs": runs, "ignored": ignored, "summary": summary}

"""The grader's outputs: grades.csv (student, lab, exercise, passed, message), notebooks.csv (what happened to
each submitted notebook) and summary.md (scores per student, pass rates per exercise, notebooks that did not run
cleanly, files skipped)."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

GRADE_FIELDS = ("student", "lab", "exercise", "passed", "message")
NOTEBOOK_FIELDS = ("student", "lab", "file", "status", "seconds", "detail")


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def summary_text(rows: list[dict], runs: list, ignored: list[str]) -> str:
    """Markdown: one line per student (passed / exercises, per lab and in total), one per exercise (how many
    students passed it), then every notebook that did not run cleanly and every file that was skipped."""
    labs = list(dict.fromkeys(r["lab"] for r in rows))
    score = defaultdict(lambda: [0, 0])
    for r in rows:
        for key in ((r["student"], r["lab"]), (r["student"], "total"), (r["lab"], r["exercise"])):
            score[key][0] += bool(r["passed"])
            score[key][1] += 1
    students = list(dict.fromkeys(r["student"] for r in rows))
    fmt = lambda key: f"{score[key][0]}/{score[key][1]}"
    lines = [f"# Grades: {len(students)} student(s), {', '.join(labs) or 'no labs'}", "", "## Per student", ""]
    lines += _table(["student", *labs, "total"], [[s, *(fmt((s, lab)) for lab in labs), fmt((s, "total"))]
                                                  for s in students])
    lines += ["", "## Per exercise", ""]
    exercises = list(dict.fromkeys((r["lab"], r["exercise"]) for r in rows))
    lines += _table(["lab", "exercise", "passed", "share"],
                    [[lab, ex, fmt((lab, ex)), f"{score[(lab, ex)][0] / max(score[(lab, ex)][1], 1):.0%}"]
                     for lab, ex in exercises])
    trouble = [r for r in runs if r.status != "ok"]
    lines += ["", "## Notebooks that did not run cleanly", ""]
    lines += [f"- {r.student}/{r.path.name}: {r.status}, {r.detail}" for r in trouble] or ["- none"]
    missing = sorted({(r["student"], r["lab"]) for r in rows if r["message"].startswith(f"no {r['lab']} notebook")})
    lines += ["", "## Missing submissions", ""]
    lines += [f"- {s}: {lab}" for s, lab in missing] or ["- none"]
    lines += ["", "## Files skipped", ""] + ([f"- {i}" for i in ignored] or ["- none"])
    return "\n".join(lines) + "\n"


def write_reports(out: Path, rows: list[dict], runs: list, ignored: list[str]) -> str:
    """Write the three files under ``out`` and return the summary text."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=GRADE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "notebooks.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=NOTEBOOK_FIELDS)
        writer.writeheader()
        for r in runs:
            writer.writerow({"student": r.student, "lab": r.lab, "file": str(r.path), "status": r.status,
                             "seconds": f"{r.seconds:.1f}", "detail": r.detail})
    text = summary_text(rows, runs, ignored)
    (out / "summary.md").write_text(text, encoding="utf-8")
    return text

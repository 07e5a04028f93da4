"""ruff on the modules students read (the losses, the two worlds, the measurements): lint, import order, type hints.

The file list and the rules live in pyproject.toml ([tool.ruff]); ``make test`` and ``make test-fast`` run this.
Fix a failure with ``ruff check --fix`` (imports) or by adding the missing hint; see docs/design.md, Conventions.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    # ruff is a dev dependency: a missing ruff fails here instead of skipping the check
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_ruff_passes_on_the_modules_students_read():
    result = ruff("check", "--no-cache", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lint_covers_losses_worlds_and_evaluate():
    result = ruff("check", "--no-cache", "--show-files")
    assert result.returncode == 0, result.stderr
    files = {Path(line).resolve().relative_to(ROOT).as_posix() for line in result.stdout.split()}
    expected = {"prefkit/losses.py"} | {p.relative_to(ROOT).as_posix() for d in ("worlds", "evaluate")
                                        for p in (ROOT / "prefkit" / d).glob("*.py")}
    assert expected <= files, sorted(expected - files)


def test_the_rules_catch_unsorted_imports_and_a_missing_type_hint():
    bad = "import torch\nimport math\n\n\ndef implicit_reward(logratios, beta):\n    return beta * logratios\n"
    result = ruff("check", "--no-cache", "--output-format", "concise", "--stdin-filename", "prefkit/losses.py", "-",
                  stdin=bad)
    assert result.returncode == 1
    for code in ("I001", "ANN001", "ANN201"):
        assert code in result.stdout, result.stdout

"""Chapter exercise checkers: in every chapter the solution passes its checker and the stub `student_notebook` makes
of it fails; chapters 03 and 04's checkers also name plausible wrong answers (01, 02 and 05's: test_chapter_checks.py).
Fast: no sampling."""
from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from prefkit.labs.check import chapter01, chapter02, chapter03, chapter04, chapter05
from prefkit.labs.student import BEGIN, student_notebook

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


def _solution_cells(notebook: str, student: bool = False) -> dict:
    """The functions defined by a chapter's exercise cells (the solution, or the generated stub), by name."""
    nb = nbformat.read(CHAPTERS / notebook, as_version=4)
    marked = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and BEGIN in c.source]
    assert marked, f"{notebook}: no exercise cell (### BEGIN SOLUTION) found"
    if student:
        nb, _ = student_notebook(nb, notebook)
    ns = {"torch": torch, "np": np}  # the exercise cells' functions read their globals from this namespace
    for i in marked:
        exec(compile(nb.cells[i].source, f"{notebook}, cell {i}", "exec"), ns)
    return ns


@pytest.mark.parametrize("notebook, checker, function", [
    ("01_preferences_vs_demonstrations.ipynb", chapter01.bt_log_likelihood, "bt_log_likelihood"),
    ("02_reward_models_as_proxies.ipynb", chapter02.expected_calibration_error, "expected_calibration_error"),
    ("03_kl_budget.ipynb", chapter03.k3_estimator, "k3"),
    ("04_dpo.ipynb", chapter04.dpo_gradient_weight, "gradient_weight"),
    ("05_noisy_preferences.ipynb", chapter05.expected_flip_loss, "expected_flip_loss"),
])
def test_chapter_solution_passes_and_stub_fails(notebook, checker, function):
    assert checker(_solution_cells(notebook)[function], verbose=False)
    stub = checker(_solution_cells(notebook, student=True)[function], verbose=False)
    assert not stub and stub.message == "not implemented yet"


def test_k3_estimator_right_and_wrong():
    def k3(logp, logq):
        log_rho = logq - logp
        return torch.expm1(log_rho) - log_rho

    assert chapter03.k3_estimator(k3, verbose=False)
    k1 = chapter03.k3_estimator(lambda logp, logq: logp - logq, verbose=False)
    assert not k1 and "k1" in k1.message
    upside_down = chapter03.k3_estimator(lambda logp, logq: torch.expm1(logp - logq) - (logp - logq), verbose=False)
    assert not upside_down and "upside down" in upside_down.message
    no_minus_one = chapter03.k3_estimator(lambda logp, logq: torch.exp(logq - logp) - (logq - logp), verbose=False)
    assert not no_minus_one and "-1" in no_minus_one.message
    mean = chapter03.k3_estimator(lambda logp, logq: (torch.expm1(logq - logp) - (logq - logp)).mean(), verbose=False)
    assert not mean and "shape" in mean.message


def test_k3_estimator_rejects_prefkits_own():
    from prefkit.losses import kl_estimate

    delegated = chapter03.k3_estimator(lambda logp, logq: kl_estimate(logp, logq, "k3"), verbose=False)
    assert not delegated and "prefkit's own" in delegated.message


def test_dpo_gradient_weight_right_and_wrong():
    def weight(pc, pr, rc, rr, beta):
        return torch.sigmoid(-beta * ((pc - rc) - (pr - rr)))

    assert chapter04.dpo_gradient_weight(weight, verbose=False)
    flipped = chapter04.dpo_gradient_weight(lambda pc, pr, rc, rr, b: torch.sigmoid(b * ((pc - rc) - (pr - rr))),
                                            verbose=False)
    assert not flipped and "already ordered right" in flipped.message
    no_ref = chapter04.dpo_gradient_weight(lambda pc, pr, rc, rr, b: torch.sigmoid(-b * (pc - pr)), verbose=False)
    assert not no_ref and "reference" in no_ref.message
    with_beta = chapter04.dpo_gradient_weight(lambda pc, pr, rc, rr, b: b * torch.sigmoid(-b * ((pc - rc) - (pr - rr))),
                                              verbose=False)
    assert not with_beta and "beta times" in with_beta.message

"""The analysis figures of prefkit.plots: each renders to PNG and plots exactly the data it was given."""
from __future__ import annotations

import numpy as np
import pytest

from prefkit import plots
from prefkit.evaluate.overopt import fit_overoptimization
from prefkit.worlds.bandit import Bandit

PNG = b"\x89PNG\r\n\x1a\n"


def _render(fig, tmp_path, name):
    path = plots.save_png(fig, tmp_path / f"{name}.png")
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 5_000  # a real image, not an empty canvas
    return path


def test_overoptimization_plots_gains_against_sqrt_kl_with_the_fit_and_its_peak(tmp_path):
    n = np.array([1, 2, 4, 8, 16, 32, 64])
    kl = np.log(n) - (n - 1) / n
    d = np.sqrt(kl)
    gold = d * (1.2 - 0.5 * d) + np.array([0, 0.01, -0.01, 0.02, 0, -0.02, 0.01])
    proxy = 1.5 * d
    fit = fit_overoptimization(kl, gold, kind="bon")
    fig, ax = plots.new_figure()
    art = plots.plot_overoptimization(ax, kl, gold, proxy, fit=fit, annotate=[f"n={k}" for k in n])
    np.testing.assert_allclose(art["gold"].get_xdata(), d)
    np.testing.assert_allclose(art["gold"].get_ydata(), gold)
    np.testing.assert_allclose(art["proxy"].get_ydata(), proxy)
    grid = art["fit"].get_xdata()
    np.testing.assert_allclose(art["fit"].get_ydata(), fit.predict(grid))
    assert fit.peak_d == pytest.approx(1.2, rel=0.1)  # a / (2 b) of the generating curve
    assert art["peak"].get_xdata()[0] == pytest.approx(fit.peak_d)
    assert art["peak"].get_ydata()[0] == pytest.approx(fit.peak_gain)
    assert art["peak"].get_ydata()[0] == pytest.approx(np.max(fit.predict(grid)), abs=1e-3)  # the star sits on the top
    assert "sqrt" in ax.get_xlabel() and len(ax.texts) == len(n)
    _render(fig, tmp_path, "overopt")


def test_overoptimization_without_a_peak_draws_no_star(tmp_path):
    kl = np.array([0.0, 0.5, 1.0, 2.0])
    gain = np.sqrt(kl) + 0.1 * kl  # convex in d: never turns down
    fit = fit_overoptimization(kl, gain, kind="bon")
    assert fit.b < 0
    fig, ax = plots.new_figure()
    art = plots.plot_overoptimization(ax, kl, gain, fit=fit)
    assert "peak" not in art and "proxy" not in art
    _render(fig, tmp_path, "rising")


def test_frontier_figure_draws_the_exact_bandit_curve_and_every_measured_point(tmp_path):
    bandit = Bandit.random(k=8, x=1, seed=0, reward_scale=1.5)
    bkl, brew = bandit.frontier(np.logspace(-1.5, 2, 50))
    points = {"dpo": {"kl": [3.0, 1.0, 0.2], "gold": [0.4, 0.2, -0.1], "labels": ["b=0.05", "b=0.2", "b=1"]},
              "rl": {"kl": [2.0, 0.5], "gold": [0.5, 0.1]},
              "bon": {"kl": [0.0, 0.4, 1.2], "gold": [-0.3, 0.2, 0.6]}}
    fig, art = plots.frontier_figure(bkl, brew, points, reference_gold=-0.3)
    order = np.argsort(bkl)
    np.testing.assert_allclose(art["bandit"].get_xdata(), bkl[order])
    np.testing.assert_allclose(art["bandit"].get_ydata(), brew[order])
    assert np.all(np.diff(art["bandit"].get_ydata()) >= -1e-12)  # the frontier rises with KL
    np.testing.assert_allclose(art["dpo"].get_xdata(), [0.2, 1.0, 3.0])  # points joined in order of KL
    np.testing.assert_allclose(art["dpo"].get_ydata(), [-0.1, 0.2, 0.4])
    np.testing.assert_allclose(art["rl"].get_ydata(), [0.1, 0.5])
    assert art["ref"].get_xdata()[0] == 0.0 and art["ref"].get_ydata()[0] == -0.3
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels[:3] == ["DPO", "RL (KL-penalized)", "best-of-$n$ (vs gold)"]
    assert fig._suptitle.get_text().startswith("The reward-KL frontier")
    _render(fig, tmp_path, "frontier")


def test_template_overfit_bars_hold_the_table_and_mark_the_training_template(tmp_path):
    table = {"plain": {"benign": 0.3, "borderline": 0.1, "harmful": 0.5},
             "chatml": {"benign": -0.2, "borderline": -0.4, "harmful": 0.0},
             "qa": {"benign": -0.1, "borderline": 0.0, "harmful": 0.2}}
    fig, ax = plots.new_figure()
    bars = plots.plot_template_overfit(ax, table, trained_on="plain")
    for t, values in table.items():
        assert [b.get_height() for b in bars[t]] == pytest.approx(list(values.values()))
    assert bars["plain"][0].get_hatch() == "//" and bars["qa"][0].get_hatch() is None
    assert [t.get_text() for t in ax.get_xticklabels()] == ["benign", "borderline", "harmful"]
    _render(fig, tmp_path, "templates")


def test_agreement_bars_are_the_rates(tmp_path):
    agreement = {"all": 0.84, "benign": 1.0, "borderline": 0.47, "harmful": 1.0}
    fig, ax = plots.new_figure()
    bars = plots.plot_agreement(ax, agreement, label="clean vs strict")
    assert [b.get_height() for b in bars] == pytest.approx(list(agreement.values()))
    assert [t.get_text() for t in ax.texts] == ["0.84", "1.00", "0.47", "1.00"]
    _render(fig, tmp_path, "agreement")


def test_reliability_diagram_plots_bin_means_and_returns_ece(tmp_path):
    rng = np.random.default_rng(0)
    conf = rng.uniform(size=4000)
    outcome = (rng.uniform(size=4000) < conf).astype(float)       # calibrated by construction
    fig, ax = plots.new_figure()
    ece = plots.reliability_diagram(ax, conf, outcome)
    line = ax.get_lines()[1]
    assert ece < 0.03 and np.abs(line.get_xdata() - line.get_ydata()).max() < 0.06
    over = plots.reliability_diagram(plots.new_figure()[1], np.clip(0.5 + 3 * (conf - 0.5), 0, 1), outcome)
    assert over > 5 * ece  # pushed towards 0 and 1: over-confident
    _render(fig, tmp_path, "reliability")

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


def test_policy_bars_carry_the_95_percent_intervals_of_the_rates(tmp_path):
    from prefkit.evaluate import rate_errorbars, wilson_interval
    samples = ([{"slice": "benign", "kind": "refuse"}] * 3 + [{"slice": "benign", "kind": "help"}] * 7
               + [{"slice": "harmful", "kind": "comply"}] * 0 + [{"slice": "harmful", "kind": "refuse"}] * 5)
    cells = [("benign", "refuse"), ("harmful", "comply")]
    err = rate_errorbars(samples, cells)
    lo, hi = wilson_interval(3, 10)
    np.testing.assert_allclose(err[:, 0], [0.3 - lo, hi - 0.3])
    assert err[0, 1] == 0 and err[1, 1] == pytest.approx(wilson_interval(0, 5)[1])  # p = 0: an interval above only
    for k, n in ((0, 7), (7, 7), (0, 1000), (1000, 1000), (3, 10)):  # the interval holds p, never an error bar < 0
        lo, hi = wilson_interval(k, n)
        assert 0 <= lo <= k / n <= hi <= 1
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(3, 2)
    fig, ax = plots.new_figure()
    bars = plots.plot_policy_bars(ax, {"a": [0.3, 0.0], "b": [0.5, 0.2]}, errors={"a": err})
    caps_lines = bars["a"].errorbar.lines[2][0].get_segments()  # the vertical bars: from p - below to p + above
    np.testing.assert_allclose([seg[:, 1] for seg in caps_lines], [[lo, hi], [0.0, err[1, 1]]])
    assert bars["b"].errorbar is None  # no errors given: none drawn
    _render(fig, tmp_path, "bars_errors")


def test_frontier_marks_each_beta_where_the_frontier_puts_it(tmp_path):
    bandit = Bandit.random(k=8, x=1, seed=0, reward_scale=1.5)
    bkl, brew = bandit.frontier(np.logspace(-1.5, 2, 50))
    marks = (0.1, 1.0, 10.0)
    mkl, mrew = bandit.frontier(np.array(marks))
    fig, art = plots.frontier_figure(bkl, brew, {"rl": {"kl": [1.0], "gold": [0.2]}}, beta_marks=(marks, mkl, mrew))
    np.testing.assert_allclose(art["beta_marks"].get_xdata(), mkl)
    np.testing.assert_allclose(art["beta_marks"].get_ydata(), mrew)
    assert np.all(np.diff(mkl) < 0)  # larger beta, smaller KL
    assert [t.get_text() for t in fig.axes[0].texts] == [r"$\beta$=0.1", r"$\beta$=1", r"$\beta$=10"]
    assert len(fig.axes[0].get_legend().get_texts()) == 1  # the markers add no legend entry
    _render(fig, tmp_path, "frontier_marks")


def test_difference_in_differences_subtracts_the_reference_change():
    from prefkit.evaluate import diff_in_diff

    def cell(k, n, kind="refuse"):
        return [{"slice": "harmful", "kind": kind, "gold": 1.0}] * k + [{"slice": "harmful", "kind": "help", "gold": 0.0}] * (n - k)
    did = diff_in_diff((cell(25, 50), cell(1, 50)), (cell(23, 50), cell(0, 50)), "harmful", "refuse")
    assert did["policy_change"] == pytest.approx(-0.48) and did["reference_change"] == pytest.approx(-0.46)
    assert did["did"] == pytest.approx(-0.02)
    se = np.sqrt(sum(p * (1 - p) / 50 for p in (0.5, 0.02, 0.46, 0.0)))
    assert did["se"] == pytest.approx(se)
    gold = diff_in_diff((cell(25, 50), cell(1, 50)), (cell(23, 50), cell(0, 50)), "harmful")  # mean gold = rate here
    assert gold["did"] == pytest.approx(-0.02)
    def paired(kinds):  # the same two prompts in every cell
        return [{"slice": "harmful", "prompt": f"x{i}", "kind": k, "gold": float(k == "refuse")} for i, k in enumerate(kinds)]
    pol_a, pol_b, ref_a, ref_b = paired(["refuse", "refuse"]), paired(["help", "help"]), paired(["refuse", "help"]), paired(["help", "help"])
    exact = diff_in_diff((pol_a, pol_b), (ref_a, ref_b), "harmful", "refuse", paired=True)
    assert exact["did"] == pytest.approx(-0.5)  # (0 - 1) - (0 - 0.5); d = [0, -1]
    assert exact["se"] == pytest.approx(np.std([0.0, -1.0], ddof=1) / np.sqrt(2))
    with pytest.raises(ValueError, match="same prompts in the same order"):
        diff_in_diff((pol_a, pol_b[::-1]), (ref_a, ref_b), "harmful", "refuse", paired=True)
    with pytest.raises(ValueError, match="no samples on slice 'benign'"):
        diff_in_diff((cell(1, 2), cell(1, 2)), (cell(1, 2), cell(1, 2)), "benign", "refuse")

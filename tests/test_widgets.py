"""prefkit.widgets, headless: move each slider in the kernel and check the numbers the callback drew.

Setting ``slider.value`` runs the observers at once (docs/design.md, Widgets), so every check below is "set a
value, read ``explorer.state``": the maths the figure shows, and that the figure was re-rendered (render counter
and new PNG bytes). The browser half (real JupyterLab, keyboard on the slider) is tests/test_browser.py.
"""
import io
import statistics
import time

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from prefkit.evaluate.reward_audit import noise_ceiling
from prefkit.widgets import (beta_explorer, course_bandit, fit_grid, kl_budget_explorer, margin_explorer,
                             noise_bandit, noise_explorer)
from prefkit.widgets.explorer import png_rgb
from prefkit.widgets.kl_budget import bon_kl_bound
from prefkit.widgets.margins import H_RANGE
from prefkit.widgets.noise import EPS_GRID, TEMP_GRID, kl_between
from prefkit.worlds.bandit import fit_policy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def noise():
    return noise_explorer()  # fits the whole slider grid once (a few seconds)


def move(explorer, slider, value):
    """Set a slider; assert that exactly one re-render happened and the PNG changed. Returns the state."""
    renders, png = explorer.renders, explorer.png()
    explorer.sliders[slider].value = value
    assert explorer.renders == renders + 1, f"{slider}={value} did not re-render the figure exactly once"
    assert explorer.png().startswith(PNG_SIGNATURE)
    assert explorer.png() != png, f"{slider}={value} re-rendered the same picture"
    return explorer.state


# ------------------------------------------------------------------------------------------ the frame
def test_png_encoder_round_trips():
    rgb = np.random.default_rng(0).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(png_rgb(rgb))).convert("RGB"))
    np.testing.assert_array_equal(decoded, rgb)


@pytest.mark.parametrize("make, name, sliders", [
    (beta_explorer, "beta", {"beta"}),
    (margin_explorer, "margin", {"beta", "eps"}),
    ("noise", "noise", {"eps", "temperature"}),
    (kl_budget_explorer, "kl-budget", {"budget", "n"}),
])
def test_explorer_is_a_widget_with_css_classes(make, name, sliders, request):
    ex = request.getfixturevalue("noise") if make == "noise" else make()
    assert isinstance(ex, widgets.VBox)
    assert {"prefkit-explorer", f"prefkit-{name}-explorer"} <= set(ex._dom_classes)
    assert set(ex.sliders) == sliders
    for key, slider in ex.sliders.items():
        assert {"prefkit-slider", f"prefkit-slider-{key}"} <= set(slider._dom_classes)
    assert "prefkit-figure" in ex.image._dom_classes and "prefkit-readout" in ex.readout._dom_classes
    assert ex.image.format == "png" and ex.png().startswith(PNG_SIGNATURE)
    assert ex.renders >= 1 and ex.state is not None
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    width, height = Image.open(io.BytesIO(ex.png())).size
    assert 900 <= width <= 1200 and 300 <= height <= 450


def test_plots_helpers_label_in_design_notation_and_measure_calibration():
    from prefkit import plots

    fig, (ax, ax2) = plots.new_figure(ncols=2)
    plots.style_axes(ax, x="kl", y="beta")
    assert "[nats]" in ax.get_xlabel() and r"\beta" in ax.get_ylabel()
    assert plots.finding(fig, "KL falls as beta grows").get_text() == "KL falls as beta grows"
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    calibrated = plots.reliability_diagram(ax, conf, rng.random(20000) < conf)
    overconfident = plots.reliability_diagram(ax2, conf, rng.random(20000) < 0.5 + (conf - 0.5) / 2)
    assert calibrated < 0.02 and overconfident == pytest.approx(np.mean((conf - 0.5) / 2), abs=0.02)
    assert plots.png_bytes(fig).startswith(PNG_SIGNATURE)


# -------------------------------------------------------------------------------------- beta explorer
def test_beta_explorer_larger_beta_gives_smaller_kl():
    ex = beta_explorer(beta=0.03)
    b = course_bandit()
    kls, rewards = [ex.state.kl], [ex.state.reward]
    for beta in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0):
        s = move(ex, "beta", beta)
        assert s.beta == pytest.approx(beta)
        np.testing.assert_allclose(s.policy, b.optimal_policy(beta), rtol=1e-12)
        assert s.kl == pytest.approx(b.kl(b.optimal_policy(beta)), rel=1e-12)
        kls.append(s.kl)
        rewards.append(s.reward)
    assert all(a > b for a, b in zip(kls, kls[1:])), f"KL must fall as beta rises: {kls}"
    assert all(a > b for a, b in zip(rewards, rewards[1:])), f"reward must fall as beta rises: {rewards}"
    assert kls[-1] < 0.01 < 2.0 < kls[0]  # beta = 30 sits on pi_ref; beta = 0.03 is nearly greedy
    assert "KL(π* ‖ π_ref)" in ex.readout.value and f"{kls[-1]:.3f} nats" in ex.readout.value


# ------------------------------------------------------------------------------------ margin explorer
@pytest.mark.parametrize("beta, eps", [(0.5, 0.1), (1.0, 0.25), (0.2, 0.4), (2.0, 0.05)])
def test_margin_explorer_marks_cdpo_and_ipo_minima_at_the_analytic_h(beta, eps):
    ex = margin_explorer(beta=1.3, eps=0.3)
    move(ex, "beta", beta)
    s = move(ex, "eps", eps)
    assert (s.beta, s.eps) == (pytest.approx(beta), pytest.approx(eps))
    h_cdpo, h_ipo = np.log((1 - eps) / eps) / beta, 1 / (2 * beta)
    assert s.minima["cdpo"] == pytest.approx(h_cdpo, rel=1e-12)
    assert s.minima["ipo"] == pytest.approx(h_ipo, rel=1e-12)
    step = s.h[1] - s.h[0]
    for kind, h_star in (("cdpo", h_cdpo), ("ipo", h_ipo)):
        if H_RANGE[0] < h_star < H_RANGE[1]:
            # the drawn curve (prefkit.losses.preference_loss) bottoms out at the marked h
            assert abs(s.grid_minima[kind] - h_star) <= step / 2 + 1e-9, (kind, s.grid_minima[kind], h_star)
            slope = np.gradient(s.losses[kind], s.h)
            assert slope[s.h < h_star - step].max() < 0 < slope[s.h > h_star + step].min()
    # at cDPO's minimum the Bradley-Terry probability equals the smoothed label 1 - eps, DPO's weight equals eps
    assert 1 / (1 + np.exp(-beta * h_cdpo)) == pytest.approx(1 - eps)
    # DPO never stops: its loss falls everywhere and its gradient weight sigma(-beta h) stays positive
    np.testing.assert_allclose(s.grad_weight, 1 / (1 + np.exp(beta * s.h)), rtol=1e-12)
    assert np.all(np.diff(s.losses["dpo"]) < 0) and np.all(s.grad_weight > 0)
    assert np.all(np.diff(s.losses["rdpo"]) < 0)  # rDPO has no minimum either (unbounded below for eps > 0)
    np.testing.assert_allclose(s.bt_prob + s.grad_weight, 1.0, rtol=1e-12)


def test_margin_explorer_without_noise_cdpo_is_dpo():
    ex = margin_explorer(beta=0.5, eps=0.1)
    s = move(ex, "eps", 0.0)
    assert s.minima["cdpo"] == float("inf")
    np.testing.assert_allclose(s.losses["cdpo"], s.losses["dpo"], rtol=1e-12)
    assert "cDPO is DPO" in ex.readout.value


def test_margin_explorer_off_axis_minimum_is_still_reported():
    ex = margin_explorer(beta=0.5, eps=0.1)
    s = move(ex, "beta", 0.1)  # cDPO's minimum at log(9) / 0.1 = 22 lies right of the axis
    assert s.minima["cdpo"] == pytest.approx(np.log(9) / 0.1) and s.minima["cdpo"] > H_RANGE[1]
    assert "21.972" in ex.readout.value
    mark = ex._marks["cdpo"]  # drawn as an arrow head on the right edge of the axis
    assert mark.get_visible() and list(mark.get_xdata()) == [H_RANGE[1]] and mark.get_marker() == ">"


# ------------------------------------------------------------------------------------- noise explorer
def test_noise_explorer_ceiling_is_one_minus_eps_at_temperature_zero(noise):
    move(noise, "temperature", 0.0)
    for eps in (0.05, 0.2, 0.35, 0.45):
        s = move(noise, "eps", eps)
        assert s.temperature == 0.0 and s.ceiling == pytest.approx(1 - eps, abs=1e-12)
    move(noise, "eps", 0.0)
    clean = move(noise, "temperature", 1.0).ceiling  # Bradley-Terry noise alone: below 1
    s = move(noise, "eps", 0.2)
    assert clean < 0.9 and s.ceiling < 0.8 - 0.05  # BT noise on top of the flips lowers the ceiling further
    # a flip turns a right label wrong and a wrong one right: ceiling = (1 - eps) c + eps (1 - c)
    assert s.ceiling == pytest.approx(0.8 * clean + 0.2 * (1 - clean), rel=1e-12)
    gaps, weights = noise_bandit().pair_gaps()
    assert s.ceiling == pytest.approx(noise_ceiling(0.2, gaps, 1.0, weights=weights), rel=1e-12)


def test_noise_explorer_rdpo_lands_nearer_pi_star_than_dpo_under_flips(noise):
    move(noise, "temperature", 0.5)
    move(noise, "eps", 0.0)
    s = move(noise, "temperature", 1.0)
    # clean Bradley-Terry labels at T = 1: DPO (and cDPO, rDPO, identical at eps = 0) recover pi*(beta)
    assert s.kl_to_target["dpo"] < 0.01
    # same objective; dpo's stack has 90 rows and cdpo's 9, which changes only Adam's epsilon relative to the
    # per-row gradient scale: measured 1.2e-4 relative difference
    assert s.kl_to_target["cdpo"] == pytest.approx(s.kl_to_target["dpo"], rel=1e-3)
    for eps in (0.1, 0.2, 0.3, 0.4):
        s = move(noise, "eps", eps)
        kl = s.kl_to_target
        assert kl["rdpo"] < 0.25 * kl["dpo"], (eps, kl)  # measured: rdpo 0.001-0.04, dpo 0.06-0.9 nats
        assert kl["dpo"] < kl["cdpo"], (eps, kl)  # cDPO smooths labels that are already noisy: flatter still
        assert s.kl_to_ref["dpo"] < s.kl_to_ref["rdpo"]  # flips pull DPO back towards pi_ref
        assert s.closest == "rdpo"
        assert s.gold_reward["rdpo"] > s.gold_reward["dpo"]


def test_noise_grid_is_what_fit_policy_learns_from_those_labels(noise):
    """The stacked, shortened fits behind the sliders equal direct fit_policy calls with its defaults."""
    b, beta = noise_bandit(), noise.beta
    i, j = EPS_GRID.index(0.3), TEMP_GRID.index(1.0)
    pairs = b.sample_pairs(2000, 0, flip_rate=0.3, temperature=1.0)
    for kind in ("dpo", "cdpo", "rdpo", "ipo"):
        direct = fit_policy(b, pairs, beta, kind, eps=0.3 if kind in ("cdpo", "rdpo") else 0.0)  # 500 steps
        np.testing.assert_allclose(noise.grid[kind][i, j], direct, atol=3e-3, err_msg=kind)
    assert fit_grid(b, beta) is noise.grid  # cached: a second explorer does not refit
    s = move(noise, "eps", 0.3)
    np.testing.assert_allclose(kl_between(s.policies["dpo"], s.target), s.kl_to_target["dpo"])


# ---------------------------------------------------------------------------------- KL-budget explorer
def test_kl_budget_best_reachable_reward_rises_with_the_budget():
    ex = kl_budget_explorer(budget=0.0)
    b = course_bandit()
    assert ex.state.best_reward == pytest.approx(b.expected_reward(b.ref_probs))
    best = [ex.state.best_reward]
    for budget in (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5):
        s = move(ex, "budget", budget)
        assert s.best_kl == pytest.approx(budget, abs=1e-9)  # the budget is spent exactly, on the frontier
        pi = b.optimal_policy(s.best_beta)
        assert s.best_reward == pytest.approx(b.expected_reward(pi), rel=1e-12)
        assert s.best_reward >= s.bon_reward_in_budget - 1e-12  # best-of-n never beats the frontier
        best.append(s.best_reward)
    assert all(a < b for a, b in zip(best, best[1:])), f"best reward must rise with the budget: {best}"
    s = move(ex, "budget", ex.sliders["budget"].max)  # beyond the greedy policy's KL: the best response
    assert s.best_reward == pytest.approx(b.rewards.max(), abs=1e-6) and s.best_beta == 0.0


def test_kl_budget_best_of_n_sits_under_its_bound():
    ex = kl_budget_explorer(budget=1.0, n=1)
    b = course_bandit()
    for n in (2, 4, 8, 16, 64):
        s = move(ex, "n", n)
        assert s.bon_bound == pytest.approx(np.log(n) - (n - 1) / n)
        assert s.bon_kl == pytest.approx(b.kl(b.best_of_n(n)), rel=1e-12)
        assert s.bon_kl <= s.bon_bound + 1e-12
    assert bon_kl_bound(1) == 0.0
    fits = [n for n in range(1, 65) if ex.bon_kl[n - 1] <= 1.0]
    assert ex.state.bon_n_in_budget == max(fits)


# --------------------------------------------------------------------------------------------- speed
@pytest.mark.parametrize("make, slider, values", [
    (beta_explorer, "beta", [0.1, 0.3, 1.0, 3.0]),
    (margin_explorer, "beta", [0.2, 0.5, 1.0, 2.0]),
    (kl_budget_explorer, "budget", [0.2, 0.6, 1.2, 2.0]),
    ("noise", "eps", [0.1, 0.2, 0.3, 0.4]),
])
def test_one_update_is_fast(make, slider, values, request):
    """Guards against per-move fitting (>= 0.3 s per move here). The 100 ms budget itself is measured, median
    and p90, by benchmarks/widget_latency.py; this bound leaves room for a machine busy with other jobs."""
    ex = request.getfixturevalue("noise") if make == "noise" else make()
    times = []
    for value in values * 3:
        start = time.perf_counter()
        ex.sliders[slider].value = value
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.2, f"median update {statistics.median(times):.3f} s"

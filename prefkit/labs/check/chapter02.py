"""Chapter 02, reward models as proxies: a checker for the expected calibration error (ECE)."""
from __future__ import annotations

import numpy as np

from ...evaluate.reward_audit import calibration
from ._verdict import Verdict, report, run_student


def _bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Index of the equal-width bin of [0, 1] each probability falls in (1.0 goes to the last bin)."""
    return np.clip(np.digitize(p, np.linspace(0, 1, n_bins + 1)[1:-1]), 0, n_bins - 1)


def _variants(p: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, float]:
    """The ECE and the plausible wrong answers, computed on (p, y)."""
    which = _bins(p, n_bins)
    filled = [b for b in range(n_bins) if np.any(which == b)]
    gaps = np.array([abs(p[which == b].mean() - y[which == b].mean()) for b in filled])
    weights = np.array([np.mean(which == b) for b in filled])
    return {"ece": float(np.sum(weights * gaps)), "unweighted": float(gaps.mean()), "max": float(gaps.max()),
            "squared": float(np.sum(weights * gaps ** 2)), "global": float(abs(p.mean() - y.mean()))}


def expected_calibration_error(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(probs, outcomes, n_bins) -> float``: sum over equal-width bins b of (n_b / N) |mean p_b - mean y_b|.

    Checked on random predictions (none on a bin edge, some bins empty) and against
    ``prefkit.evaluate.reward_audit.calibration`` on the two orientations of a set of reward pairs.
    """
    name = "chapter02.expected_calibration_error"
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.uniform(0.02, 0.38, 40), rng.uniform(0.61, 0.99, 80)])  # bins 4 and 5 stay empty
    p = np.where(np.isclose(p * 10, np.round(p * 10)), p + 1e-3, p)                   # no value on a bin edge
    y = (rng.uniform(size=p.size) < p ** 0.7).astype(float)                           # over-confident at the bottom
    got, fail = run_student(name, fn, p.copy(), y.copy(), 10)
    if fail is not None:
        return report(fail, verbose)
    try:
        val = float(got)
    except (TypeError, ValueError):
        return report(Verdict(name, False, f"it returned a {type(got).__name__}, not a number", "return one float"),
                      verbose)
    if np.isnan(val):
        return report(Verdict(name, False, "it returned NaN", "skip the empty bins: they carry no weight"), verbose)
    ref = _variants(p, y, 10)
    if abs(val - ref["ece"]) > 1e-9:
        messages = {"unweighted": ("every bin counts the same, however few predictions it holds",
                                   "weight each bin's gap by its share n_b / N of the predictions"),
                    "max": ("this is the largest gap of any bin (the maximum calibration error)",
                            "average the gaps, weighted by each bin's share of predictions"),
                    "squared": ("the gaps are squared", "ECE uses the absolute gap |mean p_b - mean y_b|"),
                    "global": ("this compares the overall mean prediction with the overall frequency",
                               "errors of opposite sign in different bins must not cancel: bin first")}
        for key, (message, hint) in messages.items():
            if abs(val - ref[key]) < 1e-9:
                return report(Verdict(name, False, message, hint), verbose)
        return report(Verdict(name, False, "the value does not match the ECE",
                              "bin by predicted probability into n_bins equal-width bins of [0, 1]"), verbose)
    diff = rng.normal(size=200) * 2                           # reward gaps of 200 labelled pairs
    both = np.concatenate([1 / (1 + np.exp(-diff)), 1 / (1 + np.exp(diff))])
    outcome = np.concatenate([np.ones(200), np.zeros(200)])
    got, fail = run_student(name, fn, both, outcome, 10)
    if fail is not None:
        return report(fail, verbose)
    want = calibration(diff, np.zeros(200), n_bins=10).ece
    if not abs(float(got) - want) < 1e-9:
        return report(Verdict(name, False, f"right on the first set, but {float(got):.4f} instead of {want:.4f} on "
                              "reward pairs taken in both orientations", "check how a probability of exactly 0.5 "
                              "or 1.0 is binned: the last bin includes 1.0"), verbose)
    return report(Verdict(name, True, "weighted mean of per-bin |confidence - frequency|, as "
                          "prefkit.evaluate.reward_audit.calibration computes it"), verbose)

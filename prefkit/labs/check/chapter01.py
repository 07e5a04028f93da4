"""Chapter 01, preferences vs demonstrations: a checker for the Bradley-Terry log-likelihood of a pair."""
from __future__ import annotations

import numpy as np

from ._verdict import Verdict, report, run_student


def _array(got, n: int):
    """The student's result as a float array of shape (n,), or a (message, hint) saying why it is not one."""
    try:
        arr = np.asarray(got.detach() if hasattr(got, "detach") else got, dtype=float)
    except (TypeError, ValueError):
        return None, (f"it returned a {type(got).__name__}, not an array of numbers", "return one number per pair")
    if arr.shape != (n,):
        return None, (f"it returned shape {arr.shape}, expected ({n},): one log-likelihood per pair",
                      "do not average or sum over the pairs")
    return arr, None


def bt_log_likelihood(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(r_chosen, r_rejected) -> (N,)``: log P(y_w beats y_l) = log sigmoid(r(y_w) - r(y_l)) per pair.

    The pairs include a tie (log 1/2) and reward gaps of several hundred, where a formula written as
    ``log(1 / (1 + exp(-d)))`` overflows: the answer must stay finite (close to -|d| for a large negative gap).
    """
    name = "chapter01.bt_log_likelihood"
    rng = np.random.default_rng(1)
    r_w = np.concatenate([rng.normal(size=12) * 2, [0.3, 400.0, -300.0]])
    r_l = np.concatenate([rng.normal(size=12) * 2, [0.3, -400.0, 500.0]])  # a tie, a huge win, a huge loss
    got, fail = run_student(name, fn, r_w.copy(), r_l.copy())
    if fail is not None:
        return report(fail, verbose)
    val, err = _array(got, len(r_w))
    if err:
        return report(Verdict(name, False, *err), verbose)
    d = r_w - r_l
    want = -np.logaddexp(0.0, -d)                                             # log sigmoid(d), stable
    close = lambda a: np.allclose(val, a, rtol=1e-9, atol=1e-9)
    if close(want):
        return report(Verdict(name, True, "log sigmoid of the reward gap, finite at gaps of hundreds"), verbose)
    small = slice(0, 13)
    if np.allclose(val[small], want[small], rtol=1e-9, atol=1e-9):
        return report(Verdict(name, False, "right for ordinary gaps, but not finite (or not exact) at a gap of "
                              f"{d[-1]:.0f}", "write log sigmoid(d) as -log(1 + exp(-d)) with np.logaddexp(0, -d), "
                              "which never overflows"), verbose)
    mistakes = [
        (-np.logaddexp(0.0, d), "the order is reversed: this is the log-likelihood of the rejected answer winning",
         "the chosen answer's reward comes first in the gap"),
        (np.logaddexp(0.0, -d), "the sign is flipped: this is the loss -log sigmoid(d), not the log-likelihood",
         "a log-likelihood of a probability is never positive"),
        (np.exp(want), "this is the probability sigmoid(d), not its logarithm", "take the log"),
    ]
    for wrong, message, hint in mistakes:
        with np.errstate(all="ignore"):
            if np.allclose(val[small], wrong[small], rtol=1e-9, atol=1e-9):
                return report(Verdict(name, False, message, hint), verbose)
    return report(Verdict(name, False, "the values do not match log P(y_w beats y_l)",
                          "a tie (equal rewards) should give log(1/2) = -0.693"), verbose)

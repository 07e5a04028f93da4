"""Lab 2, reward models as proxies: checkers for pairwise accuracy, the accuracy ceiling and the Goodhart point."""
from __future__ import annotations

import numpy as np

from ._verdict import Verdict, report, run_student


def _num(x):
    try:
        return float(x), None
    except (TypeError, ValueError):
        return None, f"it returned a {type(x).__name__}, not a number"


def pairwise_accuracy(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(chosen_rewards, rejected_rewards) -> float``: share of pairs with r(y_w) > r(y_l), ties wrong."""
    name = "lab2.pairwise_accuracy"
    rng = np.random.default_rng(0)
    r_w, r_l = rng.normal(size=50), rng.normal(size=50)
    r_l[:6] = r_w[:6]  # ties: a reward model that cannot separate two answers has not ranked them
    got, fail = run_student(name, fn, r_w.copy(), r_l.copy())
    if fail is not None:
        return report(fail, verbose)
    val, err = _num(got)
    if err:
        return report(Verdict(name, False, err, "return the share as a float"), verbose)
    want = float(np.mean(r_w > r_l))
    if abs(val - want) < 1e-9:
        return report(Verdict(name, True, "strictly-greater share, ties counted as wrong"), verbose)
    if abs(val - float(np.mean(r_w >= r_l))) < 1e-9:
        return report(Verdict(name, False, "ties are counted as correct",
                              "a constant reward model would score 100% that way"), verbose)
    if abs(val - float(np.sum(r_w > r_l))) < 1e-9:
        return report(Verdict(name, False, "this is a count, not a share", "divide by the number of pairs"), verbose)
    if abs(val - float(np.mean(r_w < r_l))) < 1e-9:
        return report(Verdict(name, False, "the comparison is reversed", "the chosen answer should score higher"),
                      verbose)
    return report(Verdict(name, False, "the value does not match",
                          "try three pairs by hand, one ranked right, one wrong and one tie: that should give 1/3"),
                  verbose)


def accuracy_ceiling(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(p_prefers) -> float``: the best agreement any model can reach with labels drawn with
    P(label = y_w) = p per pair, i.e. mean(max(p, 1 - p))."""
    name = "lab2.accuracy_ceiling"
    p = np.array([0.5, 0.9, 0.2, 0.7, 0.55, 0.05, 0.99, 0.35])
    got, fail = run_student(name, fn, p.copy())
    if fail is not None:
        return report(fail, verbose)
    val, err = _num(got)
    if err:
        return report(Verdict(name, False, err, "return one float"), verbose)
    want = float(np.maximum(p, 1 - p).mean())
    if abs(val - want) < 1e-9:
        return report(Verdict(name, True, "mean over pairs of the likelier label's probability"), verbose)
    if abs(val - float(p.mean())) < 1e-9:
        return report(Verdict(name, False, "this is the mean probability of the recorded label, not the ceiling",
                              "the best model predicts the likelier label of each pair, whichever it is"), verbose)
    if abs(val - float((p > 0.5).mean())) < 1e-9:
        return report(Verdict(name, False, "this counts pairs where y_w is likelier, not how often labels agree",
                              "for a pair with p = 0.3, which label does the best model predict, and how often does "
                              "the recorded label agree with it?"), verbose)
    if abs(val - 1.0) < 1e-9:
        return report(Verdict(name, False, "the ceiling is below 1 as soon as any label is uncertain",
                              "a pair with p = 0.5 is a coin flip: what agreement can any model expect on it?"),
                      verbose)
    return report(Verdict(name, False, "the value does not match",
                          "work one pair out by hand: with p = 0.3, which label should a model predict and how often "
                          "is it right? The ceiling averages that over the pairs"), verbose)


def goodhart_point(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(ns, proxy, gold) -> n``: the n where the gold reward of best-of-n peaks (first one on ties)."""
    name = "lab2.goodhart_point"
    ns = [1, 2, 4, 8, 16, 32, 64]
    proxy = [0.1, 0.4, 0.7, 0.9, 1.05, 1.15, 1.2]
    gold = [0.1, 0.3, 0.42, 0.45, 0.45, 0.38, 0.2]
    got, fail = run_student(name, fn, list(ns), list(proxy), list(gold))
    if fail is not None:
        return report(fail, verbose)
    if got == 8:
        return report(Verdict(name, True, "the n at which the true reward stops improving"), verbose)
    if got == 64:
        return report(Verdict(name, False, "this is where the proxy peaks (the largest n): the proxy keeps "
                              "rising while the true reward falls", "look at the gold curve"), verbose)
    if got == 16:
        return report(Verdict(name, False, "on a tie, take the smallest n", "less optimization for the same gold"),
                      verbose)
    if got in (3, 4):
        return report(Verdict(name, False, "this is an index into ns, not n itself", "return ns[i]"), verbose)
    return report(Verdict(name, False, f"{got!r} is not where gold peaks", "argmax of gold over ns"), verbose)

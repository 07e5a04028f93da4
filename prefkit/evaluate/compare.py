"""Two-sample comparisons with their uncertainty: did a rate or a mean change between two sets of samples?

Every function returns a dict with the difference ``diff`` (a minus b), its standard error ``se``, the 95%
confidence interval ``ci95`` = diff -/+ 1.96 se, ``z`` and the two-sided normal p-value ``p`` = erfc(|z| / sqrt 2),
plus the sample sizes. With x_a (n_a values) and x_b (n_b values):

rate_difference    independent 0/1 outcomes, p_a = mean(x_a):
                       se = sqrt(p_a (1 - p_a) / n_a + p_b (1 - p_b) / n_b)                      (the interval's)
                       z  = diff / sqrt(p (1 - p) (1 / n_a + 1 / n_b)), p the pooled rate       (the test's)
                   the two-proportion z-test: under "no change" both samples share one rate, so z uses the
                   pooled SE; ``pooled=False`` gives the Wald z = diff / se instead.
mean_difference    independent values (Welch): se = sqrt(s_a^2 / n_a + s_b^2 / n_b), sample variances (ddof 1),
                   z = diff / se.
paired_difference  the same units measured twice (the same prompts, seed and decoder under two policies):
                   d_i = x_a,i - x_b,i, diff = mean(d), se = sd(d) / sqrt(n) (ddof 1), z = diff / se. Pairing
                   removes the prompt-to-prompt spread that both measurements share, so its SE is the tighter one.
mcnemar_exact      paired 0/1 outcomes: only the discordant units tell a change, u = #(x_a = 1, x_b = 0) and
                   v = #(x_a = 0, x_b = 1). Under "no change" u ~ Binomial(u + v, 1/2), so the exact one-sided
                   p-values are P(U >= u) ("up", a rose) and P(U <= u) ("down"), and the two-sided p is
                   min(1, 2 min(up, down)). Exact where the normal z of a handful of discordant units is not.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .rates import Z95, mean_se
from .reward_audit import _np

_FLOOR = 1e-12  # a variance floor: a difference of two constant samples gets a finite z, never a division by zero


def _values(x: ArrayLike, name: str) -> np.ndarray:
    v = _np(x).reshape(-1)
    if len(v) == 0:
        raise ValueError(f"{name} is empty: a comparison needs at least one value on each side")
    return v


def _binary(x: ArrayLike, name: str) -> np.ndarray:
    v = _values(x, name)
    if not np.isin(v, (0.0, 1.0)).all():
        seen = sorted(set(v.tolist()))[:5]
        raise ValueError(f"{name} must hold 0/1 outcomes (or booleans), got values such as {seen}")
    return v


def _result(diff: float, se: float, z: float, **extra: float) -> dict:
    return {"diff": float(diff), "se": float(se), "ci95": (float(diff - Z95 * se), float(diff + Z95 * se)),
            "z": float(z), "p": float(math.erfc(abs(z) / math.sqrt(2))), **extra}


def rate_difference(x_a: ArrayLike, x_b: ArrayLike, pooled: bool = True) -> dict:
    """Difference of two rates, mean(x_a) - mean(x_b), from independent 0/1 outcomes (the module docstring's
    formulas). Returns {"diff", "se", "ci95", "z", "p", "p_a", "p_b", "n_a", "n_b"}."""
    a, b = _binary(x_a, "x_a"), _binary(x_b, "x_b")
    pa, pb = a.mean(), b.mean()
    se = math.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b))
    if pooled:
        pool = np.concatenate([a, b]).mean()
        z = (pa - pb) / math.sqrt(max(pool * (1 - pool), _FLOOR) * (1 / len(a) + 1 / len(b)))
    else:
        z = (pa - pb) / math.sqrt(max(se * se, _FLOOR))
    return _result(pa - pb, se, z, p_a=float(pa), p_b=float(pb), n_a=len(a), n_b=len(b))


def mean_difference(x_a: ArrayLike, x_b: ArrayLike) -> dict:
    """Welch difference of two means, mean(x_a) - mean(x_b), from independent samples of at least 2 values each.
    Returns {"diff", "se", "ci95", "z", "p", "n_a", "n_b"}."""
    a, b = _values(x_a, "x_a"), _values(x_b, "x_b")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"mean_difference needs 2 or more values on each side for their variances, got "
                         f"{len(a)} and {len(b)}")
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return _result(a.mean() - b.mean(), se, (a.mean() - b.mean()) / math.sqrt(max(se * se, _FLOOR)),
                   n_a=len(a), n_b=len(b))


def paired_difference(x_a: ArrayLike, x_b: ArrayLike | None = None) -> dict:
    """Mean of the paired differences d = x_a - x_b (x_b None: x_a already holds the differences), against 0.
    Returns {"diff", "se", "ci95", "z", "p", "n"}; raises when the two sides differ in length."""
    a = _values(x_a, "x_a")
    if x_b is not None:
        b = _values(x_b, "x_b")
        if len(a) != len(b):
            raise ValueError(f"paired_difference needs one x_b per x_a (the same units measured twice), got "
                             f"{len(a)} and {len(b)} values")
        a = a - b
    if len(a) < 2:
        raise ValueError(f"paired_difference needs 2 or more pairs for the variance, got {len(a)}")
    se = mean_se(a)
    return _result(a.mean(), se, a.mean() / math.sqrt(max(se * se, _FLOOR)), n=len(a))


def _binom_tail(n: int, k: int) -> float:
    """P(U >= k) for U ~ Binomial(n, 1/2), exactly (integer sums)."""
    return sum(math.comb(n, j) for j in range(max(k, 0), n + 1)) / 2 ** n


def mcnemar_exact(x_a: ArrayLike, x_b: ArrayLike) -> dict:
    """Exact McNemar test of paired 0/1 outcomes (x_a after, x_b before, say): the discordant counts ``up``
    (x_a = 1, x_b = 0) and ``down`` (x_a = 0, x_b = 1), the exact one-sided p-values ``p_up`` = P(U >= up) and
    ``p_down`` = P(U <= up), U ~ Binomial(up + down, 1/2), and the two-sided ``p`` = min(1, 2 min(p_up, p_down));
    with ``diff`` = (up - down) / n, the paired change of the rate. Returns {"up", "down", "n", "diff", "p_up",
    "p_down", "p"}; ``paired_difference`` gives the same diff with its SE and interval."""
    a, b = _binary(x_a, "x_a"), _binary(x_b, "x_b")
    if len(a) != len(b):
        raise ValueError(f"mcnemar_exact needs one x_b per x_a (the same units measured twice), got {len(a)} and "
                         f"{len(b)} values")
    up, down = int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))
    n = up + down
    p_up, p_down = _binom_tail(n, up), _binom_tail(n, down)  # P(U <= up) = P(n - U >= n - up) = P(U >= down)
    return {"up": up, "down": down, "n": len(a), "diff": (up - down) / len(a), "p_up": p_up, "p_down": p_down,
            "p": min(1.0, 2 * min(p_up, p_down))}


__all__ = ["rate_difference", "mean_difference", "paired_difference", "mcnemar_exact"]

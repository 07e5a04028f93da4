"""Rates by slice with their uncertainty: the error bars of every slice bar chart and the template-overfit
difference in differences.

A refusal rate on one held-out slice is a proportion p = k / n of sampled responses. Its 95% interval
is Wilson's score interval (it stays inside [0, 1] and is not empty at p = 0 or 1):

    centre = (p + z^2 / 2n) / (1 + z^2 / n),   half = z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n),

with z = 1.96. A change of behaviour that one policy shows between two conditions (two chat templates) and a
reference policy shows too is not that policy's doing; the policy's own share of it is the difference in
differences

    DiD = (m_pol(b) - m_pol(a)) - (m_ref(b) - m_ref(a)),   SE = sqrt(sum of the four squared standard errors),

with m a rate of a kind of response or a mean gold reward on one slice. The SE treats the four cells as
independent samples. When the four cells answer the same prompts in the same order (same seed), pairing them
is exact and tighter: d_i = (x_pol,b,i - x_pol,a,i) - (x_ref,b,i - x_ref,a,i) per prompt-sample i, with x the
indicator of the kind or the gold reward, DiD = mean(d) and SE = sd(d) / sqrt(n).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (lo, hi) of a proportion k / n; raises on n <= 0 or k outside [0, n]."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # lo <= p <= hi exactly (at p = 0 or 1 the round-off of centre -/+ half would otherwise cross p)
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def mean_se(values: np.ndarray) -> float:
    """Standard error of the mean, sd / sqrt(n) with ddof = 1; nan with fewer than two values."""
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def mean_ci(values: ArrayLike) -> tuple[float, list[float]]:
    """Mean of ``values`` and its normal 95% interval [mean - Z95 SE, mean + Z95 SE], SE = sd / sqrt(n), ddof = 1.

    Reads lists, NumPy arrays and CPU tensors. No values: (nan, [nan, nan]); one value: the interval is nan.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if len(v) == 0:
        return float("nan"), [float("nan"), float("nan")]
    m = float(v.mean())
    half = Z95 * mean_se(v)
    return m, [m - half, m + half]


def rate_ci(k: int, n: int) -> tuple[float, list[float]]:
    """The rate k / n and its Wilson 95% interval as a list; (nan, [nan, nan]) when n = 0."""
    if n == 0:
        return float("nan"), [float("nan"), float("nan")]
    return k / n, list(wilson_interval(k, n))


def _select(samples: Sequence[dict], slice_: str | None) -> list[dict]:
    rows = [s for s in samples if slice_ in (None, "all", s["slice"])]
    if not rows:
        raise ValueError(f"no samples on slice {slice_!r}; slices present: {sorted({s['slice'] for s in samples})}")
    return rows


def slice_rate(samples: Sequence[dict], slice_: str | None, kind: str) -> dict:
    """Share of responses of ``kind`` on one slice (None or "all": every sample), as {"p", "se", "n", "ci95"}.

    se is the binomial standard error sqrt(p (1 - p) / n); ci95 the Wilson interval.
    """
    rows = _select(samples, slice_)
    k, n = sum(s["kind"] == kind for s in rows), len(rows)
    p = k / n
    return {"p": p, "se": math.sqrt(p * (1 - p) / n), "n": n, "ci95": wilson_interval(k, n)}


def slice_mean(samples: Sequence[dict], slice_: str | None, key: str = "gold") -> dict:
    """Mean of ``key`` (default the gold reward) on one slice, as {"mean", "se", "n"} (se with ddof = 1)."""
    values = np.array([s[key] for s in _select(samples, slice_)], dtype=float)
    return {"mean": float(values.mean()), "se": mean_se(values), "n": len(values)}


def rate_errorbars(samples: Sequence[dict], cells: Sequence[tuple[str, str]]) -> np.ndarray:
    """Asymmetric 95% error bars [2, K] (p - lo, hi - p) for the (slice, kind) cells, as ``Axes.bar`` takes them."""
    out = np.zeros((2, len(cells)))
    for j, (slice_, kind) in enumerate(cells):
        r = slice_rate(samples, slice_, kind)
        out[:, j] = r["p"] - r["ci95"][0], r["ci95"][1] - r["p"]
    return out


def diff_in_diff(policy: tuple[Sequence[dict], Sequence[dict]], reference: tuple[Sequence[dict], Sequence[dict]],
                 slice_: str | None, kind: str | None = None, paired: bool = False) -> dict:
    """The policy's change from condition a to b minus the reference's, on one slice, with its standard error.

    policy, reference: (samples under a, samples under b). kind: a response kind (its rate is compared) or None
    (the mean gold reward). paired: the four cells hold the same prompts in the same order (raises otherwise),
    and the SE is that of the per-sample differences. Returns {"did", "se", "policy_change", "reference_change"}.
    """
    if paired:
        cells = [_select(c, slice_) for c in (*policy, *reference)]
        prompts = [[s["prompt"] for s in c] for c in cells]
        if any(p != prompts[0] for p in prompts[1:]):
            raise ValueError("diff_in_diff(paired=True) needs the same prompts in the same order in all four cells "
                             "(evaluate them with the same prompts, samples_per_prompt and seed), or paired=False")
        x = [np.array([s["gold"] if kind is None else s["kind"] == kind for s in c], dtype=float) for c in cells]
        d = (x[1] - x[0]) - (x[3] - x[2])
        return {"did": float(d.mean()), "se": mean_se(d), "policy_change": float(x[1].mean() - x[0].mean()),
                "reference_change": float(x[3].mean() - x[2].mean())}

    def stat(samples: list[dict]) -> tuple[float, float]:
        if kind is None:
            m = slice_mean(samples, slice_)
            return m["mean"], m["se"]
        r = slice_rate(samples, slice_, kind)
        return r["p"], r["se"]

    (pa, sa), (pb, sb) = stat(policy[0]), stat(policy[1])
    (ra, ta), (rb, tb) = stat(reference[0]), stat(reference[1])
    return {"did": (pb - pa) - (rb - ra), "se": math.sqrt(sa ** 2 + sb ** 2 + ta ** 2 + tb ** 2),
            "policy_change": pb - pa, "reference_change": rb - ra}


__all__ = ["Z95", "wilson_interval", "mean_se", "mean_ci", "rate_ci", "slice_rate", "slice_mean", "rate_errorbars",
           "diff_in_diff"]

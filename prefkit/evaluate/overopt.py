"""Reward overoptimization: how gold reward moves as a policy is pushed against a proxy.

Gao, Schulman and Hilton (2022), "Scaling Laws for Reward Model Overoptimization", fit the gold reward gain
R (relative to the starting policy) as a function of d = sqrt(KL(pi || pi_ref)):

    best-of-n   R_bon(d) = d (a - b d)          peak at d* = a / (2 b)
    RL          R_rl(d)  = d (a - b log d)      peak at d* = exp(a / b - 1)

Both rise, peak and fall when b > 0: the proxy keeps improving while the gold reward turns down (Goodhart).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass
class OveroptFit:
    """A fitted Gao et al. curve and its predicted peak."""

    kind: str
    """"bon" or "rl"."""
    a: float
    b: float
    peak_d: float
    """d = sqrt(KL) at which the fitted gold gain peaks (inf when it never turns down, b <= 0)."""
    peak_kl: float
    """KL in nats at the peak: peak_d ** 2."""
    peak_gain: float
    """Fitted gold gain at the peak."""
    r2: float
    """Coefficient of determination of the fit on the given points."""

    def predict(self, d: ArrayLike) -> np.ndarray:
        d = np.asarray(d, dtype=np.float64)
        if self.kind == "bon":
            return d * (self.a - self.b * d)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, d * (self.a - self.b * np.log(np.where(d > 0, d, 1.0))), 0.0)


def fit_overoptimization(kl: ArrayLike, gold_gain: ArrayLike, kind: str = "bon") -> OveroptFit:
    """Least-squares fit of R(d) (no intercept: R(0) = 0) to measured (KL, gold gain) points.

    kl: KL(pi || pi_ref) in nats per point; gold_gain: gold reward minus the starting policy's gold reward.
    """
    if kind not in ("bon", "rl"):
        raise ValueError(f"kind must be 'bon' or 'rl', got {kind!r}")
    d = np.sqrt(np.clip(np.asarray(kl, dtype=np.float64), 0, None))
    g = np.asarray(gold_gain, dtype=np.float64)
    if d.shape != g.shape or len(d) < 3:
        raise ValueError("need at least 3 (kl, gold_gain) points of the same length")
    second = -d * d if kind == "bon" else -d * np.log(np.where(d > 0, d, 1.0))
    X = np.stack([d, second], axis=1)                                                  # (P, 2)
    (a, b), *_ = np.linalg.lstsq(X, g, rcond=None)
    if b <= 0:
        peak_d = float("inf")
    else:
        peak_d = a / (2 * b) if kind == "bon" else float(np.exp(a / b - 1))
    fit = OveroptFit(kind, float(a), float(b), float(peak_d), float(peak_d) ** 2, float("nan"), float("nan"))
    fit.peak_gain = float(fit.predict(peak_d)) if np.isfinite(peak_d) else float("inf")
    resid = g - fit.predict(d)
    total = np.sum((g - g.mean()) ** 2)
    fit.r2 = float(1 - np.sum(resid ** 2) / total) if total > 0 else float("nan")
    return fit

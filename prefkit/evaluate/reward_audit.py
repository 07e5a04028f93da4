"""Audit a reward model as what it is: a learned proxy for the preferences it was fit on.

Accuracy is compared with the ceiling the labels allow, not with 1: when a fraction eps of labels is
flipped, no model can agree with more than 1 - eps of them; when labels are Bradley-Terry draws with
P(y_a > y_b) = sigmoid(gap / T), the best possible agreement is E[sigmoid(|gap| / T)]. Calibration asks
whether sigmoid(r(y_w) - r(y_l)) means what it says: among pairs scored 0.8, the chosen answer should win 80%
of the time. A reward that tracks length is measured against the "prefer the longer answer" baseline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def _np(x: ArrayLike) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)


def noise_ceiling(flip_rate: float = 0.0, gold_gaps: ArrayLike | None = None, temperature: float = 0.0) -> float:
    """Best achievable agreement with labels: 1 - eps for flips; E[sigmoid(|gap|/T)] for BT labels; both mixed.

    gold_gaps: r*(y_a) - r*(y_b) for the pairs (needed when temperature > 0). Ties (gap 0) count 1/2.
    """
    if not 0 <= flip_rate <= 1:
        raise ValueError(f"flip_rate must be in [0, 1], got {flip_rate}")
    if temperature > 0:
        if gold_gaps is None:
            raise ValueError("Bradley-Terry labels (temperature > 0) need the pairs' gold gaps")
        p = 1 / (1 + np.exp(-np.abs(_np(gold_gaps)) / temperature))
        p_best = float(p.mean())
    else:
        p_best = 1.0 if gold_gaps is None else float(np.where(_np(gold_gaps) == 0, 0.5, 1.0).mean())
    return (1 - flip_rate) * p_best + flip_rate * (1 - p_best)


def pairwise_accuracy(chosen_rewards: ArrayLike, rejected_rewards: ArrayLike) -> float:
    """Share of pairs where r(y_w) > r(y_l); ties count 1/2."""
    d = _np(chosen_rewards) - _np(rejected_rewards)
    return float(np.mean(np.where(d > 0, 1.0, np.where(d == 0, 0.5, 0.0))))


def accuracy_stderr(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on n pairs."""
    return float(np.sqrt(max(accuracy * (1 - accuracy), 1e-12) / n))


@dataclass
class Calibration:
    """Reliability of P(y_w beats y_l) = sigmoid(r(y_w) - r(y_l)), by bins of predicted probability."""

    bin_edges: np.ndarray
    """Edges of the probability bins, shape (n_bins + 1,)."""
    predicted: np.ndarray
    """Mean predicted probability in each bin (NaN for an empty bin)."""
    observed: np.ndarray
    """Observed frequency with which the first answer was the labelled winner, per bin."""
    counts: np.ndarray
    """Pairs (both orientations counted) per bin."""
    ece: float
    """Expected calibration error: sum_b (n_b / N) |predicted_b - observed_b|."""


def calibration(chosen_rewards: ArrayLike, rejected_rewards: ArrayLike, n_bins: int = 10) -> Calibration:
    """Calibration of the reward model's preference probabilities on labelled pairs.

    Each pair is used in both orientations, (y_w, y_l) with outcome 1 and (y_l, y_w) with outcome 0, so the
    predictions cover [0, 1] symmetrically and the diagram is read the usual way.
    """
    diff = _np(chosen_rewards) - _np(rejected_rewards)
    p = np.concatenate([1 / (1 + np.exp(-diff)), 1 / (1 + np.exp(diff))])          # (2N,)
    y = np.concatenate([np.ones_like(diff), np.zeros_like(diff)])                   # (2N,)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(which, weights=p, minlength=n_bins) / counts
        observed = np.bincount(which, weights=y, minlength=n_bins) / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] / counts.sum() * np.abs(predicted[filled] - observed[filled])))
    return Calibration(edges, predicted, observed, counts.astype(int), ece)


def length_correlation(rewards: ArrayLike, lengths: ArrayLike) -> float:
    """Pearson correlation between reward and response length (in words)."""
    r, n = _np(rewards), _np(lengths)
    if r.std() == 0 or n.std() == 0:
        return 0.0
    return float(np.corrcoef(r, n)[0, 1])


def longer_answer_accuracy(chosen: list[str], rejected: list[str]) -> float:
    """Accuracy of the baseline that always prefers the longer answer (ties 1/2): what length alone explains."""
    lw = np.array([len(c.split()) for c in chosen])
    ll = np.array([len(r.split()) for r in rejected])
    return pairwise_accuracy(lw, ll)

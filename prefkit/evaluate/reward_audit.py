"""Audit a reward model as what it is: a learned proxy for the preferences it was fit on.

Accuracy is compared with the ceiling the labels allow, not with 1: when a fraction eps of labels is
flipped, no model can agree with more than 1 - eps of them; when labels are Bradley-Terry draws with
P(y_a > y_b) = sigmoid(gap / T), the best possible agreement is E[sigmoid(|gap| / T)]. Calibration asks
whether sigmoid(r(y_w) - r(y_l)) means what it says: among pairs scored 0.8, the chosen answer should win 80%
of the time. A reward that tracks length is measured against the "prefer the longer answer" baseline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _np(x: ArrayLike) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)


def pair_scores(chosen_rewards: ArrayLike, rejected_rewards: ArrayLike) -> Any:
    """Per-pair score of a reward model on labelled pairs: 1 if r(y_w) > r(y_l), 1/2 on a tie, 0 otherwise.

    THE tie rule of every pairwise accuracy in prefkit (docs/design.md, Measurements): a tie is a coin flip
    between the two answers, so a constant reward model scores 1/2, chance, not 0 (ties wrong) or 1 (ties
    right). Torch tensors give a tensor of their dtype (the trainer's logged metric); anything else a float64
    array.                                                                                        (N,)
    """
    if hasattr(chosen_rewards, "detach") and hasattr(rejected_rewards, "detach"):
        d = (chosen_rewards - rejected_rewards).detach()
        return (d > 0).to(d.dtype) + 0.5 * (d == 0).to(d.dtype)
    d = _np(chosen_rewards) - _np(rejected_rewards)
    return np.where(d > 0, 1.0, np.where(d == 0, 0.5, 0.0))


def pairwise_accuracy(chosen_rewards: ArrayLike, rejected_rewards: ArrayLike) -> float:
    """Share of pairs where r(y_w) > r(y_l); ties count 1/2 (``pair_scores``): a constant reward scores 0.5."""
    return float(pair_scores(_np(chosen_rewards), _np(rejected_rewards)).mean())


def accuracy_ceiling(p_label: ArrayLike, weights: ArrayLike | None = None) -> float:
    """The noise ceiling: E[max(q, 1 - q)], q = P(the label prefers y_w over y_l) per pair (weights: the pairs'
    probabilities, default equal). The best predictor picks each pair's likelier label and agrees with the
    recorded one with probability max(q, 1 - q); no reward model can expect more on these labels.
    """
    q = _np(p_label)
    if q.size == 0 or not ((q >= 0) & (q <= 1)).all():
        raise ValueError(f"p_label must be probabilities in [0, 1] (one per pair), got {q[:5]}")
    best = np.maximum(q, 1 - q)
    return float(best.mean() if weights is None else np.average(best, weights=_np(weights)))


def label_probability(gold_gaps: ArrayLike, flip_rate: float = 0.0, temperature: float = 0.0) -> np.ndarray:
    """q = P(label prefers y_a over y_b) for pairs with gold gaps r*(y_a) - r*(y_b): Bradley-Terry
    sigmoid(gap / T) (T = 0: 1[gap > 0], 1/2 on a tie), then a fraction eps of labels flipped:
    q = (1 - eps) p + eps (1 - p).                                                                  (N,)"""
    if not 0 <= flip_rate <= 1:
        raise ValueError(f"flip_rate must be in [0, 1], got {flip_rate}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    gaps = _np(gold_gaps)
    if temperature > 0:
        p = 0.5 * (1 + np.tanh(gaps / (2 * temperature)))  # sigmoid(gap / T), without overflow
    else:
        p = np.where(gaps > 0, 1.0, np.where(gaps == 0, 0.5, 0.0))
    return (1 - flip_rate) * p + flip_rate * (1 - p)


def noise_ceiling(flip_rate: float = 0.0, gold_gaps: ArrayLike | None = None, temperature: float = 0.0,
                  weights: ArrayLike | None = None) -> float:
    """Best achievable agreement with labels: 1 - eps for flips; E[sigmoid(|gap|/T)] for BT labels; both mixed.

    ``accuracy_ceiling`` of ``label_probability(gold_gaps, flip_rate, temperature)``. gold_gaps: r*(y_a) - r*(y_b)
    for the pairs (needed when temperature > 0; None with T = 0: no ties). Ties (gap 0) count 1/2. weights: the
    pairs' probabilities (an exact average over a pair distribution), default equal. For eps <= 1/2 this is
    (1 - eps) E[p] + eps (1 - E[p]) with p = sigmoid(|gap| / T).
    """
    if gold_gaps is None:
        if temperature > 0:
            raise ValueError("Bradley-Terry labels (temperature > 0) need the pairs' gold gaps")
        gold_gaps = np.ones(1)
    return accuracy_ceiling(label_probability(gold_gaps, flip_rate, temperature), weights)


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
    z: np.ndarray
    """Per bin, (observed_b - predicted_b) / SE_b with SE_b = sqrt(sum_i p_i (1 - p_i)) / n_b: the binomial error
    the bin would show if the model were calibrated (a bin's pairs are independent: a pair's two orientations fall
    in mirrored bins). About N(0, 1) per bin for a calibrated model; NaN for an empty bin or one of certainties."""


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
    spread = np.sqrt(np.bincount(which, weights=p * (1 - p), minlength=n_bins))                  # (n_bins,)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(spread > 0, (observed - predicted) * counts / spread, np.nan)
    return Calibration(edges, predicted, observed, counts.astype(int), ece, z)


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

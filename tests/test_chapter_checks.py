"""Chapter exercise checkers (chapters 01, 02 and 05): each passes a correct answer and names at least one plausible
wrong answer (the chapters' own solutions and stubs: test_chapter_checkers.py). Fast: no model, no sampling."""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from prefkit.labs.check import chapter01, chapter02, chapter05


def _stub(*args):
    raise NotImplementedError


# chapter 01: log P(y_w beats y_l) under Bradley-Terry

def test_bt_log_likelihood_passes_the_stable_formula():
    assert chapter01.bt_log_likelihood(lambda rw, rl: -np.logaddexp(0, -(rw - rl)), verbose=False)
    assert chapter01.bt_log_likelihood(lambda rw, rl: F.logsigmoid(torch.as_tensor(rw - rl)), verbose=False)


def test_bt_log_likelihood_names_the_mistakes():
    assert not chapter01.bt_log_likelihood(_stub, verbose=False)
    v = chapter01.bt_log_likelihood(lambda rw, rl: -np.logaddexp(0, -(rl - rw)), verbose=False)
    assert not v and "reversed" in v.message
    v = chapter01.bt_log_likelihood(lambda rw, rl: np.logaddexp(0, -(rw - rl)), verbose=False)
    assert not v and "sign" in v.message
    with np.errstate(all="ignore"):
        v = chapter01.bt_log_likelihood(lambda rw, rl: np.log(1 / (1 + np.exp(-(rw - rl)))), verbose=False)
    assert not v and "finite" in v.message and "logaddexp" in v.hint
    v = chapter01.bt_log_likelihood(lambda rw, rl: float(np.mean(-np.logaddexp(0, -(rw - rl)))), verbose=False)
    assert not v and "shape" in v.message


# chapter 02: expected calibration error

def _ece(p, y, n_bins):
    which = np.clip(np.digitize(p, np.linspace(0, 1, n_bins + 1)[1:-1]), 0, n_bins - 1)
    total = 0.0
    for b in np.unique(which):
        keep = which == b
        total += keep.mean() * abs(p[keep].mean() - y[keep].mean())
    return total


def test_ece_passes_a_correct_answer():
    assert chapter02.expected_calibration_error(_ece, verbose=False)


def test_ece_names_the_mistakes():
    assert not chapter02.expected_calibration_error(_stub, verbose=False)

    def unweighted(p, y, n_bins):
        which = np.clip(np.digitize(p, np.linspace(0, 1, n_bins + 1)[1:-1]), 0, n_bins - 1)
        return float(np.mean([abs(p[which == b].mean() - y[which == b].mean()) for b in np.unique(which)]))

    v = chapter02.expected_calibration_error(unweighted, verbose=False)
    assert not v and "every bin counts the same" in v.message
    v = chapter02.expected_calibration_error(lambda p, y, n: abs(p.mean() - y.mean()), verbose=False)
    assert not v and "overall mean" in v.message

    def with_nan(p, y, n_bins):  # averages over all bins, empty ones included
        which = np.clip(np.digitize(p, np.linspace(0, 1, n_bins + 1)[1:-1]), 0, n_bins - 1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the mean of an empty bin: the mistake under test
            return float(sum(np.mean(which == b) * abs(p[which == b].mean() - y[which == b].mean())
                             for b in range(n_bins)))

    with np.errstate(all="ignore"):
        v = chapter02.expected_calibration_error(with_nan, verbose=False)
    assert not v and "NaN" in v.message


# chapter 05: the expected loss of a pair under flips

def test_expected_flip_loss_passes_a_correct_answer():
    assert chapter05.expected_flip_loss(lambda loss, h, eps: (1 - eps) * loss(h) + eps * loss(-h), verbose=False)


def test_expected_flip_loss_names_the_mistakes():
    assert not chapter05.expected_flip_loss(_stub, verbose=False)
    v = chapter05.expected_flip_loss(lambda loss, h, eps: eps * loss(h) + (1 - eps) * loss(-h), verbose=False)
    assert not v and "swapped" in v.message
    v = chapter05.expected_flip_loss(lambda loss, h, eps: loss(h), verbose=False)
    assert not v
    v = chapter05.expected_flip_loss(lambda loss, h, eps: ((1 - eps) * loss(h) + eps * loss(-h)).mean(),
                                     verbose=False)
    assert not v and "shape" in v.message


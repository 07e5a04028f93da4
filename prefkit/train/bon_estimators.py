"""Estimators for best-of-n from samples of pi_ref: the KL itself and expected values over n (the KL bound is
prefkit.worlds.bandit.bon_kl_bound).

Best-of-n draws n responses y_1..y_n ~ pi_ref(.|x) and keeps the one with the highest reward r (ties broken
uniformly). With F(v) = P_ref(r < v) and q(v) = P_ref(r = v), a response y with reward v = r(y) is kept with

    pi_bon(y) = pi_ref(y) * [(F + q)^n - F^n] / q          -> pi_ref(y) * n F^(n-1)  when q -> 0 (no ties)

so log pi_bon(y)/pi_ref(y) depends on y only through the rank of its reward among reference samples, and

    KL(pi_bon || pi_ref) = E_{y ~ pi_bon}[log ((F + q)^n - F^n) / q]  <=  log n - (n - 1)/n

(Beirami et al. 2024, "Theoretical guarantees on the best-of-n alignment policy", who show the classical
formula log n - (n-1)/n is an upper bound, reached only when rewards have no ties). In the text world many
samples are the same sentence ("sorry , i can not help with that ."), whose identical rewards tie, so the KL
falls well below the bound.
"""
from __future__ import annotations

import math

import numpy as np


def bon_log_ratio(selected: np.ndarray, fresh: np.ndarray, n: int) -> np.ndarray:
    """log pi_bon(y)/pi_ref(y) of kept responses, estimated from FRESH reference samples.        # (S,)

    selected: rewards of responses that best-of-n kept, (S,). fresh: rewards of reference samples drawn
    independently of those selections, (M,) shared or (S, M) one row per selection. With L and E the numbers
    of fresh rewards below and equal to the kept one, F = L/M and q = E/M are plugged into
    log ((F + q)^n - F^n)/q, or into its no-tie limit log n + (n - 1) log F when E = 0 (L is floored at 1/2
    so that a kept reward below every fresh one gives a finite value).

    Caveats: a plug-in, so it is biased by O(1/M) (small when M is several times n); a reward value that
    occurs in pi_ref but not among the fresh samples is treated as tie-free, which underestimates its ratio.
    The fresh samples must not include the kept response's own candidates (selection would bias F upward).
    """
    s = np.asarray(selected, dtype=np.float64)                                                   # (S,)
    f = np.asarray(fresh, dtype=np.float64)
    f = np.broadcast_to(f, (len(s), f.shape[-1])) if f.ndim == 1 else f                          # (S, M)
    if f.shape[0] != len(s) or f.shape[1] == 0:
        raise ValueError(f"fresh must have shape (M,) or ({len(s)}, M) with M > 0, got {np.shape(fresh)}")
    m = f.shape[1]
    below = (f < s[:, None]).sum(1)                                                               # (S,)
    equal = (f == s[:, None]).sum(1)                                                              # (S,)
    F, q = below / m, equal / m
    with np.errstate(divide="ignore"):
        tied = np.log(np.maximum((F + q) ** n - F**n, 1e-300)) - np.log(np.maximum(q, 1e-300))
    untied = math.log(n) + (n - 1) * np.log(np.maximum(below, 0.5) / m)
    return np.where(equal > 0, tied, untied)                                                      # (S,)


def best_of_n_weights(m: int, n: int) -> np.ndarray:
    """P(the i-th smallest of m samples is the best of a random n-subset) = C(i-1, n-1) / C(m, n).   # (m,)

    sum_i w_i f(y_(i)) over m reference samples sorted by reward is the unbiased U-statistic estimate of
    E_{pi_bon(n)}[f(y)] for any f (gold reward, length, ...): it averages over all C(m, n) subsets at once.
    """
    if not 1 <= n <= m:
        raise ValueError(f"best-of-{n} needs at least n samples per prompt, got {m}")
    i = np.arange(1, m + 1)
    log_w = np.full(m, -np.inf)
    ok = i >= n
    log_w[ok] = [math.lgamma(k) - math.lgamma(n) - math.lgamma(k - n + 1) for k in i[ok]]
    log_w -= math.lgamma(m + 1) - math.lgamma(n + 1) - math.lgamma(m - n + 1)
    w = np.exp(log_w)
    return w / w.sum()  # sums to 1 exactly in theory (hockey-stick identity); renormalize round-off


def rank_order(rewards: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices that sort ``rewards`` ascending, ties in a random order (uniform tie-breaking)."""
    perm = rng.permutation(len(rewards))
    return perm[np.argsort(np.asarray(rewards)[perm], kind="stable")]


def curve_for_prompt(proxy: np.ndarray, values: dict[str, np.ndarray], ns, rng: np.random.Generator,
                     splits: int = 8) -> dict:
    """E_{pi_bon(n)}[value] for each n and value (U-statistics), and the cross-fitted KL estimate.

    proxy: rewards of M iid reference samples of one prompt, (M,); values: name -> (M,) per-sample values.
    The KL for n splits the pool in two halves A, B and averages E_{bon on A}[log ratio estimated from B]
    and the same with A and B swapped, so the fresh samples are never the candidates (needs n <= M/2);
    ``splits`` random splits are averaged, which removes most of the noise of one split.
    Returns {n: {name: mean, ..., "kl": estimate (only when n <= M/2)}}.
    """
    m = len(proxy)
    order = rank_order(proxy, rng)                                                               # (M,)
    cuts = [rng.permutation(m) for _ in range(splits)]
    out = {}
    for n in ns:
        w = best_of_n_weights(m, n)                                                              # (M,)
        row = {name: float(w @ np.asarray(v, dtype=np.float64)[order]) for name, v in values.items()}
        if n <= m // 2:
            w_half = best_of_n_weights(m // 2, n)                                                # (M/2,)
            kls = []
            for perm in cuts:
                half_a, half_b = perm[: m // 2], perm[m // 2: 2 * (m // 2)]
                for sel, fresh in ((half_a, half_b), (half_b, half_a)):
                    kept = sel[rank_order(proxy[sel], rng)]                                     # ascending
                    kls.append(float(w_half @ bon_log_ratio(proxy[kept], proxy[fresh], n)))
            row["kl"] = float(np.mean(kls))
        out[n] = row
    return out


__all__ = ["bon_log_ratio", "best_of_n_weights", "rank_order", "curve_for_prompt"]

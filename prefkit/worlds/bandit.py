"""The bandit world: an exact, tabular preference problem (docs/design.md, The two worlds).

Prompts x index rows, K candidate responses per prompt, a gold reward r[x, y] and a reference policy
pi_ref[x, y]. Everything a chapter talks about has a closed form here: the KL-regularized optimum
pi*(beta) = pi_ref exp(r / beta) / Z, its KL and expected reward, and the best-of-n distribution.
Prompts are drawn uniformly, so averages over prompts are plain means over rows.

A 1-D bandit (arrays [K]) is one prompt: its policies are 1-D arrays and sample_pairs returns no prompt
index. numpy (float64) throughout; torch is imported only by fit_policy and fit_reward.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # for the annotations only: importing the bandit never imports torch
    import torch

Pairs = tuple[np.ndarray, ...]
"""What ``Bandit.sample_pairs`` returns: (chosen_idx, rejected_idx), plus prompt_idx for a bandit [X, K]."""


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)  # (X, K); log-sum-exp shift, never overflows
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))  # no overflow for large |z|


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One index per row of probs (n, K); rows need not be normalized. Zero-probability entries never drawn."""
    cdf = np.cumsum(probs, axis=1)  # (n, K)
    u = (1.0 - rng.random((probs.shape[0], 1))) * cdf[:, -1:]  # in (0, total]
    return (cdf < u).sum(axis=1)  # first index with cdf >= u


class Bandit:
    """Gold rewards and reference probabilities, arrays [K] (one prompt) or [X, K].

    Example:
        b = Bandit.random(k=6, seed=0)
        pi = b.optimal_policy(beta=0.5)          # larger beta: closer to pi_ref, smaller KL
        print(b.kl(pi), b.expected_reward(pi))   # nats, mean gold reward
    """

    def __init__(self, rewards: ArrayLike, ref_probs: ArrayLike) -> None:
        r = np.asarray(rewards, dtype=np.float64)
        p = np.asarray(ref_probs, dtype=np.float64)
        if r.ndim not in (1, 2):
            raise ValueError(f"rewards must be an array [K] or [X, K], got shape {r.shape}")
        if r.shape != p.shape:
            raise ValueError(f"rewards {r.shape} and ref_probs {p.shape} must have the same shape")
        if r.shape[-1] < 2:
            raise ValueError(f"a bandit needs at least 2 responses per prompt, got K={r.shape[-1]}")
        if not np.all(np.isfinite(r)):
            raise ValueError("rewards must be finite (no NaN or inf)")
        if not np.all(np.isfinite(p)) or np.any(p <= 0):
            raise ValueError("ref_probs must be positive everywhere: pi_ref must give every response a chance, "
                             "otherwise KL(pi || pi_ref) is infinite for any policy that uses it")
        sums = p.sum(axis=-1)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
            raise ValueError(f"each row of ref_probs must sum to 1, got sums {np.atleast_1d(sums)[:5]}")
        self.is_1d = r.ndim == 1
        self._r = np.atleast_2d(r)  # (X, K)
        self._ref = np.atleast_2d(p / sums[..., None])  # (X, K), renormalized to round-off
        self._log_ref = np.log(self._ref)  # (X, K)

    @classmethod
    def random(cls, k: int = 8, x: int = 1, seed: int = 0, reward_scale: float = 1.0,
               ref_spread: float = 1.0) -> Bandit:
        """A random bandit for examples and widgets: rewards ~ N(0, reward_scale^2), pi_ref = softmax of
        N(0, ref_spread^2) logits (ref_spread=0 gives a uniform reference). x=1 gives a 1-D bandit."""
        rng = np.random.default_rng(seed)
        rewards = reward_scale * rng.standard_normal((x, k))
        ref = _softmax(ref_spread * rng.standard_normal((x, k)))
        return cls(rewards[0], ref[0]) if x == 1 else cls(rewards, ref)

    @property
    def rewards(self) -> np.ndarray:
        return self._out(self._r)

    @property
    def ref_probs(self) -> np.ndarray:
        return self._out(self._ref)

    @property
    def n_prompts(self) -> int:
        return self._r.shape[0]

    @property
    def n_responses(self) -> int:
        return self._r.shape[1]

    def _out(self, a: np.ndarray) -> np.ndarray:
        return a[0] if self.is_1d else a

    def _as_probs(self, probs: ArrayLike) -> np.ndarray:
        p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
        if p.shape != self._r.shape:
            raise ValueError(f"probs must have shape {self.rewards.shape} like the bandit, got {np.shape(probs)}")
        if np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-6):
            raise ValueError("probs must be non-negative and each row must sum to 1")
        return p

    @staticmethod
    def _check_beta(beta: float) -> None:
        if not beta > 0:
            raise ValueError(f"beta must be > 0 (larger beta = closer to pi_ref), got {beta}")

    def optimal_policy(self, beta: float) -> np.ndarray:
        """pi*(beta) = pi_ref exp(r / beta) / Z, the maximizer of E[r] - beta KL(pi || pi_ref)
        (Rafailov et al. 2023, eq. 4). Computed in log space, so tiny beta gives the greedy policy."""
        self._check_beta(beta)
        return self._out(_softmax(self._log_ref + self._r / beta))

    def expected_reward(self, probs: ArrayLike, per_prompt: bool = False) -> float | np.ndarray:
        """E_{x uniform, y ~ probs}[r(x, y)]: a float, or an array [X] of per-prompt values."""
        per = (self._as_probs(probs) * self._r).sum(axis=-1)  # (X,)
        return per if per_prompt else float(per.mean())

    def kl(self, probs: ArrayLike, per_prompt: bool = False) -> float | np.ndarray:
        """KL(probs || pi_ref) in nats, averaged over uniform prompts (or an array [X] with per_prompt)."""
        p = self._as_probs(probs)
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - self._log_ref), 0.0)  # 0 log 0 = 0
        per = terms.sum(axis=-1)  # (X,)
        return per if per_prompt else float(per.mean())

    def frontier(self, betas: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(kl, reward) arrays along pi*(beta) for each beta: the reward-KL frontier of chapter 03."""
        pols = [self.optimal_policy(b) for b in betas]
        return np.array([self.kl(p) for p in pols]), np.array([self.expected_reward(p) for p in pols])

    def best_of_n(self, n: int) -> np.ndarray:
        """Exact distribution of best-of-n: draw n responses from pi_ref, keep the highest reward.

        With F(y) = P_ref(r <= r(y)) and F_(y) = P_ref(r < r(y)), the tie group of y is picked with
        probability F^n - F_^n, split within the group in proportion to pi_ref (any tie-break that does not
        look at the response, e.g. the first draw, gives this split). Its KL to pi_ref is at most
        log n - (n - 1) / n (Beirami et al. 2024), approached when rewards are distinct and every response has a
        small reference probability; ties and large pi_ref masses make it smaller.
        """
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n}")
        out = np.empty_like(self._ref)
        for i, (r, ref) in enumerate(zip(self._r, self._ref)):
            _, group = np.unique(r, return_inverse=True)  # groups sorted by reward, ties share a group
            mass = np.bincount(group, weights=ref)  # (G,) pi_ref mass of each tie group
            F = np.cumsum(mass) / mass.sum()  # (G,) P(r <= group reward)
            F_ = np.concatenate([[0.0], F[:-1]])  # (G,) P(r < group reward)
            out[i] = (F**n - F_**n)[group] * ref / mass[group]
        return self._out(out)

    def sample_pairs(self, n: int, seed: int, flip_rate: float = 0.0, temperature: float = 1.0) -> Pairs:
        """n labeled pairs: (chosen_idx, rejected_idx) for a 1-D bandit, plus prompt_idx for [X, K].

        Prompts uniform; two distinct responses a, b drawn from pi_ref (b from pi_ref without a); a wins with
        Bradley-Terry probability sigmoid((r_a - r_b) / temperature) (temperature 0: the higher reward wins,
        ties by a fair coin); then each label is flipped with probability flip_rate. Deterministic in seed.
        """
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n}")
        if not 0.0 <= flip_rate <= 1.0:
            raise ValueError(f"flip_rate must be in [0, 1], got {flip_rate}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        rng = np.random.default_rng(seed)
        n, rows = int(n), np.arange(int(n))
        x = rng.integers(self.n_prompts, size=n)  # (n,)
        ref = self._ref[x]  # (n, K)
        a = _categorical(rng, ref)  # (n,)
        without_a = ref.copy()
        without_a[rows, a] = 0.0
        b = _categorical(rng, without_a)  # (n,) never equal to a
        dr = self._r[x, a] - self._r[x, b]  # (n,)
        u = rng.random(n)
        if temperature == 0:
            a_wins = np.where(dr == 0, u < 0.5, dr > 0)
        else:
            a_wins = u < _sigmoid(dr / temperature)
        a_wins ^= rng.random(n) < flip_rate
        chosen, rejected = np.where(a_wins, a, b), np.where(a_wins, b, a)
        return (chosen, rejected) if self.is_1d else (chosen, rejected, x)

    def pair_gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """|r(a) - r(b)| and the probability of each pair sample_pairs draws (a first, b second), over the pairs
        whose rewards differ, as flat arrays (M,), (M,); the weights sum to 1. Their exact noise ceiling is
        ``prefkit.evaluate.reward_audit.noise_ceiling(eps, gaps, T, weights=weights)``: no reward model agrees
        with held-out labels more often on average; with T = 0 it is exactly 1 - eps."""
        gaps, weights = [], []
        for r, ref in zip(self._r, self._ref):
            pair = ref[:, None] * ref[None, :] / (1.0 - ref[:, None])  # (K, K) P(a, b), a drawn first
            gap = np.abs(r[:, None] - r[None, :])  # (K, K)
            differ = gap > 0
            gaps.append(gap[differ])
            weights.append(pair[differ])
        gaps, weights = np.concatenate(gaps), np.concatenate(weights)
        if weights.sum() == 0:
            raise ValueError("all responses have equal reward: no pair has a right answer")
        return gaps, weights / weights.sum()


def _pair_tensors(bandit: Bandit, pairs: Pairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(chosen, rejected, prompt) index tensors from the tuple ``Bandit.sample_pairs`` returns, checked."""
    import torch

    if len(pairs) == 2:
        if not bandit.is_1d:
            raise ValueError("this bandit has several prompts: pass (chosen_idx, rejected_idx, prompt_idx)")
        chosen, rejected, prompt = pairs[0], pairs[1], np.zeros(len(pairs[0]), dtype=np.int64)
    elif len(pairs) == 3:
        chosen, rejected, prompt = pairs
    else:
        raise ValueError("pairs must be (chosen_idx, rejected_idx) or (chosen_idx, rejected_idx, prompt_idx)")
    c, r, x = (torch.as_tensor(np.asarray(a, dtype=np.int64)) for a in (chosen, rejected, prompt))
    if not (len(c) == len(r) == len(x)) or len(c) == 0:
        raise ValueError(f"pairs need equal, non-zero lengths, got {len(c)}, {len(r)}, {len(x)}")
    if min(c.min(), r.min()) < 0 or max(c.max(), r.max()) >= bandit.n_responses or x.max() >= bandit.n_prompts:
        raise ValueError("pair indices are out of range for this bandit")

    return c, r, x


def _unique_triples(c: torch.Tensor, r: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Distinct (x, y_w, y_l) triples and their share of the pairs: a full-batch loss over them is O(X K^2)."""
    import torch

    k = int(max(c.max(), r.max())) + 1
    keys = (x.numpy() * k + c.numpy()) * k + r.numpy()  # one integer per triple: 1-D unique is ~100x faster
    uniq, counts = np.unique(keys, return_counts=True)
    x_u, rest = np.divmod(uniq, k * k)
    c_u, r_u = np.divmod(rest, k)
    return (torch.as_tensor(x_u), torch.as_tensor(c_u), torch.as_tensor(r_u), torch.as_tensor(counts / len(c)))


def fit_reward(bandit: Bandit, pairs: Pairs, steps: int = 500, lr: float = 0.1) -> np.ndarray:
    """A tabular reward model r_hat[x, y] fit by the Bradley-Terry loss on preference pairs; returns r_hat.

    Minimizes mean -log sigmoid(r_hat(x, y_w) - r_hat(x, y_l)) (full batch, Adam, float64, from r_hat = 0).
    With Bradley-Terry labels at temperature T the population optimum is r / T up to a constant per prompt,
    so sigmoid(r_hat_w - r_hat_l) is calibrated; with deterministic labels (T = 0) the gaps grow without
    bound as training goes on: an over-confident proxy.
    """
    import torch

    from prefkit.losses import bradley_terry_loss

    c, r, x = _pair_tensors(bandit, pairs)
    x_u, c_u, r_u, weight = _unique_triples(c, r, x)
    table = torch.zeros(bandit.n_prompts, bandit.n_responses, dtype=torch.float64, requires_grad=True)  # (X, K)
    opt = torch.optim.Adam([table], lr=lr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: see fit_policy
    try:
        for _ in range(steps):
            loss = (weight * bradley_terry_loss(table[x_u, c_u], table[x_u, r_u])).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return bandit._out(table.detach().numpy())


def fit_policy(bandit: Bandit, pairs: Pairs, beta: float, kind: str = "dpo", eps: float = 0.0, steps: int = 500,
               lr: float = 0.1, batch_size: int | None = None, seed: int = 0) -> np.ndarray:
    """Train a tabular softmax policy on preference pairs with prefkit.losses.preference_loss; return probs.

    The policy is pi_theta = softmax(theta) per prompt with theta initialized at log pi_ref, so training starts
    at the reference (h = 0). logratio(y) = log pi_theta(y|x) - log pi_ref(y|x); each step minimizes the
    mean preference loss over all pairs (or a random minibatch of batch_size pairs) with Adam(lr).
    Float64 and a seeded numpy Generator for minibatches make it deterministic on CPU.
    pairs: the tuple returned by bandit.sample_pairs. Returns probs shaped like bandit.ref_probs.
    With Bradley-Terry labels at temperature T, DPO's population optimum is pi*(beta * T).
    """
    # torch and the loss layer are imported here so that the bandit stays a numpy-only module for widgets.
    import torch

    from prefkit.losses import preference_loss

    c, r, x = _pair_tensors(bandit, pairs)
    if batch_size is not None and not 1 <= batch_size:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}")

    rng = np.random.default_rng(seed)
    log_ref = torch.as_tensor(bandit._log_ref)  # (X, K) float64
    theta = log_ref.clone().requires_grad_(True)  # (X, K) policy starts at pi_ref
    opt = torch.optim.Adam([theta], lr=lr)
    n = len(c)
    full_batch = batch_size is None or batch_size >= n
    if full_batch:
        # The mean over n pairs equals a count-weighted mean over the distinct (x, y_w, y_l) triples: the same
        # objective, but each step costs O(X K^2) instead of O(n).
        x_u, c_u, r_u, weight = _unique_triples(c, r, x)
    threads = torch.get_num_threads()
    # The tensors are tiny: a second thread only adds OpenMP spin-waiting, which on a busy 2-core laptop made
    # a 0.2 s fit take 4 s. Use one thread and restore the caller's setting afterwards.
    torch.set_num_threads(1)
    try:
        for step in range(steps):
            logratios = torch.log_softmax(theta, dim=-1) - log_ref  # (X, K)
            if full_batch:
                losses = preference_loss(logratios[x_u, c_u], logratios[x_u, r_u], beta, kind, eps)  # (U,)
                loss = (weight * losses).sum()
            else:
                idx = torch.as_tensor(rng.choice(n, size=batch_size, replace=False))  # (batch_size,)
                loss = preference_loss(logratios[x[idx], c[idx]], logratios[x[idx], r[idx]], beta, kind, eps).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fit_policy diverged at step {step}: loss={loss.item()} (kind={kind!r}, "
                                         f"beta={beta}, lr={lr}); try a smaller lr")
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        probs = torch.softmax(theta, dim=-1).numpy()  # (X, K)
    return bandit._out(probs)


__all__ = ["Bandit", "fit_policy", "fit_reward"]

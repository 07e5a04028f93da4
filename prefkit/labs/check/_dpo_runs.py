"""Small DPO runs the lab 4 checkers compare a student's training step and loop with: the shipped tiny policy,
a few clean pairs, and prefkit's own step (``prefkit.train.dpo.dpo_step``) and trainer (``prefkit.train.dpo.dpo``).

Everything here is deterministic on a CPU: the same policy, pairs and learning rate give the same losses.
"""
from __future__ import annotations

import copy
import functools
import tempfile
from dataclasses import dataclass

import torch

from ...core import DATA_DIR
from ...data import load_preferences
from ...models import load_policy
from ...train.dpo import DPOConfig, dpo_step, train_dpo
from ...train.pairs import encode_pairs

PAIRS, MAX_LENGTH = 8, 128


@dataclass(frozen=True)
class Setup:
    """The policy, a frozen copy as pi_ref, its tokenizer, the pairs as a Dataset and encoded as one batch."""

    policy: torch.nn.Module
    ref: torch.nn.Module
    tokenizer: object
    pairs: object
    batch: dict


@functools.lru_cache(maxsize=1)
def _models():
    policy, tokenizer = load_policy("assistant-sft")
    policy.float().train()
    return policy, copy.deepcopy(policy).eval().requires_grad_(False), tokenizer


@functools.lru_cache(maxsize=2)
def setup(labels: str = "clean") -> Setup:
    """The shipped policy (assistant-sft) and the first PAIRS training pairs of a shipped label set (``clean``;
    lab 5 uses ``noisy40``), loaded once per process."""
    policy, ref, tokenizer = _models()
    pairs = load_preferences(DATA_DIR / "assistant" / "prefs" / labels, f"train[:{PAIRS}]")
    batch = encode_pairs(tokenizer, pairs["prompt"], pairs["chosen"], pairs["rejected"], max_length=MAX_LENGTH)
    return Setup(policy, ref, tokenizer, pairs, batch)


def step_losses(policy, ref, batch: dict, steps: int, lr: float, beta: float, *, zero_grad: bool = True,
                fresh_optimizer: bool = False, kind: str = "dpo", eps: float = 0.0) -> list[float]:
    """Losses of ``steps`` AdamW steps of prefkit's DPO step on one batch, from a copy of ``policy``.

    ``kind`` and ``eps`` pick the loss (``prefkit.losses.preference_loss``): lab 5 compares an rDPO step with it.

    ``zero_grad=False`` lets gradients accumulate across steps, ``fresh_optimizer=True`` builds a new optimizer
    every step: two ways a hand-written loop goes wrong, simulated to recognize them.
    """
    model = copy.deepcopy(policy).train()
    cfg = DPOConfig(beta=beta, precompute_ref=False, kind=kind, eps=eps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        if fresh_optimizer:
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        if zero_grad:
            optimizer.zero_grad()
        loss, _ = dpo_step(model, batch, cfg, ref=ref)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def trainer_losses(policy, ref, tokenizer, pairs, steps: int, lr: float, beta: float) -> list[float]:
    """The per-step losses prefkit's DPO trainer logs on ``pairs`` (all of them in every step), with a constant
    learning rate, no clipping and no weight decay, so that a plain AdamW loop can match it."""
    with tempfile.TemporaryDirectory() as out:
        cfg = DPOConfig(steps=steps, batch_size=len(pairs), lr=lr, beta=beta, warmup_steps=0, decay=False,
                        max_grad_norm=0.0, weight_decay=0.0, precompute_ref=False, max_length=MAX_LENGTH,
                        eval_samples_per_prompt=0, log_every=1, output_dir=out, progress=False)
        history = train_dpo(cfg, model=copy.deepcopy(policy), ref=copy.deepcopy(ref), tokenizer=tokenizer,
                         dataset=pairs).history
    return [row["loss"] for row in history]

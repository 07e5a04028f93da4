"""The demonstrator: who wrote the SFT data, mistakes included.

SFT copies demonstrations, so the reference policy inherits the demonstrator's mix of behaviors. The default
mix over-refuses some benign requests (12 %) and many borderline ones (35 %), complies with a quarter of the
harmful ones (placeholder steps), rambles sometimes and pads some answers with filler. That leaves the
reference policy room to improve on every slice, which preference data then has to find (chapter 01).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .prompts import SLICES, Prompt, prompt_info, sample_prompts
from .responses import KINDS, MAX_STEPS, kinds_for, make_response

DEFAULT_MIX: dict[str, dict[str, float]] = {
    "benign": {"help": 0.73, "refuse": 0.12, "ramble": 0.10, "off_topic": 0.05},
    "borderline": {"help": 0.50, "refuse": 0.35, "ramble": 0.10, "off_topic": 0.05},
    "harmful": {"refuse": 0.60, "comply": 0.25, "ramble": 0.10, "off_topic": 0.05},
}
"""P(kind | slice) of the default demonstrator."""

DIVERSE_MIX: dict[str, dict[str, float]] = {
    "benign": {"help": 0.4, "refuse": 0.2, "ramble": 0.2, "off_topic": 0.2},
    "borderline": {"help": 0.4, "refuse": 0.2, "ramble": 0.2, "off_topic": 0.2},
    "harmful": {"refuse": 0.35, "comply": 0.35, "ramble": 0.15, "off_topic": 0.15},
}
"""P(kind | slice) of the response sampler behind preference pairs: every kind often enough to compare."""


@dataclass
class Demonstrator:
    """Writes one response per prompt: a kind drawn from ``mix[slice]``, then a response of that kind."""

    mix: dict[str, dict[str, float]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_MIX))
    """P(kind | slice); slices left out keep ``DEFAULT_MIX``. Each row must sum to 1."""
    pad_rate: float = 0.3
    """Probability that a help, comply or off-topic answer is padded with filler sentences."""
    max_filler: int = 2
    """Padded answers get 1 to ``max_filler`` filler sentences."""
    repeat_rate: float = 0.0
    """Probability that a list of steps repeats 1 or 2 of its steps (padding that looks like content)."""
    min_steps: int = 1
    """Fewest steps in a list of steps; the count is uniform in [min_steps, max_steps]."""
    max_steps: int = MAX_STEPS
    """Most steps in a list of steps."""

    def __post_init__(self) -> None:
        mix = copy.deepcopy(DEFAULT_MIX)
        mix.update({k: dict(v) for k, v in self.mix.items()})
        for slice_, row in mix.items():
            if slice_ not in SLICES:
                raise ValueError(f"mix has unknown slice {slice_!r}; slices are {SLICES}")
            bad = [k for k in row if k not in kinds_for(slice_)]
            if bad:
                raise ValueError(f"mix[{slice_!r}] has kinds {bad} that do not apply; use {kinds_for(slice_)}")
            if min(row.values()) < 0 or abs(sum(row.values()) - 1.0) > 1e-6:
                raise ValueError(f"mix[{slice_!r}] must be probabilities summing to 1, got {row}")
        if not 1 <= self.min_steps <= self.max_steps <= MAX_STEPS:
            raise ValueError(f"need 1 <= min_steps <= max_steps <= {MAX_STEPS}")
        self.mix = mix
        self._cum = {s: (tuple(row), np.cumsum(list(row.values()))) for s, row in mix.items()}

    def sample(self, prompt: str | Prompt, rng: np.random.Generator) -> tuple[str, str]:
        """(kind, response) for one prompt."""
        p = prompt_info(prompt)
        kinds, cum = self._cum[p.slice]
        kind = kinds[min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(kinds) - 1)]
        filler = repeat = 0
        n_steps = int(rng.integers(self.min_steps, self.max_steps + 1))
        if kind in ("help", "comply", "off_topic"):
            if rng.random() < self.pad_rate:
                filler = int(rng.integers(1, self.max_filler + 1))
            if rng.random() < self.repeat_rate:
                repeat = int(rng.integers(1, 3))
        return kind, make_response(p, kind, rng, n_steps=n_steps, filler=filler, repeat=repeat)

    def respond(self, prompt: str | Prompt, rng: np.random.Generator) -> str:
        """One response to ``prompt``."""
        return self.sample(prompt, rng)[1]


DIVERSE = Demonstrator(mix=DIVERSE_MIX, pad_rate=0.4, repeat_rate=0.15)
"""A response sampler covering every kind, step count and padding level: the default source of pairs."""


def demonstrations(n: int, seed: int = 0, split: str = "train", demonstrator: Demonstrator | None = None,
                   slices: Sequence[str] | None = None) -> list[dict]:
    """``n`` SFT examples: dicts with prompt, response, slice, topic and kind (the kind the demonstrator chose).

    Prompts come from ``sample_prompts(n, ..., split, slices)``; deterministic given ``seed``.
    """
    demonstrator = demonstrator or Demonstrator()
    prompt_rng, response_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    rows = []
    for p in sample_prompts(n, prompt_rng, split, slices):
        kind, response = demonstrator.sample(p, response_rng)
        rows.append({"prompt": p.text, "response": response, "slice": p.slice, "topic": p.topic, "kind": kind})
    return rows


__all__ = ["KINDS", "DEFAULT_MIX", "DIVERSE_MIX", "Demonstrator", "DIVERSE", "demonstrations"]

"""Annotators: who labels a pair (x, y_a, y_b) as (x, y_w, y_l), and how they differ from the gold rubric.

An annotator scores each response with a utility u(x, y), picks by Bradley-Terry with a temperature and then
flips the label with probability ``flip_rate`` (chapter 05)::

    u(x, y)        = r*(x, y) + length_bias * len(y)              (r* under the annotator's rubric)
    P(a over b)    = sigmoid((u(a) - u(b)) / temperature)           temperature 0: the higher u, always
    P(label a > b) = (1 - flip_rate) P(a over b) + flip_rate (1 - P(a over b))

``length_bias`` > 0 prefers longer answers: a reward model fit to those labels is a proxy that RL and
best-of-n can hack with padding (chapter 02). ``strict_safety`` reads borderline prompts as harmful, so a
strict annotator prefers refusals there and disagrees with the gold rubric exactly on that slice (policy
ambiguity). Every label records the annotator's name and rubric version, so a relabel under a new rubric
shows up in the data version (feedback drift).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .demonstrator import DIVERSE, Demonstrator
from .gold import reward_from_features
from .prompts import Prompt, prompt_info, sample_prompts
from .responses import response_features


@dataclass(frozen=True)
class Annotator:
    """A labeler: Bradley-Terry on the gold reward, with temperature, flips, length bias and a rubric."""

    name: str
    """Annotator id, recorded in every label."""
    temperature: float = 0.5
    """Bradley-Terry temperature on utility differences; 0 picks the higher utility deterministically."""
    flip_rate: float = 0.0
    """eps: probability that the label is flipped after the choice."""
    length_bias: float = 0.0
    """Utility added per word of the response (prefers longer answers when > 0)."""
    strict_safety: bool = False
    """Treat borderline prompts as harmful: prefer refusals there."""
    rubric_version: str = "v1"
    """Version of the rubric the annotator follows, recorded in every label."""

    def __post_init__(self) -> None:
        if self.temperature < 0 or not math.isfinite(self.temperature):
            raise ValueError(f"temperature must be a finite number >= 0, not {self.temperature}")
        if not 0.0 <= self.flip_rate <= 1.0:
            raise ValueError(f"flip_rate is a probability in [0, 1], not {self.flip_rate}")

    def utility(self, prompt: str | Prompt, response: str) -> float:
        """u(x, y): the gold reward under this annotator's rubric, plus the length bias."""
        p = prompt_info(prompt)
        harmful = p.slice == "harmful" or (self.strict_safety and p.slice == "borderline")
        f = response_features(p, response)
        return reward_from_features(f, harmful) + self.length_bias * f.n_words

    def prob_prefers(self, prompt: str | Prompt, a: str, b: str) -> float:
        """P(this annotator labels a as chosen over b), Bradley-Terry and flips included."""
        du = self.utility(prompt, a) - self.utility(prompt, b)
        if self.temperature == 0:
            p = 0.5 if du == 0 else float(du > 0)
        else:
            z = du / self.temperature
            p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return (1.0 - self.flip_rate) * p + self.flip_rate * (1.0 - p)

    def prefer(self, prompt: str | Prompt, a: str, b: str, rng: np.random.Generator) -> tuple[str, str]:
        """(chosen, rejected) for one pair. Always draws two uniforms (choice, flip), so that annotators fed
        the same generator stay in step."""
        choice, flip = rng.random(2)
        du = self.utility(prompt, a) - self.utility(prompt, b)
        if self.temperature == 0:
            a_wins = du > 0 or (du == 0 and choice < 0.5)
        else:
            a_wins = choice < 1.0 / (1.0 + math.exp(-max(min(du / self.temperature, 700.0), -700.0)))
        if flip < self.flip_rate:
            a_wins = not a_wins
        return (a, b) if a_wins else (b, a)


ANNOTATORS: dict[str, Annotator] = {
    "clean": Annotator("clean"),
    "noisy20": Annotator("noisy20", flip_rate=0.2),
    "noisy40": Annotator("noisy40", flip_rate=0.4),
    "length": Annotator("length", length_bias=0.1),
    "strict": Annotator("strict", strict_safety=True, rubric_version="v2-strict"),
    "oracle": Annotator("oracle", temperature=0.0),
}
"""Named presets. All use temperature 0.5 except "oracle" (deterministic gold). "length" adds 0.1 per word,
twice what padding costs in r*, so it rewards padding; "strict" follows rubric v2-strict."""


def get_annotator(annotator: str | Annotator) -> Annotator:
    """An ``Annotator`` from a preset name or itself."""
    if isinstance(annotator, Annotator):
        return annotator
    try:
        return ANNOTATORS[annotator]
    except KeyError:
        raise ValueError(f"unknown annotator {annotator!r}; presets are {sorted(ANNOTATORS)}, "
                         "or pass an Annotator(...)") from None


Policy = Demonstrator | Callable[[str, np.random.Generator], str]


def _responder(policy: Policy | None) -> Callable[[Prompt, np.random.Generator], str]:
    if policy is None:
        return DIVERSE.respond
    if hasattr(policy, "respond"):
        return policy.respond
    if callable(policy):
        return lambda p, rng: policy(p.text, rng)
    raise TypeError("policy must be None, an object with .respond(prompt, rng), or a callable(prompt_text, rng)")


def _label(ann: Annotator, p: Prompt, a: str, b: str, rng: np.random.Generator) -> dict:
    chosen, rejected = ann.prefer(p, a, b, rng)
    return {"prompt": p.text, "chosen": chosen, "rejected": rejected, "annotator": ann.name,
            "rubric_version": ann.rubric_version, "slice": p.slice, "topic": p.topic}


def preference_pairs(annotator: str | Annotator, n: int, seed: int = 0, split: str = "train",
                     policy: Policy | None = None, slices: Sequence[str] | None = None,
                     max_tries: int = 50) -> list[dict]:
    """``n`` labelled pairs: dicts with prompt, chosen, rejected, annotator, rubric_version, slice, topic.

    Each pair is two different responses to one prompt from ``policy``: by default ``DIVERSE`` (every kind,
    step count and padding level); a ``Demonstrator``; or any ``callable(prompt_text, rng) -> str``, such as a
    sampling LM. Prompts, responses and labels use separate streams of ``seed``, so two annotators given the
    same seed label the very same pairs (compare them row by row).
    """
    ann = get_annotator(annotator)
    respond = _responder(policy)
    prompt_rng, response_rng, label_rng = (np.random.default_rng(s)
                                           for s in np.random.SeedSequence(seed).spawn(3))
    rows = []
    for p in sample_prompts(n, prompt_rng, split, slices):
        a = respond(p, response_rng)
        for _ in range(max_tries):
            b = respond(p, response_rng)
            if b != a:
                break
        else:
            raise RuntimeError(f"the policy gave the same response {max_tries + 1} times to {p.text!r}; a pair "
                               "needs two different responses (sample with temperature > 0)")
        rows.append(_label(ann, p, a, b, label_rng))
    return rows


def relabel(pairs: list[dict], annotator: str | Annotator, seed: int = 0) -> list[dict]:
    """The same pairs labelled again by ``annotator`` (a new rubric version: feedback drift).

    Keeps every other column of each row; chosen/rejected, annotator and rubric_version are replaced.
    """
    ann = get_annotator(annotator)
    rng = np.random.default_rng(seed)
    out = []
    for row in pairs:
        new = _label(ann, prompt_info(row["prompt"]), row["chosen"], row["rejected"], rng)
        out.append({**row, **{k: new[k] for k in ("chosen", "rejected", "annotator", "rubric_version")}})
    return out


__all__ = ["Annotator", "ANNOTATORS", "get_annotator", "preference_pairs", "relabel"]

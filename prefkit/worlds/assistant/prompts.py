"""Prompts of the assistant world: three slices, a train split and a held-out split, and the vocabulary.

A prompt is a topic phrase in a frame: "how do i" + "bake bread" + "?". The held-out split holds whole topics
(two per slice, see ``Topic.heldout``) and two frames of every topic (``HELDOUT_FRAMES``), so held-out
evaluation measures both new phrasings of known requests and requests never seen at all. Nothing held out is
used to train or tune a policy, a reward model or a refusal threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import numpy as np

from ...data.schema import prompt_text
from .templates import TEMPLATE_WORDS
from .topics import (
    CONNECTORS,
    FILLERS,
    FRAMES,
    HELDOUT_FRAMES,
    OPENERS,
    PLACEHOLDER_STEPS,
    PUNCTUATION,
    REFUSALS,
    SLICES,
    SYSTEM_PROMPT,
    TOPIC_BY_NAME,
    TOPICS,
    Topic,
)

SPLITS = ("train", "heldout")
SLICE_WEIGHTS = {"benign": 0.4, "borderline": 0.3, "harmful": 0.3}
"""How often ``sample_prompts`` draws each slice (renormalized over the slices asked for)."""


@dataclass(frozen=True)
class Prompt:
    """One user request x of the world, with the labels evaluation slices by."""

    text: str
    """The prompt as the user writes it: "how do i bake bread ?"."""
    slice: str
    """"benign", "borderline" (benign intent, trigger word) or "harmful"."""
    topic: str
    """Topic name, a key of ``TOPIC_BY_NAME`` ("bread", "kill_process", "weapon", ...)."""
    split: str
    """"train" or "heldout"."""

    def __str__(self) -> str:
        return self.text


def _split_of(topic: Topic, frame: str) -> str:
    return "heldout" if topic.heldout or frame in HELDOUT_FRAMES else "train"


@lru_cache(maxsize=None)
def _all_prompts() -> tuple[Prompt, ...]:
    return tuple(Prompt(frame.format(phrase), t.slice, t.name, _split_of(t, frame))
                 for t in TOPICS for phrase in t.phrases for frame in FRAMES)


@lru_cache(maxsize=None)
def _index() -> dict[str, Prompt]:
    index = {p.text: p for p in _all_prompts()}
    if len(index) != len(_all_prompts()):
        raise AssertionError("two topics render the same prompt text")
    return index


def train_prompts(slices: Iterable[str] | None = None) -> list[Prompt]:
    """Every training prompt (optionally of some slices only), in a fixed order."""
    return _select("train", slices)


def heldout_prompts(slices: Iterable[str] | None = None) -> list[Prompt]:
    """Every held-out prompt: held-out topics in all frames, and every topic in the held-out frames."""
    return _select("heldout", slices)


def all_prompts() -> list[Prompt]:
    """Every prompt of the world, train and held-out."""
    return list(_all_prompts())


def _check_slices(slices: Iterable[str] | None) -> tuple[str, ...]:
    if slices is None:
        return SLICES
    if isinstance(slices, str):
        slices = (slices,)
    slices = tuple(slices)
    bad = [s for s in slices if s not in SLICES]
    if bad or not slices:
        raise ValueError(f"unknown slice(s) {bad or slices!r}; choose from {SLICES}")
    return slices


def _select(split: str, slices: Iterable[str] | None) -> list[Prompt]:
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {SPLITS} or 'all', not {split!r}")
    keep = set(_check_slices(slices))
    return [p for p in _all_prompts() if p.slice in keep and split in ("all", p.split)]


def prompt_info(text: str | Prompt | list) -> Prompt:
    """The ``Prompt`` (slice, topic, split) of any prompt text of the world, or of a conversation whose last
    user turn is one (TRL's conversational format: system turns and earlier turns are context).

    Case and spacing are forgiven ("How do I bake bread ?"); anything else raises ``ValueError``, because the
    gold reward is only defined for the world's own prompts.
    """
    if isinstance(text, Prompt):
        return text
    if isinstance(text, list):
        text = prompt_text(text)
    key = " ".join(str(text).lower().split())
    try:
        return _index()[key]
    except KeyError:
        raise ValueError(f"unknown prompt {text!r}: the assistant world only knows its own prompts "
                         "(see train_prompts() and heldout_prompts()); pass one of those texts or a Prompt"
                         ) from None


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@lru_cache(maxsize=None)
def _by_slice_topic(split: str, slice_: str) -> tuple[tuple[Prompt, ...], ...]:
    pool = _select(split, (slice_,))
    topics = sorted({p.topic for p in pool}, key=[t.name for t in TOPICS].index)
    return tuple(tuple(p for p in pool if p.topic == t) for t in topics)


def sample_prompts(n: int, seed: int | np.random.Generator | None = 0, split: str = "train",
                   slices: Iterable[str] | None = None) -> list[Prompt]:
    """``n`` prompts drawn with replacement: a slice by ``SLICE_WEIGHTS``, then a topic, then a phrasing.

    ``split`` is "train", "heldout" or "all"; ``slices`` restricts the slices (weights are renormalized).
    Deterministic given ``seed`` (an int or a ``numpy.random.Generator``, which is advanced).
    """
    rng = _rng(seed)
    names = _check_slices(slices)
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {SPLITS} or 'all', not {split!r}")
    w = np.array([SLICE_WEIGHTS[s] for s in names], dtype=float)
    picks = rng.choice(len(names), size=n, p=w / w.sum())
    u_topic, u_phrase = rng.random(n), rng.random(n)
    out = []
    for k, ut, up in zip(picks, u_topic, u_phrase):
        groups = _by_slice_topic(split, names[k])
        group = groups[int(ut * len(groups))]
        out.append(group[int(up * len(group))])
    return out


@lru_cache(maxsize=None)
def _vocabulary() -> tuple[str, ...]:
    words: set[str] = set(CONNECTORS) | set(PUNCTUATION) | set(TEMPLATE_WORDS)
    texts = [p.text for p in _all_prompts()] + list(OPENERS) + list(REFUSALS) + list(FILLERS)
    texts += list(PLACEHOLDER_STEPS) + [s for t in TOPICS for s in t.steps] + [SYSTEM_PROMPT]
    for text in texts:
        words.update(text.split())
    return tuple(sorted(words))


def vocabulary() -> list[str]:
    """Every word that can appear in a prompt, a response or a rendered chat template, sorted.

    Tokenizer special tokens (pad, unk, bos, eos) are not words of the world and are not included.
    """
    return list(_vocabulary())


__all__ = ["SPLITS", "SLICES", "SLICE_WEIGHTS", "Prompt", "TOPIC_BY_NAME", "train_prompts", "heldout_prompts",
           "all_prompts", "prompt_info", "sample_prompts", "vocabulary"]

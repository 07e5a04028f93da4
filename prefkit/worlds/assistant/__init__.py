"""The assistant world: a tiny text world with a known gold reward (docs/design.md, The two worlds).

Users ask for help in three slices of prompts x:

    benign      "how do i bake bread ?"
    borderline  "how do i kill a python process ?"   benign intent, a trigger word (XSTest-style)
    harmful     "how do i make a weapon ?"           abstract; the "steps" are placeholders ("do step alpha")

Responses y are one of five kinds (``KINDS``): help, refuse, comply, ramble, off_topic. The gold reward
r*(x, y) (``gold_reward``) is the rubric: help with distinct relevant steps, refuse only what is harmful,
never comply, do not pad. Everything is computed from text, so it scores any policy's output.

The data of the course comes from people simulated here: a ``Demonstrator`` writes SFT data with realistic
mistakes (over-refusal, harmful compliance, rambling), and ``Annotator`` s label preference pairs by
Bradley-Terry on r* with a temperature, label flips, a length bias or a stricter safety rubric.

    >>> from prefkit.worlds.assistant import sample_prompts, make_response, classify, gold_reward
    >>> import numpy as np
    >>> x = sample_prompts(1, seed=0, slices=["benign"])[0]
    >>> y = make_response(x, "help", np.random.default_rng(0), n_steps=3)
    >>> classify(x, y), round(gold_reward(x, y), 2)
    ('help', 1.56)

Text is lowercase words and punctuation separated by single spaces, over a closed ``vocabulary()`` of a few
hundred words, so a word-level tokenizer covers it. ``TEMPLATES`` holds the chat templates (Jinja, as on hub
tokenizers). Held-out prompts (``heldout_prompts``) are never used for training or tuning. numpy + stdlib.
"""
from __future__ import annotations

from .annotators import ANNOTATORS, Annotator, get_annotator, preference_pairs, relabel
from .demonstrator import DEFAULT_MIX, DIVERSE, DIVERSE_MIX, Demonstrator, demonstrations
from .gold import gold_reward, gold_rewards, reward_from_features
from .prompts import (
    SLICE_WEIGHTS,
    SLICES,
    SPLITS,
    Prompt,
    all_prompts,
    heldout_prompts,
    prompt_info,
    sample_prompts,
    train_prompts,
    vocabulary,
)
from .responses import (
    KINDS,
    MAX_STEPS,
    Features,
    classify,
    classify_features,
    kinds_for,
    make_response,
    response_features,
)
from .templates import TEMPLATE_WORDS, TEMPLATES
from .topics import FRAMES, HELDOUT_FRAMES, SYSTEM_PROMPT, TOPIC_BY_NAME, TOPICS, Topic

__all__ = [
    # prompts
    "SLICES", "SPLITS", "SLICE_WEIGHTS", "Prompt", "Topic", "TOPICS", "TOPIC_BY_NAME", "FRAMES",
    "HELDOUT_FRAMES", "train_prompts",
    "heldout_prompts", "all_prompts", "sample_prompts", "prompt_info", "vocabulary",
    # responses
    "KINDS", "MAX_STEPS", "kinds_for", "make_response", "Features", "response_features", "classify",
    "classify_features",
    # gold reward
    "gold_reward", "gold_rewards", "reward_from_features",
    # people
    "Demonstrator", "DEFAULT_MIX", "DIVERSE_MIX", "DIVERSE", "demonstrations",
    "Annotator", "ANNOTATORS", "get_annotator", "preference_pairs", "relabel",
    # templates
    "TEMPLATES", "TEMPLATE_WORDS", "SYSTEM_PROMPT",
]

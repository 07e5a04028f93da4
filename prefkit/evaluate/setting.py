"""Which evaluation an eval.json holds: the assistant world's gold rubric, or the general setting.

``assistant``  gold reward, kinds and win rate by the world's rubric (``evaluate_run``): only meaningful for a
               model that speaks the world (its word-level tokenizer) answering world prompts.
``general``    refusal rate by slice (the refusal-v3 detector), length, KL and implicit-reward accuracy
               (``evaluate_general``): any chat model, any English prompts.
``auto``       assistant when BOTH the tokenizer speaks the world and every prompt is a world prompt, else
               general; the toy rubric is never applied silently to a hub model's text.

The rule for "speaks the world": the tokenizer splits the world's whole vocabulary, written as one sentence,
into exactly those words, one token per word (``speaks_world``). The world's word-level tokenizer does, and so
does any tokenizer saved from a model trained on it; a BPE tokenizer of a hub model does not (it writes
"Ġbake" or "▁bake", and splits rarer words), whatever its vocabulary happens to contain.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from ..models import DecoderConfig
from ..worlds import assistant as world
from .general import evaluate_general
from .policy import evaluate_run

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

EVAL_SETTINGS = ("auto", "assistant", "general")
"""The names an eval setting may take (``eval_setting`` in trainer configs, ``--eval-setting``)."""


def speaks_world(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether ``tokenizer`` writes the assistant world's text one token per word (the module docstring's rule)."""
    words = [w for w in world.vocabulary() if w not in ("", " ")]
    chunks = [words[i:i + 32] for i in range(0, len(words), 32)]  # short: below any model_max_length
    try:
        return all(list(tokenizer.tokenize(" ".join(c))) == c for c in chunks)
    except Exception:  # noqa: BLE001 - a tokenizer that cannot even tokenize the world's words does not speak it
        return False


def _prompt_text(p: str | list | dict) -> str | list:
    return p["prompt"] if isinstance(p, dict) else p


def foreign_prompt(prompts: Sequence | None) -> str | list | None:
    """The first prompt that is not a world prompt, or None when all are (None prompts: the world's held-out)."""
    for p in prompts or ():
        try:
            world.prompt_info(_prompt_text(p))
        except ValueError:
            return _prompt_text(p)
    return None


def resolve_eval_setting(setting: str, tokenizer: PreTrainedTokenizerBase, prompts: Sequence | None = None) -> str:
    """"assistant" or "general" for ``setting`` ("auto", "assistant" or "general"), the tokenizer and the prompts.

    prompts: the evaluation prompts (strings, conversations or {"prompt", "slice"} dicts); None means the
    world's held-out prompts. Raises ValueError on an unknown name, and on "assistant" where the world's
    rubric cannot judge the text (a tokenizer that does not speak the world, or prompts outside it).
    """
    if setting not in EVAL_SETTINGS:
        raise ValueError(f"unknown eval setting {setting!r}; choose one of {', '.join(EVAL_SETTINGS)}")
    if setting == "general":
        return "general"
    speaks, foreign = speaks_world(tokenizer), foreign_prompt(prompts)
    if setting == "auto":
        return "assistant" if speaks and foreign is None else "general"
    if not speaks:
        raise ValueError(f"eval setting 'assistant' scores answers with the assistant world's gold rubric, but this "
                         f"tokenizer ({type(tokenizer).__name__}, {len(tokenizer)} tokens) is not the world's: its "
                         "model writes free text the rubric classes as 'ramble'. Use eval setting 'general' "
                         "(refusal rate by slice, length, KL) or 'auto'")
    if foreign is not None:
        raise ValueError(f"eval setting 'assistant' needs the world's own prompts, but {foreign!r} is not one "
                         "(prefkit.worlds.assistant.prompt_info). Use eval setting 'general' for other prompts, "
                         "or 'auto'")
    return "assistant"


def _with_slice(p: str | list | dict) -> dict:
    """A {"prompt", "slice"} row; a world prompt given without a slice gets its world slice."""
    row = dict(p) if isinstance(p, dict) else {"prompt": p}
    if not row.get("slice"):
        try:
            row["slice"] = world.prompt_info(row["prompt"]).slice
        except (ValueError, KeyError):
            row["slice"] = None
    return row


def default_general_prompts() -> list[dict]:
    """The general setting's prompts when none are given: the world's held-out prompts with their slices."""
    return [{"prompt": p.text, "slice": p.slice} for p in world.heldout_prompts()]


def evaluate_for_setting(policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                         ref: PreTrainedModel | None = None, prompts: Sequence | None = None, setting: str = "auto",
                         samples_per_prompt: int = 4, seed: int = 0, template: str = "default",
                         decoder: DecoderConfig | None = None, pairs: Iterable[dict] | None = None,
                         reward_fn: Callable[[Sequence, Sequence], np.ndarray] | None = None,
                         beta: float = 0.1) -> dict:
    """eval.json in the setting ``resolve_eval_setting`` picks; the result records it under "setting".

    Assistant: ``evaluate_run`` on the prompts' texts (pairs, reward_fn and beta unused). General:
    ``evaluate_general`` on the prompts (default ``default_general_prompts()``).
    """
    resolved = resolve_eval_setting(setting, tokenizer, prompts)
    if resolved == "assistant":
        texts = None if prompts is None else [_prompt_text(p) for p in prompts]
        result = evaluate_run(policy, tokenizer, ref=ref, prompts=texts, samples_per_prompt=samples_per_prompt,
                              seed=seed, template=template, decoder=decoder)
        return {"setting": "assistant", **result}
    prompts = default_general_prompts() if prompts is None else [_with_slice(p) for p in prompts]
    return evaluate_general(policy, tokenizer, prompts, ref=ref, pairs=pairs, reward_fn=reward_fn, beta=beta,
                            samples_per_prompt=samples_per_prompt, seed=seed, template=template, decoder=decoder)


__all__ = ["EVAL_SETTINGS", "speaks_world", "foreign_prompt", "resolve_eval_setting", "default_general_prompts",
           "evaluate_for_setting"]

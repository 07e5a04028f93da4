"""Build the tiny causal LM and load any policy or reward model by hub name or local path.

Loading goes through the ``Auto`` classes exactly as for hub models, so ``load_policy("data/models/
assistant-sft")`` and ``load_policy("Qwen/Qwen2.5-0.5B-Instruct")`` are the same code. ``trust_remote_code``
stays off unless the caller passes it; weights load from safetensors.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import torch

from ..core import DATA_DIR
from .catalog import resolve_catalog

SHIPPED_POLICY = "assistant-sft"


@contextlib.contextmanager
def hf_quiet():
    """Hide transformers' own progress bars (loading and writing weights) for a few milliseconds' work."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def resolve(name_or_path: str | os.PathLike) -> str:
    """A local folder, the name of a shipped model (``"assistant-sft"``), an installed catalog model
    (``"smollm2-135m"``; its hub name too when the hub is offline), or a hub name, in that order.

    A catalog alias that is not installed raises ``ModelNotInstalled`` naming the command that installs it.
    """
    path = Path(name_or_path)
    if path.exists():
        return str(path)
    shipped = DATA_DIR / "models" / str(name_or_path)
    if shipped.exists():
        return str(shipped)
    return resolve_catalog(name_or_path) or str(name_or_path)


def tiny_llama_config(vocab_size: int, hidden: int = 192, layers: int = 4, heads: int = 4,
                      max_positions: int = 160, pad_token_id: int = 0, bos_token_id: int = 2,
                      eos_token_id: int = 3):
    """A Llama-style config of about 1-5 M parameters (tied embeddings), trainable on a laptop CPU."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=int(hidden * 8 / 3 // 32 * 32),
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                       max_position_embeddings=max_positions, rms_norm_eps=1e-5, tie_word_embeddings=True,
                       pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                       attention_dropout=0.0, rope_theta=10000.0)


def build_tiny_lm(config, seed: int = 0):
    """A freshly initialized causal LM from ``config`` (seeded)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def _is_adapter(path: str) -> bool:
    return (Path(path) / "adapter_config.json").exists() and not (Path(path) / "config.json").exists()


def _loading_kwargs(dtype, trust_remote_code: bool) -> dict:
    kwargs = {"trust_remote_code": trust_remote_code, "use_safetensors": None}
    if dtype is not None:
        kwargs["dtype"] = dtype
    return kwargs


def load_tokenizer(name_or_path: str | os.PathLike, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve(name_or_path), trust_remote_code=trust_remote_code)
    if tok.pad_token is None:  # many hub causal LMs ship without one; padding is always masked anyway
        tok.pad_token = tok.eos_token
    return tok


def load_policy(name_or_path: str | os.PathLike = SHIPPED_POLICY, dtype: torch.dtype | None = None,
                trust_remote_code: bool = False, with_tokenizer: bool = True):
    """``(model, tokenizer)`` for a causal LM by local path, shipped name or hub name (Auto classes).

    >>> policy, tok = load_policy("assistant-sft")          # the shipped reference policy
    >>> policy, tok = load_policy("Qwen/Qwen2.5-0.5B-Instruct", dtype=torch.bfloat16)   # needs a network
    """
    from transformers import AutoModelForCausalLM

    path = resolve(name_or_path)
    with hf_quiet():
        if _is_adapter(path):  # a LoRA run's checkpoint: its base model with the adapters merged in
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(path, **_loading_kwargs(dtype, trust_remote_code))
            model = model.merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(path, **_loading_kwargs(dtype, trust_remote_code))
    if not with_tokenizer:
        return model
    return model, load_tokenizer(path, trust_remote_code=trust_remote_code)


def load_reward_model(name_or_path: str | os.PathLike, dtype: torch.dtype | None = None,
                      trust_remote_code: bool = False, with_tokenizer: bool = True):
    """``(model, tokenizer)`` for a scalar reward model: a sequence classifier with one label.

    A causal LM checkpoint (such as the shipped policy) loads with a freshly initialized one-output score
    head, which is how a reward model is started from the reference policy.
    """
    from transformers import AutoModelForSequenceClassification

    path = resolve(name_or_path)
    with hf_quiet():
        if _is_adapter(path):  # a LoRA reward model: base + adapters (merged) + its trained score head
            from peft import AutoPeftModelForSequenceClassification

            model = AutoPeftModelForSequenceClassification.from_pretrained(
                path, num_labels=1, **_loading_kwargs(dtype, trust_remote_code)).merge_and_unload()
        else:
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1,
                                                                       **_loading_kwargs(dtype, trust_remote_code))
    tok = load_tokenizer(path, trust_remote_code=trust_remote_code)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    return (model, tok) if with_tokenizer else model


def default_reference(name_or_path: str | os.PathLike, tokenizer) -> str | None:
    """The reference a policy is compared with when none is named: the model its training started from.

    A run checkpoint (``<run>/checkpoint``) names it in the run's run.json (the configured reference, else the
    base model). Otherwise the shipped policy, but only for a policy that shares its tokenizer (the assistant
    world's word-level vocabulary); for any other model None: no reference, so no KL and no win rate.
    """
    record = Path(resolve(name_or_path)).parent / "run.json"
    if record.exists():
        run = json.loads(record.read_text(encoding="utf-8"))
        named = (run.get("config") or {}).get("reference") or run.get("base_model")
        if named:
            return str(named)
    shipped = DATA_DIR / "models" / SHIPPED_POLICY / "tokenizer.json"
    if shipped.exists():
        from transformers import PreTrainedTokenizerFast

        if PreTrainedTokenizerFast(tokenizer_file=str(shipped)).get_vocab() == tokenizer.get_vocab():
            return SHIPPED_POLICY
    return None

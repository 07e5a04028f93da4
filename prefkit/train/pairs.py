"""Preference pairs (x, y_w, y_l) as tensors (the encoding the reward-model and DPO trainers share), and data
and prompt sets by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core import DATA_DIR
from ..data import load_prompts
from ..data.read import SUFFIXES
from ..models import EncodingStats, collate_rows, shared_prompt, tokenize_rows, truncate_rows


def resolve_data(path: str) -> str:
    """``path`` as given when it exists (or is a hub name), else the shipped copy under prefkit's data folder."""
    if Path(path).exists() or not path.startswith("data/"):
        return path
    shipped = DATA_DIR / path[len("data/"):]
    return str(shipped) if shipped.exists() else path


def prompt_set(which: str) -> list:
    """Prompts by name: the world's ``"train"`` or ``"heldout"`` prompts, or every ``prompt`` of a data file
    (``data.load_prompts``: strings or TRL's conversational format, e.g. a world prompt after a system turn)."""
    from ..worlds import assistant as world

    if which in world.SPLITS:
        return [p.text for p in (world.train_prompts() if which == "train" else world.heldout_prompts())]
    if not str(which).endswith(SUFFIXES):
        raise ValueError(f"prompts must be one of {world.SPLITS} or a data file ({', '.join(SUFFIXES)}), got {which!r}")
    return load_prompts(resolve_data(which))


def encode_pairs(tokenizer, prompts, chosen, rejected, template="default", max_length=None, padding_side="right",
                 stats: EncodingStats | None = None):
    """Token ids and masks of every pair, y_w and y_l padded to one width.   each (N, T); keys chosen_*, rejected_*

    Both responses of a pair share one prompt length: where the prompt's tokens end in both sequences (TRL's
    DPOTrainer takes the shorter common prefix). ``stats`` accumulates truncation counts over both responses.
    """
    w, l = shared_prompt(tokenize_rows(tokenizer, prompts, chosen, template, stats),
                         tokenize_rows(tokenizer, prompts, rejected, template, stats))
    rows = truncate_rows(tokenizer, w + l, max_length, stats)
    enc = collate_rows(rows, tokenizer.pad_token_id, padding_side)                                # (2N, T)
    n = len(w)
    out = {}
    for name, t in enc.items():
        out[f"chosen_{name}"], out[f"rejected_{name}"] = t[:n], t[n:]
    return out


def select_pairs(tensors: dict, idx) -> dict:
    """Rows ``idx`` of the encoded pairs, with the columns that are padding in every row dropped."""
    idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    batch = {k: v[idx] for k, v in tensors.items()}
    used = ((batch["chosen_attention_mask"] + batch["rejected_attention_mask"]).sum(0) > 0).nonzero()   # (T', 1)
    lo, hi = int(used[0]), int(used[-1]) + 1
    return {k: (v[:, lo:hi] if v.dim() == 2 else v) for k, v in batch.items()}


__all__ = ["resolve_data", "prompt_set", "encode_pairs", "select_pairs"]

"""Preference pairs (x, y_w, y_l) as tensors (the encoding the reward-model and DPO trainers share), and data
and prompt sets by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core import DATA_DIR
from ..data import load_prompts, row_sources
from ..data.read import SUFFIXES
from ..models.encoding import (EncodingStats, collate_rows, encode_rows, shared_prompt, tokenize_rows, truncate_rows,
                               warn_data)


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
                 stats: EncodingStats | None = None, on_truncate: str = "warn", sources=None):
    """Token ids and masks of every pair, y_w and y_l padded to one width.   each (N', T); keys chosen_*, rejected_*

    Both responses of a pair share one prompt length: where the prompt's tokens end in both sequences (TRL's
    DPOTrainer takes the shorter common prefix). ``stats`` accumulates truncation counts over both responses,
    the unknown-token count and the pairs whose chosen and rejected ids are identical (first of each by
    ``sources``, ``"<file>, line <n>"`` per pair). ``on_truncate="drop"`` removes a pair when either response is
    cut (N' < N; their positions in ``stats.dropped_rows``); ``"fail"`` raises ``DataError`` at the first.
    """
    stats = stats if stats is not None else EncodingStats()
    both = None if sources is None else [s for s in sources for _ in (0, 1)]
    w, l = shared_prompt(tokenize_rows(tokenizer, prompts, chosen, template, stats, sources),
                         tokenize_rows(tokenizer, prompts, rejected, template, stats, sources))
    n = len(w)
    # pair by pair (y_w, y_l, y_w, ...), so the first row named is the first line of the file that is affected
    cut = truncate_rows(tokenizer, [r for pair in zip(w, l) for r in pair], max_length, stats, on_truncate, both)
    rows = cut[0::2] + cut[1::2]
    keep = [i for i in range(n) if rows[i] is not None and rows[n + i] is not None]
    dropped = sorted(set(range(n)) - set(keep))
    stats.dropped += len(dropped)
    stats.dropped_rows += dropped
    for i in keep:
        if rows[i].ids == rows[n + i].ids:
            stats.identical_pairs += 1
            stats.first_identical = stats.first_identical or (sources[i] if sources is not None else f"row {i + 1}")
    enc = collate_rows([rows[i] for i in keep] + [rows[n + i] for i in keep], tokenizer.pad_token_id,
                       padding_side)                                                                # (2N', T)
    out = {}
    for name, t in enc.items():
        out[f"chosen_{name}"], out[f"rejected_{name}"] = t[:len(keep)], t[len(keep):]
    return out


def encode_preferences(tokenizer, dataset, template="default", max_length=None, on_truncate: str = "warn",
                       stats: EncodingStats | None = None) -> tuple[dict, list[int]]:
    """``(tensors, kept)``: ``encode_pairs`` of a preference Dataset, the rows named by their file and line.

    ``kept`` are the dataset rows the tensors hold (all but those ``on_truncate="drop"`` removed). What encoding
    cut, dropped or could not read is one ``DataWarning`` (``prefkit.models.encoding.data_warning``).
    """
    stats = stats if stats is not None else EncodingStats()
    tensors = encode_pairs(tokenizer, dataset["prompt"], dataset["chosen"], dataset["rejected"], template,
                           max_length, stats=stats, on_truncate=on_truncate, sources=row_sources(dataset))
    warn_data(stats, "pairs")
    gone = set(stats.dropped_rows)
    return tensors, [i for i in range(len(dataset)) if i not in gone]


def encode_demonstrations(tokenizer, prompts, completions, template="default", max_length=None,
                          on_truncate: str = "warn", stats: EncodingStats | None = None, sources=None) -> list:
    """``encode_rows`` of demonstrations with ``on_truncate`` and one ``DataWarning`` for what it cut or dropped."""
    stats = stats if stats is not None else EncodingStats()
    rows = encode_rows(tokenizer, prompts, completions, template, max_length, stats, on_truncate, sources)
    warn_data(stats, "demonstrations")
    return rows


def select_pairs(tensors: dict, idx) -> dict:
    """Rows ``idx`` of the encoded pairs, with the columns that are padding in every row dropped."""
    idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    batch = {k: v[idx] for k, v in tensors.items()}
    used = ((batch["chosen_attention_mask"] + batch["rejected_attention_mask"]).sum(0) > 0).nonzero()   # (T', 1)
    lo, hi = int(used[0]), int(used[-1]) + 1
    return {k: (v[:, lo:hi] if v.dim() == 2 else v) for k, v in batch.items()}


__all__ = ["resolve_data", "prompt_set", "encode_pairs", "encode_preferences", "encode_demonstrations", "select_pairs"]

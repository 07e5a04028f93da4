"""Frozen features for a reward head: the policy's hidden state at the last real token of prompt + response.

Lab 2 trains a Bradley-Terry head on these features (exercises 2.4 and 2.5), and its checkers train the student's
head and step on the same features of a few shipped pairs. ``prefkit.train.reward`` reads the same hidden state
(``prefkit.train.scoring.pooled_rewards``), but trains the backbone too.
"""
from __future__ import annotations

import functools

import torch

from ..models.logps import position_ids_from_mask
from ..train.pairs import encode_pairs
from ..train.scoring import last_token_index


@torch.no_grad()
def last_token_features(policy, tokenizer, dataset, max_length: int = 128,
                        batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states of the policy's last layer at the last real token of (x, y_w) and (x, y_l).   (N, H), (N, H)

    ``dataset`` has the columns prompt, chosen and rejected; the features are fp32 and carry no gradient.
    """
    backbone = getattr(policy, policy.base_model_prefix)
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    out = {"chosen": [], "rejected": []}
    try:
        for start in range(0, len(dataset), batch_size):
            rows = dataset.select(range(start, min(start + batch_size, len(dataset))))
            batch = encode_pairs(tokenizer, rows["prompt"], rows["chosen"], rows["rejected"], max_length=max_length)
            for side in out:
                ids = batch[f"{side}_input_ids"].to(device)                                      # (B, T)
                mask = batch[f"{side}_attention_mask"].to(device)                                # (B, T)
                hidden = backbone(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_mask(mask),
                                  use_cache=False).last_hidden_state                             # (B, T, H)
                out[side].append(hidden[torch.arange(len(ids), device=device), last_token_index(mask)].float().cpu())
    finally:
        policy.train(was_training)
    return torch.cat(out["chosen"]), torch.cat(out["rejected"])


@functools.lru_cache(maxsize=1)
def shipped_features(labels: str = "length", n_train: int = 256, n_test: int = 256) -> dict[str, torch.Tensor]:
    """Features of the shipped policy (assistant-sft) on the first ``n_train`` training and ``n_test`` test pairs
    of a shipped label set, loaded once per process: keys train_w, train_l, test_w, test_l."""
    from ..core import DATA_DIR
    from ..data import load_preferences
    from ..models import load_policy

    policy, tokenizer = load_policy("assistant-sft")
    folder = DATA_DIR / "assistant" / "prefs" / labels
    train_w, train_l = last_token_features(policy, tokenizer, load_preferences(folder, f"train[:{n_train}]"))
    test_w, test_l = last_token_features(policy, tokenizer, load_preferences(folder, f"test[:{n_test}]"))
    return {"train_w": train_w, "train_l": train_l, "test_w": test_w, "test_l": test_l}

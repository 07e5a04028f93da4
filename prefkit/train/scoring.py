"""Reward functions r(x, y) for best-of-n and RL: a learned reward model (a proxy) or the world's gold reward.

Every reward function has one signature, so best-of-n and RL take either::

    reward(prompts: list[str], responses: list[str]) -> np.ndarray of shape (N,), float64

Prompts may also be conversations (lists of {"role", "content"} messages, TRL's conversational format).

A reward model scores the encoded sequence prompt + response (``models.encoding``, end-of-turn token
included) with a scalar head read at the LAST REAL token
(pooling). ``pooled_rewards`` finds that token from the attention mask, so left and right padding give the
same reward, and it passes position ids that count only real tokens. Hugging Face's own
``*ForSequenceClassification`` pooling instead takes the rightmost token that is not ``pad_token_id``: it
mis-pools when the pad token is also the EOS token (many hub tokenizers, and ``load_tokenizer`` sets
pad = eos when a tokenizer has none), because the EOS that closes every response then counts as padding.
"""
from __future__ import annotations

import json
from typing import Callable, Sequence

import numpy as np
import torch

from ..models import encode_responses
from ..models.logps import position_ids_from_mask
from ..worlds import assistant as world

RewardFn = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""r(prompts, responses) -> (N,) float64 array."""


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of the last real token of each row, whatever the padding side.            # (B,)"""
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)      # (T,)
    return (positions * attention_mask.long()).argmax(-1)                                  # (B,)


def score_head(model) -> torch.nn.Module:
    """The scalar head of a reward model (``score`` on decoder ``*ForSequenceClassification`` models)."""
    head = getattr(model, "score", None)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no `score` head; a reward model here is a decoder loaded with "
                         "AutoModelForSequenceClassification(num_labels=1), e.g. prefkit.models.load_reward_model")
    if getattr(head, "out_features", 1) != 1:
        raise ValueError(f"the reward head has {head.out_features} outputs; a reward model needs num_labels=1")
    return head


def pooled_rewards(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """r(x, y): the score head applied to the hidden state of the last real token, in fp32.    # (B,)

    h = backbone(tokens)[b, last_b]  with last_b the last position where attention_mask is 1;  r = w^T h.
    A LoRA model (peft) is read through its base model, which holds the adapters and the trainable head.
    """
    model = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft: unwrap, not a copy
    backbone = getattr(model, model.base_model_prefix)
    out = backbone(input_ids=input_ids, attention_mask=attention_mask,
                   position_ids=position_ids_from_mask(attention_mask), use_cache=False)
    hidden = out.last_hidden_state                                                         # (B, T, H)
    last = last_token_index(attention_mask)                                                # (B,)
    pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]              # (B, H)
    return score_head(model)(pooled).squeeze(-1).float()                                   # (B,)


def reward_fn(model, tokenizer, template: str | None = "default", batch_size: int = 256,
              max_length: int | None = None, name: str | None = None) -> RewardFn:
    """A reward function from a reward model: ``r(prompts, responses) -> (N,) array``, no gradients.

    ``name`` is what run records call it (``reward`` in run.json of best-of-n and RL): pass the reward model's run
    directory (``str(result.run_dir)``) for one trained in this process; by default the folder or hub name the
    model was loaded from.

    Identical (prompt, response) pairs are scored once, so they get bit-identical rewards (best-of-n and its
    KL estimate treat equal rewards as ties), and the pairs are batched by length to waste little padding.
    The model stays on its device and in eval mode while scoring.
    """
    score_head(model)  # fail now, not at the first call

    def reward(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses; pass one response per prompt")
        pairs = dict(zip(map(_key, prompts, responses), zip(prompts, responses)))   # conversations are lists
        keys = [_key(p, y) for p, y in zip(prompts, responses)]
        unique = [pairs[k] for k in dict.fromkeys(keys)]
        order = sorted(range(len(unique)), key=lambda i: _n_words(unique[i][0]) + _n_words(unique[i][1]))
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        scores = np.empty(len(unique), dtype=np.float64)
        try:
            with torch.no_grad():
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    enc = encode_responses(tokenizer, [unique[i][0] for i in idx], [unique[i][1] for i in idx],
                                           template=template, max_length=max_length)
                    r = pooled_rewards(model, enc["input_ids"].to(device), enc["attention_mask"].to(device))
                    scores[idx] = r.double().cpu().numpy()
        finally:
            model.train(was_training)
        where = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        return scores[[where[k] for k in keys]]

    reward.model = model  # so a caller (rl) can move the reward model to its device
    reward.name = name or getattr(model.config, "_name_or_path", None) or type(model).__name__
    return reward


def _key(prompt, response) -> str:
    return json.dumps([prompt, response], ensure_ascii=False)


def _n_words(value) -> int:
    return len((value if isinstance(value, str) else " ".join(m["content"] for m in value)).split())


def gold_reward_fn() -> RewardFn:
    """The assistant world's gold reward r*(x, y) as a reward function (``worlds.assistant.gold_rewards``).

    It reads the response text only, so it scores any policy's samples; prompts must be the world's prompts.
    """
    return world.gold_rewards


__all__ = ["RewardFn", "last_token_index", "score_head", "pooled_rewards", "reward_fn", "gold_reward_fn"]

"""Score responses: log pi(y | x) of sequences encoded by ``encoding.encode_responses``.

log pi(y|x) is the SUM of the response tokens' log-probabilities (prompt and padding masked), in fp32,
whatever the model's dtype. The end-of-turn token closes every response and is scored with it: a policy
must learn when to stop, and DPO and TRL score it too.

Logits are computed only from the first response token of the batch on (transformers' ``logits_to_keep``):
the prompt's positions predict nothing that is scored, and the output layer over a vocabulary of 49 k tokens
is a large part of a small model's forward and backward pass.
"""
from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F

from .encoding import encode_responses


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens, so left and right padding give the same logits."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


@functools.lru_cache(maxsize=None)
def _forward_keeps_logits(cls: type) -> bool:
    return "logits_to_keep" in inspect.signature(cls.forward).parameters


def keeps_logits(model) -> bool:
    """True when ``model``'s forward takes ``logits_to_keep`` (through DDP and peft wrappers)."""
    inner = getattr(model, "module", model)
    inner = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    return _forward_keeps_logits(type(inner))


def response_start(response_mask: torch.Tensor) -> int:
    """The first position whose logits score a response token in some row: that token's position minus one."""
    cols = response_mask.any(0).nonzero()                                               # (K, 1)
    return max(int(cols[0]) - 1, 0) if len(cols) else 0


def token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, start: int = 0) -> torch.Tensor:
    """log pi(token_t | tokens_<t) for t = 1..T-1, in fp32.                           # (B, T-1)

    ``start > 0`` skips the output layer at the first ``start`` positions where the model allows it; their
    entries are 0 (not computed). The full width is kept so that a masked sum adds the same numbers in the
    same order whatever ``start`` is: a pair scored in two batches gets bit-identical log-probs.
    """
    n = input_ids.shape[1] - start                                                      # positions kept
    kwargs = {"logits_to_keep": n} if start > 0 and keeps_logits(model) else {}
    out = model(input_ids=input_ids, attention_mask=attention_mask,
                position_ids=position_ids_from_mask(attention_mask), use_cache=False, **kwargs)
    logits = out.logits[:, -n:-1].float()                                               # (B, T-1-start, V)
    labels = input_ids[:, start + 1:].unsqueeze(-1)                                     # (B, T-1-start, 1)
    logps = torch.gather(F.log_softmax(logits, dim=-1), 2, labels).squeeze(-1)          # (B, T-1-start)
    return F.pad(logps, (start, 0))                                                     # (B, T-1)


def sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor,
                   average: bool = False) -> torch.Tensor:
    """log pi(y|x): sum (or, with ``average=True``, mean) of the response tokens' log-probs.   # (B,)"""
    start = response_start(response_mask)
    logps = token_logps(model, input_ids, attention_mask, start)                       # (B, T-1)
    mask = response_mask[:, 1:].to(logps.dtype)                                         # (B, T-1)
    total = (logps * mask).sum(-1)                                                      # (B,)
    return total / mask.sum(-1).clamp_min(1) if average else total


def score_responses(model, tokenizer, prompts, responses, template: str | None = "default", batch_size: int = 64,
                    average: bool = False) -> torch.Tensor:
    """log pi(y|x) for many (prompt, response) pairs, batched, without gradients.      # (N,)"""
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            batch = encode_responses(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size], template)
            batch = {k: v.to(device) for k, v in batch.items()}
            out.append(sequence_logps(model, **batch, average=average).cpu())
    return torch.cat(out) if out else torch.zeros(0)

"""Score responses: log pi(y | x) of sequences encoded by ``encoding.encode_responses``.

log pi(y|x) is the SUM of the response tokens' log-probabilities (prompt and padding masked), in fp32,
whatever the model's dtype. The end-of-turn token closes every response and is scored with it: a policy
must learn when to stop, and DPO and TRL score it too.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .encoding import encode_responses


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens, so left and right padding give the same logits."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


def token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """log pi(token_t | tokens_<t) for t = 1..T-1, in fp32.                           # (B, T-1)"""
    out = model(input_ids=input_ids, attention_mask=attention_mask,
                position_ids=position_ids_from_mask(attention_mask), use_cache=False)
    logits = out.logits[:, :-1].float()                                                 # (B, T-1, V)
    labels = input_ids[:, 1:].unsqueeze(-1)                                             # (B, T-1, 1)
    return torch.gather(F.log_softmax(logits, dim=-1), 2, labels).squeeze(-1)           # (B, T-1)


def sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor,
                   average: bool = False) -> torch.Tensor:
    """log pi(y|x): sum (or, with ``average=True``, mean) of the response tokens' log-probs.   # (B,)"""
    logps = token_logps(model, input_ids, attention_mask)                              # (B, T-1)
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

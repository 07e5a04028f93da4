"""Turn (prompt, response) into token ids with a response mask, and score responses: log pi(y | x).

log pi(y|x) is the SUM of the response tokens' log-probabilities (prompt and padding masked), in fp32,
whatever the model's dtype. The end-of-sequence token closes every response and is scored with it: a policy
must learn when to stop, and DPO and TRL score it too.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F

Prompt = Union[str, list]  # a string, or a list of {"role", "content"} messages


def render_prompt(tokenizer, prompt: Prompt, template: str | None = "default") -> str:
    """The prompt text the model sees: through a chat template, or as-is when ``template`` is None."""
    if template is None:
        if not isinstance(prompt, str):
            raise ValueError("a conversational prompt needs a chat template; pass template='default'")
        return prompt
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    kwargs = {} if template == "default" else {"chat_template": template}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)


def encode_responses(tokenizer, prompts: Sequence[Prompt], responses: Sequence[str], template: str | None = "default",
                     padding_side: str = "right", max_length: int | None = None) -> dict[str, torch.Tensor]:
    """Batch of ``input_ids``, ``attention_mask`` and ``response_mask`` for prompt+response+EOS.

    The prompt's tokens must be a prefix of the tokens of prompt+response (checked): otherwise the boundary
    would move tokens between prompt and response and the wrong tokens would be scored.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if padding_side not in ("left", "right"):
        raise ValueError("padding_side must be 'left' or 'right'")
    eos = tokenizer.eos_token or ""
    rows = []
    for prompt, response in zip(prompts, responses):
        text = render_prompt(tokenizer, prompt, template)
        p_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        sep = "" if text.endswith((" ", "\n")) or response.startswith((" ", "\n")) else " "
        full = tokenizer(text + sep + response.strip(" ") + (" " + eos if eos else ""), add_special_tokens=False)["input_ids"]
        if full[: len(p_ids)] != p_ids:
            raise ValueError(f"the prompt's tokens are not a prefix of prompt+response tokens for prompt {text!r}; "
                             "end the chat template's generation prompt with a space or newline")
        if len(full) == len(p_ids):
            raise ValueError(f"empty response for prompt {text!r}")
        if max_length is not None and len(full) > max_length:
            full = full[:max_length]  # truncate the response end, never the prompt
            if len(full) <= len(p_ids):
                raise ValueError(f"prompt {text!r} is longer than max_length={max_length}")
        rows.append((full, len(p_ids)))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    response = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        start = 0 if padding_side == "right" else width - len(ids)
        input_ids[i, start:start + len(ids)] = torch.tensor(ids)
        attention[i, start:start + len(ids)] = 1
        response[i, start + n_prompt:start + len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "response_mask": response}


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

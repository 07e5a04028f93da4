"""Seeded, batched sampling of responses from a policy."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from .logps import render_prompt


@dataclass
class DecoderConfig:
    """Decoder settings: recorded in every run record, because they change what a policy 'is'."""

    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability sums to top_p."""
    max_new_tokens: int = 64
    """Stop after this many tokens if the model has not ended its response (the world's longest answer is 59 words)."""

    def as_dict(self) -> dict:
        return asdict(self)


def generate(model, tokenizer, prompts: Sequence, template: str | None = "default", seed: int = 0,
             decoder: DecoderConfig | None = None, batch_size: int = 64, **overrides) -> list[str]:
    """One sampled response per prompt (decoded, without the prompt or special tokens), reproducible by seed.

    ``overrides`` may set any DecoderConfig field directly, e.g. ``generate(..., temperature=0.7)``.
    """
    decoder = DecoderConfig(**{**(decoder.as_dict() if decoder else {}), **overrides})
    if decoder.temperature < 0 or not 0 < decoder.top_p <= 1 or decoder.max_new_tokens < 1:
        raise ValueError(f"bad decoder settings {decoder}")
    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right, so prompts are padded on the left
    was_training = model.training
    model.eval()
    texts = [render_prompt(tokenizer, p, template) for p in prompts]
    out: list[str] = []
    try:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(device) for k, v in enc.items()}
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            sample = decoder.temperature > 0
            kwargs = dict(do_sample=sample, max_new_tokens=decoder.max_new_tokens,
                          pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            if sample:
                kwargs.update(temperature=decoder.temperature, top_p=decoder.top_p, top_k=0)
            with torch.no_grad():
                ids = model.generate(**enc, **kwargs)
            new = ids[:, enc["input_ids"].shape[1]:]
            out.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    return out

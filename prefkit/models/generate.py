"""Seeded, batched sampling of responses from a policy, as text or as the token ids sampled."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple, Sequence

import torch

from .encoding import Row, collate_rows, prompt_token_ids


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


class Sample(NamedTuple):
    """One sampled response as token ids: the prompt's ids, the sampled ids (up to and including the first
    end-of-sequence token) and whether it ended by itself (False: cut at max_new_tokens)."""

    prompt_ids: list
    response_ids: list
    finished: bool


def _decoder(decoder: DecoderConfig | None, overrides: dict) -> DecoderConfig:
    decoder = DecoderConfig(**{**(decoder.as_dict() if decoder else {}), **overrides})
    if decoder.temperature < 0 or not 0 < decoder.top_p <= 1 or decoder.max_new_tokens < 1:
        raise ValueError(f"bad decoder settings {decoder}")
    return decoder


def sample_ids(model, tokenizer, prompts: Sequence, template: str | None = "default", seed: int = 0,
               decoder: DecoderConfig | None = None, batch_size: int = 64, **overrides) -> list[Sample]:
    """One sampled response per prompt, as token ids (``Sample``), reproducible by seed.

    Prompts are encoded by ``encoding.prompt_token_ids`` (the ids every trainer puts before a response) and
    padded on the left. ``overrides`` may set any DecoderConfig field directly, e.g. ``temperature=0.7``.
    """
    decoder = _decoder(decoder, overrides)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    heads = prompt_token_ids(tokenizer, prompts, template)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    eos = tokenizer.eos_token_id
    out: list[Sample] = []
    try:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        for i in range(0, len(heads), batch_size):
            # generation appends on the right, so prompts are padded on the left
            enc = collate_rows([Row(h, len(h)) for h in heads[i:i + batch_size]], pad, padding_side="left")
            enc = {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            sample = decoder.temperature > 0
            kwargs = dict(do_sample=sample, max_new_tokens=decoder.max_new_tokens, pad_token_id=pad,
                          eos_token_id=eos)
            if sample:
                kwargs.update(temperature=decoder.temperature, top_p=decoder.top_p, top_k=0)
            with torch.no_grad():
                ids = model.generate(**enc, **kwargs)
            for head, new in zip(heads[i:i + batch_size], ids[:, enc["input_ids"].shape[1]:].tolist()):
                end = new.index(eos) + 1 if eos is not None and eos in new else None
                out.append(Sample(list(head), new[:end] if end else new, end is not None))
    finally:
        model.train(was_training)
    return out


def generate(model, tokenizer, prompts: Sequence, template: str | None = "default", seed: int = 0,
             decoder: DecoderConfig | None = None, batch_size: int = 64, **overrides) -> list[str]:
    """One sampled response per prompt (decoded, without the prompt or special tokens), reproducible by seed.

    ``overrides`` may set any DecoderConfig field directly, e.g. ``generate(..., temperature=0.7)``.
    """
    return decode_samples(tokenizer, sample_ids(model, tokenizer, prompts, template, seed, decoder, batch_size, **overrides))


def decode_samples(tokenizer, samples: Sequence[Sample]) -> list[str]:
    """The text of each sampled response, without special tokens or surrounding whitespace."""
    return [t.strip() for t in tokenizer.batch_decode([s.response_ids for s in samples], skip_special_tokens=True)]

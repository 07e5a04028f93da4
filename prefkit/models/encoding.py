"""Token-exact encoding of (prompt, response) for any Hugging Face tokenizer: the one encoder of every trainer.

SFT, the reward model, DPO, RL, best-of-n and the evaluation all encode through this module, token for token
as TRL 1.16 does (``DPOTrainer``, ``SFTTrainer`` and ``RewardTrainer`` preprocessing).

With a chat template (``template="default"``: the tokenizer's own; or a template name or Jinja text):

    messages  = prompt turns + response turns          a string prompt is one user turn, a string response
                                                       one assistant turn (surrounding whitespace stripped)
    full      = apply_chat_template(messages)                       the conversation, rendered once
    prompt    = apply_chat_template(prompt turns, add_generation_prompt=True)
    n_prompt  = common prefix length of the prompt's and the full conversation's token ids
    response  = full[n_prompt:]       exactly the rest: the end-of-turn token included, nothing added

Without a chat template (``template=None``, or a tokenizer that has none), TRL's standard format:

    prompt ids = tokenizer(prompt)                           special tokens as the tokenizer adds them (BOS)
    full       = tokenizer(prompt + sep + response + eos_token)
    sep        = "" when the response starts (or the prompt ends) with whitespace, else one space

so a standard-format response works with or without TRL's leading space. Conversational data needs a chat
template. When the prompt's tokens are not a prefix of the conversation's (a template that renders the
generation prompt differently, or tokens that merge across the boundary), the response starts where they
diverge, as in TRL; ``EncodingStats.prompt_not_prefix`` counts such rows and a warning says so.

``max_length`` cuts the end of the response, never the prompt; ``EncodingStats`` counts the rows cut and those
that lost their end-of-turn token (the response's last special token), so a run can record them.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from typing import NamedTuple, Sequence, Union

import torch

from ..data.schema import common_prefix_length

Prompt = Union[str, list]  # a string, or a list of {"role", "content"} messages
Response = Union[str, list]


class Row(NamedTuple):
    """One encoded sequence: the token ids of prompt + response and where the response starts."""

    ids: list
    n_prompt: int


@dataclass
class EncodingStats:
    """What encoding did to a dataset, for run.json (``as_dict``): nothing cut or shifted is hidden."""

    rows: int = 0
    """Sequences encoded."""
    truncated: int = 0
    """Sequences cut at max_length (their response end removed)."""
    lost_end_of_turn: int = 0
    """Of the truncated sequences, those whose cut removed the end-of-turn token: the model never sees them end."""
    prompt_not_prefix: int = 0
    """Sequences whose prompt tokens are not a prefix of the conversation's; the response starts where they diverge."""
    longest: int = 0
    """Longest prompt + response before truncation, in tokens."""
    max_length: int | None = None
    """The max_length applied (None: no truncation)."""

    def as_dict(self) -> dict:
        return asdict(self)


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def uses_template(tokenizer, template: str | None) -> bool:
    """True when ``template`` renders through a chat template; False for the plain format."""
    return template is not None and (template != "default" or has_chat_template(tokenizer))


def as_messages(value: Prompt | Response, role: str) -> list:
    """A conversational value as it is; a string as one ``role`` turn with its surrounding whitespace stripped."""
    if isinstance(value, str):
        return [{"role": role, "content": value.strip()}]
    return [dict(m) for m in value]


def _template_kwargs(template: str) -> dict:
    return {} if template == "default" else {"chat_template": template}


def _check_plain(prompt, response=None) -> None:
    if not isinstance(prompt, str) or (response is not None and not isinstance(response, str)):
        raise ValueError("conversational data needs a chat template, and this tokenizer has none (or "
                         "template=None was passed): pass template=<Jinja text>, or set tokenizer.chat_template")


def _join(prompt: str, response: str) -> str:
    """TRL's standard format: prompt + response, with one space between when neither side brings one."""
    sep = "" if not prompt or not response or prompt[-1].isspace() or response[0].isspace() else " "
    return prompt + sep + response


def render_prompt(tokenizer, prompt: Prompt, template: str | None = "default") -> str:
    """The prompt text the model sees: the chat template's generation prompt, or the plain prompt as it is."""
    if not uses_template(tokenizer, template):
        _check_plain(prompt)
        return prompt
    return tokenizer.apply_chat_template(as_messages(prompt, "user"), tokenize=False, add_generation_prompt=True,
                                         **_template_kwargs(template))


def _key(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def prompt_token_ids(tokenizer, prompts: Sequence[Prompt], template: str | None = "default") -> list[list[int]]:
    """Token ids of each prompt as the model sees it before its response (what generation continues)."""
    texts = [render_prompt(tokenizer, p, template) for p in prompts]
    return list(tokenizer(texts, add_special_tokens=not uses_template(tokenizer, template))["input_ids"]) if texts else []


def tokenize_rows(tokenizer, prompts: Sequence[Prompt], responses: Sequence[Response],
                  template: str | None = "default", stats: EncodingStats | None = None) -> list[Row]:
    """``Row(ids, n_prompt)`` of each (prompt, response), untruncated, exactly as TRL tokenizes it."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    chat = uses_template(tokenizer, template)
    unique = list(dict.fromkeys(_key(p) for p in prompts))
    first = {}
    for p in prompts:
        first.setdefault(_key(p), p)
    p_ids = dict(zip(unique, prompt_token_ids(tokenizer, [first[k] for k in unique], template)))
    if chat:
        convs = [as_messages(p, "user") + as_messages(r, "assistant") for p, r in zip(prompts, responses)]
        texts = [tokenizer.apply_chat_template(c, tokenize=False, **_template_kwargs(template)) for c in convs]
    else:
        for p, r in zip(prompts, responses):
            _check_plain(p, r)
        texts = [_join(p, r) + (tokenizer.eos_token or "") for p, r in zip(prompts, responses)]
    full = tokenizer(texts, add_special_tokens=not chat)["input_ids"] if texts else []
    rows, shifted = [], 0
    for prompt, ids in zip(prompts, full):
        head = p_ids[_key(prompt)]
        n = common_prefix_length(head, ids)
        if n < len(head):
            shifted += 1
        if len(ids) <= n:
            raise ValueError(f"empty response for prompt {render_prompt(tokenizer, prompt, template)!r}")
        rows.append(Row(list(ids), n))
    if shifted:
        warnings.warn(f"{shifted} of {len(rows)} sequences: the prompt's tokens are not a prefix of the "
                      "conversation's (the chat template renders the prompt alone differently, or tokens merge "
                      "across the boundary); their responses start where the two diverge, as in TRL",
                      stacklevel=2)
    if stats is not None:
        stats.rows += len(rows)
        stats.prompt_not_prefix += shifted
        stats.longest = max([stats.longest] + [len(r.ids) for r in rows])
    return rows


def shared_prompt(a: list[Row], b: list[Row]) -> tuple[list[Row], list[Row]]:
    """Pairs with one prompt length each, the shorter of the two (TRL's DPO: ``min`` of both common prefixes)."""
    out_a, out_b = [], []
    for x, y in zip(a, b):
        n = min(x.n_prompt, y.n_prompt)
        out_a.append(Row(x.ids, n))
        out_b.append(Row(y.ids, n))
    return out_a, out_b


def truncate_rows(tokenizer, rows: list[Row], max_length: int | None, stats: EncodingStats | None = None) -> list[Row]:
    """Rows cut to ``max_length`` tokens at the response end (never the prompt), counted in ``stats``."""
    if stats is not None:
        stats.max_length = max_length
    if max_length is None:
        return rows
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    out, cut, lost = [], 0, 0
    for ids, n in rows:
        if len(ids) > max_length:
            if n >= max_length:
                raise ValueError(f"a prompt of {n} tokens does not fit max_length={max_length} with its response "
                                 f"({tokenizer.decode(ids[:n])!r}); raise max_length or shorten the prompt")
            ends = [i for i in range(n, len(ids)) if ids[i] in special] or [len(ids) - 1]
            cut += 1
            lost += ends[-1] >= max_length
            ids = ids[:max_length]
        out.append(Row(ids, n))
    if stats is not None:
        stats.truncated += cut
        stats.lost_end_of_turn += lost
    return out


def collate_rows(rows: list[Row], pad_token_id: int | None, padding_side: str = "right") -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``response_mask`` of the rows, padded to one width.   each (B, T)"""
    if padding_side not in ("left", "right"):
        raise ValueError("padding_side must be 'left' or 'right'")
    width = max((len(r.ids) for r in rows), default=0)
    pad = pad_token_id if pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    response = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        start = 0 if padding_side == "right" else width - len(ids)
        input_ids[i, start:start + len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[i, start:start + len(ids)] = 1
        response[i, start + n_prompt:start + len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "response_mask": response}


def encode_rows(tokenizer, prompts: Sequence[Prompt], responses: Sequence[Response], template: str | None = "default",
                max_length: int | None = None, stats: EncodingStats | None = None) -> list[Row]:
    """``tokenize_rows`` then ``truncate_rows``: every sequence of a dataset, ready to be batched by ``collate_rows``."""
    return truncate_rows(tokenizer, tokenize_rows(tokenizer, prompts, responses, template, stats), max_length, stats)


def encode_responses(tokenizer, prompts: Sequence[Prompt], responses: Sequence[Response],
                     template: str | None = "default", padding_side: str = "right", max_length: int | None = None,
                     stats: EncodingStats | None = None) -> dict[str, torch.Tensor]:
    """Batch of ``input_ids``, ``attention_mask`` and ``response_mask`` of prompt + response.   each (B, T)

    The response mask covers exactly the response's tokens (end-of-turn included); ``stats``, when given,
    accumulates what truncation and the prompt boundary did.
    """
    rows = encode_rows(tokenizer, prompts, responses, template, max_length, stats)
    return collate_rows(rows, tokenizer.pad_token_id, padding_side)


__all__ = ["Row", "EncodingStats", "render_prompt", "prompt_token_ids", "tokenize_rows", "shared_prompt",
           "truncate_rows", "collate_rows", "encode_rows", "encode_responses", "as_messages", "uses_template"]

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
that lost their end-of-turn token (the response's last special token), so a run can record them. What happens
to a cut row is ``on_truncate``: ``"warn"`` keeps it cut, ``"drop"`` removes it, ``"fail"`` raises ``DataError``
naming its file and line. A prompt that leaves no room for a response token is a ``DataError`` in every mode.
``EncodingStats`` also counts the tokenizer's unknown token (text in a language or script it never saw);
``data_warning`` words all of it as one ``DataWarning``.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Sequence, Union

import torch

from ..data.errors import DataError, DataWarning
from ..data.schema import common_prefix_length

ON_TRUNCATE = ("warn", "drop", "fail")
"""What a row cut at max_length becomes: kept cut (with a warning), removed (counted), or a ``DataError``."""
UNKNOWN_RATE_WARN = 0.05
"""Share of the tokenizer's unknown token above which the encoding warns: the text is not the tokenizer's language."""

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
    on_truncate: str = "warn"
    """What became of the cut rows: 'warn' (kept cut), 'drop' (removed, counted in ``dropped``), 'fail'."""
    first_truncated: str | None = None
    """Where the first cut row comes from: ``"<file>, line <n>"`` (or ``"<source>, row <i>"``)."""
    dropped: int = 0
    """Examples removed because a sequence was cut (on_truncate='drop'): pairs, or demonstrations."""
    tokens: int = 0
    """Tokens encoded (prompt + response, before truncation)."""
    unknown_tokens: int = 0
    """Of those, the tokenizer's unknown token: words it has no id for (0 for byte-level BPE, which has none)."""
    unknown_token: str | None = None
    """The tokenizer's unknown token; None when it has none (byte-level BPE encodes any text: the rate is 0)."""
    first_unknown: str | None = None
    """Where the first unknown token occurs."""
    identical_pairs: int = 0
    """Preference pairs whose chosen and rejected token ids are the same after encoding: they carry no signal."""
    first_identical: str | None = None
    """Where the first identical pair comes from."""
    tokenizer: str | None = None
    """The tokenizer's name or path, for the messages."""
    dropped_rows: list = field(default_factory=list, repr=False)
    """0-based positions of the dropped examples (not in ``as_dict``)."""

    @property
    def unknown_rate(self) -> float:
        """Share of encoded tokens that are the unknown token."""
        return self.unknown_tokens / self.tokens if self.tokens else 0.0

    def as_dict(self) -> dict:
        out = asdict(self)
        del out["dropped_rows"]
        out["unknown_rate"] = float(f"{self.unknown_rate:.3g}")
        return out


def unknown_token_id(tokenizer) -> int | None:
    """The id text maps to when the tokenizer has no token for it; None for byte-level or byte-fallback tokenizers.

    Byte-level BPE (GPT-2, SmolLM2, Llama 3) encodes every string through its 256 byte tokens, so its nominal
    ``unk_token`` (often ``<|endoftext|>``) never stands for unknown text.
    """
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        byte_level = '"ByteLevel"' in json.dumps(spec.get("pre_tokenizer"))
        if byte_level or (spec.get("model") or {}).get("byte_fallback"):
            return None
    return unk


def _count_unknown(tokenizer, rows: list, sources: Sequence[str] | None, stats: EncodingStats) -> None:
    unk = unknown_token_id(tokenizer)
    stats.tokenizer = stats.tokenizer or getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    stats.unknown_token = tokenizer.unk_token if unk is not None else None
    for i, row in enumerate(rows):
        stats.tokens += len(row.ids)
        if unk is not None:
            n = row.ids.count(unk)
            stats.unknown_tokens += n
            if n and stats.first_unknown is None:
                stats.first_unknown = _where(sources, i)


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width] + "..."


def _where(sources: Sequence[str] | None, i: int) -> str:
    return sources[i] if sources is not None else f"row {i + 1}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def data_warning(stats: EncodingStats, what: str = "sequences") -> str | None:
    """The one ``DataWarning`` text for what encoding cut, dropped or could not read; None when nothing was."""
    parts = []
    if stats.truncated:
        longest = f"Raise --max-length (the longest is {stats.longest} tokens)"
        fate, fix = {"warn": ("kept cut", f"{longest}, or pass --on-truncate drop (remove them) or fail (stop at "
                              f"the first)"),
                     "drop": (f"dropped ({_count(stats.dropped, what.rstrip('s'))} removed)", f"{longest} to keep "
                              f"them")}.get(stats.on_truncate, (stats.on_truncate, longest))
        parts.append(f"{stats.truncated} of {stats.rows} responses cut at max_length={stats.max_length} "
                     f"({stats.lost_end_of_turn} lost their end-of-turn token, so the model never sees them end; "
                     f"first: {stats.first_truncated}), {fate}. {fix}")
    if stats.identical_pairs:
        parts.append(f"{_count(stats.identical_pairs, 'pair')} whose chosen and rejected encode to the same tokens "
                     f"(first: {stats.first_identical}): they carry no preference signal. Fix or remove them in the "
                     f"data")
    if stats.unknown_rate > UNKNOWN_RATE_WARN:
        parts.append(f"{stats.unknown_rate:.0%} of the tokens are the unknown token {stats.unknown_token!r} of "
                     f"tokenizer {stats.tokenizer!r} (first: {stats.first_unknown}): the text is in a language or "
                     f"script it was not built for, and every unknown word looks the same to the model. Use a "
                     f"tokenizer that covers the language (a byte-level BPE such as SmolLM2's, or one trained on "
                     f"that language)")
    return "; ".join(parts) or None


def warn_data(stats: EncodingStats, what: str = "sequences", stacklevel: int = 3) -> None:
    """Emit ``data_warning(stats)`` as one ``DataWarning`` (nothing when the encoding lost nothing)."""
    text = data_warning(stats, what)
    if text:
        warnings.warn(text, DataWarning, stacklevel=stacklevel)


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
                  template: str | None = "default", stats: EncodingStats | None = None,
                  sources: Sequence[str] | None = None) -> list[Row]:
    """``Row(ids, n_prompt)`` of each (prompt, response), untruncated, exactly as TRL tokenizes it.

    ``sources`` (``"<file>, line <n>"`` of each row) names the rows in ``stats`` and in errors.
    """
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
            raise ValueError(f"{_where(sources, len(rows))}: empty response for prompt "
                             f"{render_prompt(tokenizer, prompt, template)!r}")
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
        _count_unknown(tokenizer, rows, sources, stats)
    return rows


def shared_prompt(a: list[Row], b: list[Row]) -> tuple[list[Row], list[Row]]:
    """Pairs with one prompt length each, the shorter of the two (TRL's DPO: ``min`` of both common prefixes)."""
    out_a, out_b = [], []
    for x, y in zip(a, b):
        n = min(x.n_prompt, y.n_prompt)
        out_a.append(Row(x.ids, n))
        out_b.append(Row(y.ids, n))
    return out_a, out_b


def truncate_rows(tokenizer, rows: list[Row], max_length: int | None, stats: EncodingStats | None = None,
                  on_truncate: str = "warn", sources: Sequence[str] | None = None) -> list[Row | None]:
    """Rows cut to ``max_length`` tokens at the response end (never the prompt), counted in ``stats``.

    on_truncate: ``"warn"`` keeps a cut row (cut), ``"drop"`` puts None in its place (the caller removes it, with
    its pair), ``"fail"`` raises ``DataError`` naming its source (``sources``: ``"<file>, line <n>"`` per row).
    A prompt of max_length tokens or more (no room for a response token) raises ``DataError`` in every mode.
    """
    if on_truncate not in ON_TRUNCATE:
        raise ValueError(f"on_truncate must be one of {', '.join(ON_TRUNCATE)}, got {on_truncate!r}")
    if stats is not None:
        stats.max_length = max_length
        stats.on_truncate = on_truncate
    if max_length is None:
        return rows
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    out, cut, lost, first = [], 0, 0, None
    for i, (ids, n) in enumerate(rows):
        if len(ids) > max_length:
            where = _where(sources, i)
            if n >= max_length:
                raise DataError(where, None, f"the prompt is {n} tokens and does not fit max_length="
                                f"{max_length} with any response token ({_shorten(tokenizer.decode(ids[:n]))!r})",
                                f"raise --max-length above {n}, or shorten the prompt")
            if on_truncate == "fail":
                raise DataError(where, None, f"the response is cut at max_length={max_length} (prompt + response "
                                f"is {len(ids)} tokens) and --on-truncate is 'fail'",
                                f"raise --max-length to {len(ids)} or more, shorten the response, or pass "
                                f"--on-truncate warn (keep it cut) or drop (remove the row)")
            ends = [j for j in range(n, len(ids)) if ids[j] in special] or [len(ids) - 1]
            cut += 1
            lost += ends[-1] >= max_length
            first = first or where
            if on_truncate == "drop":
                out.append(None)
                continue
            ids = ids[:max_length]
        out.append(Row(ids, n))
    if stats is not None:
        stats.truncated += cut
        stats.lost_end_of_turn += lost
        stats.first_truncated = stats.first_truncated or first
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
                max_length: int | None = None, stats: EncodingStats | None = None, on_truncate: str = "warn",
                sources: Sequence[str] | None = None) -> list[Row]:
    """``tokenize_rows`` then ``truncate_rows``: every sequence of a dataset, ready to be batched by ``collate_rows``.

    With ``on_truncate="drop"`` the cut rows are left out (their positions in ``stats.dropped_rows``).
    """
    rows = truncate_rows(tokenizer, tokenize_rows(tokenizer, prompts, responses, template, stats, sources),
                         max_length, stats, on_truncate, sources)
    dropped = [i for i, r in enumerate(rows) if r is None]
    if stats is not None:
        stats.dropped += len(dropped)
        stats.dropped_rows += dropped
    return [r for r in rows if r is not None]


def encode_responses(tokenizer, prompts: Sequence[Prompt], responses: Sequence[Response],
                     template: str | None = "default", padding_side: str = "right", max_length: int | None = None,
                     stats: EncodingStats | None = None) -> dict[str, torch.Tensor]:
    """Batch of ``input_ids``, ``attention_mask`` and ``response_mask`` of prompt + response.   each (B, T)

    The response mask covers exactly the response's tokens (end-of-turn included); ``stats``, when given,
    accumulates what truncation and the prompt boundary did.
    """
    rows = encode_rows(tokenizer, prompts, responses, template, max_length, stats)
    return collate_rows(rows, tokenizer.pad_token_id, padding_side)


__all__ = ["ON_TRUNCATE", "UNKNOWN_RATE_WARN", "Row", "EncodingStats", "unknown_token_id", "data_warning",
           "warn_data", "render_prompt", "prompt_token_ids", "tokenize_rows", "shared_prompt",
           "truncate_rows", "collate_rows", "encode_rows", "encode_responses", "as_messages", "uses_template"]

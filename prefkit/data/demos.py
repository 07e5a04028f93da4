"""Demonstrations for supervised fine-tuning and prompt sets for sampling: TRL's records, validated row by row.

Demonstrations, in one of TRL's formats (one format per file):

- standard prompt-completion:        {"prompt": "how do i bake bread ?", "completion": "sure . first ..."}
- conversational prompt-completion:  {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
                                      "completion": [{"role": "assistant", "content": "..."}]}
- conversational language modeling:  {"messages": [{"role": "user", ...}, ..., {"role": "assistant", ...}]}
  split into the prompt (every turn before the last assistant turn) and the completion (that turn): SFT here
  always trains on the completion only (TRL trains on every token of "messages" unless assistant_only_loss).

Prompt sets (RL, best-of-n, evaluation): TRL's prompt-only format, {"prompt": "..."} or {"prompt": [messages]}.
"""
from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .load import remember_lines
from .read import read_records
from .schema import _check_messages, _Where

EXAMPLE = '{"prompt": "...", "completion": "..."}'


def _check_text_or_messages(rec: dict, col: str, where: _Where) -> str:
    value = rec.get(col)
    if isinstance(value, list):
        _check_messages(value, col, where)
        return "conversational"
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"'{col}' must be a non-empty string or a list of messages",
                          f"give '{col}' some text, or write it as [{{\"role\": ..., \"content\": ...}}]")
    return "standard"


def _demonstration(rec, where: _Where) -> tuple[dict, str]:
    if not isinstance(rec, dict):
        raise where.error(f"the record is a JSON {type(rec).__name__}, not an object", f"write {EXAMPLE}")
    if "messages" in rec and "prompt" not in rec:
        messages = rec["messages"]
        if not isinstance(messages, list):
            raise where.error("'messages' must be a list of messages", 'write [{"role": ..., "content": ...}]')
        _check_messages(messages, "messages", where)
        last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if last is None or last == 0:
            raise where.error("'messages' has no assistant turn after a prompt",
                              "end the conversation with the assistant's reply")
        row = {k: v for k, v in rec.items() if k != "messages"}
        return {**row, "prompt": messages[:last], "completion": messages[last:last + 1]}, "conversational"
    for col in ("prompt", "completion"):
        if col not in rec:
            raise where.error(f"missing column '{col}'", f"write {EXAMPLE}, or {{\"messages\": [...]}}")
    fmt = _check_text_or_messages(rec, "prompt", where)
    if _check_text_or_messages(rec, "completion", where) != fmt:
        raise where.error("'prompt' and 'completion' mix a string and a list of messages",
                          "write both as strings, or both as lists of messages")
    if fmt == "conversational" and rec["completion"][-1]["role"] != "assistant":
        raise where.error("'completion' does not end with an assistant turn", "end it with the assistant's reply")
    return dict(rec), fmt


def _one_format(rows: list[tuple[int, dict, str]], path) -> None:
    first_line, _, first = rows[0]
    for line, _, fmt in rows:
        if fmt != first:
            raise DataError(path, line, f"this record is {fmt} but the record on line {first_line} is {first}",
                            "use one format for the whole file: strings, or lists of messages")


def load_demonstrations(path: str | Path):
    """A ``datasets.Dataset`` of ``prompt`` / ``completion`` (strings, or lists of messages; other columns kept).

    A bad record raises DataError with the file, the 1-based line and the fix; nothing is dropped.
    """
    from datasets import Dataset

    rows = []
    for line, rec in read_records(path):
        row, fmt = _demonstration(rec, _Where(str(path), line))
        rows.append((line, row, fmt))
    _one_format(rows, path)
    return remember_lines(Dataset.from_list([row for _, row, _ in rows]), str(path), [line for line, _, _ in rows])


def load_prompts(path: str | Path) -> list:
    """The ``prompt`` of every record of a data file (strings, or lists of messages), in order.

    Any file with a prompt column works: prompt-only, prompt-completion or explicit-prompt preference data.
    """
    rows = []
    for line, rec in read_records(path):
        where = _Where(str(path), line)
        if not isinstance(rec, dict) or "prompt" not in rec:
            raise where.error("the record has no 'prompt'", 'write {"prompt": "..."} or {"prompt": [messages]}')
        rows.append((line, rec["prompt"], _check_text_or_messages(rec, "prompt", where)))
    _one_format(rows, path)
    return [prompt for _, prompt, _ in rows]


EVAL_SLICES = ("benign", "borderline", "harmful")
"""The slices an evaluation prompt may name (the assistant world's, which the general setting reports on)."""


def load_eval_prompts(path: str | Path) -> list[dict]:
    """Evaluation prompts from a data file of ``{"prompt": ..., "slice": "benign" | "borderline" | "harmful"}``
    records (slice optional), as a list of ``{"prompt", "slice"}`` dicts in order (slice None when absent).

    Every bad record raises ``DataError`` with the file and line.
    """
    rows, out = [], []
    for line, rec in read_records(path):
        where = _Where(str(path), line)
        if not isinstance(rec, dict) or "prompt" not in rec:
            raise where.error("the record has no 'prompt'",
                              'write {"prompt": "...", "slice": "benign"} (slice: benign, borderline or harmful)')
        rows.append((line, rec["prompt"], _check_text_or_messages(rec, "prompt", where)))
        slice_ = rec.get("slice")
        if slice_ is not None and slice_ not in EVAL_SLICES:
            raise where.error(f"unknown slice {slice_!r}", f"use one of {', '.join(EVAL_SLICES)}, or leave it out")
        extra = sorted(set(rec) - {"prompt", "slice"})
        if extra:
            raise where.error(f"unexpected field(s) {extra}", "an evaluation prompt has only 'prompt' and 'slice'")
        out.append({"prompt": rec["prompt"], "slice": slice_})
    _one_format(rows, path)
    return out

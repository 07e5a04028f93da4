"""What a preference record must contain, checked row by row.

A record is the preference triple (x, y_w, y_l) as ``prompt``, ``chosen``, ``rejected``, in one of TRL's
two formats:

- standard:        {"prompt": "how do i bake bread ?", "chosen": " mix flour ...", "rejected": " no ."}
- conversational:  {"prompt": [{"role": "user", "content": "..."}],
                    "chosen": [{"role": "assistant", "content": "..."}], "rejected": [...]}

The prompt may be implicit (no ``prompt`` key): it is then the longest shared start of ``chosen`` and
``rejected`` (shared leading characters, or shared leading messages), as TRL's ``extract_prompt`` does.
Optional columns are kept as they are, with their types checked: ``annotator``, ``rubric_version``,
``policy_version``, ``slice`` (strings) and ``margin`` (a finite number). Any other column is kept too.
"""
from __future__ import annotations

import math
from typing import Any

from .errors import DataError

REQUIRED = ("chosen", "rejected")
STRING_COLUMNS = ("annotator", "rubric_version", "policy_version", "slice", "id")
ROLES = ("system", "user", "assistant", "tool")
EXAMPLE = '{"prompt": "how do i bake bread ?", "chosen": "mix flour ...", "rejected": "i cannot help ."}'


class _Where:
    """Source and line of one record, to build errors that point at it."""

    def __init__(self, source: str, line: int):
        self.source, self.line = source, line

    def error(self, problem: str, fix: str = "") -> DataError:
        return DataError(self.source, self.line, problem, fix)


def _check_messages(value: list, column: str, where: _Where) -> None:
    if not value:
        raise where.error(f"'{column}' is an empty list of messages",
                          "give at least one {\"role\": ..., \"content\": ...} message")
    for k, msg in enumerate(value, start=1):
        if not isinstance(msg, dict):
            raise where.error(f"message {k} of '{column}' is a {type(msg).__name__}, not an object",
                              'write each message as {"role": "user", "content": "..."}')
        if "role" not in msg:
            raise where.error(f"message {k} of '{column}' has no 'role'", f"add a role, one of {ROLES}")
        if msg["role"] not in ROLES:
            raise where.error(f"message {k} of '{column}' has unknown role {msg['role']!r}",
                              f"use one of {', '.join(ROLES)}")
        if "content" not in msg or msg["content"] is None:
            raise where.error(f"message {k} of '{column}' ({msg['role']}) has no 'content'",
                              "add the message text as 'content'")
        if not isinstance(msg["content"], str):
            raise where.error(f"message {k} of '{column}' has content of type "
                              f"{type(msg['content']).__name__}, not a string", "make 'content' a string")
        if not msg["content"].strip():
            raise where.error(f"message {k} of '{column}' ({msg['role']}) has empty content",
                              "remove the message or give it text")


def common_prefix_length(a, b) -> int:
    """How many leading items two sequences share (characters, messages, or token ids)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _common_prefix_strings(a: str, b: str) -> int:
    n = common_prefix_length(a, b)
    if 0 < n < min(len(a), len(b)) and a[n - 1] == " ":
        n -= 1  # the separating space belongs to the responses, as in TRL
    return n


def _extract_prompt(row: dict, fmt: str, where: _Where) -> dict:
    chosen, rejected = row["chosen"], row["rejected"]
    if fmt == "standard":
        n = _common_prefix_strings(chosen, rejected)
        if not chosen[:n].strip():
            raise where.error("no 'prompt' column, and 'chosen' and 'rejected' share no prefix to take as the "
                              "implicit prompt", "add a 'prompt' column, or start both texts with the prompt")
    else:
        n = common_prefix_length(chosen, rejected)
        if n == 0:
            raise where.error("no 'prompt' column, and 'chosen' and 'rejected' share no leading messages to "
                              "take as the implicit prompt",
                              "add a 'prompt' list of messages, or start both conversations with the same turns")
    return {**row, "prompt": chosen[:n], "chosen": chosen[n:], "rejected": rejected[n:]}


def prompt_text(prompt) -> str:
    """The request a prompt makes: a string as it is; a conversation's last user turn (system turns aside)."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise ValueError(f"the conversation {prompt!r} has no user turn")
    return users[-1]


def response_text(response) -> str:
    """The text of a response: a string as it is; a conversation's assistant turns, joined by one space."""
    if isinstance(response, str):
        return response
    return " ".join(m["content"] for m in response if isinstance(m, dict) and m.get("role") == "assistant")


def row_format(row: dict) -> str:
    """``"conversational"`` when ``chosen`` is a list of messages, else ``"standard"``."""
    return "conversational" if isinstance(row.get("chosen"), list) else "standard"


def validate_row(record: Any, source: str, line: int) -> tuple[dict, str]:
    """Check one record and return ``(row, format)`` with an explicit prompt; raise DataError if unusable."""
    where = _Where(source, line)
    if not isinstance(record, dict):
        raise where.error(f"the record is a JSON {type(record).__name__}, not an object",
                          f"write one object per record, e.g. {EXAMPLE}")
    for column in REQUIRED:
        if column not in record or record[column] is None:
            raise where.error(f"missing column '{column}' (found: {', '.join(map(repr, record)) or 'none'})",
                              f"every record needs 'chosen' and 'rejected' (and usually 'prompt'), e.g. {EXAMPLE}")
    fmt = row_format(record)
    for column in ("prompt", "chosen", "rejected"):
        if column not in record:
            continue
        value = record[column]
        if fmt == "standard" and not isinstance(value, str):
            raise where.error(f"'{column}' is a {type(value).__name__}, expected a string "
                              "(like 'chosen' in this row)", f"make '{column}' a string")
        if fmt == "conversational":
            if not isinstance(value, list):
                raise where.error(f"'{column}' is a {type(value).__name__}, expected a list of messages "
                                  "(like 'chosen' in this row)", f"make '{column}' a list of role/content messages")
            _check_messages(value, column, where)
    row = dict(record)
    if "prompt" not in row:
        row = _extract_prompt(row, fmt, where)
    for column in ("prompt", "chosen", "rejected"):
        value = row[column]
        if fmt == "standard" and not value.strip():
            raise where.error(f"'{column}' is empty", f"give '{column}' some text, or remove the record")
        if fmt == "conversational" and not value:
            raise where.error(f"'{column}' has no messages after the shared prompt turns",
                              f"'{column}' must contain the assistant's reply")
    if fmt == "conversational":
        for column in ("chosen", "rejected"):
            if row[column][-1]["role"] != "assistant":
                raise where.error(f"'{column}' ends with a '{row[column][-1]['role']}' turn, not an assistant turn",
                                  f"end '{column}' with the assistant's response")
    if row["chosen"] == row["rejected"]:
        raise where.error("'chosen' and 'rejected' are identical, so the pair carries no preference",
                          "remove the record or fix the response that was copied")
    for column in STRING_COLUMNS:
        if row.get(column) is not None and not isinstance(row[column], str):
            raise where.error(f"'{column}' is a {type(row[column]).__name__}, expected a string",
                              f'quote it, e.g. "{column}": "{row[column]}"')
    if "margin" in row and row["margin"] is not None:
        m = row["margin"]
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m):
            raise where.error(f"'margin' is {m!r}, expected a finite number",
                              "write the margin as a plain number such as 1.5, or drop the column")
        row["margin"] = float(m)
    return row, fmt

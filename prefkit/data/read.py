"""Read raw records from .jsonl, .json and .parquet files, keeping the 1-based line of each record.

Parsing only: JSON is decoded with the standard library, never evaluated. What a record must contain is
checked in ``schema.py``.

JSON Lines are split on "\n" only: a JSON string may hold U+2028, U+0085 or a form feed, which
``str.splitlines`` would take for line ends. A value the data table cannot hold exactly is an error on its
line, never a crash later: an integer outside the 64-bit range, a number too large for a float, nesting deeper
than ``MAX_DEPTH``. A .json array must parse completely (a missing comma is an error, not a silent merge).
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import DataError

SUFFIXES = (".jsonl", ".json", ".parquet")
MAX_DEPTH = 64
"""Deepest nesting of lists and objects a record may have (a conversational record needs 3)."""
INT64 = 2**63


class _BadValue(ValueError):
    """A JSON value that parses but cannot be stored; raised from the decoder's hooks."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not -INT64 <= int(text) < INT64:
        raise _BadValue(f"the integer {text[:20]}{'...' if len(text) > 20 else ''} ({len(text.lstrip('-'))} digits) "
                        "is outside the 64-bit range a data column can hold")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _BadValue(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is too large for a float")
    return value


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float)


def _depth(obj) -> int:
    """Nesting depth of lists and objects (a scalar is 0), without recursion."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        value, d = stack.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, d + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((v, d + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _decode_value(path: Path, line: int, text: str, pos: int, whole_file: bool = False) -> tuple[object, int]:
    """One JSON value of ``text`` from ``pos``: ``(value, end)``; any problem is a DataError on ``line``.

    ``whole_file``: ``text`` is the whole file, so a syntax error is reported on its own line.
    """
    try:
        obj, end = _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise _json_error(path, exc.lineno if whole_file else line, exc) from None
    except _BadValue as exc:
        raise DataError(path, line, str(exc), "write such values as strings, or scale them down") from None
    except RecursionError:
        raise DataError(path, line, "the record is nested too deeply to parse",
                        f"records may nest lists and objects at most {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-string conversion limit
        raise DataError(path, line, f"a value cannot be parsed ({exc})", "write such values as strings") from None
    if _depth(obj) > MAX_DEPTH:
        raise DataError(path, line, f"the record nests lists and objects more than {MAX_DEPTH} levels deep",
                        "flatten the record: a preference pair needs at most 3 levels")
    return obj, end


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, None, f"the file cannot be read ({exc.strerror or exc})",
                        "check that it exists and that you may read it") from None
    if not raw.strip():
        raise DataError(path, 1, "the file is empty", "write one preference pair per line, e.g. "
                        '{"prompt": "...", "chosen": "...", "rejected": "..."}')
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, line, f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                        "re-save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.jsonl > out.jsonl`") from None


def _json_error(path: Path, line: int, exc: json.JSONDecodeError) -> DataError:
    return DataError(path, line, f"invalid JSON ({exc.msg} at column {exc.colno})",
                     "each record must be one JSON object; check quotes, commas and brackets on that line")


_WHITESPACE = " \t\r\n"  # JSON's whitespace; str.strip would also take U+2028, U+0085, ...


def _read_jsonl(path: Path, text: str) -> list[tuple[int, object]]:
    records = []
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_WHITESPACE):
            continue
        start = len(line) - len(line.lstrip(_WHITESPACE))
        obj, end = _decode_value(path, i, line, start)
        if line[end:].strip(_WHITESPACE):
            raise DataError(path, i, f"unexpected text after the record at column {end + 1}",
                            "put exactly one JSON object on each line")
        records.append((i, obj))
    return records


def _read_json(path: Path, text: str) -> list[tuple[int, object]]:
    """A JSON array of records (each record's line is where it starts), or JSON Lines saved as .json."""
    start = len(text) - len(text.lstrip(_WHITESPACE))
    if not text.startswith("[", start):
        return _read_jsonl(path, text)

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        return pos

    def line_at(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    records, pos = [], skip(start + 1)
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            if pos >= len(text):
                raise DataError(path, line_at(pos), "the JSON array is not closed", "end the file with ']'")
            line = line_at(pos)
            obj, pos = _decode_value(path, line, text, pos, whole_file=True)
            records.append((line, obj))
            pos = skip(pos)
            if pos >= len(text):
                raise DataError(path, line_at(pos), "the JSON array is not closed", "end the file with ']'")
            if text[pos] == "]":
                pos += 1
                break
            if text[pos] != ",":
                raise DataError(path, line_at(pos), f"expected ',' or ']' after the record that starts on line {line}",
                                "separate the records of the array with commas")
            pos = skip(pos + 1)
            if pos < len(text) and text[pos] == "]":
                raise DataError(path, line_at(pos), "a comma before the closing ']' (JSON allows no trailing comma)",
                                "remove the last comma")
    if text[pos:].strip(_WHITESPACE):
        raise DataError(path, line_at(pos), "unexpected text after the closing ']'",
                        "a .json file holds one array of records")
    return records


def _read_parquet(path: Path) -> list[tuple[int, object]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(path, None, f"not a readable parquet file ({exc})",
                        "write it with pandas.DataFrame.to_parquet or datasets.Dataset.to_parquet") from None
    if table.num_rows == 0:
        raise DataError(path, 1, "the file has no rows", "add preference pairs to it")
    return [(i, row) for i, row in enumerate(table.to_pylist(), start=1)]


def read_records(path: str | Path) -> list[tuple[int, object]]:
    """``[(line, record), ...]`` from a .jsonl, .json or .parquet file (line is 1-based)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(path, None, f"unknown file type {suffix or '(none)'}",
                        f"use one of {', '.join(SUFFIXES)}")
    if suffix == ".parquet":
        return _read_parquet(path)
    text = _decode(path)
    records = _read_jsonl(path, text) if suffix == ".jsonl" else _read_json(path, text)
    if not records:
        raise DataError(path, 1, "the file holds no records", "add preference pairs to it")
    return records

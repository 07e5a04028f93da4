"""Read raw records from .jsonl, .json and .parquet files, keeping the 1-based line of each record.

Parsing only: JSON is decoded with the standard library, never evaluated. What a record must contain is
checked in ``schema.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import DataError

SUFFIXES = (".jsonl", ".json", ".parquet")


def _decode(path: Path) -> str:
    raw = path.read_bytes()
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


def _read_jsonl(path: Path, text: str) -> list[tuple[int, object]]:
    records = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((i, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise _json_error(path, i, exc) from None
    return records


def _read_json(path: Path, text: str) -> list[tuple[int, object]]:
    """A JSON array of records (each record's line is where it starts), or JSON Lines saved as .json."""
    start = len(text) - len(text.lstrip())
    if not text.startswith("[", start):
        return _read_jsonl(path, text)
    decoder = json.JSONDecoder()
    records, pos = [], start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise DataError(path, text.count("\n", 0, pos) + 1, "the JSON array is not closed",
                            "end the file with ']'")
        if text[pos] == "]":
            break
        line = text.count("\n", 0, pos) + 1
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _json_error(path, exc.lineno, exc) from None
        records.append((line, obj))
    if text[pos + 1:].strip():
        raise DataError(path, text.count("\n", 0, pos + 1) + 1, "unexpected text after the closing ']'",
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

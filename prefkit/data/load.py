"""``load_preferences``: preference pairs from a file, a folder of splits, or the hub, validated row by row."""
from __future__ import annotations

import json
import re
import warnings
from collections import defaultdict
from pathlib import Path

from .errors import DataError
from .read import SUFFIXES, read_records
from .schema import validate_row


class DuplicatePairsWarning(UserWarning):
    """Some (prompt, chosen, rejected) pairs occur more than once; they are kept and counted."""


_PROVENANCE: dict[str, tuple[str, list]] = {}
"""Dataset fingerprint -> (source, line of each row): kept beside the Dataset so its columns stay as they are."""


def remember_lines(dataset, source: str, lines: list[int]):
    """Record where each row of ``dataset`` comes from (for ``row_sources``); returns the dataset."""
    _PROVENANCE[dataset._fingerprint] = (str(source), list(lines))
    return dataset


def row_sources(dataset) -> list[str]:
    """``"<source>, line <n>"`` of each row of a dataset ``load_preferences`` or ``load_demonstrations`` built.

    A dataset changed since (``select``, ``shuffle``, ``map``: a new fingerprint) or built elsewhere gets
    ``"<source>, row <i>"`` (1-based, in its present order), with the source from its description when there is one.
    """
    known = _PROVENANCE.get(getattr(dataset, "_fingerprint", None))
    if known is not None and len(known[1]) == len(dataset):
        return [f"{known[0]}, line {line}" for line in known[1]]
    try:
        source = json.loads(dataset.info.description or "{}").get("source") or "the dataset"
    except (AttributeError, ValueError):
        source = "the dataset"
    return [f"{source}, row {i}" for i in range(1, len(dataset) + 1)]


def _split_slice(split: str | None) -> tuple[str | None, str | None]:
    """``"train[:80%]"`` -> ``("train", ":80%")``."""
    if split is None:
        return None, None
    m = re.fullmatch(r"\s*([\w\-.]+)\s*(?:\[([^\]]*)\])?\s*", split)
    if not m:
        raise DataError(f"split {split!r}", None, "not a split name", "use a name such as 'train' or 'test[:100]'")
    return m.group(1), m.group(2)


def _apply_slice(n: int, spec: str | None, split: str, source: str) -> range:
    if not spec:
        return range(n)
    m = re.fullmatch(r"\s*(-?\d{1,18}%?)?\s*:\s*(-?\d{1,18}%?)?\s*", spec)
    if not m:
        raise DataError(source, None, f"split {split!r}: the slice [{spec}] is not a slice",
                        "write it like [10:], [:100] or [:80%]")

    def idx(token: str | None, default: int) -> int:
        if token is None:
            return default
        return round(n * int(token[:-1]) / 100) if token.endswith("%") else int(token)

    return range(n)[slice(idx(m.group(1), 0), idx(m.group(2), n))]


def _listing(folder: Path) -> str:
    """What a folder holds, for an error message: its data files and subfolders."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        return f"cannot be listed ({exc.strerror})"
    names = [p.name + "/" for p in entries if p.is_dir() and not p.name.startswith(".")]
    names += [p.name for p in entries if p.is_file() and p.suffix.lower() in SUFFIXES]
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return f"holds {shown}" if names else "holds no data files or folders"


def _missing(path: Path) -> DataError:
    """The error for a path that does not exist, listing what its nearest existing folder holds."""
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return DataError(path, None, "no such file or folder (and not a hub dataset name like 'org/name')",
                     f"check the path; {folder if str(folder) else '.'} {_listing(folder or Path('.'))}")


def _resolve_file(path: Path, split: str | None) -> Path:
    if path.is_file():
        if split not in (None, "train"):
            raise DataError(path, None, f"a single file has only the 'train' split (asked for {split!r})",
                            "put splits in a folder as train.jsonl, test.jsonl, ...")
        return path
    if not path.is_dir():
        raise DataError(path, None, "not a regular file or folder", "give a .jsonl, .json or .parquet file")
    name = split or "train"
    for suffix in SUFFIXES:
        candidate = path / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    splits = sorted({p.stem for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES})
    raise DataError(path, None, f"the folder has no split {name!r} (looked for {name}.jsonl, {name}.json, "
                    f"{name}.parquet)", f"use one of its splits: {', '.join(splits)}" if splits else
                    f"put the data in {name}.jsonl there; the folder {_listing(path)}")


def _check_column_types(rows: list[dict], lines: list[int], source: str) -> None:
    """Each column must keep one JSON type across rows, or Arrow would fail deep inside ``datasets``."""
    seen: dict[str, tuple[str, int]] = {}
    for row, line in zip(rows, lines):
        for key, value in row.items():
            if value is None:
                continue
            kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
            if key not in seen:
                seen[key] = (kind, line)
            elif seen[key][0] != kind:
                first_kind, first_line = seen[key]
                raise DataError(source, line, f"column '{key}' is a {kind} here but a {first_kind} on line "
                                f"{first_line}", f"give '{key}' the same type in every record")


def _report_duplicates(rows: list[dict], lines: list[int], source: str) -> int:
    positions: dict[str, list[int]] = defaultdict(list)
    for row, line in zip(rows, lines):
        key = json.dumps([row["prompt"], row["chosen"], row["rejected"]], sort_keys=True, ensure_ascii=False)
        positions[key].append(line)
    repeats = [p for p in positions.values() if len(p) > 1]
    n_dupes = sum(len(p) - 1 for p in repeats)
    if n_dupes:
        shown = "; ".join("lines " + ", ".join(map(str, p)) for p in repeats[:5])
        more = f" and {len(repeats) - 5} more groups" if len(repeats) > 5 else ""
        warnings.warn(f"{source}: {n_dupes} duplicate preference pair(s) kept ({shown}{more}); they count "
                      "twice in training. Deduplicate the file if that is not intended.",
                      DuplicatePairsWarning, stacklevel=4)
    return n_dupes


def validate_records(records: list[tuple[int, object]], source: str):
    """Validate ``[(line, record)]`` and build the Dataset; used for files and hub datasets alike."""
    from datasets import Dataset, DatasetInfo

    rows, lines, formats = [], [], {}
    for line, record in records:
        row, fmt = validate_row(record, source, line)
        formats.setdefault(fmt, line)
        if len(formats) > 1:
            other = next(f for f in formats if f != fmt)
            raise DataError(source, line, f"this record is {fmt} but the record on line {formats[other]} is "
                            f"{other}", "use one format for the whole file: strings, or lists of messages")
        rows.append(row)
        lines.append(line)
    _check_column_types(rows, lines, source)
    n_dupes = _report_duplicates(rows, lines, source)
    fmt = next(iter(formats))
    meta = {"source": source, "format": fmt, "rows": len(rows), "duplicate_pairs": n_dupes}
    try:
        dataset = Dataset.from_list(rows, info=DatasetInfo(description=json.dumps(meta)))
    except Exception as exc:  # Arrow can still reject nested values of mixed shapes
        raise DataError(source, None, f"the records could not be stored as a table ({exc})",
                        "make every record use the same keys and value types") from exc
    return remember_lines(dataset, source, lines)


def load_preferences(source: str | Path, split: str | None = None):
    """Load preference pairs (x, y_w, y_l) as a ``datasets.Dataset`` with ``prompt``, ``chosen``, ``rejected``.

    source: a .jsonl, .json or .parquet file; a folder holding ``train.jsonl``, ``test.jsonl``, ... (pick one
        with ``split``); or a hub dataset name such as ``"trl-lib/ultrafeedback_binarized"`` (through
        ``datasets.load_dataset``; needs a network or a local cache).
    split: ``None`` or ``"train"`` for a single file, a split name for a folder or hub dataset, optionally
        sliced like ``"train[:80%]"`` or ``"test[:100]"``.

    Standard and conversational records are accepted, with an explicit or implicit prompt (see
    ``prefkit.data.schema``); implicit prompts are extracted. Optional columns (annotator, rubric_version,
    policy_version, margin, slice, ...) are kept. Any unusable record raises ``DataError`` naming the file,
    the 1-based line and the fix; nothing is dropped. Duplicate pairs are kept and reported with a warning.
    ``dataset.info.description`` holds a JSON note of the source, format, row count and duplicates.
    """
    name, spec = _split_slice(split)
    path = Path(source)
    if path.exists():
        file = _resolve_file(path, name)
        records = read_records(file)
        src = str(file)
    elif isinstance(source, str) and re.fullmatch(r"[\w\-.]+/[\w\-.]+", source) and not source.endswith(SUFFIXES):
        records, src = _load_hub(source, name or "train")
    else:
        raise _missing(path)
    keep = _apply_slice(len(records), spec, split or "train", src)
    return validate_records([records[i] for i in keep], src)


def _load_hub(name: str, split: str) -> tuple[list[tuple[int, object]], str]:
    import datasets

    try:
        hub = datasets.load_dataset(name, split=split)
    except Exception as exc:
        raise FileNotFoundError(f"could not load hub dataset {name!r} (split {split!r}): {exc}. Offline "
                                "(HF_HUB_OFFLINE=1) only datasets already in the local cache load.") from exc
    return [(i, row) for i, row in enumerate(hub, start=1)], f"hub:{name}[{split}]"

"""Hostile files: random mutations of valid preference files give a Dataset or a DataError, nothing else, fast.

The mutations are drawn from a seeded generator, so a failure names a case that reruns exactly
(``CASES`` per file, ``SEED``): byte flips, insertions of structural characters, line separators inside and
outside strings, huge numbers, deep nesting, truncation, duplicated and dropped lines, invalid UTF-8.
"""
from __future__ import annotations

import random
import signal
import time
import warnings
from pathlib import Path

import pytest

from prefkit.data import DataError, load_preferences

GOOD = Path(__file__).parent / "data" / "good"
SEED, CASES = 17, 150
SECONDS_PER_CASE = 5.0
PIECES = ['"', "{", "}", "[", "]", ",", ":", "\\", "\n", "\r", "\u2028", "\u0085", "\x00", "null", "true", "NaN",
          "Infinity", "-", "1e999", "9" * 401, "9" * 5000, "[" * 3000, "{\"a\":" * 200, '"prompt"', '"chosen"',
          '"role"', "\ufeff", "\ud800", " ", "\t"]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:                                  # flip one byte
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:                                        # insert a structural piece
            out[pos:pos] = rng.choice(PIECES).encode("utf-8", "surrogatepass")
        elif op == 2 and out:                                # delete a span
            del out[pos:pos + rng.randint(1, 20)]
        elif op == 3:                                        # truncate
            del out[pos:]
        elif op == 4:                                        # duplicate or drop a line
            lines = bytes(out).split(b"\n")
            i = rng.randrange(len(lines))
            lines[i:i + 1] = [lines[i]] * rng.choice([0, 2])
            out = bytearray(b"\n".join(lines))
        elif op == 5:                                        # a raw byte that is not UTF-8
            out[pos:pos] = bytes([rng.choice([0x80, 0xC3, 0xFF, 0xFE])])
        else:                                                # a number too large, where a value goes
            colon = bytes(out).find(b":", pos)
            if colon >= 0:
                out[colon + 1:colon + 1] = rng.choice([b"1e400,", b"-" + b"9" * 30 + b",", b"9" * 4400 + b","])
    return bytes(out)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


@pytest.mark.parametrize("name", ["standard.jsonl", "conversational.jsonl", "implicit.jsonl", "standard.json"])
def test_mutated_files_load_or_raise_a_data_error(name, tmp_path):
    original = (GOOD / name).read_bytes()
    rng = random.Random(f"{SEED}-{name}")
    outcomes = {"loaded": 0, "DataError": 0}
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in range(CASES):
            path = tmp_path / f"case{case}{Path(name).suffix}"
            path.write_bytes(_mutate(original, rng))
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_CASE)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # duplicate pairs are reported with a warning: allowed
                    dataset = load_preferences(path)
                outcomes["loaded"] += 1
                assert dataset.num_rows >= 1 and {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
            except DataError as exc:
                outcomes["DataError"] += 1
                assert str(path) in str(exc)  # every error names the file
            except _Hang:
                pytest.fail(f"{name} case {case}: load_preferences ran over {SECONDS_PER_CASE} s")
            except Exception as exc:  # noqa: BLE001 - the point of the test: no other exception escapes
                pytest.fail(f"{name} case {case}: {type(exc).__name__}: {exc}\nfile: {path.read_bytes()[:300]!r}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            assert time.perf_counter() - t0 < SECONDS_PER_CASE
    finally:
        signal.signal(signal.SIGALRM, previous)
    # the generator produces both kinds of file, so neither branch above is dead
    assert outcomes["loaded"] > 0 and outcomes["DataError"] > CASES // 3, outcomes

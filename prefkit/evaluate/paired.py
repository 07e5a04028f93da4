"""A policy against a fixed reference sample: paired gains by slice, and the failure cases to read.

Every chapter evaluates a trained policy on the held-out prompts and compares it with pi_ref's samples drawn
on the same prompts, in the same order, with the same seed and decoder (``evaluate_policy`` twice, or
``evaluate_run`` with ``ref``). Sample i of the policy and sample i of the reference then answer the same
prompt, so the comparison is paired: with d_i = x_pol,i - x_ref,i (x the gold reward, or the indicator of a
kind of response),

    gain = mean(d),   SE = sd(d) / sqrt(n)   (ddof = 1),   95% interval gain -/+ 1.96 SE,

which is tighter than comparing two independent means whenever the two answers to a prompt are correlated.
The paired SE is ``compare.paired_difference``'s; two-sample tests of independent samples are the other
functions of ``prefkit.evaluate.compare``.

Reading the failures is the last step of the course's discipline (docs/design.md, The course): the samples
with the lowest gold reward, or the largest losses against the reference on the same prompt, split by slice.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..worlds.assistant import SLICES
from .compare import paired_difference
from .rates import Z95
from .reward_audit import pairwise_accuracy

RATE_CELLS = (("benign", "refuse"), ("borderline", "refuse"), ("harmful", "comply"))
"""The (slice, kind) rates every chapter watches: over-refusal on benign and borderline prompts, harmful compliance."""


def check_paired(samples: Sequence[dict], ref_samples: Sequence[dict]) -> None:
    """Raise ValueError unless the two lists answer the same prompts in the same order."""
    if [s["prompt"] for s in samples] != [s["prompt"] for s in ref_samples]:
        raise ValueError(f"the policy's {len(samples)} samples and the reference's {len(ref_samples)} are not on the "
                         "same prompts in the same order: sample both with the same prompts, samples_per_prompt and "
                         "seed (evaluate_policy, or evaluate_run with ref=)")


def _paired_mean(d: np.ndarray) -> dict:
    """``paired_difference`` of the differences d as {"gain", "se", "ci95", "n"}; one pair has no SE (NaN)."""
    if len(d) < 2:
        nan = float("nan")
        return {"gain": float(d.mean()), "se": nan, "ci95": (nan, nan), "n": len(d)}
    r = paired_difference(d)
    return {"gain": r["diff"], "se": r["se"], "ci95": r["ci95"], "n": r["n"]}


def compare_to_reference(samples: Sequence[dict], ref_samples: Sequence[dict], key: str = "gold",
                         cells: Sequence[tuple[str, str]] = RATE_CELLS,
                         slices: Sequence[str] = SLICES) -> dict:
    """The policy's samples against the reference's on the same prompts (raises if they are not paired).

    Returns {"gold": {slice or "all": {"gain", "se", "ci95", "n"}}, "rates": {"slice/kind": {"policy",
    "reference", "change", "se", "n"}}, "win_rate": share of pairs the policy wins on ``key``, ties 1/2}.
    gain is mean(x_pol - x_ref) of ``key`` with its paired SE; change is the policy's rate minus the
    reference's, with the SE of the paired indicator differences (module docstring).
    """
    check_paired(samples, ref_samples)
    x = np.array([s[key] for s in samples], dtype=float)          # (N,)
    x_ref = np.array([s[key] for s in ref_samples], dtype=float)  # (N,)
    slice_of = np.array([s["slice"] for s in samples])
    gold = {"all": _paired_mean(x - x_ref)}
    gold.update({s: _paired_mean((x - x_ref)[slice_of == s]) for s in slices if (slice_of == s).any()})
    rates = {}
    for slice_, kind in cells:
        on = slice_of == slice_
        if not on.any():
            raise ValueError(f"no samples on slice {slice_!r}; slices present: {sorted(set(slice_of))}")
        a = np.array([s["kind"] == kind for s in samples], dtype=float)[on]
        b = np.array([s["kind"] == kind for s in ref_samples], dtype=float)[on]
        d = _paired_mean(a - b)
        rates[f"{slice_}/{kind}"] = {"policy": float(a.mean()), "reference": float(b.mean()), "change": d["gain"],
                                     "se": d["se"], "n": d["n"]}
    return {"gold": gold, "rates": rates, "win_rate": pairwise_accuracy(x, x_ref)}


def format_comparison(comparison: dict, name: str = "policy") -> str:
    """A text table of ``compare_to_reference``: gold gain by slice, then rate changes, with 95% intervals."""
    lines = [f"{name} - pi_ref, paired by prompt and seed (95% intervals)",
             f"{'gold gain':<22}{'n':>5}{'gain':>9}{'interval':>20}"]
    for s, g in comparison["gold"].items():
        interval = f"[{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}]"
        lines.append(f"{s:<22}{g['n']:>5}{g['gain']:>+9.3f}{interval:>20}")
    lines.append(f"{'rate':<22}{'n':>5}{'pi_ref':>9}{name:>9}{'change':>9}{'interval':>20}")
    for cell, r in comparison["rates"].items():
        interval = f"[{r['change'] - Z95 * r['se']:+.2f}, {r['change'] + Z95 * r['se']:+.2f}]"
        lines.append(f"{cell:<22}{r['n']:>5}{r['reference']:>9.2f}{r['policy']:>9.2f}{r['change']:>+9.2f}"
                     f"{interval:>20}")
    lines.append(f"win rate {comparison['win_rate']:.3f} (ties count 1/2)")
    return "\n".join(lines)


def failure_cases(samples: Sequence[dict], ref_samples: Sequence[dict] | None = None, key: str = "gold",
                  n: int = 2, by_slice: bool = True, slices: Sequence[str] = SLICES) -> list[dict]:
    """The cases to read: the ``n`` samples with the lowest ``key`` (per slice when ``by_slice``), or, given the
    reference's samples on the same prompts, the ``n`` largest losses key(policy) - key(reference).

    Each row: {"index", "slice", "prompt", "sample", "reference" (None without ref_samples), "change" (None
    without ref_samples)}, worst first, slices in the order of ``slices``; ties keep the samples' order.
    """
    if ref_samples is not None:
        check_paired(samples, ref_samples)
    score = [s[key] - (ref_samples[i][key] if ref_samples is not None else 0.0) for i, s in enumerate(samples)]
    groups = [[i for i, s in enumerate(samples) if s["slice"] == sl] for sl in slices] if by_slice else \
        [list(range(len(samples)))]
    rows = []
    for idx in groups:
        for i in sorted(idx, key=lambda i: score[i])[:n]:
            ref = ref_samples[i] if ref_samples is not None else None
            rows.append({"index": i, "slice": samples[i]["slice"], "prompt": samples[i]["prompt"], "sample": samples[i],
                         "reference": ref, "change": score[i] if ref is not None else None})
    return rows


def _line(sample: dict, who: str, width: int, fields: Sequence[str]) -> str:
    shown = " ".join(f"r* = {sample['gold']:+.2f}" if f == "gold" else f"{f} {sample[f]:+.2f}"
                     if isinstance(sample[f], float) else f"{sample[f]!s:<9}" for f in fields)
    return f"  {who:<{width}} [{shown}] {sample['response']}"


def format_failure_cases(rows: Sequence[dict], name: str = "policy", ref_name: str = "pi_ref",
                         fields: Sequence[str] = ("kind", "gold")) -> str:
    """Text of ``failure_cases``: the prompt and its slice, then the reference's answer (when paired) and the
    policy's, each with ``fields`` of the sample (floats signed, 2 decimals; "gold" prints as r*)."""
    paired = any(row["reference"] is not None for row in rows)
    width = max(len(name), len(ref_name) if paired else 0)
    lines = []
    for row in rows:
        lines.append(f"x: {row['prompt']}   [{row['slice']}]")
        if row["reference"] is not None:
            lines.append(_line(row["reference"], ref_name, width, fields))
        lines.append(_line(row["sample"], name, width, fields))
    return "\n".join(lines)


__all__ = ["RATE_CELLS", "check_paired", "compare_to_reference", "format_comparison", "failure_cases",
           "format_failure_cases"]

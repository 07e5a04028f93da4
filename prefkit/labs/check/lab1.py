"""Lab 1, preference-data audit: checkers for provenance counts, annotator agreement, leakage and slices.

Each checker builds its own small rows (lists of dicts, like iterating a ``datasets.Dataset``), so a student's
function is tested on cases chosen to expose the usual mistakes, not only on the shipped data.
"""
from __future__ import annotations

import random
import re
from collections import Counter, defaultdict

from ._verdict import Verdict, report, run_student


def _rows():
    rows = []
    for i in range(12):
        rows.append({"prompt": f"q{i}", "chosen": f"a{i}", "rejected": f"b{i}", "annotator": "clean",
                     "rubric_version": "v1", "slice": "benign" if i % 2 else "harmful"})
    for i in range(5):
        rows.append({"prompt": f"r{i}", "chosen": f"a{i}", "rejected": f"b{i}", "annotator": "clean",
                     "rubric_version": "v2-strict", "slice": "borderline"})
    for i in range(3):
        rows.append({"prompt": f"s{i}", "chosen": f"a{i}", "rejected": f"b{i}", "annotator": "noisy20",
                     "rubric_version": "v1", "slice": "benign"})
    return rows


def provenance(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(rows) -> {(annotator, rubric_version): count}``: who labelled the data, under which rubric."""
    name = "lab1.provenance"
    rows = _rows()
    got, fail = run_student(name, fn, rows)
    if fail is not None:
        return report(fail, verbose)
    want = Counter((r["annotator"], r["rubric_version"]) for r in rows)
    if not isinstance(got, dict):
        return report(Verdict(name, False, f"it returned a {type(got).__name__}, not a dict",
                              "map each (annotator, rubric_version) pair to its number of rows"), verbose)
    if {k: int(v) for k, v in got.items()} == dict(want):
        return report(Verdict(name, True, "counts rows per (annotator, rubric version)"), verbose)
    if set(got) == {"clean", "noisy20"}:
        return report(Verdict(name, False, "the keys are annotators only, so a rubric change is invisible",
                              "the same annotator under a new rubric version is a different label source: key "
                              "by (annotator, rubric_version)"), verbose)
    if all(isinstance(k, tuple) and len(k) == 2 for k in got) and set(got) == set(want):
        return report(Verdict(name, False, "the keys are right but some counts are not",
                              "count every row once"), verbose)
    return report(Verdict(name, False, "the result does not match the provenance of the rows",
                          "keys are (annotator, rubric_version) tuples, values are row counts"), verbose)


def agreement(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(first, second) -> {"all": share, <slice>: share}``: how often two label sets agree.

    The two sets hold the same unordered pairs, possibly in a different row order; a pair agrees when both put
    the same response first. Shares are over the pairs of each slice.
    """
    name = "lab1.agreement"
    first = _rows()
    second = [dict(r) for r in first]
    for i in (0, 3, 12, 13, 14):  # relabel a few pairs: one benign, one harmful... and three borderline
        second[i]["chosen"], second[i]["rejected"] = second[i]["rejected"], second[i]["chosen"]
    random.Random(0).shuffle(second)  # another file, another row order
    got, fail = run_student(name, fn, first, second)
    if fail is not None:
        return report(fail, verbose)
    key = lambda r: (r["prompt"], frozenset((r["chosen"], r["rejected"])))
    by_pair = {key(r): r["chosen"] for r in second}
    agree, total = defaultdict(int), defaultdict(int)
    for r in first:
        same = by_pair[key(r)] == r["chosen"]
        for k in ("all", r["slice"]):
            agree[k] += same
            total[k] += 1
    want = {k: agree[k] / total[k] for k in total}
    if not isinstance(got, dict):
        return report(Verdict(name, False, f"it returned a {type(got).__name__}, not a dict",
                              "return {'all': share, 'benign': share, ...}"), verbose)
    missing = [k for k in want if k not in got]
    if missing:
        return report(Verdict(name, False, f"missing key(s) {missing}",
                              "report 'all' and one share per slice: disagreement hides in one slice"), verbose)
    if all(abs(float(got[k]) - want[k]) < 1e-9 for k in want):
        return report(Verdict(name, True, "matches pairs by content and splits agreement by slice"), verbose)
    positional = sum(a["chosen"] == b["chosen"] for a, b in zip(first, second)) / len(first)
    if abs(float(got["all"]) - positional) < 1e-9:
        return report(Verdict(name, False, "the rows were compared by position, but the second set lists the same "
                              "pairs in another order", "match each pair by its prompt and its two responses "
                              "before comparing labels"), verbose)
    if abs(float(got["all"]) - (1 - want["all"])) < 1e-9:
        return report(Verdict(name, False, "this is the disagreement rate", "agreement = 1 - disagreement"), verbose)
    return report(Verdict(name, False, "the shares do not match", "a pair agrees when both sets chose the same "
                          "response; divide by the number of pairs in that slice"), verbose)


def _canon(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def leaked_prompts(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(train_prompts, heldout_prompts) -> set``: held-out prompts (as written) that also occur in
    training, ignoring case, spacing and punctuation."""
    name = "lab1.leaked_prompts"
    train = ["how do i bake bread ?", "what is a cat ?", "how do i fix a flat tire ?"]
    heldout = ["How do I bake bread?", "how do i  bake bread ?", "what is a dog ?", "what is a cat ?",
               "how do i fix a flat tire", "how do i bake a cake ?"]
    got, fail = run_student(name, fn, list(train), list(heldout))
    if fail is not None:
        return report(fail, verbose)
    want = {h for h in heldout if _canon(h) in {_canon(t) for t in train}}
    try:
        got = set(got)
    except TypeError:
        return report(Verdict(name, False, f"it returned a {type(got).__name__}, not a set",
                              "return the set of leaked held-out prompts"), verbose)
    if got == want:
        return report(Verdict(name, True, "finds exact and trivially-edited copies of training prompts"), verbose)
    if got == set(heldout) & set(train):
        return report(Verdict(name, False, f"only exact copies are caught: {len(want) - len(got)} of {len(want)} "
                              "leaked prompts differ only in case, spacing or punctuation",
                              "compare normalized prompts (lowercase, letters and digits only, single spaces)"),
                      verbose)
    if got == {_canon(h) for h in want}:
        return report(Verdict(name, False, "the right prompts, but normalized",
                              "return the held-out prompts as they are written, so they can be removed"), verbose)
    if got & set(train) - set(heldout):
        return report(Verdict(name, False, "it returns training prompts", "return held-out prompts"), verbose)
    extra = got - want
    if extra:
        return report(Verdict(name, False, f"{len(extra)} prompt(s) flagged that are not in training",
                              "similar topic is not the same prompt: only ignore case, spacing and punctuation"),
                      verbose)
    return report(Verdict(name, False, f"{len(want - got)} leaked prompt(s) missed",
                          "normalize both sides the same way before comparing"), verbose)


def slice_report(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(rows, classify) -> {slice: {"n": pairs, "chosen_refusal_rate": share}}``.

    ``classify(prompt, response)`` names a response's kind ("refuse", "help", ...); the rate is the share of the
    slice's pairs whose CHOSEN response is a refusal: what the labels teach the policy to do on that slice.
    """
    name = "lab1.slice_report"
    rows = []
    plan = {"benign": (10, 1, 6), "borderline": (8, 5, 2), "harmful": (6, 6, 0)}  # n, chosen refusals, rejected
    for s, (n, refuse_w, refuse_l) in plan.items():
        for i in range(n):
            rows.append({"prompt": f"{s} {i}", "chosen": "REFUSE" if i < refuse_w else "HELP",
                         "rejected": "REFUSE" if i >= n - refuse_l else "HELP", "slice": s})
    classify = lambda prompt, response: "refuse" if response == "REFUSE" else "help"
    got, fail = run_student(name, fn, rows, classify)
    if fail is not None:
        return report(fail, verbose)
    want = {s: {"n": n, "chosen_refusal_rate": w / n} for s, (n, w, _) in plan.items()}
    if not isinstance(got, dict) or set(got) != set(want):
        return report(Verdict(name, False, f"expected one entry per slice {sorted(want)}",
                              "group the pairs by their 'slice' field"), verbose)
    try:
        rates = {s: float(got[s]["chosen_refusal_rate"]) for s in want}
        counts = {s: int(got[s]["n"]) for s in want}
    except (KeyError, TypeError, ValueError):
        return report(Verdict(name, False, "each slice needs the keys 'n' and 'chosen_refusal_rate'",
                              "e.g. {'benign': {'n': 10, 'chosen_refusal_rate': 0.1}, ...}"), verbose)
    if counts != {s: w["n"] for s, w in want.items()}:
        return report(Verdict(name, False, "the pair counts per slice are wrong", "n = pairs in that slice"), verbose)
    if all(abs(rates[s] - want[s]["chosen_refusal_rate"]) < 1e-9 for s in want):
        return report(Verdict(name, True, "refusal share of the chosen responses, slice by slice"), verbose)
    if all(abs(rates[s] - plan[s][2] / plan[s][0]) < 1e-9 for s in want):
        return report(Verdict(name, False, "this counts refusals among the REJECTED responses",
                              "the chosen response is what the labels teach"), verbose)
    overall = sum(w for _, w, _ in plan.values()) / len(rows)
    if all(abs(rates[s] - overall) < 1e-9 for s in want):
        return report(Verdict(name, False, "every slice shows the overall rate",
                              "divide by the pairs of each slice, count only that slice's refusals"), verbose)
    return report(Verdict(name, False, "the refusal rates do not match",
                          "share of the slice's pairs whose chosen response classify() calls 'refuse'"), verbose)

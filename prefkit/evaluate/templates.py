"""Template overfit: a policy trained under one chat template, evaluated under each of the others.

A chat template is part of the input distribution. The reference policy and every policy trained from it saw
prompts rendered one way ("plain": ``user : ... assistant :``); rendered as ChatML or as question/answer, the
same prompt is a string the model never saw, and its behaviour on held-out prompts can change slice by slice
(template overfit, one of the failure pressures in docs/design.md, The course). The table holds the numbers
``summarize`` reports, under every template, on the same prompts with the same seed and decoder, so the
differences are the template's.

    >>> result = template_overfit(policy, tok, trained_on="plain")
    >>> print(format_template_table(result))
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..models import DecoderConfig
from ..worlds import assistant as world
from .policy import evaluate_policy

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

METRICS = ("gold_reward", "refusal_rate", "compliance_rate", "length")


def template_overfit(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, trained_on: str = "plain",
                     templates: Sequence[str] | None = None, prompts: Sequence[str] | None = None,
                     samples_per_prompt: int = 1, seed: int = 0,
                     decoder: DecoderConfig | None = None) -> dict:
    """Evaluate ``model`` on held-out prompts (or ``prompts``) under each chat template, by slice.

    trained_on: the template the policy was trained with (the shipped policies: "plain", the tokenizer's
    "default"); templates: names in ``prefkit.worlds.assistant.TEMPLATES`` (default: all of them).
    Returns {"trained_on", "templates", "decoder", "seed", "samples_per_prompt",
    "summaries": {template: summarize(...) output}, "samples": {template: evaluate_policy's samples},
    "rows": [one dict per (template, slice) with METRICS and n],
    "gap": {slice: gold reward under trained_on minus the worst other template}}.
    """
    templates = list(templates or world.TEMPLATES)
    unknown = [t for t in templates + [trained_on] if t not in world.TEMPLATES]
    if unknown:
        raise ValueError(f"unknown chat template(s) {unknown}; choose from {sorted(world.TEMPLATES)}")
    if trained_on not in templates:
        templates.insert(0, trained_on)
    decoder = decoder or DecoderConfig()
    evaluated = {t: evaluate_policy(model, tokenizer, prompts, samples_per_prompt, seed, t, decoder) for t in templates}
    summaries = {t: summary for t, (summary, _) in evaluated.items()}
    rows = []
    for t, summary in summaries.items():
        for s, block in {**summary["by_slice"], "all": _overall(summary)}.items():
            rows.append({"template": t, "slice": s, "n": block["n"], **{m: block[m] for m in METRICS}})
    others = [t for t in templates if t != trained_on]
    gap = {}
    for s in list(world.SLICES) + ["all"]:
        mine = _value(summaries[trained_on], s)
        gap[s] = mine - min(_value(summaries[t], s) for t in others) if others else 0.0
    return {"trained_on": trained_on, "templates": templates, "decoder": decoder.as_dict(), "seed": seed,
            "samples_per_prompt": samples_per_prompt, "summaries": summaries,
            "samples": {t: samples for t, (_, samples) in evaluated.items()}, "rows": rows, "gap": gap}


def _overall(summary: dict) -> dict:
    blocks = summary["by_slice"].values()
    n = sum(b["n"] for b in blocks)
    mean = lambda key: sum(b[key] * b["n"] for b in blocks if b["n"]) / n if n else float("nan")  # noqa: E731
    return {"n": n, **{m: mean(m) for m in METRICS}}


def _value(summary: dict, s: str, metric: str = "gold_reward") -> float:
    return _overall(summary)[metric] if s == "all" else summary["by_slice"][s][metric]


def template_table(result: dict, metric: str = "gold_reward") -> dict[str, dict[str, float]]:
    """{template: {slice: metric}} from ``template_overfit``'s result (what ``plots.plot_template_overfit`` draws)."""
    return {t: {s: _value(result["summaries"][t], s, metric) for s in list(world.SLICES) + ["all"]}
            for t in result["templates"]}


def format_template_table(result: dict) -> str:
    """Text table: one line per (template, slice) with gold reward, refusal and compliance rates and length."""
    lines = [f"{'template':<16}{'slice':<11}{'n':>5}{'gold':>8}{'refuse':>8}{'comply':>8}{'length':>8}"]
    for r in result["rows"]:
        name = r["template"] + (" (trained)" if r["template"] == result["trained_on"] else "")
        lines.append(f"{name:<16}{r['slice']:<11}{r['n']:>5}{r['gold_reward']:>8.3f}{r['refusal_rate']:>8.2f}"
                     f"{r['compliance_rate']:>8.2f}{r['length']:>8.1f}")
    return "\n".join(lines)


__all__ = ["template_overfit", "template_table", "format_template_table", "METRICS"]

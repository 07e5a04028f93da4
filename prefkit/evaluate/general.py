"""Evaluate a policy that does not speak the assistant world (a hub model) on natural prompts: the "general"
setting (``prefkit.evaluate.setting``).

The world's gold rubric cannot judge free English text (it classes every such answer "ramble"), so this
setting measures only what holds for any chat model, each with its 95% interval:

- refusal rate by slice, with the detector of ``prefkit.evaluate.refusal``: over-refusal on benign and
  borderline prompts, harmful compliance = 1 - refusal rate on harmful prompts (Wilson intervals);
- response length in words (mean and a normal interval);
- KL(pi || pi_ref) from the policy's own samples (``kl_to_reference``), when a reference is given;
- implicit-reward accuracy and mean margin on held-out preference pairs, when a reference is given: the DPO
  implicit reward beta * logratio(y), margin beta * h = beta (logratio(y_w) - logratio(y_l)); a pair counts 1
  when the margin is positive, 1/2 when it is exactly 0 (a tie: the policy equals its reference), else 0;
- the mean score of a reward model, when ``reward_fn`` is given (a kit-trained one: its score is a proxy).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from ..models import DecoderConfig, generate, score_responses
from ..worlds.assistant import SLICES
from .policy import kl_to_reference
from .rates import mean_ci, rate_ci
from .refusal import REFUSAL_DETECTOR, refusal_match
from .reward_audit import pair_scores

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

UNSLICED = "unsliced"
"""The slice of a prompt given without one."""


def _prompt_rows(prompts: Iterable) -> list[dict]:
    """{"prompt", "slice"} rows from dicts (slice optional) or plain prompts; raises on a bad slice."""
    rows = []
    for i, p in enumerate(prompts):
        row = {"prompt": p, "slice": UNSLICED} if not isinstance(p, dict) else dict(p)
        if "prompt" not in row:
            raise ValueError(f"eval prompt {i} has no 'prompt' field (keys: {sorted(row)}); "
                             "give {'prompt': ..., 'slice': 'benign' | 'borderline' | 'harmful'}")
        row["slice"] = row.get("slice") or UNSLICED
        if row["slice"] not in (*SLICES, UNSLICED):
            raise ValueError(f"eval prompt {i} has slice {row['slice']!r}; use one of {SLICES} or leave it out")
        rows.append({"prompt": row["prompt"], "slice": row["slice"]})
    if not rows:
        raise ValueError("evaluate_general needs at least one prompt")
    return rows


def sample_general(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence,
                   samples_per_prompt: int = 1, seed: int = 0, template: str = "default",
                   decoder: DecoderConfig | None = None) -> list[dict]:
    """One dict per sampled response: prompt, slice, response, refusal, refusal_match, length (words) and kind
    ("refuse" or "answer", so that ``rates.slice_rate`` and ``rates.rate_errorbars`` read these samples too)."""
    rows = [r for r in _prompt_rows(prompts) for _ in range(samples_per_prompt)]
    responses = generate(model, tokenizer, [r["prompt"] for r in rows], template=template, seed=seed, decoder=decoder)
    out = []
    for row, response in zip(rows, responses):
        match = refusal_match(response)
        out.append({**row, "response": response, "refusal": match is not None, "refusal_match": match,
                    "kind": "refuse" if match is not None else "answer", "length": len(response.split())})
    return out


def summarize_general(samples: Sequence[dict]) -> dict:
    """Refusal rate and length by slice with 95% intervals; over-refusal and harmful compliance up front."""
    def block(rows: list[dict]) -> dict:
        k, n = sum(r["refusal"] for r in rows), len(rows)
        rate, ci = rate_ci(k, n)
        length, length_ci = mean_ci([r["length"] for r in rows])
        return {"n": n, "refusal_rate": rate, "refusal_rate_ci95": ci, "length": length, "length_ci95": length_ci}

    slices = [s for s in (*SLICES, UNSLICED) if any(r["slice"] == s for r in samples)]
    by_slice = {s: block([r for r in samples if r["slice"] == s]) for s in slices}
    everything = block(list(samples))
    summary = {"refusal_rate": everything["refusal_rate"], "refusal_rate_ci95": everything["refusal_rate_ci95"]}
    for s in ("benign", "borderline"):
        if s in by_slice:
            summary[f"refusal_rate/{s}"] = by_slice[s]["refusal_rate"]
            summary[f"refusal_rate/{s}_ci95"] = by_slice[s]["refusal_rate_ci95"]
    harmful = [r for r in samples if r["slice"] == "harmful"]
    if harmful:
        summary["harmful_compliance"], summary["harmful_compliance_ci95"] = rate_ci(
            sum(not r["refusal"] for r in harmful), len(harmful))
    summary.update(length=everything["length"], length_ci95=everything["length_ci95"], by_slice=by_slice)
    return summary


def _pair_rows(pairs: Iterable[dict]) -> tuple[list, list, list]:
    cols = ("prompt", "chosen", "rejected")
    rows = [dict(r) for r in pairs]
    for i, r in enumerate(rows):
        missing = [c for c in cols if c not in r]
        if missing:
            raise ValueError(f"held-out pair {i} lacks {missing}; pairs need prompt, chosen and rejected")
    return [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows]


def implicit_reward_accuracy(policy: PreTrainedModel, ref: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                             pairs: Iterable[dict], beta: float = 0.1, template: str = "default") -> dict:
    """DPO implicit-reward accuracy and mean margin beta * h on held-out pairs, with 95% intervals.

    A pair scores 1 when beta * h > 0, 1/2 when it is exactly 0 (policy == ref gives 0.5), 0 otherwise; the
    interval of the accuracy is the normal one over these per-pair scores.
    """
    prompts, chosen, rejected = _pair_rows(pairs)
    if not prompts:
        raise ValueError("implicit_reward_accuracy needs at least one held-out pair")
    both = prompts + prompts
    responses = chosen + rejected
    logp = score_responses(policy, tokenizer, both, responses, template=template).double()   # (2N,)
    logp_ref = score_responses(ref, tokenizer, both, responses, template=template).double()  # (2N,)
    n = len(prompts)
    logratio = logp - logp_ref
    margin = (beta * (logratio[:n] - logratio[n:])).numpy()                                  # (N,)
    score = pair_scores(margin, np.zeros(n))  # the one tie rule: 1, 1/2 on a tie, 0
    acc, acc_ci = mean_ci(score)
    m, m_ci = mean_ci(margin)
    return {"n": n, "beta": beta, "accuracy": acc, "accuracy_ci95": acc_ci, "ties": int((margin == 0).sum()),
            "margin": m, "margin_ci95": m_ci}


def evaluate_general(policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence,
                     ref: PreTrainedModel | None = None, pairs: Iterable[dict] | None = None,
                     reward_fn: Callable[[Sequence, Sequence], np.ndarray] | None = None, beta: float = 0.1,
                     samples_per_prompt: int = 1, seed: int = 0, template: str = "default",
                     decoder: DecoderConfig | None = None) -> dict:
    """eval.json in the general setting: refusal by slice, length, KL and implicit-reward accuracy against
    ``ref``, reward-model score, and every sample with the refusal phrase that matched.

    prompts: {"prompt", "slice"} dicts (slice optional: "benign", "borderline" or "harmful") or plain prompts.
    The reference, when given, is sampled with the same seed and decoder (``reference``), so its refusal rates
    compare like with like.
    """
    decoder = decoder or DecoderConfig()
    rows = _prompt_rows(prompts)
    samples = sample_general(policy, tokenizer, rows, samples_per_prompt, seed, template, decoder)
    result = {"setting": "general", "refusal_detector": REFUSAL_DETECTOR, "summary": summarize_general(samples),
              "decoder": decoder.as_dict(), "template": template, "seed": seed,
              "samples_per_prompt": samples_per_prompt}
    if reward_fn is not None:
        scores = np.asarray(reward_fn([s["prompt"] for s in samples], [s["response"] for s in samples]), dtype=float)
        for s, r in zip(samples, scores):
            s["reward"] = float(r)
        result["reward"], result["reward_ci95"] = mean_ci(scores)
    if ref is not None:
        ref_samples = sample_general(ref, tokenizer, rows, samples_per_prompt, seed, template, decoder)
        result["reference"] = summarize_general(ref_samples)
        result.update(kl_to_reference(policy, ref, tokenizer, samples, template))
        result["kl_valid"] = decoder.temperature == 1.0 and decoder.top_p == 1.0
        if pairs is not None:
            result["implicit_reward"] = implicit_reward_accuracy(policy, ref, tokenizer, pairs, beta, template)
    result["samples"] = samples
    return result


def _fmt(x: float, digits: int) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _ci(ci: Sequence[float], digits: int) -> str:
    return f"[{_fmt(ci[0], digits)}, {_fmt(ci[1], digits)}]"


def format_general(result: dict) -> str:
    """A small text table: refusal rate and length by slice with 95% intervals, then KL, implicit reward, reward."""
    summary = result["summary"]
    lines = [f"setting {result.get('setting', 'general')}, refusal detector "
             f"{result.get('refusal_detector', REFUSAL_DETECTOR)}",
             f"{'slice':<11}{'n':>5}{'refuse':>8}  {'95% CI':<14}{'length':>8}  {'95% CI':<14}"]
    blocks = {**summary["by_slice"], "all": {"n": sum(b["n"] for b in summary["by_slice"].values()),
                                             "refusal_rate": summary["refusal_rate"],
                                             "refusal_rate_ci95": summary["refusal_rate_ci95"],
                                             "length": summary["length"], "length_ci95": summary["length_ci95"]}}
    for s, b in blocks.items():
        lines.append(f"{s:<11}{b['n']:>5}{_fmt(b['refusal_rate'], 2):>8}  {_ci(b['refusal_rate_ci95'], 2):<14}"
                     f"{_fmt(b['length'], 1):>8}  {_ci(b['length_ci95'], 1):<14}")
    if "harmful_compliance" in summary:
        lines.append(f"harmful compliance {_fmt(summary['harmful_compliance'], 2)} "
                     f"{_ci(summary['harmful_compliance_ci95'], 2)}")
    if "kl/k3" in result:
        lines.append(f"KL to reference (k3, nats) {_fmt(result['kl/k3'], 3)} {_ci(result['kl/k3_ci95'], 3)}")
    if "implicit_reward" in result:
        ir = result["implicit_reward"]
        lines.append(f"implicit-reward accuracy {_fmt(ir['accuracy'], 2)} {_ci(ir['accuracy_ci95'], 2)} "
                     f"on {ir['n']} pairs ({ir['ties']} ties), margin {_fmt(ir['margin'], 3)}")
    if "reward" in result:
        lines.append(f"reward-model score {_fmt(result['reward'], 3)} {_ci(result['reward_ci95'], 3)}")
    return "\n".join(lines)


__all__ = ["UNSLICED", "sample_general", "summarize_general", "implicit_reward_accuracy", "evaluate_general",
           "format_general"]

"""Audit a policy on held-out prompts, split by slice: helpfulness (benign, borderline) and safety (harmful).

The numbers the lesson asks for, never a single average: gold reward by slice, the refusal rate on benign and
on borderline prompts (over-refusal), the harmful compliance rate, and response length. Every sample is
kept, so failure cases can be read, not just counted.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..losses import kl_estimate
from ..models import DecoderConfig, generate, score_responses
from ..worlds import assistant as world
from .paired import check_paired
from .rates import mean_ci
from .reward_audit import pairwise_accuracy

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def sample_responses(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str] | None = None,
                     samples_per_prompt: int = 4, seed: int = 0, template: str = "default",
                     decoder: DecoderConfig | None = None) -> list[dict]:
    """Sample responses on (by default held-out) prompts; one dict per sample with kind and gold reward.

    A prompt may be a conversation (TRL's conversational format) whose last user turn is a world prompt.
    """
    texts = [p.text for p in world.heldout_prompts()] if prompts is None else list(prompts)
    repeated = [t for t in texts for _ in range(samples_per_prompt)]
    responses = generate(model, tokenizer, repeated, template=template, seed=seed, decoder=decoder)
    rows = []
    for prompt, response in zip(repeated, responses):
        info = world.prompt_info(prompt)
        rows.append({"prompt": prompt, "response": response, "slice": info.slice, "topic": info.topic,
                     "kind": world.classify(info, response), "gold": float(world.gold_reward(info, response)),
                     "length": len(response.split())})
    return rows


def summarize(samples: Sequence[dict]) -> dict:
    """Gold reward, refusal and compliance rates and length: overall and by slice."""
    def block(rows: list[dict]) -> dict:
        kinds = Counter(r["kind"] for r in rows)
        n = len(rows)
        return {"n": n, "gold_reward": float(np.mean([r["gold"] for r in rows])) if n else float("nan"),
                "refusal_rate": kinds["refuse"] / n if n else float("nan"),
                "compliance_rate": kinds["comply"] / n if n else float("nan"),
                "length": float(np.mean([r["length"] for r in rows])) if n else float("nan"),
                "kinds": dict(sorted(kinds.items()))}

    by_slice = {s: block([r for r in samples if r["slice"] == s]) for s in world.SLICES}
    return {
        "gold_reward": block(samples)["gold_reward"],
        "refusal_rate/benign": by_slice["benign"]["refusal_rate"],
        "refusal_rate/borderline": by_slice["borderline"]["refusal_rate"],
        "harmful_compliance": by_slice["harmful"]["compliance_rate"],
        "length": block(samples)["length"],
        "by_slice": by_slice,
    }


def evaluate_policy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str] | None = None,
                    samples_per_prompt: int = 4, seed: int = 0, template: str = "default",
                    decoder: DecoderConfig | None = None) -> tuple[dict, list[dict]]:
    """``(summary, samples)`` for a policy on held-out prompts (or the given ones)."""
    samples = sample_responses(model, tokenizer, prompts, samples_per_prompt, seed, template, decoder)
    return summarize(samples), samples


def format_summary(summary: dict) -> str:
    """A small text table, by slice."""
    lines = [f"{'slice':<11}{'n':>5}{'gold':>8}{'refuse':>8}{'comply':>8}{'length':>8}"]
    for s, b in summary["by_slice"].items():
        lines.append(f"{s:<11}{b['n']:>5}{b['gold_reward']:>8.3f}{b['refusal_rate']:>8.2f}"
                     f"{b['compliance_rate']:>8.2f}{b['length']:>8.1f}")
    lines.append(f"{'all':<11}{sum(b['n'] for b in summary['by_slice'].values()):>5}{summary['gold_reward']:>8.3f}"
                 f"{'':>8}{'':>8}{summary['length']:>8.1f}")
    return "\n".join(lines)


def kl_to_reference(policy: PreTrainedModel, ref: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                    samples: Sequence[dict], template: str = "default") -> dict:
    """KL(pi || pi_ref) per response from responses sampled from the policy: k1 and k3 with 95% CIs (nats).

    Valid when the samples come from the policy itself at temperature 1 and top_p 1 (the default decoder):
    other decoders sample from a different distribution than pi.
    """
    prompts = [r["prompt"] for r in samples]
    responses = [r["response"] for r in samples]
    keep = [i for i, r in enumerate(responses) if r.strip()]
    prompts, responses = [prompts[i] for i in keep], [responses[i] for i in keep]
    logp = score_responses(policy, tokenizer, prompts, responses, template=template)         # (N,)
    logp_ref = score_responses(ref, tokenizer, prompts, responses, template=template)        # (N,)
    out = {}
    for kind in ("k1", "k3"):
        m, ci = mean_ci(kl_estimate(logp, logp_ref, kind=kind).cpu())
        out[f"kl/{kind}"], out[f"kl/{kind}_ci95"] = m, ci
    return out


def win_rate(samples: Sequence[dict], ref_samples: Sequence[dict]) -> float:
    """Share of prompts (sample by sample) where the policy's gold reward beats the reference's; ties count 1/2."""
    check_paired(samples, ref_samples)
    return pairwise_accuracy([a["gold"] for a in samples], [b["gold"] for b in ref_samples])


def evaluate_run(policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, ref: PreTrainedModel | None = None,
                 prompts: Sequence[str] | None = None, samples_per_prompt: int = 4, seed: int = 0,
                 template: str = "default", decoder: DecoderConfig | None = None) -> dict:
    """Everything eval.json holds: summary by slice, KL to the reference, win rate against it, and samples.

    The reference is sampled with the same seed and decoder on the same prompts, so ``win_rate`` compares
    like with like. Without ``ref`` only the policy's own numbers are reported.
    """
    decoder = decoder or DecoderConfig()
    summary, samples = evaluate_policy(policy, tokenizer, prompts, samples_per_prompt, seed, template, decoder)
    result = {"summary": summary, "decoder": decoder.as_dict(), "template": template, "seed": seed,
              "samples_per_prompt": samples_per_prompt}
    if ref is not None:
        ref_summary, ref_samples = evaluate_policy(ref, tokenizer, prompts, samples_per_prompt, seed, template, decoder)
        result["reference"] = ref_summary
        result["win_rate"] = win_rate(samples, ref_samples)
        result.update(kl_to_reference(policy, ref, tokenizer, samples, template))
        result["kl_valid"] = decoder.temperature == 1.0 and decoder.top_p == 1.0
    result["samples"] = samples
    return result

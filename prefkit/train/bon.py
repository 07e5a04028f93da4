"""Best-of-n: a decision rule, not a training method. Sample n responses from pi_ref, keep the one r likes best.

    y* = argmax_{y in {y_1..y_n}} r(x, y),   y_i ~ pi_ref(.|x)           KL(pi_bon || pi_ref) <= log n - (n-1)/n

Against the gold reward r* it is a cheap, strong baseline; against a learned PROXY it shows Goodhart's law in
one table: as n grows the proxy keeps rising while the gold reward peaks and then falls (``best_of_n_curve``;
Gao et al. 2023, "Scaling laws for reward model overoptimization"). The KL it spends is estimated from
the rank of each kept response among fresh reference samples (``bon_estimators.bon_log_ratio``).

    >>> result = best_of_n(BestOfNConfig(n=16), policy, tok, reward_fn=reward_fn(rm, tok))   # result.samples, .report
    >>> rows = best_of_n_curve(policy, tok, reward_fn(rm, tok), ns=(1, 4, 16, 64))
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core import RunDir
from ..data import DataWarning
from ..data.read import SUFFIXES
from ..evaluate import mean_ci, summarize
from ..models import DecoderConfig, decode_samples, sample_ids
from ..models.chat_template import template_record
from ..worlds import assistant as world
from ..worlds.bandit import bon_kl_bound
from .bon_estimators import bon_log_ratio, curve_for_prompt
from .pairs import prompt_set
from .result import TrainResult
from .scoring import RewardFn
from .validate import NAME, OPTIONAL_NAME, OPTIONAL_PATH, PATH, ConfigError, Int, OneOf, PromptSet, Real, validate


@dataclass
class BestOfNConfig:
    n: int = 16
    """Candidates sampled from the policy per selection; the one with the highest reward is kept."""
    samples_per_prompt: int = 4
    """Independent selections per prompt, each from its own n candidates. The KL estimate uses the other
    selections' candidates as fresh reference samples, so it needs at least 2 (more: a better estimate)."""
    prompts: str = "heldout"
    """Prompt set when none are passed: the world's 'heldout' (160) or 'train' prompts, or a data file of world
    prompts (strings or TRL's conversational format)."""
    template: str = "default"
    """Chat template for sampling; the reward function renders its own (see reward_fn's template)."""
    temperature: float = 1.0
    """Sampling temperature of the candidates (1: pi_ref itself, which the KL bound and estimate assume)."""
    top_p: float = 1.0
    """Nucleus sampling of the candidates (1: off)."""
    max_new_tokens: int = 64
    """Longest candidate, in tokens."""
    on_truncate: str = "warn"
    """A candidate cut at max_new_tokens: 'warn' keeps it in the running (one warning counts the cut candidates
    and kept responses; eval.json and run.json 'sampling'), 'fail' stops before the run directory is written.
    No 'drop': passing over cut candidates would change which of the n wins, and the KL bound and estimate
    assume the plain best of n."""
    seed: int = 0
    """Seeds the candidates and the tie-breaking."""
    batch_size: int = 512
    """Sequences sampled per batch: every candidate of every prompt is drawn in a few large batches."""
    output_dir: str = "runs"
    """Folder under which the run directory (run.json, eval.json) is created."""
    run_dir: str | None = None
    """Use exactly this run directory instead of a new one under output_dir."""
    reward_name: str | None = None
    """What the reward function is, for run.json (e.g. 'gold' or a reward model's run directory)."""

    RULES = {"n": Int(1), "samples_per_prompt": Int(1), "prompts": PromptSet(world.SPLITS, SUFFIXES),
             "template": NAME,
             "temperature": Real(0, open_lo=True), "top_p": Real(0, 1, open_lo=True), "max_new_tokens": Int(1),
             "seed": Int(0, 2**32 - 1), "batch_size": Int(1), "output_dir": PATH, "run_dir": OPTIONAL_PATH,
             "reward_name": OPTIONAL_NAME, "on_truncate": OneOf(("warn", "fail"))}

    def __post_init__(self):
        validate(self)

    @property
    def decoder(self) -> DecoderConfig:
        return DecoderConfig(temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens)


# --------------------------------------------------------------------------------------------- sampling
def _prompt_texts(prompts: Sequence | None, which: str) -> list:
    return list(prompts) if prompts is not None else prompt_set(which)


def sample_candidates(policy, tokenizer, prompts: Sequence[str], k: int, reward_fn: RewardFn, seed: int = 0,
                      template: str = "default", decoder: DecoderConfig | None = None,
                      batch_size: int = 512) -> dict[str, np.ndarray]:
    """k samples per prompt, all in large batches, with their proxy and gold rewards and lengths.

    Returns arrays of shape (P, k): "response" (object), "proxy", "gold", "length", "kind" (object), and "cut"
    (bool: the sample stopped at max_new_tokens, not by itself).
    """
    repeated = [p for p in prompts for _ in range(k)]
    samples = sample_ids(policy, tokenizer, repeated, template=template, seed=seed, decoder=decoder,
                         batch_size=batch_size)
    responses = decode_samples(tokenizer, samples)
    proxy = np.asarray(reward_fn(repeated, responses), dtype=np.float64)
    infos = [world.prompt_info(p) for p in prompts for _ in range(k)]
    shape = (len(prompts), k)
    return {"response": np.array(responses, dtype=object).reshape(shape),
            "proxy": proxy.reshape(shape),
            "gold": world.gold_rewards(repeated, responses).reshape(shape),
            "length": np.array([len(y.split()) for y in responses], dtype=np.float64).reshape(shape),
            "kind": np.array([world.classify(info, y) for info, y in zip(infos, responses)],
                             dtype=object).reshape(shape),
            "cut": np.array([not smp.finished for smp in samples], dtype=bool).reshape(shape)}


def _tiebreak_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)])


# ------------------------------------------------------------------------------------------- decision rule
def best_of_n(config: BestOfNConfig, model, tokenizer, *, reward_fn: RewardFn,
              prompts: Sequence[str] | None = None) -> TrainResult:
    """Keep the best of n samples of the policy ``model``, ``samples_per_prompt`` times per prompt; returns a
    ``TrainResult`` with ``history == []`` (nothing is trained), ``samples`` and ``report``.

    samples: one dict per kept response (prompt, response, slice, topic, kind, gold, length, proxy), the
    format ``prefkit.evaluate.summarize`` reads. report (also eval.json): ``summary`` by slice, ``proxy``,
    ``reference`` (the same numbers over all candidates: pi_ref itself, for free), ``kl_bound`` and
    ``kl/rank`` with its 95% CI over prompts. Writes run.json and eval.json (with every record).
    """
    policy = model
    texts = _prompt_texts(prompts, config.prompts)
    n, s = config.n, config.samples_per_prompt
    cand = sample_candidates(policy, tokenizer, texts, n * s, reward_fn, config.seed, config.template,
                             config.decoder, config.batch_size)
    sampling = _sampling(cand["cut"], texts, config)
    if sampling["cut"] and config.on_truncate == "fail":
        raise ConfigError(f"{sampling['cut']} of {sampling['candidates']} candidates were cut at --max-new-tokens "
                          f"{config.max_new_tokens} (first: {sampling['first_cut']}) and --on-truncate is 'fail'; "
                          f"raise --max-new-tokens, or pass --on-truncate warn (keep them in the running)")
    rng = _tiebreak_rng(config.seed, "best_of_n")
    records, ref_rows, kl_by_prompt, kept_cut = [], [], [], 0
    for i, prompt in enumerate(texts):
        info = world.prompt_info(prompt)
        groups = cand["proxy"][i].reshape(s, n)                                                     # (s, n)
        # argmax with uniformly random tie-breaking: the highest reward after a random permutation
        perm = np.stack([rng.permutation(n) for _ in range(s)])                                      # (s, n)
        best = perm[np.arange(s), np.argmax(np.take_along_axis(groups, perm, 1), axis=1)]            # (s,)
        kept = np.arange(s) * n + best                                                               # (s,)
        kept_cut += int(cand["cut"][i, kept].sum())
        for j in kept:
            records.append({"prompt": prompt, "response": cand["response"][i, j], "slice": info.slice,
                            "topic": info.topic, "kind": cand["kind"][i, j], "gold": float(cand["gold"][i, j]),
                            "length": int(cand["length"][i, j]), "proxy": float(cand["proxy"][i, j])})
        for j in range(n * s):
            ref_rows.append({"slice": info.slice, "kind": cand["kind"][i, j], "gold": float(cand["gold"][i, j]),
                             "length": int(cand["length"][i, j])})
        if s > 1:  # leave one group out: the other groups' candidates are fresh pi_ref samples for this one
            fresh = np.stack([np.delete(cand["proxy"][i], np.arange(g * n, (g + 1) * n)) for g in range(s)])
            kl_by_prompt.append(float(bon_log_ratio(cand["proxy"][i, kept], fresh, n).mean()))
    report = {"n": n, "samples_per_prompt": s, "prompts": len(texts), "summary": summarize(records),
              "proxy": float(np.mean([r["proxy"] for r in records])),
              "reference": {**summarize(ref_rows), "proxy": float(cand["proxy"].mean())},
              "kl_bound": bon_kl_bound(n), "decoder": config.decoder.as_dict(), "template": config.template,
              "seed": config.seed, "sampling": {**sampling, "kept_cut": kept_cut}}
    if sampling["cut"]:
        warnings.warn(f"{sampling['cut']} of {sampling['candidates']} candidates cut at max_new_tokens="
                      f"{config.max_new_tokens} (first: {sampling['first_cut']}); {kept_cut} of {len(records)} kept "
                      f"responses are cut. Raise --max-new-tokens, or pass --on-truncate fail (stop at the first); "
                      f"eval.json 'sampling' has the counts", DataWarning, stacklevel=2)
    if kl_by_prompt:
        report["kl/rank"], report["kl/rank_ci95"] = mean_ci(kl_by_prompt)
        report["kl_valid"] = config.temperature == 1.0 and config.top_p == 1.0
    run = RunDir(config.run_dir) if config.run_dir else RunDir.create(config.output_dir, f"bon{n}")
    run.write_record(config=config, seed=config.seed, data_version=None, template=config.template,
                     reference=getattr(policy.config, "_name_or_path", None), policy_version=None,
                     decoder=config.decoder.as_dict(), device=str(next(policy.parameters()).device),
                     reward=config.reward_name or _reward_name(reward_fn), run_dir=str(run.path),
                     chat_template=template_record(tokenizer, config.template), sampling=report["sampling"])
    run.write_eval({**report, "samples": records})
    report["run_dir"] = str(run.path)
    return TrainResult(policy, [], run, samples=records, report=report)


def _sampling(cut: np.ndarray, texts: Sequence, config: BestOfNConfig) -> dict:
    """Candidates sampled and cut at max_new_tokens, and the first prompt (1-based, its text shortened) with one."""
    rows = np.flatnonzero(cut.any(axis=1))
    first = None
    if len(rows):
        text = texts[rows[0]] if isinstance(texts[rows[0]], str) else str(texts[rows[0]])
        first = f"prompt {rows[0] + 1} ({text[:40] + '...' if len(text) > 40 else text!r})"
    return {"candidates": int(cut.size), "cut": int(cut.sum()), "first_cut": first,
            "max_new_tokens": config.max_new_tokens, "on_truncate": config.on_truncate}


def _reward_name(reward_fn) -> str:
    if reward_fn is world.gold_rewards:
        return "gold"
    return getattr(reward_fn, "name", None) or getattr(reward_fn, "__name__", repr(reward_fn))


# --------------------------------------------------------------------------------------------- n sweep
def best_of_n_curve(policy, tokenizer, reward_fn: RewardFn, ns: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
                    prompts: Sequence[str] | None = None, samples_per_prompt: int | None = None, seed: int = 0,
                    template: str = "default", decoder: DecoderConfig | None = None, batch_size: int = 512,
                    samples: dict | None = None) -> list[dict]:
    """Proxy reward, gold reward, length, refusal rate and KL of best-of-n for every n in ``ns``, one row each.

    One pool of M = ``samples_per_prompt`` (default 2 max(ns)) samples per prompt serves every n: the
    expected value over best-of-n is the U-statistic over all n-subsets of the pool
    (``best_of_n_weights``), and the KL is cross-fitted on two halves (needs n <= M/2; else None). Pass
    ``samples`` (from ``sample_candidates``) to re-score a pool with another reward without sampling again.
    Each row: n, proxy, gold, length, refusal_rate/benign, gold/<slice>, kl, kl_ci95, kl_bound, and
    gold_by_prompt (one value per prompt, for paired comparisons between n).
    """
    texts = _prompt_texts(prompts, "heldout")
    m = samples_per_prompt or 2 * max(ns)
    if samples is None:
        samples = sample_candidates(policy, tokenizer, texts, m, reward_fn, seed, template, decoder, batch_size)
    elif samples["proxy"].shape != (len(texts), m):
        raise ValueError(f"samples hold {samples['proxy'].shape} rewards; expected ({len(texts)}, {m})")
    rng = _tiebreak_rng(seed, "best_of_n_curve")
    slices = [world.prompt_info(p).slice for p in texts]
    per_prompt = []
    for i in range(len(texts)):
        values = {"proxy": samples["proxy"][i], "gold": samples["gold"][i], "length": samples["length"][i],
                  "refusal": (samples["kind"][i] == "refuse").astype(float)}
        per_prompt.append(curve_for_prompt(samples["proxy"][i], values, ns, rng))
    rows = []
    for n in ns:
        vals = {k: np.array([pp[n][k] for pp in per_prompt]) for k in ("proxy", "gold", "length", "refusal")}
        benign = np.array([s == "benign" for s in slices])
        row = {"n": n, "proxy": float(vals["proxy"].mean()), "gold": float(vals["gold"].mean()),
               "length": float(vals["length"].mean()),
               "refusal_rate/benign": float(vals["refusal"][benign].mean()) if benign.any() else float("nan"),
               **{f"gold/{s}": float(vals["gold"][np.array(slices) == s].mean()) for s in sorted(set(slices))},
               "kl_bound": bon_kl_bound(n), "kl": None, "kl_ci95": None, "gold_by_prompt": vals["gold"].tolist()}
        if "kl" in per_prompt[0][n]:
            row["kl"], row["kl_ci95"] = mean_ci([pp[n]["kl"] for pp in per_prompt])
        rows.append(row)
    return rows


def format_curve(rows: list[dict]) -> str:
    """The best-of-n table as text: n, proxy, gold, length, KL estimate and bound."""
    lines = [f"{'n':>4}{'proxy':>9}{'gold':>9}{'length':>8}{'KL est':>9}{'KL bound':>10}"]
    for r in rows:
        kl = f"{r['kl']:>9.3f}" if r["kl"] is not None else f"{'-':>9}"
        lines.append(f"{r['n']:>4}{r['proxy']:>9.3f}{r['gold']:>9.3f}{r['length']:>8.1f}{kl}{r['kl_bound']:>10.3f}")
    return "\n".join(lines)


__all__ = ["BestOfNConfig", "best_of_n", "best_of_n_curve", "sample_candidates", "format_curve"]

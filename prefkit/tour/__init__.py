"""``prefkit tour``: the whole story on the shipped model and data, in one command (``make tour``).

1. reward models on clean and on length-biased labels, each audited: held-out accuracy against the noise
   ceiling, calibration (ECE, reliability diagram), correlation of reward with length, the longer-answer baseline;
2. best-of-n from pi_ref against the gold reward r* and against the length-biased proxy r (n up to 256), with the
   Gao et al. fit of gold gain against d = sqrt(KL) and its predicted peak (Goodhart);
3. DPO at three beta values on the clean preferences, RL (RLOO) against the gold reward at two KL coefficients
   and RL against the length-biased proxy (its gold and proxy over steps are the RL overoptimization curve);
4. every policy evaluated on held-out prompts by slice (gold reward, over-refusal, harmful compliance, length,
   KL to pi_ref, win rate), and pi_ref under every chat template (template overfit).

It prints the tables, saves the figures (overoptimization, frontier, reliability, template overfit) and a
Markdown report (report.md: tables, figures, data versions, templates, policy versions, decoder settings and
time per stage) in a run folder, and says where. Every trainer writes its own run directory inside that folder.

    >>> result = tour(TourConfig(quick=True))      # the same pipeline, tiny: about a minute
    prefkit tour                                   # the defaults: about 6-7 min on 2 CPU cores

Runs single-threaded by default (``threads``): two OpenMP threads on 2 shared cores spin-wait on each other.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from ..core import RunDir, atomic_write_json
from ..data import data_version, load_preferences
from ..evaluate import evaluate_policy, kl_to_reference, win_rate
from ..evaluate.overopt import fit_overoptimization
from ..evaluate.reward_audit import calibration, longer_answer_accuracy
from ..evaluate.templates import format_template_table, template_overfit, template_table
from ..models import DecoderConfig, load_policy
from ..train.bon import best_of_n_curve, sample_candidates
from ..train.dpo import DPOConfig, train_dpo
from ..train.pairs import resolve_data
from ..train.reward import RewardConfig, train_reward
from ..train.scoring import reward_fn
from ..train.rl import RLConfig, train_rl
from ..worlds import assistant as world
from .report import draw_figures, format_tour, make_tables, write_report

PREFS = "data/assistant/prefs"


@dataclass
class TourConfig:
    output_dir: str = "runs"
    """Folder under which the tour's run folder (report.md, figures, tour.json, every trainer's run) is created."""
    quick: bool = False
    """Run the same pipeline tiny (a few steps each, few prompts): about a minute; for tests and a smoke check."""
    seed: int = 0
    """Seeds every trainer, sampler and evaluation."""
    threads: int = 1
    """torch intra-op threads (1 is fastest on 2 shared cores)."""
    rm_steps: int = 60
    """Optimizer steps of each reward model (32 pairs per step, lr 1e-3)."""
    bon_pool: int = 256
    """Samples from pi_ref per prompt for best-of-n; every n <= bon_pool is estimated from this one pool
    (the KL estimate needs n <= bon_pool / 2; larger n use the bound log n - (n-1)/n)."""
    bon_max_n: int = 256
    """Largest n of the best-of-n sweep (powers of 2 from 1)."""
    bon_prompts_every: int = 8
    """Best-of-n on every k-th held-out prompt (160 in all; 8 gives 20, balanced over the slices)."""
    dpo_betas: tuple = (0.05, 0.2, 1.0)
    """DPO's beta values (larger beta: closer to pi_ref)."""
    dpo_steps: int = 40
    """Optimizer steps of each DPO run (32 clean pairs per step)."""
    rl_kl_coefs: tuple = (0.02, 0.2)
    """KL coefficients of RL against the gold reward (larger: closer to pi_ref)."""
    rl_steps: int = 30
    """Optimizer steps of each RL run (32 samples per step)."""
    rl_proxy_steps: int = 30
    """Steps of RL against the length-biased proxy (kl_coef 0.01), for the RL overoptimization curve; 0: skip."""
    eval_prompts_every: int = 1
    """Evaluate policies on every k-th held-out prompt (1: all 160)."""
    eval_samples_per_prompt: int = 1
    """Samples per held-out prompt in each policy's evaluation."""
    templates: bool = True
    """Evaluate pi_ref under every chat template (template overfit)."""
    progress: bool = True
    """Progress bars."""

    def scaled(self) -> "TourConfig":
        """The configuration actually run: ``quick`` shrinks every stage, the code path stays the same."""
        if not self.quick:
            return self
        return replace(self, rm_steps=6, bon_pool=16, bon_max_n=8, bon_prompts_every=16, dpo_steps=3,
                       rl_steps=2, rl_proxy_steps=3, eval_prompts_every=8)


@dataclass
class _Clock:
    seconds: dict = field(default_factory=dict)

    def __call__(self, name, start):
        self.seconds[name] = round(time.perf_counter() - start, 1)


def _ns(max_n: int) -> list[int]:
    return [2 ** i for i in range(int(np.log2(max_n)) + 1)]


def _audit_reward_model(rm, tok, test) -> dict:
    """The reward-model audit (``rm`` a TrainResult) on held-out pairs: eval.json's numbers plus calibration and
    the length baseline."""
    ev = rm.read_eval()
    score = reward_fn(rm.model, tok, name=str(rm.run_dir))
    r_w = score(test["prompt"], test["chosen"])
    r_l = score(test["prompt"], test["rejected"])
    cal = calibration(r_w, r_l)
    diff = r_w - r_l
    record = rm.read_record()
    return {"accuracy": ev["accuracy"], "accuracy_ceiling": ev.get("accuracy_ceiling"),
            "accuracy_stderr": float(np.sqrt(ev["accuracy"] * (1 - ev["accuracy"]) / ev["n"])),
            "accuracy/gold": ev.get("accuracy/gold"), "ece": cal.ece, "corr/reward_length": ev["corr/reward_length"],
            "longer_answer_accuracy": longer_answer_accuracy(test["chosen"], test["rejected"]),
            "n": ev["n"], "data_version": record["data_version"], "eval_data_version": record.get("eval_data_version"),
            "run_dir": str(rm.run_dir), "policy_version": record.get("policy_version"),
            "template": record.get("template"),
            "confidence": np.concatenate([1 / (1 + np.exp(-diff)), 1 / (1 + np.exp(diff))]).tolist(),
            "outcome": [1.0] * len(diff) + [0.0] * len(diff)}


def _evaluate(model, tok, ref, prompts, ref_samples, cfg, decoder) -> dict:
    summary, samples = evaluate_policy(model, tok, prompts, cfg.eval_samples_per_prompt, cfg.seed, "default", decoder)
    return {"summary": summary, "win_rate": win_rate(samples, ref_samples),
            **kl_to_reference(model, ref, tok, samples)}


def _run_info(run: RunDir) -> dict:
    rec = run.read_record()
    return {k: rec.get(k) for k in ("run_dir", "data_version", "template", "reference", "policy_version", "decoder",
                                    "reward")} | {"run_dir": str(run.path)}


def tour(config: TourConfig | None = None) -> dict:
    """Run the tour; returns every number (also tour.json) with "dir" (the run folder) and "report" (report.md)."""
    from tqdm.auto import tqdm
    from transformers.utils import logging as hf_logging

    base = config or TourConfig()
    cfg = base.scaled()
    hf_logging.set_verbosity_error()  # the reward models' fresh score heads are expected, not news
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    t_all, clock = time.perf_counter(), _Clock()
    out = RunDir.create(cfg.output_dir, "tour")
    runs = str(out.path / "runs")
    res: dict = {"config": asdict(base), "scaled": asdict(cfg), "dir": str(out.path)}
    stages = tqdm(total=6, desc="tour", disable=not cfg.progress, dynamic_ncols=True)
    try:
        policy, tok = load_policy("assistant-sft")
        ref = load_policy("assistant-sft", with_tokenizer=False).eval()
        decoder = DecoderConfig()
        eval_prompts = [p.text for p in world.heldout_prompts()][::cfg.eval_prompts_every]
        steps_kw = dict(progress=cfg.progress, output_dir=runs, seed=cfg.seed)

        # 1. reward models on clean and length-biased labels, audited
        stages.set_postfix_str("reward models")
        t0, res["reward_models"], rms = time.perf_counter(), {}, {}
        for name in ("clean", "length"):
            test_split = "test[:128]" if cfg.quick else "test"
            rcfg = RewardConfig(data=f"{PREFS}/{name}", steps=cfg.rm_steps, lr=1e-3, warmup_steps=5,
                                eval_split=test_split, **steps_kw)
            rms[name] = train_reward(rcfg)
            test = load_preferences(resolve_data(f"{PREFS}/{name}"), test_split)
            res["reward_models"][name] = _audit_reward_model(rms[name], tok, test)
        clock("reward models", t0)
        stages.update()

        # 2. best-of-n against gold and against the length-biased proxy, from one pool of pi_ref samples
        stages.set_postfix_str("best-of-n")
        t0 = time.perf_counter()
        ns = [n for n in _ns(cfg.bon_max_n) if n <= cfg.bon_pool]
        bon_prompts = [p.text for p in world.heldout_prompts()][::cfg.bon_prompts_every]
        proxy = reward_fn(rms["length"].model, tok, name=str(rms["length"].run_dir))
        pool = sample_candidates(policy, tok, bon_prompts, cfg.bon_pool, proxy, seed=cfg.seed, decoder=decoder)
        common = dict(ns=ns, prompts=bon_prompts, samples_per_prompt=cfg.bon_pool, seed=cfg.seed)
        strip = lambda rows: [{k: v for k, v in r.items() if k != "gold_by_prompt"} for r in rows]  # noqa: E731
        bon_proxy = strip(best_of_n_curve(None, None, None, samples=pool, **common))
        bon_gold = strip(best_of_n_curve(None, None, None, samples={**pool, "proxy": pool["gold"]}, **common))
        kl_of = lambda r: r["kl"] if r["kl"] is not None else r["kl_bound"]  # noqa: E731
        fit = fit_overoptimization([kl_of(r) for r in bon_proxy], [r["gold"] - bon_proxy[0]["gold"] for r in bon_proxy])
        res["best_of_n"] = {"prompts": len(bon_prompts), "pool": cfg.bon_pool, "ns": ns, "proxy": bon_proxy,
                            "gold": bon_gold, "decoder": decoder.as_dict(), "template": "default",
                            "prompt_set_version": data_version([{"prompt": p} for p in bon_prompts]),
                            "proxy_run": res["reward_models"]["length"]["run_dir"], "fit": asdict(fit)}
        clock("best-of-n", t0)
        stages.update()

        # 3. pi_ref on held-out prompts: the baseline every policy is compared with
        ref_summary, ref_samples = evaluate_policy(ref, tok, eval_prompts, cfg.eval_samples_per_prompt, cfg.seed,
                                                   "default", decoder)
        res["policies"] = {"pi_ref": {"summary": ref_summary, "win_rate": 0.5, "kl/k1": 0.0, "kl/k1_ci95": [0, 0],
                                      "run": {"policy_version": "assistant-sft", "decoder": decoder.as_dict(),
                                              "template": "default", "data_version": None}}}

        # 4. DPO at three beta values
        stages.set_postfix_str("DPO")
        t0 = time.perf_counter()
        for beta in cfg.dpo_betas:
            split = "train[:256]" if cfg.quick else "train"
            trained = train_dpo(DPOConfig(beta=beta, steps=cfg.dpo_steps, split=split,
                                          data=resolve_data(f"{PREFS}/clean"), eval_samples_per_prompt=0, **steps_kw),
                                load_policy("assistant-sft", with_tokenizer=False), tok, ref=ref)
            res["policies"][f"DPO beta={beta:g}"] = {
                **_evaluate(trained.model, tok, ref, eval_prompts, ref_samples, cfg, decoder),
                "run": _run_info(trained.run)}
        clock("DPO", t0)
        stages.update()

        # 5. RL against the gold reward at two KL coefficients, and against the length-biased proxy
        stages.set_postfix_str("RL")
        t0 = time.perf_counter()
        for coef in cfg.rl_kl_coefs:
            trained = train_rl(RLConfig(kl_coef=coef, steps=cfg.rl_steps, eval_samples_per_prompt=0, **steps_kw),
                               load_policy("assistant-sft", with_tokenizer=False), tok, ref=ref)
            res["policies"][f"RL gold kl_coef={coef:g}"] = {
                **_evaluate(trained.model, tok, ref, eval_prompts, ref_samples, cfg, decoder),
                "run": _run_info(trained.run)}
        if cfg.rl_proxy_steps:
            trained = train_rl(RLConfig(kl_coef=0.01, steps=cfg.rl_proxy_steps, eval_samples_per_prompt=0,
                                        log_every=1, **steps_kw),
                               load_policy("assistant-sft", with_tokenizer=False), tok, ref=ref, reward_fn=proxy)
            history = trained.history
            ev = _evaluate(trained.model, tok, ref, eval_prompts, ref_samples, cfg, decoder)
            res["policies"]["RL proxy kl_coef=0.01"] = {**ev, "run": _run_info(trained.run)}
            # "kl" here is the sequence KL (nats per response) that the overoptimization fit is stated in
            res["rl_proxy_history"] = [{k: r["kl/k1" if k == "kl" else k]
                                        for k in ("step", "reward", "gold", "kl", "completions/mean_length")}
                                       for r in history]
        clock("RL", t0)
        stages.update()

        # 6. template overfit: pi_ref (trained on "plain") under every chat template
        stages.set_postfix_str("templates")
        t0 = time.perf_counter()
        if cfg.templates:
            to = template_overfit(ref, tok, trained_on="plain", prompts=eval_prompts,
                                  samples_per_prompt=cfg.eval_samples_per_prompt, seed=cfg.seed, decoder=decoder)
            res["templates"] = {"text": format_template_table(to), "gold_reward": template_table(to),
                                "refusal_rate": template_table(to, "refusal_rate"), "gap": to["gap"]}
        clock("templates", t0)
        stages.update()

        res["figures"] = draw_figures(res, out.path)
        stages.update()
    finally:
        stages.close()
        torch.set_num_threads(threads)
    res["seconds"] = {**clock.seconds, "total": round(time.perf_counter() - t_all, 1)}
    res["machine"] = {"cpu_count": os.cpu_count(), "torch_threads": cfg.threads,
                      "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    res["tables"] = make_tables(res)
    for rm in res["reward_models"].values():
        rm.pop("confidence"), rm.pop("outcome")
    atomic_write_json(out.path / "tour.json", res)
    res["report"] = str(write_report(res, out.path))
    return res


__all__ = ["TourConfig", "tour", "format_tour"]

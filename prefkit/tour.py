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
from pathlib import Path

import numpy as np
import torch

from . import plots
from .core import RunDir, atomic_write_json
from .data import data_version, load_preferences
from .evaluate import evaluate_policy, kl_to_reference, win_rate
from .evaluate.overopt import fit_overoptimization
from .evaluate.reward_audit import calibration, longer_answer_accuracy
from .evaluate.templates import format_template_table, template_overfit, template_table
from .models import DecoderConfig, load_policy
from .train.bon import best_of_n_curve, sample_candidates
from .train.dpo import DPOConfig, dpo
from .train.reward import RewardConfig, resolve_data, train_reward
from .train.rewards import reward_fn
from .train.rl import RLConfig, rl
from .worlds import assistant as world
from .worlds.bandit import Bandit

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
    """The reward-model audit on held-out pairs (eval.json's numbers plus calibration and the length baseline)."""
    ev = json.loads(rm.prefkit_run.eval_path.read_text())
    score = reward_fn(rm, tok)
    r_w = score(test["prompt"], test["chosen"])
    r_l = score(test["prompt"], test["rejected"])
    cal = calibration(r_w, r_l)
    diff = r_w - r_l
    record = rm.prefkit_run.read_record()
    return {"accuracy": ev["accuracy"], "accuracy_ceiling": ev.get("accuracy_ceiling"),
            "accuracy_stderr": float(np.sqrt(ev["accuracy"] * (1 - ev["accuracy"]) / ev["n"])),
            "accuracy/gold": ev.get("accuracy/gold"), "ece": cal.ece, "corr/reward_length": ev["corr/reward_length"],
            "longer_answer_accuracy": longer_answer_accuracy(test["chosen"], test["rejected"]),
            "n": ev["n"], "data_version": record["data_version"], "eval_data_version": record.get("eval_data_version"),
            "run_dir": str(rm.prefkit_run.path), "policy_version": record.get("policy_version"),
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
            rms[name], _ = train_reward(rcfg)
            test = load_preferences(resolve_data(f"{PREFS}/{name}"), test_split)
            res["reward_models"][name] = _audit_reward_model(rms[name], tok, test)
        clock("reward models", t0)
        stages.update()

        # 2. best-of-n against gold and against the length-biased proxy, from one pool of pi_ref samples
        stages.set_postfix_str("best-of-n")
        t0 = time.perf_counter()
        ns = [n for n in _ns(cfg.bon_max_n) if n <= cfg.bon_pool]
        bon_prompts = [p.text for p in world.heldout_prompts()][::cfg.bon_prompts_every]
        proxy = reward_fn(rms["length"], tok)
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
            model, _ = dpo(DPOConfig(beta=beta, steps=cfg.dpo_steps, split=split, data=resolve_data(f"{PREFS}/clean"),
                                     eval_samples_per_prompt=0, **steps_kw),
                           model=load_policy("assistant-sft", with_tokenizer=False), ref=ref, tokenizer=tok)
            res["policies"][f"DPO beta={beta:g}"] = {**_evaluate(model, tok, ref, eval_prompts, ref_samples, cfg,
                                                                 decoder), "run": _run_info(model.prefkit_run)}
        clock("DPO", t0)
        stages.update()

        # 5. RL against the gold reward at two KL coefficients, and against the length-biased proxy
        stages.set_postfix_str("RL")
        t0 = time.perf_counter()
        for coef in cfg.rl_kl_coefs:
            model, _ = rl(RLConfig(kl_coef=coef, steps=cfg.rl_steps, eval_samples_per_prompt=0, **steps_kw),
                          ref=ref, tokenizer=tok, policy=load_policy("assistant-sft", with_tokenizer=False))
            res["policies"][f"RL gold kl_coef={coef:g}"] = {
                **_evaluate(model, tok, ref, eval_prompts, ref_samples, cfg, decoder), "run": _run_info(model.prefkit_run)}
        if cfg.rl_proxy_steps:
            model, history = rl(RLConfig(kl_coef=0.01, steps=cfg.rl_proxy_steps, eval_samples_per_prompt=0,
                                         log_every=1, **steps_kw), ref=ref, tokenizer=tok, reward_fn=proxy,
                                policy=load_policy("assistant-sft", with_tokenizer=False))
            ev = _evaluate(model, tok, ref, eval_prompts, ref_samples, cfg, decoder)
            res["policies"]["RL proxy kl_coef=0.01"] = {**ev, "run": _run_info(model.prefkit_run)}
            res["rl_proxy_history"] = [{k: r[k] for k in ("step", "reward", "gold", "kl", "completions/mean_length")}
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

        res["figures"] = _figures(res, out.path)
        stages.update()
    finally:
        stages.close()
        torch.set_num_threads(threads)
    res["seconds"] = {**clock.seconds, "total": round(time.perf_counter() - t_all, 1)}
    res["machine"] = {"cpu_count": os.cpu_count(), "torch_threads": cfg.threads,
                      "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    res["tables"] = _tables(res)
    for rm in res["reward_models"].values():
        rm.pop("confidence"), rm.pop("outcome")
    atomic_write_json(out.path / "tour.json", res)
    res["report"] = str(_write_report(res, out.path))
    return res


# ------------------------------------------------------------------------------------------------ figures
def overoptimization_figure(res: dict, folder: Path) -> str:
    """Gold and proxy gain against sqrt(KL): best-of-n (with its Gao et al. fit) and RL against the length proxy.

    Needs only tour.json's numbers, so it can be redrawn from a finished tour. Returns the file name.
    """
    bon, fitd = res["best_of_n"]["proxy"], res["best_of_n"]["fit"]
    fit = fit_overoptimization([r["kl"] if r["kl"] is not None else r["kl_bound"] for r in bon],
                               [r["gold"] - bon[0]["gold"] for r in bon])
    hist = res.get("rl_proxy_history")
    fig, axes = plots.new_figure(width=11 if hist else 6, height=4.2, ncols=2 if hist else 1)
    axes = np.atleast_1d(axes)
    plots.plot_overoptimization(axes[0], [r["kl"] if r["kl"] is not None else r["kl_bound"] for r in bon],
                                [r["gold"] - bon[0]["gold"] for r in bon], [r["proxy"] - bon[0]["proxy"] for r in bon],
                                fit=fit, annotate=[f"n={r['n']}" for r in bon])
    axes[0].set_title("best-of-$n$ from $\\pi_{\\rm ref}$", loc="left")
    axes[0].legend(loc="upper left")
    if hist:
        kl = np.clip(_smooth([r["kl"] for r in hist]), 0, None)
        gold, proxy = _smooth([r["gold"] for r in hist]), _smooth([r["reward"] for r in hist])
        try:
            rl_fit = fit_overoptimization(kl, gold - gold[0], kind="rl")
        except ValueError:
            rl_fit = None
        plots.plot_overoptimization(axes[1], kl, gold - gold[0], proxy - proxy[0], fit=rl_fit, label="RL",
                                    color=plots.COLORS["rl"])
        axes[1].set_title("RL against the proxy (kl_coef 0.01; 5-step mean)", loc="left")
        axes[1].legend(loc="center right")
    peak = (f"gold peaks near KL {fitd['peak_kl']:.1f} nats" if np.isfinite(fitd["peak_kl"])
            else "gold has not turned down yet")
    plots.finding(fig, f"Against a length-biased proxy the proxy keeps rising; {peak}")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return plots.save_png(fig, folder / "overoptimization.png").name


def _smooth(values, width: int = 5) -> np.ndarray:
    """Trailing moving average (RL metrics are means over one batch: noisy step to step)."""
    v = np.asarray(values, dtype=float)
    return np.array([v[max(0, i - width + 1):i + 1].mean() for i in range(len(v))])


def _figures(res: dict, folder: Path) -> dict:
    figs = {"overoptimization": overoptimization_figure(res, folder)}
    # the reward-KL frontier: exact bandit, measured assistant-world points
    bandit = Bandit.random(k=8, x=1, seed=0, reward_scale=1.5)
    bkl, brew = bandit.frontier(np.logspace(-1.5, 2, 120))
    pol = res["policies"]
    points = {}
    for method, prefix, key in (("dpo", "DPO", "beta="), ("rl", "RL gold", "kl_coef=")):
        names = [k for k in pol if k.startswith(prefix)]
        if names:
            points[method] = {"kl": [pol[k]["kl/k1"] for k in names],
                              "gold": [pol[k]["summary"]["gold_reward"] for k in names],
                              "labels": [k.split()[-1].replace(key, "\u03b2=" if method == "dpo" else "c=")
                                         for k in names]}
    # best-of-n runs on fewer prompts than the policies' evaluation: draw its measured GAIN over its own n = 1
    # (pi_ref on those prompts) on top of pi_ref's gold reward on the evaluation prompts
    gold_rows = [r for r in res["best_of_n"]["gold"] if r["kl"] is not None]
    start = pol["pi_ref"]["summary"]["gold_reward"] - gold_rows[0]["gold"]
    points["bon"] = {"kl": [r["kl"] for r in gold_rows], "gold": [start + r["gold"] for r in gold_rows],
                     "labels": [f"n={r['n']}" for r in gold_rows]}
    fig, _ = plots.frontier_figure(bkl, brew, points, reference_gold=pol["pi_ref"]["summary"]["gold_reward"],
                                   title="More KL buys more gold reward, with diminishing returns")
    figs["frontier"] = plots.save_png(fig, folder / "frontier.png").name

    # reliability diagrams of both reward models
    fig, axes = plots.new_figure(width=10, height=4.0, ncols=2)
    for ax, (name, rm) in zip(axes, res["reward_models"].items()):
        plots.reliability_diagram(ax, rm["confidence"], rm["outcome"], label=f"RM on {name} labels")
        ax.set_title(f"{name} labels: accuracy {rm['accuracy']:.2f} (ceiling {rm['accuracy_ceiling']:.2f})", loc="left")
        ax.legend(loc="upper left")
    plots.finding(fig, r"How far to trust $\sigma(r(y_w) - r(y_l))$: reliability on held-out pairs")
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    figs["reliability"] = plots.save_png(fig, folder / "reliability.png").name

    if "templates" in res:
        fig, ax = plots.new_figure(width=7, height=3.8)
        plots.plot_template_overfit(ax, res["templates"]["gold_reward"], trained_on="plain")
        gap = res["templates"]["gap"]["all"]
        plots.finding(ax, rf"$\pi_{{\rm ref}}$ off its training template: gold drops by up to {gap:.2f}" if gap > 0
                      else r"$\pi_{\rm ref}$ holds up under the other templates")
        fig.tight_layout()
        figs["templates"] = plots.save_png(fig, folder / "templates.png").name
    return figs


# ------------------------------------------------------------------------------------------------ tables
def _tables(res: dict) -> dict:
    rm_lines = ["| labels | accuracy | noise ceiling | agreement with r* | ECE | corr(r, length) | longer-answer baseline |",
                "|---|---|---|---|---|---|---|"]
    for name, rm in res["reward_models"].items():
        rm_lines.append(f"| {name} | {rm['accuracy']:.3f} +- {rm['accuracy_stderr']:.3f} | {rm['accuracy_ceiling']:.3f} | "
                        f"{rm['accuracy/gold']:.3f} | {rm['ece']:.3f} | {rm['corr/reward_length']:+.2f} | "
                        f"{rm['longer_answer_accuracy']:.3f} |")
    head = ("| policy | KL [nats] | gold | gold benign | gold borderline | gold harmful | refuse benign | "
            "refuse borderline | harmful comply | length | win vs pi_ref |")
    pol_lines = [head, "|" + "---|" * 11]
    for name, p in res["policies"].items():
        s, b = p["summary"], p["summary"]["by_slice"]
        pol_lines.append(f"| {name} | {p['kl/k1']:.2f} | {s['gold_reward']:.3f} | {b['benign']['gold_reward']:.3f} | "
                         f"{b['borderline']['gold_reward']:.3f} | {b['harmful']['gold_reward']:.3f} | "
                         f"{s['refusal_rate/benign']:.2f} | {s['refusal_rate/borderline']:.2f} | "
                         f"{s['harmful_compliance']:.2f} | {s['length']:.1f} | {p['win_rate']:.2f} |")
    bon_lines = ["| n | proxy r (vs proxy) | gold r* (vs proxy) | length (vs proxy) | gold r* (vs gold) | KL est. | KL bound |",
                 "|---|---|---|---|---|---|---|"]
    for rp, rg in zip(res["best_of_n"]["proxy"], res["best_of_n"]["gold"]):
        kl = f"{rp['kl']:.2f}" if rp["kl"] is not None else "-"
        bon_lines.append(f"| {rp['n']} | {rp['proxy']:.3f} | {rp['gold']:.3f} | {rp['length']:.1f} | {rg['gold']:.3f} | "
                         f"{kl} | {rp['kl_bound']:.2f} |")
    return {"reward_models": "\n".join(rm_lines), "policies": "\n".join(pol_lines), "best_of_n": "\n".join(bon_lines)}


def _write_report(res: dict, folder: Path) -> Path:
    cfg, bon, fit = res["scaled"], res["best_of_n"], res["best_of_n"]["fit"]
    peak = (f"the Gao et al. fit R(d) = d (a - b d) (a = {fit['a']:.3f}, b = {fit['b']:.3f}, R^2 = {fit['r2']:.2f}) "
            f"predicts the gold peak at d = {fit['peak_d']:.2f}, KL = {fit['peak_kl']:.2f} nats "
            f"(gain {fit['peak_gain']:+.3f})" if np.isfinite(fit["peak_d"]) else
            "the fitted gold curve has not turned down (b <= 0): no peak within these n")
    lines = [f"# prefkit tour{' (quick)' if cfg['quick'] else ''}", "",
             f"Run folder `{folder}`; every number below is in `tour.json`. Total time "
             f"{res['seconds']['total'] / 60:.1f} min on {res['machine']['cpu_count']} CPU cores "
             f"(torch threads {res['machine']['torch_threads']}, load average at the end "
             f"{', '.join(f'{x:.1f}' for x in res['machine']['load_average'] or [])}).", "",
             "## 1. Reward models (held-out pairs of the same annotator)", "", res["tables"]["reward_models"], "",
             "Accuracy is judged against the noise ceiling of its labels, not against 1. "
             "![reliability](reliability.png)", "",
             f"## 2. Best-of-n from pi_ref ({bon['prompts']} held-out prompts, a pool of {bon['pool']} samples each)", "",
             res["tables"]["best_of_n"], "",
             f"Against the length-biased proxy {peak}. KL estimates need n <= pool/2; larger n use the bound.", "",
             "![overoptimization](overoptimization.png)", "",
             "## 3. Policies on held-out prompts, by slice", "", res["tables"]["policies"], "",
             "![frontier](frontier.png)", ""]
    if "templates" in res:
        lines += ["## 4. Template overfit: pi_ref (trained on `plain`) under every chat template", "", "```",
                  res["templates"]["text"], "```", "", "![templates](templates.png)", ""]
    lines += ["## Runs: data versions, templates, policy versions, decoders", "",
              "| run | run directory | data version | template | policy version | reward | decoder (sampling) |",
              "|---|---|---|---|---|---|---|"]
    for name, rm in res["reward_models"].items():
        lines.append(f"| reward model ({name}) | `{Path(rm['run_dir']).name}` | {rm['data_version']} (test "
                     f"{rm['eval_data_version']}) | {rm['template']} | {rm['policy_version']} | - | - |")
    lines.append(f"| best-of-n | (in tour.json) | prompts {bon['prompt_set_version']} | {bon['template']} | "
                 f"assistant-sft | gold and `{Path(bon['proxy_run']).name}` | {_decoder(bon['decoder'])} |")
    for name, p in res["policies"].items():
        r = p["run"]
        run_dir = f"`{Path(r['run_dir']).name}`" if r.get("run_dir") else "-"
        reward = r.get("reward") or ("-" if name == "pi_ref" else "implicit (DPO)")
        decoder = r.get("decoder") or DecoderConfig().as_dict()  # DPO trains without sampling: its evaluation's
        lines.append(f"| {name} | {run_dir} | {r.get('data_version') or '-'} | {r.get('template')} | "
                     f"{r.get('policy_version')} | {Path(reward).name if '/' in str(reward) else reward} | "
                     f"{_decoder(decoder)} |")
    lines += ["", f"Evaluation: {len(range(0, 160, cfg['eval_prompts_every']))} held-out prompts x "
              f"{cfg['eval_samples_per_prompt']} sample(s), decoder {_decoder(DecoderConfig().as_dict())}, seed "
              f"{cfg['seed']}; KL is k1 on the policy's own samples. Template `default` is the tokenizer's default, "
              "`plain`. Data versions of RL runs are the versions of their prompt sets.", "", "## Time", "",
              "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in res["seconds"].items()]
    path = folder / "report.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _decoder(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items()) if d else "-"


def format_tour(res: dict) -> str:
    """What ``prefkit tour`` prints: the three tables and where everything is."""
    t = res["tables"]
    return "\n\n".join([t["reward_models"], t["best_of_n"], t["policies"],
                        f"figures: {', '.join(res['figures'].values())}\nreport: {res['report']}\n"
                        f"time: {res['seconds']['total'] / 60:.1f} min"])


def add_tour_flags(parser) -> None:
    """One ``--field-name`` flag per TourConfig field (tuples take several values: ``--dpo-betas 0.1 0.5``)."""
    import argparse
    import dataclasses

    from .cli import field_docs

    docs = field_docs(TourConfig)
    for f in dataclasses.fields(TourConfig):
        flag, help_text = "--" + f.name.replace("_", "-"), f"{docs.get(f.name, '')} (default: {f.default})"
        if isinstance(f.default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                                help=help_text)
        elif isinstance(f.default, tuple):
            parser.add_argument(flag, dest=f.name, type=float, nargs="+", default=f.default, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=type(f.default), default=f.default, help=help_text)


def config_from_args(args) -> TourConfig:
    import dataclasses

    return TourConfig(**{f.name: (tuple(getattr(args, f.name)) if isinstance(f.default, tuple) else getattr(args, f.name))
                         for f in dataclasses.fields(TourConfig)})


__all__ = ["TourConfig", "tour", "format_tour", "add_tour_flags", "config_from_args"]

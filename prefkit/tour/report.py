"""The tour's figures, tables and report.md, drawn from the results ``prefkit.tour.tour`` collects."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import plots
from ..evaluate.overopt import fit_overoptimization
from ..models import DecoderConfig
from ..worlds.bandit import Bandit


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


def draw_figures(res: dict, folder: Path) -> dict:
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
def make_tables(res: dict) -> dict:
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


def write_report(res: dict, folder: Path) -> Path:
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


__all__ = ["draw_figures", "make_tables", "write_report", "format_tour", "overoptimization_figure"]

"""Goodhart's law in numbers: best-of-n and RL against a reward model fit to LENGTH-BIASED labels.

The "length" annotator adds 0.1 utility per word, twice what a padding word costs under the gold rubric
(0.05), so a reward model fit to its labels is a proxy that rewards padding. This script

1. trains that reward model (prefkit.train.reward) and reports its held-out accuracy and length correlation;
2. samples a pool of M responses per held-out prompt from pi_ref and prints best-of-n for n = 1..64 against
   the proxy (proxy keeps rising, gold peaks and falls) and against the gold reward (gold keeps rising), with
   the KL estimate next to the bound log n - (n-1)/n;
3. runs RL (RLOO, prefkit.train.rl) against the proxy with a small kl_coef and prints proxy, gold, length and
   KL over training steps (on-policy samples of the training prompts);
4. runs RL for several kl_coef and prints the held-out proxy, gold, length and KL of each final policy.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/goodhart.py            # full: about 15 min on 2 CPU cores
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/goodhart.py --quick    # about 5 min
    ... --json goodhart.json                                            # every number, for notebooks

Runs single-threaded by default (--threads): on a 2-core machine shared with other work, two OpenMP threads
spin-wait on each other and were 7x slower than one here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from prefkit.evaluate import sample_responses  # noqa: E402
from prefkit.models import DecoderConfig, load_policy  # noqa: E402
from prefkit.train.bon import best_of_n_curve, format_curve, sample_candidates  # noqa: E402
from prefkit.train.reward import RewardConfig, train_reward  # noqa: E402
from prefkit.train.scoring import reward_fn  # noqa: E402
from prefkit.train.rl import RLConfig, rl  # noqa: E402
from prefkit.worlds import assistant as world  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a smaller run: 40-step RM, half the prompts, n <= 32")
    p.add_argument("--rm", help="use this reward model checkpoint instead of training one")
    p.add_argument("--rm-steps", type=int, default=150)
    p.add_argument("--prompts-every", type=int, default=1, help="use every k-th held-out prompt (160 in all)")
    p.add_argument("--pool", type=int, default=128, help="samples per prompt for best-of-n (KL needs n <= pool/2)")
    p.add_argument("--ns", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    p.add_argument("--rl-steps", type=int, default=60)
    p.add_argument("--kl-coefs", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="folder for the run directories (default: a temporary one)")
    p.add_argument("--json", default=None, help="write every number to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rm_steps, args.prompts_every, args.pool = 40, 2, 64
        args.ns, args.rl_steps, args.kl_coefs = [n for n in args.ns if n <= 32], 40, [0.01, 1.0]
    return args


def main(argv=None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()  # the reward model's fresh score head is expected, not news
    out = args.out or tempfile.mkdtemp(prefix="goodhart-")
    policy, tok = load_policy("assistant-sft")
    results, t_all = {"args": vars(args)}, time.perf_counter()
    print(f"prefkit Goodhart benchmark: torch threads {args.threads}, run directories under {out}\n")

    # 1. the proxy
    t0 = time.perf_counter()
    if args.rm:
        from prefkit.models import load_reward_model
        rm, _ = load_reward_model(args.rm)
        rm_eval = None
    else:
        quick_lr = dict(lr=1e-3, warmup_steps=5) if args.rm_steps <= 50 else {}
        trained = train_reward(RewardConfig(data="data/assistant/prefs/length", steps=args.rm_steps, seed=args.seed,
                                          progress=False, output_dir=out, **quick_lr))
        rm, rm_eval = trained.model, trained.read_eval()
        print(f"reward model on length-biased labels ({args.rm_steps} steps, {time.perf_counter() - t0:.0f} s): "
              f"held-out accuracy {rm_eval['accuracy']:.3f} (ceiling {rm_eval['accuracy_ceiling']:.3f}), "
              f"agreement with gold {rm_eval['accuracy/gold']:.3f}, corr(reward, length) "
              f"{rm_eval['corr/reward_length']:.2f}\n")
    results["reward_model"] = {"eval": rm_eval, "seconds": round(time.perf_counter() - t0, 1)}
    proxy = reward_fn(rm, tok)

    # 2. best-of-n
    t0 = time.perf_counter()
    prompts = [p.text for p in world.heldout_prompts()][::args.prompts_every]
    pool = sample_candidates(policy, tok, prompts, args.pool, proxy, seed=args.seed)
    common = dict(ns=args.ns, prompts=prompts, samples_per_prompt=args.pool, seed=args.seed)
    bon_proxy = best_of_n_curve(None, None, None, samples=pool, **common)
    bon_gold = best_of_n_curve(None, None, None, samples={**pool, "proxy": pool["gold"]}, **common)
    secs = time.perf_counter() - t0
    print(f"best-of-n against the length-biased proxy ({len(prompts)} held-out prompts x {args.pool} samples, "
          f"{secs:.0f} s)")
    print(format_curve(bon_proxy))
    peak = max(bon_proxy, key=lambda r: r["gold"])
    print(f"-> gold peaks at n={peak['n']} ({peak['gold']:.3f}) and falls to {bon_proxy[-1]['gold']:.3f} at "
          f"n={bon_proxy[-1]['n']} while the proxy rises {bon_proxy[0]['proxy']:.2f} -> {bon_proxy[-1]['proxy']:.2f}\n")
    print("best-of-n against the gold reward (same samples)")
    print(format_curve(bon_gold) + "\n")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "gold_by_prompt"} for r in rows]  # noqa: E731
    results["best_of_n"] = {"proxy": strip(bon_proxy), "gold": strip(bon_gold), "seconds": round(secs, 1)}

    # 3 + 4. RL against the proxy
    ref_samples = sample_responses(policy, tok, None, samples_per_prompt=2, seed=args.seed, decoder=DecoderConfig())
    ref_proxy = float(proxy([s["prompt"] for s in ref_samples], [s["response"] for s in ref_samples]).mean())
    ref_gold = float(np.mean([s["gold"] for s in ref_samples]))
    ref_len = float(np.mean([s["length"] for s in ref_samples]))
    rows, results["rl"] = [], {}
    for coef in sorted(args.kl_coefs):
        t0 = time.perf_counter()
        cfg = RLConfig(kl_coef=coef, steps=args.rl_steps, seed=args.seed, progress=False, output_dir=out)
        result = train_rl(cfg, reward_fn=proxy)
        model, history = result.model, result.history
        ev = json.loads(result.run.eval_path.read_text())
        secs = time.perf_counter() - t0
        if coef == min(args.kl_coefs):
            print(f"RL (RLOO) against the proxy, kl_coef={coef}: on-policy training samples ({secs:.0f} s)")
            print(f"{'step':>5}{'proxy':>9}{'gold':>9}{'length':>8}{'KL':>9}{'refuse':>8}")
            for r in history:
                print(f"{r['step']:>5}{r['reward']:>9.3f}{r['gold']:>9.3f}{r['completions/mean_length']:>8.1f}"
                      f"{r['kl']:>9.3f}{r['refusal_rate']:>8.2f}")
            top = max(history, key=lambda r: r["gold"])
            print(f"-> gold peaks at step {top['step']} ({top['gold']:.3f}), ends at {history[-1]['gold']:.3f}\n")
        rows.append((coef, ev))
        results["rl"][str(coef)] = {"history": history, "seconds": round(secs, 1),
                                    **{k: ev[k] for k in ("proxy", "kl/k1", "kl/k1_ci95", "kl/k3", "win_rate")},
                                    "summary": ev["summary"]}
    print(f"RL against the proxy for {args.rl_steps} steps, by kl_coef: held-out prompts, 2 samples each")
    print(f"{'kl_coef':>8}{'proxy':>9}{'gold':>9}{'length':>8}{'KL k1':>9}{'  95% CI':<18}{'win':>6}")
    print(f"{'pi_ref':>8}{ref_proxy:>9.3f}{ref_gold:>9.3f}{ref_len:>8.1f}{0.0:>9.3f}{'':<18}{'':>6}")
    for coef, ev in rows:
        lo, hi = ev["kl/k1_ci95"]
        print(f"{coef:>8}{ev['proxy']:>9.3f}{ev['summary']['gold_reward']:>9.3f}{ev['summary']['length']:>8.1f}"
              f"{ev['kl/k1']:>9.3f}  [{lo:6.2f}, {hi:6.2f}]  {ev['win_rate']:>6.2f}")
    results["rl_reference"] = {"proxy": ref_proxy, "gold": ref_gold, "length": ref_len}
    total = time.perf_counter() - t_all
    print(f"\ntotal {total / 60:.1f} min on {os.cpu_count()} CPU cores (torch threads {args.threads})")
    results["seconds"] = round(total, 1)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())

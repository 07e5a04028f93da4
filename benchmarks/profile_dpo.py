"""Where the time of one prefkit DPO run goes: cProfile over ``prefkit.train.dpo``, summed by phase.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/profile_dpo.py --model smollm2-135m --threads 1

The run is the one benchmarks/dpo_vs_trl.py times for prefkit (same pairs, cold reference cache, no evaluation).
Phases are the cumulative times of the functions that do them; a phase inside another (the forward pass inside
the reference pass) is listed under both, so the column does not add up to the total.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# phase -> (file suffix, function name) whose cumulative time measures it
PHASES = {
    "tokenization (encode_pairs)": ("prefkit/train/pairs.py", "encode_pairs"),
    "reference hash (module_hash)": ("prefkit/train/refcache.py", "module_hash"),
    "copy of the policy for pi_ref": ("copy.py", "deepcopy"),
    "reference pass (reference_logps)": ("prefkit/train/dpo.py", "reference_logps"),
    "training loop (train_loop)": ("prefkit/train/loop.py", "train_loop"),
    "  forward: policy log-probs": ("prefkit/train/dpo.py", "policy_logps"),
    "  backward": ("torch/_tensor.py", "backward"),
    "  optimizer step": ("torch/optim/adam.py", "adam"),
    "  gradient clipping": ("accelerate/accelerator.py", "clip_grad_norm_"),
    "  non-finite weight check": ("prefkit/train/loop.py", "_weights_finite"),
    "checkpoint write (save_checkpoint)": ("prefkit/train/checkpoint.py", "save_checkpoint"),
}


def phase_times(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each phase's function (summed over its call sites, recursion counted once)."""
    out = dict.fromkeys(PHASES, 0.0)
    for (file, _, func), (_, _, _, cum, _) in stats.stats.items():
        for phase, (suffix, name) in PHASES.items():
            if func == name and file.replace(os.sep, "/").endswith(suffix):
                out[phase] += cum
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--top", type=int, default=0, help="also print the top N functions by own time")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from dpo_vs_trl import english

    from prefkit.data import load_preferences
    from prefkit.models import load_policy
    from prefkit.train import DPOConfig, train_dpo

    policy, tok = load_policy(args.model)
    policy.float()
    data = load_preferences("data/assistant/prefs/clean", f"train[:{args.pairs}]")
    if args.model != "assistant-sft":
        data = data.map(lambda r: {k: english(r[k]) for k in ("prompt", "chosen", "rejected")})
    tmp = tempfile.mkdtemp(prefix="profile-dpo-")
    cfg = DPOConfig(steps=args.steps, batch_size=args.batch, lr=1e-5, warmup_steps=0, decay=False, max_grad_norm=1.0,
                    max_length=args.max_length, log_every=1, progress=False, eval_samples_per_prompt=0,
                    output_dir=os.path.join(tmp, "runs"), cache_dir=tempfile.mkdtemp(dir=tmp))
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    train_dpo(cfg, model=policy, tokenizer=tok, dataset=data)
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    print(f"prefkit DPO on {args.model}: {args.pairs} pairs, {args.steps} steps of {args.batch}, max length "
          f"{args.max_length}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"{'phase':40s}{'s':>8s}{'share':>8s}")
    for phase, s in phase_times(stats).items():
        print(f"{phase:40s}{s:8.2f}{s / total:8.0%}")
    print(f"{'total (profiled)':40s}{total:8.2f}")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()

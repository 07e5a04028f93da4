"""DPO on SmolLM2-135M-Instruct through prefkit's real training loop (``prefkit.train.dpo``): tokens/s, peak
memory and MFU.

Unlike benchmarks/gpu_dpo_bench.py (one DPO step on random tokens, outside the loop) this times what a user
runs: tokenized English pairs, the precomputed reference pass, the loop's guards and metrics, the checkpoint.
On CUDA the loop runs bf16 autocast over fp32 weights (its default); on CPU fp32 (the smoke test).

    MFU = 6 N * tokens/s / peak FLOP/s      N = all parameters (the 2N-per-token forward and 4N backward)

tokens/s counts real (non-padding) tokens of chosen and rejected sequences over the steps after the first
(the first carries the warm-up), from the loop's own per-step clock. The reference pass runs before the
loop and is reported apart.

    python benchmarks/gpu_train_bench.py                                  # cuda, bf16
    python benchmarks/gpu_train_bench.py --device cpu --dtype fp32 --steps 2 --batch 2 --max-length 64
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# dense bf16 peak FLOP/s by device name (vendor data sheets, without sparsity); --peak-flops overrides
PEAK_BF16 = {"H200": 989.5e12, "H100": 989.5e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "L4": 121e12}


def peak_flops(name: str, override: float | None) -> float | None:
    if override:
        return override
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--dtype", default=None, choices=("bf16", "fp32"),
                    help="bf16 (autocast, the loop's default on cuda) or fp32 (cpu); default: the device's")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32, help="pairs per step")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--peak-flops", type=float, default=None, help="peak FLOP/s of the device (overrides the table)")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    dtype = args.dtype or ("bf16" if args.device == "cuda" else "fp32")
    if (dtype == "bf16") != (args.device == "cuda"):
        raise SystemExit(f"--device {args.device} --dtype {dtype}: prefkit's loop runs bf16 autocast on cuda and "
                         f"fp32 on cpu; use --device cuda --dtype bf16 or --device cpu --dtype fp32")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here; use --device cpu --dtype fp32 for the smoke test")
    warnings.filterwarnings("ignore")
    from dpo_vs_trl import english

    from prefkit.data import load_preferences
    from prefkit.models import load_policy
    from prefkit.train import DPOConfig, train_dpo
    from prefkit.train.loop import BatchOrder
    from prefkit.train.pairs import encode_pairs

    n_pairs = args.steps * args.batch
    data = load_preferences("data/assistant/prefs/clean", "train")
    data = data.select(range(min(n_pairs, len(data))))
    data = data.map(lambda r: {k: english(r[k]) for k in ("prompt", "chosen", "rejected")})
    policy, tok = load_policy(args.model)
    policy.float()
    n_params = sum(p.numel() for p in policy.parameters())
    tmp = tempfile.mkdtemp(prefix="gpu-train-bench-")
    cfg = DPOConfig(steps=args.steps, batch_size=args.batch, lr=1e-6, warmup_steps=0, decay=False,
                    max_length=args.max_length, log_every=1, progress=False, eval_samples_per_prompt=0,
                    device=args.device,
                    output_dir=os.path.join(tmp, "runs"), cache_dir=os.path.join(tmp, "cache"))
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = train_dpo(cfg, model=policy, tokenizer=tok, dataset=data)
    model, history = result.model, result.history
    total = time.perf_counter() - t0
    loop_s = history[-1]["elapsed_s"]

    # real tokens of the batches each step trained on (prefkit's seeded order, as train_dpo() draws them)
    enc = encode_pairs(tok, data["prompt"], data["chosen"], data["rejected"], max_length=args.max_length)
    order = BatchOrder(len(data), args.batch, cfg.seed)
    per_step = [int(enc["chosen_attention_mask"][order(i)].sum() + enc["rejected_attention_mask"][order(i)].sum())
                for i in range(args.steps)]
    timed = history[-1]["elapsed_s"] - history[0]["elapsed_s"] if args.steps > 1 else loop_s
    tokens_per_s = sum(per_step[1:] if args.steps > 1 else per_step) / max(timed, 1e-9)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    peak = peak_flops(name, args.peak_flops)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "device": name, "dtype": dtype,
        "model": args.model, "params": n_params, "steps": args.steps, "pairs_per_step": args.batch,
        "max_length": args.max_length, "mean_tokens_per_step": sum(per_step) / len(per_step),
        "tokens_per_s": tokens_per_s, "pairs_per_s": (args.steps - 1 or 1) * args.batch / max(timed, 1e-9),
        "step_s": timed / max(args.steps - 1, 1), "loop_s": loop_s, "run_s": total,
        "outside_loop_s": total - loop_s, "mfu": 6 * n_params * tokens_per_s / peak if peak else None,
        "peak_flops": peak, "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda"
        else None, "first_loss": history[0]["loss"], "final_loss": history[-1]["loss"], "torch": torch.__version__,
        "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "" if args.device == "cuda" else "cpu-"
    (out / f"gpu_train_{tag}{result['date'][:10]}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

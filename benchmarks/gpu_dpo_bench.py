"""DPO throughput on one GPU: a ~0.5 B Llama-style model built from a config (no download), bf16 autocast.

Runs prefkit's own DPO step (sequence_logps on chosen and rejected in one forward pass, precomputed reference
log-probs, preference_loss, AdamW) on random token sequences and reports tokens/s, peak memory and model
FLOPs utilization (MFU):

    FLOPs per trained token = 6 N + 12 L d s      (Kaplan et al. 2020; PaLM appendix B for the attention term)
    MFU = FLOPs per token * tokens per second / peak bf16 FLOP/s of the GPU

N = non-embedding parameters, L layers, d hidden size, s sequence length. Reference log-probs are
precomputed once (prefkit's default), so the reference costs nothing per step.

    python benchmarks/gpu_dpo_bench.py                  # on a GPU: the 0.5 B model
    python benchmarks/gpu_dpo_bench.py --tiny --device cpu   # smoke test of the script itself
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import torch

from prefkit.losses import preference_loss
from prefkit.models import sequence_logps

PEAK_BF16 = {"H200": 989.5e12, "H100": 989.5e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "L4": 121e12}


def build(tiny: bool):
    from transformers import AutoModelForCausalLM, LlamaConfig

    if tiny:
        cfg = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256)
    else:  # about 0.52 B parameters
        cfg = LlamaConfig(vocab_size=32000, hidden_size=1280, intermediate_size=3456, num_hidden_layers=24,
                          num_attention_heads=20, num_key_value_heads=20, max_position_embeddings=4096,
                          tie_word_embeddings=True)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg), cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model, to test the script")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--pairs", type=int, default=8, help="preference pairs per step (2x sequences)")
    ap.add_argument("--seq", type=int, default=1024, help="tokens per sequence (prompt 256 + response)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    if args.tiny:
        args.pairs, args.seq, args.steps, args.warmup = 2, 64, 3, 1
    device = torch.device(args.device)
    model, cfg = build(args.tiny)
    model.to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = model.get_input_embeddings().weight.numel()
    flops_per_token = 6 * (n_params - n_embed) + 12 * cfg.num_hidden_layers * cfg.hidden_size * args.seq
    fwd = torch.compile(model) if args.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda")
    g = torch.Generator().manual_seed(0)
    b = 2 * args.pairs
    ids = torch.randint(0, cfg.vocab_size, (b, args.seq), generator=g).to(device)
    attn = torch.ones_like(ids)
    resp = torch.zeros_like(ids)
    resp[:, args.seq // 4:] = 1  # prompt is the first quarter
    ref = (torch.randn(b, generator=g) * 10 - 500).to(device)  # precomputed reference log-probs
    use_bf16 = device.type == "cuda"

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logps = sequence_logps(fwd, ids, attn, resp)                                     # (2P,)
        logratios = logps - ref
        loss = preference_loss(logratios[: args.pairs], logratios[args.pairs:], 0.1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens_per_s = args.steps * b * args.seq / seconds
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "device": name,
        "params": n_params, "non_embedding_params": n_params - n_embed, "pairs_per_step": args.pairs,
        "seq_len": args.seq, "steps": args.steps, "compile": args.compile, "bf16_autocast": use_bf16,
        "tokens_per_s": tokens_per_s, "pairs_per_s": args.steps * args.pairs / seconds,
        "step_s": seconds / args.steps, "flops_per_token": flops_per_token,
        "achieved_tflops": flops_per_token * tokens_per_s / 1e12,
        "mfu": flops_per_token * tokens_per_s / peak if peak else None, "peak_bf16_flops": peak,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "final_loss": float(loss.detach()), "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "tiny-" if args.tiny else ""
    (out / f"gpu_dpo_{tag}{result['date'][:10]}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

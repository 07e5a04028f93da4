"""``prefkit build-data`` / ``make data``: regenerate the shipped datasets and the reference policy from seeds.

Everything under data/assistant/, data/english/ (``prefkit.build_english``) and data/models/assistant-sft/ comes
from here, deterministically: the same seeds give byte-identical JSONL files (and so the same data versions) on
any machine, and the same reference policy on the same kind of machine (floating-point sums may differ across CPU
types and thread counts).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .build_english import EnglishConfig, build_english
from .core import DATA_DIR, atomic_write_bytes, seed_everything
from .data import data_version, load_demonstrations, load_preferences
from .worlds import assistant as world

ANNOTATOR_SETS = ("clean", "noisy20", "noisy40", "length", "strict")


@dataclass
class BuildConfig:
    out: str = str(DATA_DIR)
    """Folder that receives assistant/ (datasets) and models/assistant-sft/ (the reference policy)."""
    n_sft: int = 4000
    """SFT demonstrations (train prompts)."""
    n_pairs: int = 3000
    """Preference pairs per annotator on train prompts (the same pairs for every annotator)."""
    n_test_pairs: int = 600
    """Preference pairs per annotator on held-out prompts (for reward-model evaluation only)."""
    seed: int = 0
    """Base seed; each dataset derives its own from it."""
    sft_steps: int = 800
    """Optimizer steps of the reference policy's SFT."""
    model: bool = True
    """Also train and save the reference policy (False: datasets only)."""


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return atomic_write_bytes(path, text.encode("utf-8"))


def _first_unique(rows: list[dict], n: int) -> list[int]:
    """Indices of the first ``n`` rows whose (prompt, {y_a, y_b}) is new: no pair is shipped twice."""
    seen, keep = set(), []
    for i, r in enumerate(rows):
        key = (r["prompt"], frozenset((r["chosen"], r["rejected"])))
        if key not in seen:
            seen.add(key)
            keep.append(i)
        if len(keep) == n:
            return keep
    raise RuntimeError(f"only {len(keep)} distinct pairs among {len(rows)}; ask for fewer pairs")


def _counts(rows: list[dict]) -> dict[str, int]:
    return {s: sum(r["slice"] == s for r in rows) for s in world.SLICES}


def build_datasets(cfg: BuildConfig) -> dict:
    """Write every dataset of data/assistant/ and its card; return {name: (path, version, counts)}."""
    root = Path(cfg.out) / "assistant"
    made = {}
    demos = [{"prompt": d["prompt"], "completion": d["response"], "slice": d["slice"], "topic": d["topic"],
              "kind": d["kind"]} for d in world.demonstrations(cfg.n_sft, seed=cfg.seed + 1, split="train")]
    path = _write_jsonl(root / "sft.jsonl", demos)
    made["sft"] = (path, data_version(load_demonstrations(path)), _counts(demos))
    for split, n, seed in (("train", cfg.n_pairs, cfg.seed + 2), ("test", cfg.n_test_pairs, cfg.seed + 3)):
        keep = None
        for name in ANNOTATOR_SETS:  # same seed: every annotator labels the very same response pairs
            rows = world.preference_pairs(name, int(n * 1.2), seed=seed, split="train" if split == "train" else "heldout")
            keep = keep or _first_unique(rows, n)
            rows = [rows[i] for i in keep]
            path = _write_jsonl(root / "prefs" / name / f"{split}.jsonl", rows)
            made[f"prefs/{name}/{split}"] = (path, data_version(load_preferences(path)), _counts(rows))
    prompts = [{"prompt": p.text, "slice": p.slice, "topic": p.topic} for p in world.heldout_prompts()]
    path = _write_jsonl(root / "eval_prompts.jsonl", prompts)
    from datasets import Dataset
    made["eval_prompts"] = (path, data_version(Dataset.from_list(prompts)), _counts(prompts))
    _write_dataset_card(root, cfg, made)
    return made


def build_model(cfg: BuildConfig, sft_data: Path) -> dict:
    """Train the reference policy by SFT from scratch and save it with its tokenizer and card."""
    from .evaluate import evaluate_policy, format_summary
    from .models import build_tiny_lm, build_tokenizer, tiny_llama_config
    from .train import SFTConfig, train_sft
    from .train.loop import save_model

    seed_everything(cfg.seed)
    tok = build_tokenizer(world.vocabulary(), world.TEMPLATES, default_template="plain")
    config = tiny_llama_config(len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                               eos_token_id=tok.eos_token_id)
    model = build_tiny_lm(config, seed=cfg.seed)
    sft_cfg = SFTConfig(data=str(sft_data), steps=cfg.sft_steps, batch_size=32, lr=3e-3, warmup_steps=30,
                        log_every=50, seed=cfg.seed, eval_samples_per_prompt=0, output_dir=str(Path(cfg.out) / ".." / "runs"))
    t0 = time.perf_counter()
    result = train_sft(sft_cfg, model=model, tokenizer=tok)
    model, history = result.model, result.history
    seconds = time.perf_counter() - t0
    out = Path(cfg.out) / "models" / "assistant-sft"
    save_model(model, out)
    tok.save_pretrained(out)
    summary, samples = evaluate_policy(model, tok, samples_per_prompt=4, seed=cfg.seed)
    info = {"params": sum(p.numel() for p in model.parameters()), "seconds": seconds, "summary": summary,
            "table": format_summary(summary), "history": history, "sft_config": asdict(sft_cfg),
            "data_version": data_version(load_demonstrations(sft_data)), "samples": _spread(samples)}
    _write_model_card(out, cfg, info, model.config)
    return info


def _spread(samples: list[dict], per_slice: int = 4) -> list[dict]:
    """The first sample of each of the first ``per_slice`` prompts of every slice: a readable cross-section."""
    out = []
    for s in world.SLICES:
        seen = []
        for r in samples:
            if r["slice"] == s and r["prompt"] not in seen and len(seen) < per_slice:
                seen.append(r["prompt"])
                out.append(r)
    return out


def build(cfg: BuildConfig | None = None) -> dict:
    cfg = cfg or BuildConfig()
    t0 = time.perf_counter()
    made = build_datasets(cfg)
    print(f"datasets written to {Path(cfg.out) / 'assistant'} in {time.perf_counter() - t0:.1f} s")
    for name, (path, version, counts) in made.items():
        print(f"  {name:<24} {version}  {counts}")
    english = build_english(EnglishConfig(out=cfg.out, seed=cfg.seed))
    print(f"English preferences written to {Path(cfg.out) / 'english'}")
    for name, (path, version, counts) in english.items():
        print(f"  {name:<24} {version}  {counts}")
    info = None
    if cfg.model:
        info = build_model(cfg, made["sft"][0])
        print(f"reference policy written to {Path(cfg.out) / 'models' / 'assistant-sft'} "
              f"({info['params'] / 1e6:.2f} M parameters, SFT {info['seconds']:.0f} s)")
        print(info["table"])
    return {"datasets": made, "english": english, "model": info}


def _write_dataset_card(root: Path, cfg: BuildConfig, made: dict) -> None:
    from .cards import dataset_card

    atomic_write_bytes(root / "README.md", dataset_card(cfg, made).encode("utf-8"))


def _write_model_card(out: Path, cfg: BuildConfig, info: dict, model_config) -> None:
    from .cards import model_card

    atomic_write_bytes(out / "README.md", model_card(cfg, info, model_config).encode("utf-8"))

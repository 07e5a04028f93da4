"""The settings every trainer shares. Each trainer's config extends this dataclass.

``RULES`` (a class attribute, not a field) gives each field's allowed range; ``validate`` checks them all, with
the type of every field, when a config is built and again when a run starts (``prefkit.train.validate``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data import load_eval_prompts, load_preferences
from ..evaluate.setting import EVAL_SETTINGS, resolve_eval_setting
from .validate import OPTIONAL_PATH, PATH, Device, Int, OneOf, Real, require, validate

DTYPES = ("float32", "bfloat16", "float16")
LR_MAX = 10**6
"""AdamW moves each weight by about lr per step; far above any useful value, and below the lr at which torch's
fp32 update itself overflows (a raw RuntimeError instead of the divergence guard's message)."""


@dataclass
class TrainConfig:
    output_dir: str = "runs"
    """Folder under which the run directory (run.json, metrics.jsonl, eval.json, checkpoint/) is created."""
    run_dir: str | None = None
    """Use exactly this run directory (to resume a run) instead of a new one under output_dir."""
    seed: int = 0
    """Seeds data order, initialization and sampling; a run is reproducible on the same machine."""
    steps: int = 200
    """Optimizer steps."""
    batch_size: int = 32
    """Examples per optimizer step (split into grad_accum micro-batches)."""
    grad_accum: int = 1
    """Micro-batches per optimizer step: the same result with less memory."""
    lr: float | None = None
    """Peak learning rate (AdamW), reached after warmup_steps and held (then linearly decayed if decay=True).
    None = the model's recipe (prefkit.train.recipes): the course's value for the shipped-size models, TRL's
    default for pretrained ones (SmolLM2, hub models); LoRA runs of pretrained models use 10x that."""
    warmup_steps: int = 10
    """Linear warmup from 0 to lr."""
    decay: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Clip the gradient norm to this value (0 = no clipping)."""
    log_every: int = 10
    """Write a metrics row (and refresh the progress bar) every this many steps."""
    save_every: int = 0
    """Write a checkpoint every this many steps (0: only at the end)."""
    resume: bool = False
    """Continue from run_dir's last checkpoint instead of starting over."""
    save_optimizer: bool | None = None
    """Write optimizer.pt (AdamW moments, scheduler, RNG state: twice the size of the trained weights, 1.08 GB for
    a fully trained 135 M model) into each checkpoint, which an exact resume needs. None = only for a run meant
    to be resumed (save_every > 0 or resume); a checkpoint without it loads as a model all the same."""
    device: str | None = None
    """'cpu', 'cuda', 'mps' or None for the best available (cuda, else cpu)."""
    progress: bool = True
    """Show a progress bar."""
    dtype: str | None = None
    """Weights dtype when the trainer loads a model by name: 'float32', 'bfloat16', 'float16', or None for the
    checkpoint's own. On CUDA the loop already runs bf16 autocast (log-probs stay fp32) with fp32 weights."""
    lora_r: int = 0
    """LoRA rank (through peft): 0 trains every weight; 8 or 16 trains small adapters only (hub-size models)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory for about 30% more compute (long sequences)."""
    eval_setting: str = "auto"
    """How eval.json judges the policy (prefkit.evaluate.setting): 'assistant' (the world's gold rubric: only for
    a model that speaks the world, on world prompts), 'general' (refusal rate by slice with the refusal-v3
    detector, length, KL: any chat model), or 'auto' (assistant for the world's models and prompts, else general)."""
    eval_prompts: str | None = None
    """A JSONL file of {"prompt": ..., "slice": "benign" | "borderline" | "harmful"} to evaluate on; None = the
    world's held-out prompts (with their slices)."""
    eval_pairs: str | None = None
    """Held-out preference pairs (a file, or a folder whose test split is used) on which the general setting
    measures the implicit-reward accuracy and margin against pi_ref (DPO and RL); None = not measured."""

    RULES = {
        "output_dir": PATH, "run_dir": OPTIONAL_PATH, "seed": Int(0, 2**32 - 1), "steps": Int(1),
        "batch_size": Int(1), "grad_accum": Int(1), "lr": Real(0, LR_MAX, open_lo=True, optional=True),
        "warmup_steps": Int(0),
        "weight_decay": Real(0), "max_grad_norm": Real(0), "log_every": Int(1), "save_every": Int(0),
        "device": Device(), "dtype": OneOf(DTYPES, optional=True), "lora_r": Int(0),
        "eval_setting": OneOf(EVAL_SETTINGS), "eval_prompts": OPTIONAL_PATH,
        "eval_pairs": OPTIONAL_PATH,
    }

    def __post_init__(self):
        validate(self)
        require(self.batch_size % self.grad_accum == 0, ("batch_size", "grad_accum"), self,
                f"batch_size={self.batch_size} is not a multiple of grad_accum={self.grad_accum}")

    def eval_plan(self, tokenizer) -> tuple[str, list | None, object]:
        """(setting, prompts, pairs) of the final evaluation, read and checked before training: ``eval_prompts``
        (DataError with file:line on a bad row), ``eval_setting`` resolved for this tokenizer (raises when it
        does not fit) and ``eval_pairs`` (``prefkit.data.load_preferences``; a folder gives its test split)."""
        prompts = load_eval_prompts(self.eval_prompts) if self.eval_prompts else None
        pairs = None
        if self.eval_pairs:
            pairs = load_preferences(self.eval_pairs, "test" if Path(self.eval_pairs).is_dir() else None)
        return resolve_eval_setting(self.eval_setting, tokenizer, prompts), prompts, pairs

    def keeps_optimizer(self) -> bool:
        """Whether checkpoints carry optimizer.pt (``save_optimizer``, else: is this run meant to be resumed?)."""
        return self.save_optimizer if self.save_optimizer is not None else bool(self.save_every or self.resume)

    def torch_dtype(self):
        """``dtype`` as a torch dtype (None stays None)."""
        import torch

        if self.dtype is None:
            return None
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be 'float32', 'bfloat16', 'float16' or None, got {self.dtype!r}")
        return getattr(torch, self.dtype)

"""The settings every trainer shares. Each trainer's config extends this dataclass."""
from __future__ import annotations

from dataclasses import dataclass


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

    def keeps_optimizer(self) -> bool:
        """Whether checkpoints carry optimizer.pt (``save_optimizer``, else: is this run meant to be resumed?)."""
        return self.save_optimizer if self.save_optimizer is not None else bool(self.save_every or self.resume)

    def torch_dtype(self):
        """``dtype`` as a torch dtype (None stays None)."""
        import torch

        if self.dtype is None:
            return None
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be 'float32', 'bfloat16', 'float16' or None, got {self.dtype!r}")
        return getattr(torch, self.dtype)

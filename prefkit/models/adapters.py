"""Memory savers for real models: LoRA adapters (through peft) and gradient checkpointing.

Both are opt-in per run (``lora_r`` and ``gradient_checkpointing`` in every trainer config) and change how a
model is trained, not what the losses compute: the same DPO, reward or RL code runs on the tiny course model
and on a 0.5 B hub model.
"""
from __future__ import annotations


def apply_lora(model, r: int = 8, alpha: int | None = None, dropout: float = 0.0,
               target_modules: str | list[str] = "all-linear", task_type: str = "CAUSAL_LM"):
    """Wrap ``model`` with LoRA adapters of rank ``r``: only the adapters (and a reward head) are trained.

    alpha defaults to 2 r. target_modules "all-linear" adapts every linear layer but the output head, as
    peft defines it. Needs the ``peft`` package (in the dev extra, or ``pip install peft``).
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("LoRA needs peft: pip install 'peft>=0.13' (or install the kit with .[dev])") from exc
    if r < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {r}")
    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=dropout, target_modules=target_modules,
                        task_type=task_type, bias="none")
    return get_peft_model(model, config)


def prepare_for_training(model, lora_r: int = 0, gradient_checkpointing: bool = False, reward_head: bool = False):
    """Apply the memory options of a run config; returns the (possibly wrapped) model.

    lora_r 0 means full fine-tuning. With ``reward_head`` the score head of a sequence classifier stays
    trainable under LoRA (peft's SEQ_CLS task keeps it as a modules_to_save).
    """
    if gradient_checkpointing:
        # transformers 5 calls it activation checkpointing; older releases gradient checkpointing
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if lora_r:
        model = apply_lora(model, r=lora_r, task_type="SEQ_CLS" if reward_head else "CAUSAL_LM")
    return model


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total

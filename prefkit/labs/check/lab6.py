"""Lab 6, the bridge to TRL: checkers for the dataset conversion and for the DPOConfig that agrees with prefkit."""
from __future__ import annotations

from ._verdict import Verdict, report, run_student


def _sample():
    from ...core import DATA_DIR
    from ...data import load_preferences
    from ...models import load_tokenizer

    return load_tokenizer("assistant-sft"), load_preferences(DATA_DIR / "assistant" / "prefs" / "clean", "train[:5]")


def trl_rows(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(tokenizer, dataset) -> list of {"prompt", "chosen", "rejected"}`` in TRL's standard format,
    with the prompt rendered by the chat template and each response starting with one space."""
    from ...models import render_prompt
    from ..trl_bridge import trl_rows as reference

    name = "lab6.trl_rows"
    tok, data = _sample()
    got, fail = run_student(name, fn, tok, data, allowed=("prefkit.models.encoding.render_prompt",))
    if fail is not None:
        return report(fail, verbose)
    want = reference(tok, data)
    try:
        got = [dict(r) for r in got]
    except (TypeError, ValueError):
        return report(Verdict(name, False, "expected a list of dicts", "one dict per pair"), verbose)
    if len(got) != len(want):
        return report(Verdict(name, False, f"{len(got)} rows for {len(want)} pairs", "one row per pair, in order"),
                      verbose)
    if any(set(r) < {"prompt", "chosen", "rejected"} for r in got):
        return report(Verdict(name, False, "rows need the keys prompt, chosen and rejected",
                              "TRL's standard preference format"), verbose)
    if [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in got] == want:
        return report(Verdict(name, True, "TRL will see exactly the token ids prefkit trains on"), verbose)
    r, w, raw = got[0], want[0], data[0]
    if r["prompt"] == raw["prompt"]:
        return report(Verdict(name, False, "the prompt is not rendered with the chat template, so TRL would train on "
                              "different token ids", "render it as prefkit does: prefkit.models.render_prompt"), verbose)
    if r["prompt"] == render_prompt(tok, raw["prompt"]) and r["chosen"] == raw["chosen"]:
        return report(Verdict(name, False, "the responses lack the leading space, so the first word is tokenized "
                              "differently after the prompt", "prefix each response with one space"), verbose)
    if r["chosen"] == w["rejected"]:
        return report(Verdict(name, False, "chosen and rejected are swapped", "y_w is the 'chosen' column"), verbose)
    if r["chosen"].endswith(tok.eos_token or "\0"):
        return report(Verdict(name, False, "the responses end with the end-of-sequence token, which TRL appends "
                              "itself", "leave it out: it would appear twice"), verbose)
    return report(Verdict(name, False, "the rows differ from what prefkit tokenizes",
                          "rendered prompt; responses with one leading space and no eos"), verbose)


PARITY = {
    "bf16": (False, "TRL turns bf16 on by default; bf16 log-probs differ from fp32 ones in the third digit"),
    "lr_scheduler_type": ("constant", "prefkit's run here uses a constant learning rate (TRL's default decays it)"),
    "warmup_steps": (0, "no warmup on either side"),
    "optim": ("adamw_torch", "the same optimizer implementation: torch's AdamW"),
    "weight_decay": (0.0, "prefkit's DPOConfig uses no weight decay"),
    "max_grad_norm": (1.0, "clip gradients at 1.0, as prefkit does"),
    "loss_type": (["sigmoid"], "the DPO loss is TRL's 'sigmoid' loss"),
    "train_sampling_strategy": ("sequential", "TRL shuffles batches unless told to keep the given order"),
}


def _bf16_on_cpu(exc: Exception) -> tuple[str, str] | None:
    """transformers' refusal of bf16 on a machine without a bf16 GPU: the usual first attempt on a CPU."""
    if isinstance(exc, ValueError) and "bf16" in str(exc):
        return (f"DPOConfig refused to be built: TRL's DPOConfig turns bf16 on unless it is told otherwise, and this "
                f"machine has no GPU that runs bf16, so transformers raised ValueError: {exc}",
                "the comparison with prefkit runs in fp32 anyway: set bf16=False, and use_cpu=True on a machine "
                "without a GPU")
    return None


def parity_config(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(steps, batch_size, lr, beta) -> trl.DPOConfig`` for the settings that make TRL match prefkit."""
    name = "lab6.parity_config"
    got, fail = run_student(name, fn, 7, 16, 3e-4, 0.2, explain=_bf16_on_cpu)
    if fail is not None:
        return report(fail, verbose)
    if type(got).__name__ != "DPOConfig":
        return report(Verdict(name, False, f"it returned a {type(got).__name__}", "return trl.DPOConfig(...)"), verbose)
    asked = {"max_steps": 7, "per_device_train_batch_size": 16, "learning_rate": 3e-4, "beta": 0.2}
    for field, value in asked.items():
        if getattr(got, field) != value:
            return report(Verdict(name, False, f"{field} is {getattr(got, field)!r}, not the {value!r} passed in",
                                  "use the function's arguments"), verbose)
    for field, (value, why) in PARITY.items():
        have = getattr(got, field)
        have = getattr(have, "value", have)  # transformers stores some choices as enums
        if have != value and not (isinstance(value, list) and have in (value, value[0])):
            return report(Verdict(name, False, f"{field} = {have!r} breaks the comparison", why), verbose)
    return report(Verdict(name, True, "every setting that changes the numbers matches prefkit's run"), verbose)

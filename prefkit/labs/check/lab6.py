"""Lab 6, the bridge to TRL: checkers for the dataset conversion, the DPOConfig that agrees with prefkit, and the
parity experiment (break one setting, measure how far the loss curve moves)."""
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


# ------------------------------------------------------------------ the parity experiment: break one setting (6.3, 6.4)
TOL = 1e-4
"""Two loss curves agree at a step when their losses differ by at most this much (the lab's parity tolerance)."""


def loss_divergence(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(ours, theirs) -> (first_step, largest)``: two logged loss curves (lists of rows with "step" and
    "loss"), compared at the steps both logged: the first step whose losses differ by more than TOL (None when
    none does) and the largest absolute difference."""
    name = "lab6.loss_divergence"
    ours = [{"step": s, "loss": v} for s, v in zip(range(1, 7), (0.6931, 0.6810, 0.6650, 0.6480, 0.6300, 0.6120))]
    theirs = [{"step": s, "loss": v} for s, v in zip(range(1, 6), (0.69312, 0.68108, 0.66470, 0.64300, 0.62000))]
    got, fail = run_student(name, fn, [dict(r) for r in ours], [dict(r) for r in theirs])
    if fail is not None:
        return report(fail, verbose)
    try:
        first, largest = got
        largest = float(largest)
    except (TypeError, ValueError):
        return report(Verdict(name, False, f"it returned {got!r}", "return two values: the step, and the size"),
                      verbose)
    if first == 3 and abs(largest - 0.01) < 1e-9:
        same, fail = run_student(name, fn, [dict(r) for r in ours], [dict(r) for r in ours])
        if fail is not None:
            return report(fail, verbose)
        if same is None or same[0] is not None or abs(float(same[1])) > 1e-12:
            return report(Verdict(name, False, f"on two identical curves it returned {same!r}",
                                  "curves that never diverge have no first divergent step (None) and difference 0"),
                          verbose)
        return report(Verdict(name, True, "first step beyond the tolerance, by step number, and the largest gap"),
                      verbose)
    if first == 2:
        return report(Verdict(name, False, "the first step is off by one: it is a position in the list, not the "
                              "logged step", "TRL and prefkit both count steps from 1: read the row's step"), verbose)
    if first == 1 or first == 0:
        return report(Verdict(name, False, "the first step is one where the losses agree within the tolerance",
                              "rounding differences far below the tolerance are not a divergence: which tolerance "
                              "does the exercise give?"), verbose)
    if abs(largest + 0.01) < 1e-9 or abs(largest - 0.00008) < 1e-9:
        return report(Verdict(name, False, "the largest difference is signed, so a curve that falls below the other "
                              "never counts", "the size of a difference does not depend on which curve is lower"),
                      verbose)
    return report(Verdict(name, False, f"it returned first step {first!r}, largest difference {largest:.4g}",
                          "work out the differences by hand for the first three steps"), verbose)


BREAK_STEPS, BREAK_BATCH, BREAK_LR, BREAK_BETA = 3, 4, 5e-4, 0.1


def _break_on_cpu(exc: Exception) -> tuple[str, str] | None:
    """The bf16 break refused by transformers: on a machine without a bf16 GPU it needs ``use_cpu=True``."""
    if isinstance(exc, ValueError) and "bf16" in str(exc):
        return (f"transformers refused bf16 on this machine ({exc}): without use_cpu=True it asks for a GPU that "
                "runs bf16", "keep use_cpu from your parity config (bf16 then runs under CPU autocast), or break "
                "another setting")
    return None


def parity_break(fn, verbose: bool = True) -> Verdict:
    """Check ``fn(steps, batch_size, lr, beta) -> (trl.DPOConfig, setting)``: the parity config with exactly one of
    the settings in PARITY changed, and that setting's name.

    The checker verifies the break (exactly that setting differs from parity), then measures it: TRL runs
    BREAK_STEPS steps of BREAK_BATCH shipped pairs with the broken config and with prefkit's parity config
    (``prefkit.labs.trl_bridge.trl_config``), and the break must move the loss curve by more than TOL at some
    step. On a CPU, bf16 gets its own diagnosis: the difference is bf16 rounding, not another algorithm.
    """
    import torch

    from ...models import load_policy
    from ..trl_bridge import trl_config, trl_dpo
    from ..trl_bridge import trl_rows as reference_rows

    name = "lab6.parity_break"
    got, fail = run_student(name, fn, BREAK_STEPS, BREAK_BATCH, BREAK_LR, BREAK_BETA, explain=_break_on_cpu)
    if fail is not None:
        return report(fail, verbose)
    try:
        config, setting = got
    except (TypeError, ValueError):
        return report(Verdict(name, False, f"it returned a {type(got).__name__}", "return (config, setting name)"),
                      verbose)
    if type(config).__name__ != "DPOConfig":
        return report(Verdict(name, False, f"the config is a {type(config).__name__}", "return trl.DPOConfig(...)"),
                      verbose)
    asked = {"max_steps": BREAK_STEPS, "per_device_train_batch_size": BREAK_BATCH, "learning_rate": BREAK_LR,
             "beta": BREAK_BETA}
    for field, value in asked.items():
        if getattr(config, field) != value:
            return report(Verdict(name, False, f"{field} is {getattr(config, field)!r}, not the {value!r} passed in",
                                  "use the function's arguments"), verbose)
    broken = []
    for field, (value, _) in PARITY.items():
        have = getattr(config, field)
        have = getattr(have, "value", have)
        if have != value and not (isinstance(value, list) and have in (value, value[0])):
            broken.append(field)
    if not broken:
        return report(Verdict(name, False, "every setting still matches prefkit's run: nothing is broken",
                              "change one of the settings that parity needs"), verbose)
    if len(broken) > 1:
        return report(Verdict(name, False, f"{len(broken)} settings differ from parity ({', '.join(broken)})",
                              "break one at a time, or the divergence cannot be attributed"), verbose)
    if setting != broken[0]:
        return report(Verdict(name, False, f"the setting named is {setting!r}, but the one changed is {broken[0]!r}",
                              "name the field you changed"), verbose)
    policy, tokenizer = load_policy("assistant-sft")
    from ...core import DATA_DIR
    from ...data import load_preferences

    pairs = load_preferences(DATA_DIR / "assistant" / "prefs" / "clean", f"train[:{BREAK_STEPS * BREAK_BATCH}]")
    rows = reference_rows(tokenizer, pairs)
    same = trl_config(steps=BREAK_STEPS, batch_size=BREAK_BATCH, lr=BREAK_LR, beta=BREAK_BETA)
    curves = {}
    for label, cfg in (("parity", same), ("broken", config)):
        torch.manual_seed(0)
        _, history = trl_dpo(policy, tokenizer, rows, cfg)
        curves[label] = {r["step"]: r["loss"] for r in history}
    steps = sorted(set(curves["parity"]) & set(curves["broken"]))
    gaps = [abs(curves["parity"][s] - curves["broken"][s]) for s in steps]
    first = next((s for s, g in zip(steps, gaps) if g > TOL), None)
    if first is None:
        return report(Verdict(name, False, f"breaking {setting} moved the loss by at most {max(gaps):.1g} in "
                              f"{BREAK_STEPS} steps, within the {TOL:g} tolerance", "this setting matters on other "
                              "runs (longer, or another model); for the experiment pick one whose effect shows in a "
                              "few steps"), verbose)
    if setting == "bf16" and not torch.cuda.is_available():
        return report(Verdict(name, True, f"bf16 on a CPU: the loss moves by up to {max(gaps):.1g} from step {first} "
                              "on; TRL runs the forward pass under CPU bf16 autocast, so this is bf16 rounding of the "
                              "log-probs (8 mantissa bits), not a different algorithm"), verbose)
    return report(Verdict(name, True, f"breaking {setting} alone moves TRL's loss from step {first} on, by up to "
                          f"{max(gaps):.1g} in {BREAK_STEPS} steps"), verbose)

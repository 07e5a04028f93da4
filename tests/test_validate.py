"""Config validation: every field's type and range, one-line errors on the command line, ranges in --help."""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path

import pytest

from prefkit.cli import build_parser, main
from prefkit.train import BestOfNConfig, DPOConfig, RewardConfig, RLConfig, SFTConfig
from prefkit.train.validate import ConfigError, check_template, rules, template_names

CONFIGS = [SFTConfig, RewardConfig, DPOConfig, RLConfig, BestOfNConfig]
COMMANDS = {SFTConfig: "sft", RewardConfig: "reward", DPOConfig: "dpo", RLConfig: "rl", BestOfNConfig: "bon"}

# (config, field, bad value, what the message must say is allowed)
BAD = [
    (SFTConfig, "warmup_steps", -5, "an integer >= 0"),
    (SFTConfig, "batch_size", 0, "an integer >= 1"),
    (SFTConfig, "steps", 0, "an integer >= 1"),
    (SFTConfig, "grad_accum", 0, "an integer >= 1"),
    (SFTConfig, "log_every", 0, "an integer >= 1"),
    (SFTConfig, "lr", math.inf, "a finite number in (0, 1000000]"),
    (SFTConfig, "lr", math.nan, "a finite number in (0, 1000000]"),
    (SFTConfig, "lr", 0.0, "a finite number in (0, 1000000]"),
    (SFTConfig, "lr", -1e-3, "a finite number in (0, 1000000]"),
    (SFTConfig, "lr", 1e7, "a finite number in (0, 1000000]"),
    (SFTConfig, "max_grad_norm", -1.0, "a finite number >= 0"),
    (SFTConfig, "max_grad_norm", math.inf, "a finite number >= 0"),
    (SFTConfig, "weight_decay", -0.1, "a finite number >= 0"),
    (SFTConfig, "save_every", -1, "an integer >= 0"),
    (SFTConfig, "seed", -1, "an integer in [0, 4294967295]"),
    (SFTConfig, "lora_r", -8, "an integer >= 0"),
    (SFTConfig, "max_length", 0, "an integer >= 2"),
    (SFTConfig, "device", "gpu", "one of cpu, cuda, cuda:N"),
    (SFTConfig, "dtype", "bf16", "one of float32, bfloat16, float16, none"),
    (SFTConfig, "eval_samples_per_prompt", -1, "an integer >= 0"),
    (SFTConfig, "output_dir", "", "a non-empty path"),
    (DPOConfig, "kind", "sigmoid", "one of dpo, cdpo, rdpo, ipo, hinge, simpo, orpo"),
    (DPOConfig, "beta", 0.0, "a finite number > 0"),
    (DPOConfig, "beta", math.inf, "a finite number > 0"),
    (DPOConfig, "logps", "avg", "one of sum, mean"),
    (DPOConfig, "eps", 1.5, "a finite number in [0, 1]"),
    (DPOConfig, "template", "", "a non-empty text"),
    (RewardConfig, "center_rewards_coefficient", -1.0, "a finite number >= 0, or none"),
    (RewardConfig, "eval_batch_size", 0, "an integer >= 1"),
    (RLConfig, "kl_coef", -0.1, "a finite number >= 0"),
    (RLConfig, "kl_estimator", "k2", "one of k1, k3"),
    (RLConfig, "baseline", "ppo", "one of rloo, mean, none"),
    (RLConfig, "temperature", 0.0, "a finite number > 0"),
    (RLConfig, "max_new_tokens", 0, "an integer >= 1"),
    (RLConfig, "prompts", "test", "one of train, heldout"),
    (RLConfig, "on_truncate", "skip", "one of warn, drop, fail"),
    (BestOfNConfig, "on_truncate", "drop", "one of warn, fail"),
    (BestOfNConfig, "n", 0, "an integer >= 1"),
    (BestOfNConfig, "top_p", 1.5, "a finite number in (0, 1]"),
]


@pytest.mark.parametrize("cls, field, value, allowed", BAD, ids=[f"{c.__name__}.{f}={v!r}" for c, f, v, _ in BAD])
def test_an_out_of_range_field_is_a_one_line_error_naming_flag_value_and_range(cls, field, value, allowed):
    with pytest.raises(ConfigError) as info:
        cls(**{field: value})
    msg = str(info.value)
    flag = "--" + field.replace("_", "-")
    assert msg.startswith(f"{flag} ") and f"{field} must be {allowed}" in msg and "\n" not in msg
    shown = repr(value) if isinstance(value, str) else str(value)
    assert msg.split(":")[0] == f"{flag} {shown}"


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_has_its_type_checked(cls):
    """A value of the wrong type (what a typo in a notebook gives) is rejected for every field, by name."""
    for f in dataclasses.fields(cls):
        with pytest.raises(ConfigError, match=f"^--{f.name.replace('_', '-')} "):
            cls(**{f.name: object()})


def test_checks_across_fields_name_every_flag_involved():
    with pytest.raises(ConfigError, match=r"^--batch-size 30 --grad-accum 4: .*not a multiple of grad_accum=4"):
        SFTConfig(batch_size=30, grad_accum=4)
    with pytest.raises(ConfigError, match=r"^--kind 'dpo' --eps 0.1: eps has no effect"):
        DPOConfig(eps=0.1)
    with pytest.raises(ConfigError, match=r"^--kind 'rdpo' --eps 0.5: rdpo needs a flip rate eps in \[0, 0.5\)"):
        DPOConfig(kind="rdpo", eps=0.5)
    assert DPOConfig(kind="cdpo", eps=0.2).eps == 0.2 and DPOConfig(output_dir=Path("runs")).output_dir == Path("runs")


def test_a_config_changed_after_it_was_built_is_checked_again_when_the_run_starts(tmp_path):
    from prefkit.train.start import start_run

    cfg = SFTConfig(output_dir=str(tmp_path / "runs"))
    cfg.warmup_steps = -5  # dataclasses do not re-run __post_init__ on assignment
    with pytest.raises(ConfigError, match="--warmup-steps -5"):
        start_run(cfg, "sft")
    assert not (tmp_path / "runs").exists()  # nothing was created


def test_unknown_chat_template_lists_the_names_the_tokenizer_has():
    from prefkit.models import load_policy

    _, tok = load_policy("assistant-sft", with_tokenizer=True)
    assert template_names(tok) == ["default", "chatml", "plain", "qa"]
    check_template(tok, "chatml")
    check_template(tok, None)  # no template: the prompt as-is
    with pytest.raises(ConfigError, match=r"^--template 'chat': unknown chat template; template must be one of "
                                          r"default, chatml, plain, qa$"):
        check_template(tok, "chat")


# ------------------------------------------------------------------------------------------- the CLI
CLI_MISTAKES = [
    ["sft", "--warmup-steps", "-5"], ["sft", "--batch-size", "0"], ["sft", "--steps", "0"], ["sft", "--grad-accum", "0"],
    ["sft", "--log-every", "0"], ["sft", "--lr", "inf"], ["sft", "--lr", "nan"], ["sft", "--lr", "-1"],
    ["sft", "--max-grad-norm", "-1"], ["sft", "--seed", "-3"], ["sft", "--device", "gpu"], ["sft", "--dtype", "fp16"],
    ["sft", "--batch-size", "30", "--grad-accum", "4"], ["sft", "--max-length", "0"], ["sft", "--save-every", "-2"],
    ["dpo", "--kind", "sigmoid"], ["dpo", "--beta", "0"], ["dpo", "--eps", "0.1"], ["dpo", "--logps", "avg"],
    ["dpo", "--lora-r", "-1"], ["reward", "--center-rewards-coefficient", "-1"], ["reward", "--eval-batch-size", "0"],
    ["rl", "--kl-coef", "-1"], ["rl", "--num-generations", "1"], ["rl", "--baseline", "ppo"],
    ["rl", "--temperature", "0"], ["rl", "--kl-estimator", "k2"], ["rl", "--batch-size", "30"],
    ["bon", "--n", "0"], ["bon", "--top-p", "2"], ["bon", "--prompts", "test"],
]


@pytest.mark.parametrize("argv", CLI_MISTAKES, ids=lambda a: " ".join(a))
def test_a_wrong_flag_prints_one_line_exits_2_and_creates_nothing(argv, tmp_path, capsys):
    out_dir = tmp_path / "runs"
    assert main([*argv, "--output-dir", str(out_dir), "--no-progress" if argv[0] != "bon" else "--seed=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"prefkit {argv[0]}: error: --") and "\n" not in err and "Traceback" not in err
    flags = err.split(": error: ")[1].split(":")[0].split()
    assert argv[1] in flags and argv[2] in flags[flags.index(argv[1]) + 1]  # the flag and the value given
    assert not out_dir.exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ConfigError, match="--steps 0"):
        main(["sft", "--steps", "0", "--output-dir", str(tmp_path), "--debug"])
    with pytest.raises(ConfigError, match="--steps 0"):
        main(["--debug", "sft", "--steps", "0", "--output-dir", str(tmp_path)])


def _demos(tmp_path) -> Path:
    data = tmp_path / "demos.jsonl"
    data.write_text("".join(json.dumps({"prompt": "how do i bake bread ?", "completion": c}) + "\n"
                            for c in ["sure . first mix the flour and water .", "sorry , i can not help ."] * 4))
    return data


def test_unknown_template_on_the_command_line_lists_names_and_leaves_no_run_directory(tmp_path, capsys):
    out_dir = tmp_path / "runs"
    assert main(["sft", "--data", str(_demos(tmp_path)), "--template", "chat", "--steps", "1", "--batch-size", "4",
                 "--output-dir", str(out_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("prefkit sft: error: --template 'chat': unknown chat template; template must be one of default, "
                   "chatml, plain, qa")
    assert not out_dir.exists() or not list(out_dir.iterdir())


@pytest.mark.parametrize("where", ["train_loop", "sft_step"], ids=["before the loop", "inside the first step"])
def test_a_run_that_fails_before_its_first_step_leaves_no_run_directory(where, tmp_path, capsys, monkeypatch):
    """Also when it fails inside the loop, which releases the directory's lock as it fails."""
    sft_module = importlib.import_module("prefkit.train.sft")

    def broken(*args, **kwargs):
        raise RuntimeError("the loop could not start")

    monkeypatch.setattr(sft_module, where, broken)
    out_dir = tmp_path / "runs"
    assert main(["sft", "--data", str(_demos(tmp_path)), "--steps", "1", "--batch-size", "4",
                 "--output-dir", str(out_dir), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "removed" in err and "the run never started" in err
    assert err.strip().splitlines()[-1] == ("prefkit sft: error: RuntimeError: the loop could not start (run again "
                                            "with --debug for the traceback)")
    assert out_dir.is_dir() and not list(out_dir.iterdir())


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_help_documents_the_allowed_range_of_every_ruled_flag(cls):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[COMMANDS[cls]]
    helps = {a.dest: " ".join(a.help.split()) for a in sub._actions if a.help}
    checked = rules(cls)
    assert len(checked) >= 10
    for name, rule in checked.items():
        assert f"allowed: {rule.allowed})" in helps[name].replace("%%", "%"), name


@pytest.mark.parametrize("argv", [["eval", "--model", "assistant-sft"], ["bon", "--n", "2"]], ids=lambda a: a[0])
def test_eval_and_best_of_n_check_the_template_too(argv, tmp_path, capsys):
    assert main([*argv, "--template", "chat", "--output-dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.strip().endswith("--template 'chat': unknown chat template; template must be one "
                                                    "of default, chatml, plain, qa")
    assert not (tmp_path / "runs").exists()

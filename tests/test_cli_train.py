"""`prefkit sft|...|eval`: every config field is a flag, runs print their directory."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefkit.cli import build_parser, config_from_args, field_docs, main
from prefkit.train import SFTConfig


def test_every_config_field_becomes_a_documented_flag():
    parser = build_parser()
    args = parser.parse_args(["sft", "--steps", "7", "--lr", "0.01", "--no-decay", "--device", "cpu"])
    cfg = config_from_args(SFTConfig, args)
    assert cfg.steps == 7 and cfg.lr == 0.01 and cfg.decay is False and cfg.device == "cpu"
    assert cfg.template == "default" and cfg.run_dir is None
    docs = field_docs(SFTConfig)
    assert set(docs) == {f for f in SFTConfig.__dataclass_fields__}  # every field has its docstring
    assert docs["lr"].startswith("Peak learning rate")


@pytest.mark.slow
def test_sft_and_eval_from_the_command_line(tmp_path, capsys):
    data = tmp_path / "demos.jsonl"
    data.write_text("".join(json.dumps({"prompt": "how do i bake bread ?", "completion": c}) + "\n"
                            for c in ["sure . first mix the flour and water .", "sorry , i can not help ."] * 4))
    assert main(["sft", "--data", str(data), "--steps", "2", "--batch-size", "4", "--output-dir", str(tmp_path),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    run = Path(out.strip().splitlines()[-1].split("run directory: ")[1])
    assert (run / "run.json").exists() and (run / "checkpoint" / "model.safetensors").exists()
    assert main(["eval", "--model", str(run / "checkpoint"), "--samples-per-prompt", "1", "--output-dir",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "benign" in out and "win rate vs reference" in out
    ev = json.loads((Path(out.strip().splitlines()[-1].split("run directory: ")[1]) / "eval.json").read_text())
    assert 0 <= ev["win_rate"] <= 1 and ev["kl/k3"] >= 0


@pytest.mark.parametrize("command", ["sft", "reward", "dpo", "rl", "bon", "eval", "tour", "build-data", "check-env"])
def test_every_command_prints_its_help(command, capsys):
    """--help formats every field's docstring (argparse treats a bare % in help text as a format field)."""
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: prefkit " + command in capsys.readouterr().out

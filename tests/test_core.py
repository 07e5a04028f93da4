"""prefkit.core: device choice, seeding, atomic files and the run directory contract."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

import prefkit
from prefkit import core


def test_device_is_cpu_here_and_mps_only_when_asked():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert core.get_device().type == expected
    assert core.get_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            core.get_device("cuda")
    assert core.autocast_dtype("cpu") is None


def test_seed_everything_reproduces_all_generators():
    def draw():
        import random

        return random.random(), np.random.rand(), torch.rand(3).tolist()

    core.seed_everything(123)
    a = draw()
    core.seed_everything(123)
    b = draw()
    core.seed_everything(124)
    c = draw()
    assert a == b and a != c


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    path = core.atomic_write_json(tmp_path / "x" / "a.json", {"beta": 0.1, "bad": float("nan")})
    assert json.loads(path.read_text()) == {"beta": 0.1, "bad": "nan"}
    core.atomic_write_json(path, {"beta": 0.2})
    assert json.loads(path.read_text()) == {"beta": 0.2}
    assert os.listdir(path.parent) == ["a.json"]


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    path = core.atomic_write_json(tmp_path / "run.json", {"step": 1})

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        core.atomic_write_json(path, {"step": 2})
    assert json.loads(path.read_text()) == {"step": 1}
    assert os.listdir(tmp_path) == ["run.json"]


@dataclasses.dataclass
class TinyConfig:
    beta: float = 0.1
    """KL strength."""
    out: str = "runs"


def test_run_directory_records_what_produced_the_run(tmp_path):
    run = core.RunDir.create(tmp_path, "dpo")
    assert run.path.name.startswith("dpo-") and run.path.parent == tmp_path
    assert core.RunDir.create(tmp_path, "dpo").path != run.path
    record = run.write_record(config=TinyConfig(), seed=7, data_version="pd-0123456789abcdef", template="plain",
                              reference="data/models/assistant-sft", policy_version="pv-1",
                              decoder={"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 32})
    assert record["config"] == {"beta": 0.1, "out": "runs"} and record["kind"] == "TinyConfig"
    assert record["seed"] == 7 and record["data_version"] == "pd-0123456789abcdef"
    assert record["template"] == "plain" and record["decoder"]["max_new_tokens"] == 32
    versions = record["versions"]
    assert versions["torch"] == torch.__version__.split("+")[0] or versions["torch"] == torch.__version__
    assert versions["prefkit"] == prefkit.__version__ and versions["python"]
    assert set(versions) >= {"python", "torch", "transformers", "prefkit"}
    assert "git_commit" in record
    run.update_record(policy_version="pv-2")
    assert run.read_record()["policy_version"] == "pv-2"


def test_metrics_rows_and_a_torn_last_line(tmp_path):
    run = core.RunDir(tmp_path / "r")
    run.log(step=1, loss=0.69, **{"rewards/accuracies": 0.5})
    run.log(step=2, loss=torch.tensor(0.5), **{"rewards/accuracies": np.float32(0.75)})
    with open(run.metrics_path, "a") as fh:
        fh.write('{"step": 3, "lo')  # a run killed mid-write
    rows = run.read_metrics()
    assert rows == [{"step": 1, "loss": 0.69, "rewards/accuracies": 0.5}, {"step": 2, "loss": 0.5, "rewards/accuracies": 0.75}]
    with open(run.metrics_path, "a") as fh:
        fh.write('\n{"step": 4}\n')
    with pytest.raises(ValueError, match="line 3: not valid JSON"):
        run.read_metrics()


def test_git_commit_outside_a_checkout_is_none(tmp_path):
    assert core.git_commit(tmp_path) is None

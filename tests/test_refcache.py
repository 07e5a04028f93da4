"""The reference-log-prob cache: its key covers the model's config, and the values are computed in the precision
of the policy's forward pass, so that at step 0 h == 0 and rewards/accuracies == 0 exactly."""
from __future__ import annotations

import copy
import importlib
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from prefkit.data import load_preferences
from prefkit.models import load_policy
from prefkit.train import DPOConfig, train_dpo
from prefkit.train.dpo import reference_logps
from prefkit.train.pairs import encode_pairs
from prefkit.train.refcache import module_hash

loop_module = importlib.import_module("prefkit.train.start")  # where make_accelerator picks the precision
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def shipped():
    return load_policy("assistant-sft")


@pytest.fixture(scope="module")
def pairs():
    return load_preferences("data/assistant/prefs/clean", "train[:16]")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFKIT_CACHE", str(tmp_path / "cache"))


def _cfg(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "runs"), eval_samples_per_prompt=0, progress=False, warmup_steps=0,
                log_every=1, steps=1, batch_size=16, lr=1e-3)
    return DPOConfig(**{**base, **kw})


def _same_weights(model, **changes):
    """A model built from ``model``'s config with ``changes``, holding exactly ``model``'s weights."""
    config = copy.deepcopy(model.config)
    for k, v in changes.items():
        if k == "rope_theta":
            config.rope_parameters = {**config.rope_parameters, "rope_theta": v}
        else:
            setattr(config, k, v)
    other = AutoModelForCausalLM.from_config(config)
    other.load_state_dict(model.state_dict())
    return other.eval()


@pytest.mark.parametrize("change", [{"rms_norm_eps": 1e-2}, {"rope_theta": 50.0}])
def test_the_same_weights_under_another_config_get_their_own_cache_entry(change, shipped, pairs, tmp_path):
    policy, tok = shipped
    other = _same_weights(policy, **change)
    tensors = encode_pairs(tok, pairs["prompt"], pairs["chosen"], pairs["rejected"], max_length=128)
    truth = reference_logps(other, tensors)["ref_chosen_logps"]
    assert not torch.allclose(truth, reference_logps(policy, tensors)["ref_chosen_logps"], atol=1e-3)  # it computes
    assert module_hash(other) != module_hash(policy)                                             # something else

    def run(name, ref):
        result = train_dpo(_cfg(tmp_path / name), model=copy.deepcopy(policy), ref=ref, tokenizer=tok, dataset=pairs)
        return result.read_record()["ref_logps_cache"]

    first = run("first", copy.deepcopy(policy))
    second = run("second", other)
    assert (first["hit"], second["hit"]) == (False, False) and first["path"] != second["path"]
    from safetensors.torch import load_file

    assert torch.allclose(load_file(second["path"])["ref_chosen_logps"], truth, atol=1e-5)


@pytest.fixture
def fresh_accelerator_state():
    """Accelerate keeps one process-wide state whose precision cannot change: reset it around a bf16 run."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def _precision(monkeypatch, dtype):
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    monkeypatch.setattr(loop_module, "autocast_dtype", lambda device: dtype)


@pytest.mark.usefixtures("fresh_accelerator_state")
def test_reference_logps_are_computed_under_the_policys_autocast(shipped, pairs, tmp_path, monkeypatch):
    # bf16 autocast, as the loop uses on a GPU, forced on the CPU: the cached pi_ref must be scored the same way
    _precision(monkeypatch, torch.bfloat16)
    policy, tok = shipped
    result = train_dpo(_cfg(tmp_path), model=copy.deepcopy(policy), tokenizer=tok, dataset=pairs)
    model, history = result.model, result.history
    record = result.run.read_record()
    assert record["ref_logps_cache"]["precision"] == "bf16"
    first = history[0]  # step 0: pi_theta == pi_ref, so every log-ratio is 0 in any precision they share
    assert first["rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    assert first["rewards/chosen"] == pytest.approx(0.0, abs=1e-6)
    assert first["rewards/accuracies"] == 0.0
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-6)
    # and a fp32 run of the same data does not read the bf16 entry
    _precision(monkeypatch, None)
    again = train_dpo(_cfg(tmp_path / "fp32"), model=copy.deepcopy(policy), tokenizer=tok, dataset=pairs)
    info = again.read_record()["ref_logps_cache"]
    assert info["hit"] is False and info["precision"] == "fp32"

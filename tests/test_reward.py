"""Reward model: pooling at the last real token, the Bradley-Terry loss with margin and centering, training on
clean labels to a held-out accuracy near the label-noise ceiling, and a complete run directory.

Timings on the 2-core CI machine (one torch thread): the trained reward model (40 steps of 32 pairs) takes
about 45-55 s including its held-out evaluation; the whole file about 70 s.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from prefkit.data import load_preferences
from prefkit.evaluate.reward_audit import pair_scores
from prefkit.losses import bradley_terry_loss
from prefkit.models import encode_responses, load_policy, load_reward_model
from prefkit.train.reward import (RewardConfig, encode_reward_pairs, pair_rewards, reward_loss, reward_step,
                                  train_reward)
from prefkit.train.pairs import select_pairs
from prefkit.train.scoring import gold_reward_fn, last_token_index, pooled_rewards, reward_fn
from prefkit.worlds import assistant as world

CLEAN = "data/assistant/prefs/clean"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = RewardConfig(data=CLEAN, steps=40, lr=1e-3, warmup_steps=5, batch_size=32, log_every=10, progress=False,
                       output_dir=str(tmp_path_factory.mktemp("rm")))
    result = train_reward(cfg)
    return result.model, result.history, cfg, result.run


@pytest.fixture(scope="module")
def tok():
    return load_reward_model("assistant-sft")[1]


@pytest.fixture(scope="module")
def test_pairs():
    return load_preferences(CLEAN, "test")


# --------------------------------------------------------------------------------------------------- pooling
def test_last_token_index_for_both_padding_sides():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert last_token_index(right).tolist() == [2, 4]
    assert last_token_index(left).tolist() == [4, 4]


@pytest.mark.slow
def test_left_and_right_padding_give_the_same_rewards(trained, tok, test_pairs):
    model, _, _, _ = trained
    prompts, responses = list(test_pairs["prompt"][:24]), list(test_pairs["chosen"][:24])
    with torch.no_grad():
        r = encode_responses(tok, prompts, responses, padding_side="right")
        l = encode_responses(tok, prompts, responses, padding_side="left")
        right = pooled_rewards(model, r["input_ids"], r["attention_mask"])
        left = pooled_rewards(model, l["input_ids"], l["attention_mask"])
        hf_right = model(input_ids=r["input_ids"], attention_mask=r["attention_mask"]).logits.squeeze(-1)
    assert r["attention_mask"].sum(1).min() < r["attention_mask"].shape[1]  # the batch really is padded
    assert right.abs().max() > 1.0  # a trained head, so agreement to 1e-5 is not agreement of near-zeros
    torch.testing.assert_close(left, right, atol=1e-5, rtol=0)
    torch.testing.assert_close(hf_right, right, atol=1e-5, rtol=0)  # same token as HF with right padding


@pytest.mark.slow
def test_hf_pooling_is_wrong_when_pad_is_eos_and_ours_is_not(trained, tok, test_pairs):
    """Many hub tokenizers pad with EOS: HF then pools before the closing EOS; the attention mask does not."""
    model, _, _, _ = trained
    enc = encode_responses(tok, list(test_pairs["prompt"][:8]), list(test_pairs["chosen"][:8]), padding_side="right")
    ids = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, tok.eos_token_id)  # pad with EOS instead
    old = model.config.pad_token_id
    model.config.pad_token_id = tok.eos_token_id
    try:
        with torch.no_grad():
            ours = pooled_rewards(model, ids, enc["attention_mask"])
            hf = model(input_ids=ids, attention_mask=enc["attention_mask"]).logits.squeeze(-1)
            expected = pooled_rewards(model, enc["input_ids"], enc["attention_mask"])
    finally:
        model.config.pad_token_id = old
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)  # pad ids never matter to our pooling
    assert (hf - expected).abs().min() > 1e-3  # HF read every row at the token before its EOS


# ------------------------------------------------------------------------------------------------- the loss
def test_margin_raises_the_loss_as_documented():
    r_w, r_l = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1.0, 0.7, -3.0])
    margin = torch.tensor([0.0, 1.0, 2.5])
    loss = reward_loss(r_w, r_l, margin)
    expected = -torch.nn.functional.logsigmoid(r_w - r_l - margin).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(loss, bradley_terry_loss(r_w, r_l, margin).mean())
    assert reward_loss(r_w, r_l, margin) > reward_loss(r_w, r_l, 0.0)  # a pair must be separated by m
    assert reward_loss(r_w, r_l, margin + 1) > reward_loss(r_w, r_l, margin)


def test_centering_adds_its_term_and_pins_the_mean_that_bradley_terry_leaves_free():
    r_w, r_l = torch.tensor([3.0, 2.0, 4.0]), torch.tensor([1.0, 2.5, 3.0])
    c = 0.01
    torch.testing.assert_close(reward_loss(r_w, r_l, center_rewards_coefficient=c),
                               reward_loss(r_w, r_l) + c * ((r_w + r_l) ** 2).mean())
    shift = torch.zeros((), requires_grad=True)  # a constant added to every reward
    reward_loss(r_w + shift, r_l + shift).backward()
    assert shift.grad.abs() < 1e-7  # Bradley-Terry sees differences only: no pull on the mean
    opt = torch.optim.SGD([shift], lr=1.0)
    for _ in range(200):
        opt.zero_grad()
        reward_loss(r_w + shift, r_l + shift, center_rewards_coefficient=0.1).backward()
        opt.step()
    assert float(torch.cat([r_w, r_l]).mean() + shift.detach()) == pytest.approx(0.0, abs=1e-4)


def test_the_margin_column_is_used_only_when_asked(tok, test_pairs):
    rows = test_pairs.select(range(6)).add_column("margin", [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    used = encode_reward_pairs(tok, rows, "default", 128, use_margin=True)
    ignored = encode_reward_pairs(tok, rows, "default", 128, use_margin=False)
    assert used["margin"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5] and ignored["margin"].abs().sum() == 0
    model, _ = load_reward_model("assistant-sft")
    with torch.no_grad():
        model.score.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
        batch = select_pairs(used, range(6))
        loss, metrics = reward_step(model, batch, RewardConfig())
        r_w, r_l = pair_rewards(model, batch)
    torch.testing.assert_close(loss, bradley_terry_loss(r_w, r_l, used["margin"]).mean())
    assert metrics["accuracy"] == pair_scores(r_w, r_l).mean()  # ties 1/2


def test_config_and_reward_fn_errors_speak_to_a_student():
    with pytest.raises(ValueError, match="multiple of grad_accum"):
        RewardConfig(batch_size=30, grad_accum=4)
    with pytest.raises(ValueError, match="center_rewards_coefficient"):
        RewardConfig(center_rewards_coefficient=-1.0)
    policy, tok = load_policy("assistant-sft")
    with pytest.raises(ValueError, match="load_reward_model"):
        reward_fn(policy, tok)  # a causal LM has no score head


# ------------------------------------------------------------------------------------------------- training
@pytest.mark.slow
def test_clean_reward_model_beats_chance_and_approaches_the_noise_ceiling(trained):
    model, history, _, run = trained
    ev = json.loads(run.eval_path.read_text())
    assert ev["split"] == "test" and ev["n"] == 600
    # measured: accuracy 0.72 after 40 steps (0.75 with the 150-step default); ceiling 0.83; chance 0.5
    assert ev["accuracy"] > 0.65  # chance is 0.5; one standard error on 600 pairs is about 0.02
    assert ev["accuracy"] <= ev["accuracy_ceiling"] + 0.03  # no model beats the label noise by more than noise
    assert ev["accuracy_ceiling"] == pytest.approx(0.83, abs=0.02)
    assert ev["accuracy/gold"] > 0.7
    assert set(ev["accuracy_by_slice"]) == {"benign", "borderline", "harmful"}
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["accuracy"] > history[0]["accuracy"]


@pytest.mark.slow
def test_the_run_directory_is_complete(trained):
    model, history, cfg, run = trained
    record = run.read_record()
    assert record["kind"] == "RewardConfig" and record["config"]["data"] == CLEAN
    assert record["data_version"].startswith("pd-") and record["eval_data_version"].startswith("pd-")
    assert record["template"] == "default" and record["reference_model"].endswith("assistant-sft")
    assert record["policy_version"].endswith("@step40") and record["git_commit"] is not None
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    assert {"loss", "accuracy", "margin", "rewards/chosen", "rewards/rejected", "mean_reward", "std_reward",
            "grad_norm", "learning_rate"} <= set(rows[0])
    ckpt = run.path / "checkpoint"
    assert (ckpt / "model.safetensors").exists() and (ckpt / "tokenizer.json").exists()
    reloaded, tok = load_reward_model(ckpt)
    prompts, responses = ["how do i bake bread ?"] * 2, ["sure . first knead the dough .", "i can not help ."]
    np.testing.assert_allclose(reward_fn(reloaded, tok)(prompts, responses), reward_fn(model, tok)(prompts, responses),
                               atol=1e-5)
    assert not [p.name for p in run.path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_reward_fn_scores_duplicates_identically_and_gold_has_the_same_signature(trained, tok):
    model, _, _, _ = trained
    p = [x.text for x in world.heldout_prompts()[:3]]
    prompts = [p[0], p[1], p[0], p[2], p[0]]
    responses = ["sorry , i can not help with that .", "sure . first do it .", "sorry , i can not help with that .",
                 "", "sorry , i can not help with that ."]
    scores = reward_fn(model, tok, batch_size=2)(prompts, responses)
    assert scores.shape == (5,) and scores.dtype == np.float64 and np.isfinite(scores).all()
    assert scores[0] == scores[2] == scores[4]  # bit-identical: best-of-n treats them as ties
    enc = encode_responses(tok, prompts[:2], responses[:2])
    with torch.no_grad():
        direct = pooled_rewards(model, enc["input_ids"], enc["attention_mask"]).double().numpy()
    np.testing.assert_allclose(scores[:2], direct, atol=1e-5)
    gold = gold_reward_fn()(prompts, responses)
    np.testing.assert_array_equal(gold, world.gold_rewards(prompts, responses))
    assert gold.shape == (5,)

"""No silent loss of text: cut responses, unknown tokens and pairs that encode alike are counted with the file
and line of the first one, ``--on-truncate`` keeps, drops or refuses cut rows, and a prompt with no room for a
response stops the run before it creates a run directory (docs/design.md, Testing)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from world_models import tiny_world_lm, world_tokenizer

from prefkit.cli import main
from prefkit.data import DataError, DataWarning, load_preferences, row_sources
from prefkit.models import EncodingStats, tokenize_rows
from prefkit.models.encoding import UNKNOWN_RATE_WARN, unknown_token_id
from prefkit.train import DPOConfig, train_dpo
from prefkit.train.pairs import encode_preferences

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "assistant" / "prefs" / "clean" / "train.jsonl"


@pytest.fixture(scope="module")
def tok():
    return world_tokenizer()


def _write(tmp_path: Path, rows: list[dict], name: str = "prefs.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _shipped(n: int) -> list[dict]:
    with SHIPPED.open() as f:
        return [json.loads(next(f)) for _ in range(n)]


def _lengths(tok, data) -> tuple[list[int], list[int]]:
    """Untruncated token counts of each pair's chosen and rejected sequence, and the prompt's."""
    w = tokenize_rows(tok, data["prompt"], data["chosen"])
    l_ = tokenize_rows(tok, data["prompt"], data["rejected"])
    return [max(len(a.ids), len(b.ids)) for a, b in zip(w, l_)], [min(a.n_prompt, b.n_prompt) for a, b in zip(w, l_)]


@pytest.fixture(scope="module")
def cut_file(tmp_path_factory, tok):
    """A file of 8 shipped pairs and a max_length that cuts some pairs, not all: (path, max_length, cut lines)."""
    path = _write(tmp_path_factory.mktemp("cut"), _shipped(8))
    data = load_preferences(path)
    longest, prompts = _lengths(tok, data)
    max_length = sorted(longest)[len(longest) // 2]
    assert max_length > max(prompts)
    cut = [i + 1 for i, n in enumerate(longest) if n > max_length]
    assert 0 < len(cut) < len(longest)
    return path, max_length, cut


def test_cut_responses_are_counted_and_the_warning_names_the_first_file_and_line(tok, cut_file):
    path, max_length, cut = cut_file
    stats = EncodingStats()
    with pytest.warns(DataWarning) as caught:
        tensors, kept = encode_preferences(tok, load_preferences(path), max_length=max_length, stats=stats)
    data_warnings = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(data_warnings) == 1  # once per dataset, not once per row
    text = str(data_warnings[0].message)
    assert f"first: {path}, line {cut[0]}" in text and "--max-length" in text and "--on-truncate" in text
    assert stats.first_truncated == f"{path}, line {cut[0]}"
    assert len(cut) <= stats.truncated <= 2 * len(cut)  # chosen, rejected or both of each cut pair
    assert kept == list(range(8)) and tensors["chosen_input_ids"].shape == (8, max_length)
    assert stats.as_dict()["truncated"] == stats.truncated and stats.dropped == 0


def test_drop_removes_the_cut_pairs_and_counts_them(tok, cut_file):
    path, max_length, cut = cut_file
    stats = EncodingStats()
    with pytest.warns(DataWarning, match=rf"dropped \({len(cut)} pairs removed\)"):
        tensors, kept = encode_preferences(tok, load_preferences(path), max_length=max_length, on_truncate="drop",
                                           stats=stats)
    assert kept == [i for i in range(8) if i + 1 not in cut]
    assert tensors["chosen_input_ids"].shape[0] == tensors["rejected_input_ids"].shape[0] == 8 - len(cut)
    assert stats.dropped == len(cut) and stats.as_dict()["on_truncate"] == "drop"
    assert int(tensors["chosen_attention_mask"].sum(1).max()) <= max_length


def test_fail_names_the_file_line_and_the_fix(tok, cut_file):
    path, max_length, cut = cut_file
    with pytest.raises(DataError, match=rf"{path}, line {cut[0]}: the response is cut .* Fix: raise --max-length"):
        encode_preferences(tok, load_preferences(path), max_length=max_length, on_truncate="fail")


FOREIGN = [
    {"prompt": "wie komme ich zum bahnhof ?", "chosen": "gehen sie geradeaus und dann links .",
     "rejected": "fragen sie jemand anderen im bahnhof ."},
    {"prompt": "comment faire une omelette ?", "chosen": "battez trois oeufs et faites cuire doucement .",
     "rejected": "mangez plutot une pomme ce matin ."},
]


def test_foreign_text_reports_the_unknown_rate_and_identical_pairs(tok, tmp_path):
    path = _write(tmp_path, _shipped(2) + FOREIGN)
    stats = EncodingStats()
    with pytest.warns(DataWarning) as caught:
        tensors, _ = encode_preferences(tok, load_preferences(path), stats=stats)
    text = " ".join(str(w.message) for w in caught if issubclass(w.category, DataWarning))
    assert unknown_token_id(tok) == tok.unk_token_id and stats.unknown_token == tok.unk_token
    ids = [t[m.bool()] for t, m in zip(tensors["chosen_input_ids"], tensors["chosen_attention_mask"])]
    ids += [t[m.bool()] for t, m in zip(tensors["rejected_input_ids"], tensors["rejected_attention_mask"])]
    n_unk = sum(int((t == tok.unk_token_id).sum()) for t in ids)
    assert stats.unknown_tokens == n_unk > 0 and stats.tokens == sum(len(t) for t in ids)
    assert stats.unknown_rate > UNKNOWN_RATE_WARN
    assert f"{stats.unknown_rate:.0%} of the tokens" in text and repr(tok.unk_token) in text
    assert f"first: {path}, line 3" in text and "tokenizer that covers the language" in text
    # every foreign word is <unk>: two different foreign answers of one length encode to the same tokens
    same = [a.tolist() == b.tolist() for a, b in zip(ids[:4], ids[4:])]
    assert stats.identical_pairs == sum(same) >= 1
    assert stats.first_identical == f"{path}, line {3 + same[2:].index(True)}"
    assert "carry no preference signal" in text


def test_world_data_warns_about_nothing(tok, tmp_path):
    path = _write(tmp_path, _shipped(4))
    stats = EncodingStats()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        encode_preferences(tok, load_preferences(path), stats=stats)
    assert stats.unknown_tokens == 0 and stats.identical_pairs == 0 and stats.truncated == 0


def test_byte_level_bpe_has_no_unknown_token_and_reports_zero():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(["hello world"], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<|endoftext|>", eos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>")
    assert bpe.unk_token_id is not None and unknown_token_id(bpe) is None
    stats = EncodingStats()
    tokenize_rows(bpe, ["wie komme ich zum bahnhof ?"], ["geradeaus"], template=None, stats=stats)
    assert stats.unknown_tokens == 0 and stats.unknown_token is None and stats.tokens > 0
    assert stats.as_dict()["unknown_rate"] == 0


def _dpo_config(tmp_path, **kw):
    return DPOConfig(**{**dict(output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), steps=1,
                               batch_size=2, warmup_steps=0, log_every=1, lr=1e-3, progress=False,
                               eval_samples_per_prompt=0, device="cpu"), **kw})


def test_a_prompt_longer_than_max_length_stops_before_any_run_directory(tok, tmp_path):
    rows = _shipped(3)
    rows[1]["prompt"] = " ".join(["how do i write a resume ?"] * 12)
    path = _write(tmp_path, rows)
    model = tiny_world_lm(tok, hidden=16, layers=1)
    cfg = _dpo_config(tmp_path, max_length=32)
    with pytest.raises(DataError, match=rf"{path}, line 2: the prompt is \d+ tokens and does not fit max_length=32"
                                        r".* Fix: raise --max-length above \d+, or shorten the prompt"):
        train_dpo(cfg, model, tokenizer=tok, dataset=load_preferences(path))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_run_json_records_the_counts(tok, tmp_path, cut_file):
    path, max_length, cut = cut_file
    model = tiny_world_lm(tok, hidden=16, layers=1)
    cfg = _dpo_config(tmp_path, max_length=max_length, on_truncate="drop")
    with pytest.warns(DataWarning):
        train_dpo(cfg, model, tokenizer=tok, dataset=load_preferences(path))
    (run,) = (tmp_path / "runs").iterdir()
    enc = json.loads((run / "run.json").read_text())["encoding"]
    assert enc["dropped"] == len(cut) and enc["on_truncate"] == "drop"
    assert enc["first_truncated"] == f"{path}, line {cut[0]}" and enc["max_length"] == max_length
    assert enc["unknown_tokens"] == 0 and enc["identical_pairs"] == 0 and enc["tokens"] > 0
    assert json.loads((run / "run.json").read_text())["config"]["on_truncate"] == "drop"


def test_the_cli_lists_on_truncate_and_rejects_other_names(capsys):
    with pytest.raises(SystemExit):
        main(["dpo", "--help"])
    assert "--on-truncate" in capsys.readouterr().out
    assert main(["dpo", "--on-truncate", "skip", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "--on-truncate" in err and all(name in err for name in ("warn", "drop", "fail"))


RANK_SCRIPT = '''
import sys
from pathlib import Path
import torch
from prefkit.train import SFTConfig
from prefkit.train.start import start_run
out = Path(sys.argv[1])
cfg = SFTConfig(run_dir=str(out / "finished"), device="cpu", progress=False)
try:
    accelerator, run = start_run(cfg, "sft")
    verdict = "started"
except Exception as exc:
    verdict = f"{type(exc).__name__}: {exc}"
rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
(out / f"rank{rank}.txt").write_text(verdict)
if torch.distributed.is_initialized():
    torch.distributed.destroy_process_group()
'''


@pytest.mark.slow
def test_a_rejected_run_directory_stops_every_rank(tmp_path):
    """Two gloo processes on a finished run directory without --resume: both raise, neither waits for the other."""
    import os
    import subprocess
    import sys

    from test_distributed import _env, _free_port

    (tmp_path / "finished").mkdir()
    (tmp_path / "finished" / "run.json").write_text(json.dumps({"status": "finished"}))
    script = tmp_path / "rank_script.py"
    script.write_text(RANK_SCRIPT)
    env = dict(_env(), PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script),
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        verdict = (tmp_path / f"rank{rank}.txt").read_text()
        assert verdict.startswith("RunDirError: ") and "already holds a run" in verdict and "--resume" in verdict


def test_sft_names_the_line_of_a_cut_demonstration_and_drops_it(tok, tmp_path):
    from prefkit.data import load_demonstrations
    from prefkit.train.pairs import encode_demonstrations

    rows = [{"prompt": "how do i write a resume ?", "completion": "list your jobs ."},
            {"prompt": "how do i write a resume ?", "completion": " ".join(["list your jobs ."] * 10)}]
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_demonstrations(path)
    stats = EncodingStats()
    with pytest.warns(DataWarning, match=rf"first: {path}, line 2\), dropped \(1 demonstration removed\)"):
        kept = encode_demonstrations(tok, data["prompt"], data["completion"], max_length=24, on_truncate="drop",
                                     stats=stats, sources=row_sources(data))
    assert len(kept) == 1 and stats.dropped_rows == [1] and stats.truncated == 1


def _reward_config(tmp_path, **kw):
    from prefkit.train.reward import RewardConfig

    return RewardConfig(**{**dict(output_dir=str(tmp_path / "runs"), steps=1, batch_size=2, warmup_steps=0,
                                  log_every=1, lr=1e-3, progress=False, device="cpu"), **kw})


def test_a_reward_eval_prompt_that_does_not_fit_stops_before_training_and_any_run_directory(tmp_path):
    from prefkit.models import load_reward_model
    from prefkit.train.reward import train_reward

    model, rm_tok = load_reward_model("assistant-sft")
    rows = _shipped(3)
    rows[1]["prompt"] = " ".join(["how do i write a resume ?"] * 12)
    path = _write(tmp_path, rows, "test.jsonl")
    with pytest.raises(DataError, match=rf"{path}, line 2: the prompt is \d+ tokens and does not fit max_length=32"):
        train_reward(_reward_config(tmp_path, max_length=32), model, rm_tok, dataset=load_preferences(SHIPPED, "train[:4]"),
                     eval_dataset=load_preferences(path))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_reward_eval_pairs_cut_at_max_length_are_counted_in_run_json(tmp_path):
    from prefkit.models import load_reward_model
    from prefkit.train.reward import train_reward

    model, rm_tok = load_reward_model("assistant-sft")
    path = _write(tmp_path, _shipped(8), "test.jsonl")
    longest, prompts = _lengths(rm_tok, load_preferences(path))
    max_length = sorted(longest)[len(longest) // 2]
    cut = [i + 1 for i, n in enumerate(longest) if n > max_length]
    assert max_length > max(prompts) and 0 < len(cut) < len(longest)
    train = load_preferences(path).select([i for i, n in enumerate(longest) if n <= max_length])  # none cut
    with pytest.warns(DataWarning, match=rf"first: {path}, line {cut[0]}"):
        run = train_reward(_reward_config(tmp_path, max_length=max_length), model, rm_tok, dataset=train,
                           eval_dataset=load_preferences(path)).run
    record = json.loads((run.path / "run.json").read_text())
    assert record["encoding"]["truncated"] == 0
    assert record["eval_encoding"]["first_truncated"] == f"{path}, line {cut[0]}"
    assert record["eval_encoding"]["truncated"] >= len(cut)
    assert json.loads((run.path / "eval.json").read_text())["n"] == 8


@pytest.mark.parametrize("rank, shown", [("0", 1), ("1", 0)])
def test_under_ddp_only_the_main_process_shows_the_data_warning(tok, cut_file, monkeypatch, rank, shown):
    from prefkit.train.start import quiet_other_ranks

    path, max_length, _ = cut_file
    monkeypatch.setenv("RANK", rank)  # what torchrun and accelerate launch give each process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_other_ranks()
        encode_preferences(tok, load_preferences(path), max_length=max_length)
    assert sum(issubclass(w.category, DataWarning) for w in caught) == shown


def _rl_config(tmp_path, **kw):
    from prefkit.train.rl import RLConfig

    return RLConfig(**{**dict(output_dir=str(tmp_path / "runs"), steps=1, batch_size=8, num_generations=2,
                              warmup_steps=0, log_every=1, lr=1e-3, progress=False, eval_samples_per_prompt=0,
                              device="cpu", max_new_tokens=3), **kw})


@pytest.fixture(scope="module")
def rl_policy():
    from prefkit.models import load_policy

    return load_policy("assistant-sft")


def test_rl_counts_responses_cut_at_max_new_tokens_in_one_warning_and_run_json(tmp_path, rl_policy):
    import copy

    from prefkit.train.rl import train_rl

    policy, tok = rl_policy
    with pytest.warns(DataWarning, match=r"(\d+) of 8 sampled responses cut at max_new_tokens=3 \(first at step 1\), "
                                         r"kept and scored as cut. Raise --max-new-tokens"):
        trained = train_rl(_rl_config(tmp_path), copy.deepcopy(policy), tokenizer=tok)
    sampling = trained.read_record()["sampling"]
    assert sampling["responses"] == 8 and 0 < sampling["cut"] <= 8 and sampling["first_cut_step"] == 1
    assert sampling["max_new_tokens"] == 3 and sampling["on_truncate"] == "warn"


def test_rl_drop_leaves_cut_responses_out_of_the_loss(tmp_path, rl_policy):
    import copy

    from prefkit.train.rl import train_rl

    policy, tok = rl_policy
    with pytest.warns(DataWarning, match="left out of the loss"):
        result = train_rl(_rl_config(tmp_path, max_new_tokens=1, on_truncate="drop"), copy.deepcopy(policy),
                              tokenizer=tok)
        trained, history = result.model, result.history
    sampling = json.loads((result.run.path / "run.json").read_text())["sampling"]
    assert sampling["cut"] == sampling["responses"] == 8  # one token: no response can end
    assert history[0]["loss"] == 0 and history[0]["grad_norm"] == 0  # every term masked: nothing to learn from


def test_rl_fail_stops_at_the_first_step_that_cuts_a_response(tmp_path, rl_policy):
    import copy

    from prefkit.train.rl import train_rl
    from prefkit.train.validate import ConfigError

    policy, tok = rl_policy
    with pytest.raises(ConfigError, match=r"step 1: \d+ of 8 sampled responses were cut at --max-new-tokens 1 and "
                                          r"--on-truncate is 'fail'; raise --max-new-tokens"):
        train_rl(_rl_config(tmp_path, max_new_tokens=1, on_truncate="fail"), copy.deepcopy(policy), tokenizer=tok)


def test_best_of_n_counts_cut_candidates_and_can_refuse_them(tmp_path, rl_policy):
    from prefkit.train.bon import BestOfNConfig, best_of_n
    from prefkit.train.scoring import gold_reward_fn
    from prefkit.train.validate import ConfigError
    from prefkit.worlds import assistant as world

    policy, tok = rl_policy
    prompts = [p.text for p in world.heldout_prompts()][:3]
    cfg = dict(n=2, samples_per_prompt=2, max_new_tokens=1, output_dir=str(tmp_path / "runs"))
    with pytest.warns(DataWarning, match=r"12 of 12 candidates cut at max_new_tokens=1 \(first: prompt 1 .*\); "
                                         r"6 of 6 kept responses are cut"):
        report = best_of_n(BestOfNConfig(**cfg), policy, tok, reward_fn=gold_reward_fn(), prompts=prompts).report
    record = json.loads((Path(report["run_dir"]) / "run.json").read_text())
    assert record["sampling"]["cut"] == 12 and record["sampling"]["kept_cut"] == 6
    assert json.loads((Path(report["run_dir"]) / "eval.json").read_text())["sampling"] == record["sampling"]
    with pytest.raises(ConfigError, match=r"12 of 12 candidates were cut at --max-new-tokens 1 \(first: prompt 1"):
        best_of_n(BestOfNConfig(**cfg, on_truncate="fail", run_dir=str(tmp_path / "fail")), policy, tok,
                  reward_fn=gold_reward_fn(), prompts=prompts)
    assert not (tmp_path / "fail").exists()
    with pytest.raises(ConfigError, match="on_truncate must be one of warn, fail"):
        BestOfNConfig(on_truncate="drop")

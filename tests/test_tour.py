"""`prefkit tour --quick`: the whole pipeline, tiny, through the command line; the report, figures and numbers.

About a minute of CPU on 2 cores with one torch thread (the full tour runs the same code at its defaults).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from prefkit import cli
from prefkit.tour import TourConfig

PNG = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.slow  # a minute of CPU: make test runs it, make test-fast does not


@pytest.fixture(scope="module")
def quick_tour(tmp_path_factory):
    before = torch.get_num_threads()
    out = tmp_path_factory.mktemp("tour")
    import contextlib
    import io

    buf = io.StringIO()
    # The caller's count differs from the tour's own 1 thread (a test worker runs with one), so that a tour that
    # forgot to restore it would be caught.
    torch.set_num_threads(2)
    try:
        with contextlib.redirect_stdout(buf):
            code = cli.main(["tour", "--quick", "--no-progress", "--output-dir", str(out)])
        assert torch.get_num_threads() == 2  # the tour restores the caller's thread count
    finally:
        torch.set_num_threads(before)
    printed = buf.getvalue()
    folder = Path(re.search(r"run folder: (.+)", printed).group(1).strip())
    return code, printed, folder, json.loads((folder / "tour.json").read_text())


def test_quick_tour_prints_the_tables_and_where_it_wrote_them(quick_tour):
    code, printed, folder, res = quick_tour
    assert code == 0 and folder.is_dir()
    assert f"report: {folder / 'report.md'}" in printed
    for header in ("| labels | accuracy | noise ceiling", "| n | proxy r (vs proxy)", "| policy | KL [nats] | gold"):
        assert header in printed
    assert res["scaled"]["quick"] and res["scaled"]["rm_steps"] < TourConfig().rm_steps  # the tiny setting ran


def test_quick_tour_writes_the_report_and_the_figures(quick_tour):
    _, _, folder, res = quick_tour
    report = (folder / "report.md").read_text()
    for name in ("overoptimization", "frontier", "reliability", "templates"):
        data = (folder / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
        assert f"]({name}.png)" in report
    assert res["figures"]["frontier"] == "frontier.png"
    # every run's data version, template, policy version and decoder are in the report
    for name in ("DPO beta=0.05", "RL gold kl_coef=0.02", "RL proxy kl_coef=0.01", "reward model (length)"):
        assert f"| {name} |" in report
    for rm in res["reward_models"].values():
        assert re.fullmatch(r"pd-[0-9a-f]{16}", rm["data_version"]) and rm["data_version"] in report
    dpo = res["policies"]["DPO beta=0.05"]["run"]
    assert dpo["data_version"] in report and dpo["policy_version"] in report and "temperature=1.0" in report
    assert "| total |" in report and res["seconds"]["total"] > 0
    for run in (folder / "runs").iterdir():  # each trainer wrote its run record inside the tour's folder
        record = json.loads((run / "run.json").read_text())
        assert record["seed"] == 0 and "data_version" in record


def test_quick_tour_numbers_are_sane(quick_tour):
    _, _, _, res = quick_tour
    for rm in res["reward_models"].values():
        assert 0.4 < rm["accuracy"] <= 1 and 0.5 < rm["accuracy_ceiling"] <= 1 and 0 <= rm["ece"] <= 0.5
        assert -1 <= rm["corr/reward_length"] <= 1
    # length-biased labels favour the longer answer more often than clean ones: the data the proxy learns from
    assert res["reward_models"]["length"]["longer_answer_accuracy"] > res["reward_models"]["clean"]["longer_answer_accuracy"]
    proxy_rows, gold_rows = res["best_of_n"]["proxy"], res["best_of_n"]["gold"]
    assert [r["n"] for r in proxy_rows] == [1, 2, 4, 8]
    # selecting by a reward can only raise that reward's expected value (an exact U-statistic over one pool)
    assert all(b["proxy"] >= a["proxy"] - 1e-9 for a, b in zip(proxy_rows, proxy_rows[1:]))
    assert all(b["gold"] >= a["gold"] - 1e-9 for a, b in zip(gold_rows, gold_rows[1:]))
    for r in proxy_rows[1:]:
        assert 0 <= r["kl_bound"] and (r["kl"] is None or r["kl_ci95"][0] <= r["kl_bound"] + 1e-9)
    fit = res["best_of_n"]["fit"]
    assert set(fit) >= {"a", "b", "peak_d", "peak_kl", "peak_gain", "r2"} and fit["kind"] == "bon"
    assert math.isinf(fit["peak_kl"]) or fit["peak_kl"] == pytest.approx(fit["peak_d"] ** 2)
    names = list(res["policies"])
    assert names[0] == "pi_ref" and len([n for n in names if n.startswith("DPO")]) == 3
    assert len([n for n in names if n.startswith("RL gold")]) == 2
    for p in res["policies"].values():
        s = p["summary"]
        assert -5 < s["gold_reward"] < 5 and 0 <= p["win_rate"] <= 1
        for key in ("refusal_rate/benign", "refusal_rate/borderline", "harmful_compliance"):
            assert 0 <= s[key] <= 1
        assert p["kl/k1"] > -0.5  # an estimate: slightly negative is sampling noise, more is a bug
    table = res["templates"]["gold_reward"]
    assert set(table) == {"plain", "chatml", "qa"} and all(np.isfinite(v) for t in table.values() for v in t.values())

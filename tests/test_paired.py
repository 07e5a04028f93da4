"""prefkit.evaluate.paired: a policy's samples against the reference's on the same prompts, and failure cases."""
import math

import numpy as np
import pytest

from prefkit.evaluate import compare_to_reference, failure_cases, format_comparison, format_failure_cases


def _samples(gold, kinds, slices):
    return [{"prompt": f"x{i // 2}", "response": f"y{i}", "slice": s, "kind": k, "gold": g}
            for i, (g, k, s) in enumerate(zip(gold, kinds, slices))]


SLICES = ["benign"] * 4 + ["borderline"] * 2 + ["harmful"] * 2
REF = _samples([0.0, 1.0, -1.0, 0.5, 0.0, 0.0, -2.0, 1.0],
               ["refuse", "help", "refuse", "help", "refuse", "help", "comply", "refuse"], SLICES)
POL = _samples([1.0, 1.0, 0.0, -0.5, 0.5, 1.0, 1.0, 1.0],
               ["help", "help", "refuse", "help", "help", "help", "refuse", "refuse"], SLICES)


def test_gold_gain_is_the_paired_mean_difference_with_its_standard_error():
    c = compare_to_reference(POL, REF)
    d = np.array([p["gold"] - r["gold"] for p, r in zip(POL, REF)])  # [1, 0, 1, -1, .5, 1, 3, 0]
    assert c["gold"]["all"]["gain"] == pytest.approx(d.mean())
    assert c["gold"]["all"]["se"] == pytest.approx(d.std(ddof=1) / math.sqrt(8))
    lo, hi = c["gold"]["all"]["ci95"]
    assert (lo + hi) / 2 == pytest.approx(d.mean())
    assert hi - lo == pytest.approx(2 * 1.959964 * d.std(ddof=1) / math.sqrt(8))
    assert c["gold"]["benign"]["gain"] == pytest.approx(0.25) and c["gold"]["harmful"]["gain"] == pytest.approx(1.5)
    assert c["gold"]["borderline"]["n"] == 2


def test_rate_changes_are_by_slice_and_paired():
    r = compare_to_reference(POL, REF)["rates"]
    assert r["benign/refuse"] == pytest.approx({"policy": 0.25, "reference": 0.5, "change": -0.25,
                                                "se": np.std([-1, 0, 0, 0], ddof=1) / 2, "n": 4})
    assert r["harmful/comply"]["change"] == pytest.approx(-0.5) and r["borderline/refuse"]["policy"] == 0.0
    assert compare_to_reference(POL, REF)["win_rate"] == pytest.approx((5 + 2 * 0.5) / 8)  # two ties


def test_unpaired_samples_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="same prompts in the same order.*seed"):
        compare_to_reference(POL, REF[::-1])
    with pytest.raises(ValueError, match="same prompts"):
        failure_cases(POL, REF[:4])


def test_failure_cases_lowest_per_slice_and_largest_losses():
    rows = failure_cases(POL, n=1)
    assert [r["index"] for r in rows] == [3, 4, 6]  # the lowest gold on each slice, slices in order
    assert all(r["reference"] is None and r["change"] is None for r in rows)
    losses = failure_cases(POL, REF, n=2, by_slice=False)
    assert [r["index"] for r in losses] == [3, 1]  # -1, then the first of the ties at 0 (samples' order)
    assert losses[0]["change"] == pytest.approx(-1.0) and losses[0]["reference"] is REF[3]
    text = format_failure_cases(losses, name="DPO")
    assert text.splitlines()[:3] == ["x: x1   [benign]", "  pi_ref [help      r* = +0.50] y3",
                                     "  DPO    [help      r* = -0.50] y3"]


def test_format_comparison_shows_every_slice_and_rate():
    text = format_comparison(compare_to_reference(POL, REF), name="DPO")
    for word in ("all", "benign", "borderline", "harmful", "benign/refuse", "harmful/comply", "win rate 0.750"):
        assert word in text

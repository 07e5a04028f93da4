"""The assistant text world: prompts and splits, responses and classify, gold reward, demonstrator,
annotators, vocabulary and chat templates (docs/design.md, The two worlds)."""
from __future__ import annotations

import doctest
import math
import time
from collections import Counter

import jinja2
import numpy as np
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from prefkit.worlds import assistant as A
from prefkit.worlds.assistant import (ANNOTATORS, DEFAULT_MIX, KINDS, SLICE_WEIGHTS, SYSTEM_PROMPT, TEMPLATES,
                                      TOPICS, Annotator, Demonstrator, Prompt, classify, demonstrations,
                                      gold_reward, gold_rewards, heldout_prompts, kinds_for, make_response,
                                      preference_pairs, prompt_info, relabel, response_features,
                                      sample_prompts, train_prompts, vocabulary)

EOS = "<eos>"
BEST = {"benign": 0.9 * math.sqrt(5), "borderline": 0.9 * math.sqrt(5), "harmful": 1.0}


def _prompt(slice_: str, split: str = "train") -> Prompt:
    return next(p for p in (train_prompts() if split == "train" else heldout_prompts()) if p.slice == slice_)


# ------------------------------------------------------------------------------------------------ prompts
def test_slices_topics_and_heldout_are_disjoint():
    per_slice = Counter(t.slice for t in TOPICS)
    assert per_slice == {"benign": 12, "borderline": 8, "harmful": 8}
    train, held = train_prompts(), heldout_prompts()
    assert not {p.text for p in train} & {p.text for p in held}
    assert {p.split for p in train} == {"train"} and {p.split for p in held} == {"heldout"}
    heldout_topics = {t.name for t in TOPICS if t.heldout}
    assert not heldout_topics & {p.topic for p in train}            # whole topics held out
    assert Counter(TOPIC_SLICE[t] for t in heldout_topics) == {"benign": 2, "borderline": 2, "harmful": 2}
    for frame in A.HELDOUT_FRAMES:                  # and whole phrasings
        stem = frame.split("{}")[0]
        assert not any(p.text.startswith(stem) for p in train)
    for t in TOPICS:
        if not t.heldout:
            assert sum(p.topic == t.name for p in train) >= 4       # several phrasings per training topic
            assert any(p.topic == t.name for p in held)             # and new phrasings held out
    # held-out topics never leak into training text (off-topic answers borrow training topics only)
    heldout_steps = [s for t in TOPICS if t.heldout and t.slice != "harmful" for s in t.steps]
    train_text = [r["response"] for r in demonstrations(2000, seed=0)]
    train_text += [y for r in preference_pairs("clean", 1000, seed=0) for y in (r["chosen"], r["rejected"])]
    assert not [s for s in heldout_steps if any(s in y for y in train_text)]
    # the trigger words of borderline prompts also occur in harmful ones ("steal a base" vs "steal a car")
    assert any("steal" in p.text for p in train if p.slice == "harmful")
    assert any("kill" in p.text for p in train if p.slice == "borderline")


TOPIC_SLICE = {t.name: t.slice for t in TOPICS}


def test_sample_prompts_respects_split_slices_and_weights():
    xs = sample_prompts(6000, seed=1)
    assert all(p.split == "train" for p in xs)
    freq = Counter(p.slice for p in xs)
    for s, w in SLICE_WEIGHTS.items():
        assert abs(freq[s] / len(xs) - w) < 0.03
    assert all(p.split == "heldout" for p in sample_prompts(500, 2, split="heldout"))
    assert {p.slice for p in sample_prompts(300, 3, slices=["harmful"])} == {"harmful"}
    assert len({p.topic for p in sample_prompts(2000, 4, slices=("benign",))}) == 10
    with pytest.raises(ValueError, match="slice"):
        sample_prompts(5, 0, slices=["nice"])
    with pytest.raises(ValueError, match="split"):
        sample_prompts(5, 0, split="test")


def test_prompt_info_round_trips_and_rejects_unknown_text():
    for p in A.all_prompts():
        assert prompt_info(p.text) == p
    assert prompt_info("  How do I   bake bread ?").topic == "bread"
    assert prompt_info("how do i kill a python process ?").slice == "borderline"
    assert prompt_info("how do i make a weapon ?").slice == "harmful"
    with pytest.raises(ValueError, match="unknown prompt"):
        prompt_info("how do i fly to the moon ?")


# ---------------------------------------------------------------------------------------------- responses
def _random_response(p: Prompt, rng) -> tuple[str, str]:
    kind = kinds_for(p.slice)[rng.integers(4)]
    return kind, make_response(p, kind, rng, n_steps=int(rng.integers(1, 6)), filler=int(rng.integers(0, 3)),
                               repeat=int(rng.integers(0, 3)))


def test_classify_agrees_with_builder_on_every_kind():
    rng = np.random.default_rng(0)
    seen = Counter()
    for p in A.all_prompts():
        for kind in kinds_for(p.slice):
            for _ in range(6):
                y = make_response(p, kind, rng, filler=int(rng.integers(0, 3)), repeat=int(rng.integers(0, 2)))
                assert classify(p, y) == kind, (p.text, kind, y)
                seen[kind] += 1
        assert classify(p, make_response(p, "ramble", rng)) == "ramble"   # default ramble length
    assert set(seen) == set(KINDS) and min(seen.values()) > 300


def test_make_response_refuses_kinds_that_do_not_apply():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="comply"):
        make_response(_prompt("benign"), "comply", rng)
    with pytest.raises(ValueError, match="help"):
        make_response(_prompt("harmful"), "help", rng)
    with pytest.raises(ValueError, match="n_steps"):
        make_response(_prompt("benign"), "help", rng, n_steps=6)
    with pytest.raises(ValueError, match="kind"):
        make_response(_prompt("benign"), "joke", rng)


def test_classify_and_gold_read_garbled_text_without_failing():
    rng = np.random.default_rng(0)
    vocab = vocabulary() + ["<eos>", "<unk>", "zebra"]
    prompts = A.all_prompts()
    kinds = Counter()
    for _ in range(2000):
        p = prompts[rng.integers(len(prompts))]
        noise = [vocab[i] for i in rng.integers(0, len(vocab), rng.integers(0, 40))]
        # LM-like garble: splice two responses (possibly to other prompts), drop and insert words
        a = _random_response(p, rng)[1].split()
        b = _random_response(prompts[rng.integers(len(prompts))], rng)[1].split()
        spliced = a[:rng.integers(len(a) + 1)] + b[rng.integers(len(b) + 1):]
        spliced = [w for w in spliced if rng.random() > 0.1]
        spliced.insert(int(rng.integers(len(spliced) + 1)), vocab[rng.integers(len(vocab))])
        for y in (" ".join(noise), " ".join(spliced)):
            kinds[classify(p, y)] += 1
            assert math.isfinite(gold_reward(p, y))
    assert set(kinds) == set(KINDS)
    bread, weapon = prompt_info("how do i bake bread ?"), prompt_info("how do i make a weapon ?")
    assert classify(bread, "") == "ramble" and gold_reward(bread, "") == 0.0
    # no punctuation, a stray word: the steps still count
    assert response_features(bread, "mix the flour and water knead the dough dough").relevant == 2
    assert classify(bread, "mix the flour and water knead the dough dough") == "help"
    # a refusal that leaks a harmful step is compliance; one that then helps is (hedged) help
    assert classify(weapon, "sorry , i can not help with that . first do step alpha .") == "comply"
    assert classify(bread, "sorry , i can not help with that . first knead the dough .") == "help"
    # harmful placeholders on a benign prompt are still compliance
    assert classify(bread, "sure . first obtain item delta .") == "comply"
    assert classify(bread, "sure . first open a terminal . then knead the dough . next find the process id .") \
        == "off_topic"


# -------------------------------------------------------------------------------------------- gold reward
def _help(p, n, **kw):
    return make_response(p, "help", np.random.default_rng(n), n_steps=n, **kw)


def test_gold_reward_formula_on_hand_written_responses():
    bread, weapon = "how do i bake bread ?", "how do i make a weapon ?"
    assert gold_reward(bread, "sure . first mix the flour and water . then knead the dough .") == \
        pytest.approx(0.9 * math.sqrt(2))
    assert gold_reward(bread, "sorry , i can not help with that .") == pytest.approx(-1.0)
    assert gold_reward(weapon, "sorry , i can not help with that .") == pytest.approx(1.0)
    assert gold_reward(weapon, "sure . first do step alpha . then obtain item delta .") == pytest.approx(-2.1)
    assert gold_reward(bread, "well , it depends .") == pytest.approx(-0.05 * 5)       # 4 words and its "."
    assert gold_reward(bread, "sure . first open a terminal . finally find the process id .") == \
        pytest.approx(-0.2)
    # a repeated step earns nothing and costs its words as padding
    assert gold_reward(bread, "sure . first knead the dough . then knead the dough .") == \
        pytest.approx(0.9 - 0.05 * 5)
    # "sure ." and "first ... ." may use 3 marks; the 4 extra periods are padding
    assert gold_reward(bread, "sure . first knead the dough . . . . .") == pytest.approx(0.9 - 0.05 * 4)


def test_gold_reward_orders_the_behaviors():
    rng = np.random.default_rng(0)
    for p in A.all_prompts():
        r = {k: gold_reward(p, make_response(p, k, rng, n_steps=3)) for k in kinds_for(p.slice)}
        if p.slice == "harmful":
            assert r["refuse"] == 1.0 and r["comply"] <= -2.4
            assert r["refuse"] > r["off_topic"] > r["comply"] and r["refuse"] > r["ramble"] > r["comply"]
            comply = [gold_reward(p, make_response(p, "comply", rng, n_steps=n)) for n in range(1, 6)]
            assert np.all(np.diff(comply) < 0) and comply[-1] == pytest.approx(-3.0)
        else:
            assert r["help"] > r["off_topic"] > r["refuse"] and r["help"] > r["ramble"]
            assert r["refuse"] == -1.0 and -0.35 <= r["off_topic"] < 0
            help_ = [gold_reward(p, _help(p, n)) for n in range(1, 6)]
            gains = np.diff(help_)
            assert np.all(gains > 0) and np.all(np.diff(gains) < 0)          # more steps better, concave
            assert gold_reward(p, _help(p, 3, repeat=2)) < help_[2]           # repeats do not count
            assert response_features(p, _help(p, 3, repeat=2)).relevant == 3
            padded = [gold_reward(p, _help(p, 3, filler=k)) for k in range(4)]
            assert np.all(np.diff(padded) < 0)                                # filler is penalized
    for p in sample_prompts(3000, 1, split="all"):                        # about [-3, 2], less padding
        y = _random_response(p, rng)[1]
        assert -3.0 - 0.05 * response_features(p, y).padding - 1e-9 <= gold_reward(p, y) <= BEST["benign"] + 1e-9


def test_gold_rewards_is_the_batch_of_gold_reward():
    rows = demonstrations(200, seed=3)
    prompts, responses = [r["prompt"] for r in rows], [r["response"] for r in rows]
    batch = gold_rewards(prompts, responses)
    assert batch.shape == (200,) and batch.dtype == np.float64
    np.testing.assert_allclose(batch, [gold_reward(x, y) for x, y in zip(prompts, responses)])
    with pytest.raises(ValueError, match="one response per prompt"):
        gold_rewards(prompts, responses[:-1])


# ---------------------------------------------------------------------------------------- demonstrator
def test_demonstrator_mix_and_room_to_improve_on_every_slice():
    rows = demonstrations(6000, seed=0)
    assert all(classify(r["prompt"], r["response"]) == r["kind"] for r in rows)
    for s, mix in DEFAULT_MIX.items():
        sub = [r for r in rows if r["slice"] == s]
        freq = Counter(r["kind"] for r in sub)
        for kind, prob in mix.items():
            assert abs(freq[kind] / len(sub) - prob) < 0.035, (s, kind, freq[kind] / len(sub))
        mean_gold = np.mean([gold_reward(r["prompt"], r["response"]) for r in sub])
        assert BEST[s] - mean_gold > 0.8, (s, mean_gold)
    helps = [r for r in rows if r["kind"] == "help"]
    padded = np.mean([response_features(r["prompt"], r["response"]).padding > 0 for r in helps])
    assert 0.2 < padded < 0.4                                                # pad_rate 0.3
    n_steps = Counter(response_features(r["prompt"], r["response"]).relevant for r in helps)
    assert set(n_steps) == {1, 2, 3, 4, 5}


def test_demonstrator_validates_its_mix():
    with pytest.raises(ValueError, match="summing to 1"):
        Demonstrator(mix={"benign": {"help": 0.5, "refuse": 0.2}})
    with pytest.raises(ValueError, match="do not apply"):
        Demonstrator(mix={"benign": {"comply": 1.0}})
    perfect = Demonstrator(mix={"benign": {"help": 1.0}}, pad_rate=0.0, min_steps=5)
    rows = demonstrations(100, seed=0, demonstrator=perfect, slices=["benign"])
    assert all(gold_reward(r["prompt"], r["response"]) == pytest.approx(BEST["benign"]) for r in rows)


# ------------------------------------------------------------------------------------------ annotators
def _gold_agreement(rows):
    """Fraction of pairs whose chosen response has the higher gold reward (ties left out)."""
    d = np.array([gold_reward(r["prompt"], r["chosen"]) - gold_reward(r["prompt"], r["rejected"]) for r in rows])
    return np.mean(d[d != 0] > 0)


def test_flip_rate_and_temperature_match_bradley_terry():
    n = 4000
    oracle = preference_pairs("oracle", n, seed=5)
    assert _gold_agreement(oracle) == 1.0
    flip20 = preference_pairs(Annotator("flip20", temperature=0.0, flip_rate=0.2), n, seed=5)
    assert abs(_gold_agreement(flip20) - 0.8) < 0.03
    for name in ("clean", "noisy20", "noisy40"):
        ann = ANNOTATORS[name]
        rows = preference_pairs(ann, n, seed=5)
        # expected agreement with gold: P(label follows gold) = (1-eps) sigmoid(|du|/T) + eps (1 - sigmoid)
        expected = np.mean([ann.prob_prefers(r["prompt"], *sorted(
            (r["chosen"], r["rejected"]), key=lambda y: -gold_reward(r["prompt"], y)))
            for r in rows if gold_reward(r["prompt"], r["chosen"]) != gold_reward(r["prompt"], r["rejected"])])
        measured = _gold_agreement(rows)
        assert abs(measured - expected) < 0.03, (name, measured, expected)
    agree = {name: _gold_agreement(preference_pairs(name, n, seed=5)) for name in ("clean", "noisy20", "noisy40")}
    assert agree["clean"] > agree["noisy20"] + 0.1 > agree["noisy40"] + 0.2


def test_prefer_frequency_matches_prob_prefers_on_one_pair():
    p = prompt_info("how do i bake bread ?")
    a = "sure . first knead the dough . then let the dough rise ."
    b = "sure . first knead the dough ."
    ann = Annotator("t", temperature=0.5, flip_rate=0.1)
    rng = np.random.default_rng(0)
    wins = np.mean([ann.prefer(p, a, b, rng)[0] == a for _ in range(5000)])
    s = 1 / (1 + math.exp(-(0.9 * math.sqrt(2) - 0.9) / 0.5))
    assert ann.prob_prefers(p, a, b) == pytest.approx(0.9 * s + 0.1 * (1 - s))
    assert abs(wins - ann.prob_prefers(p, a, b)) < 0.02
    with pytest.raises(ValueError):
        Annotator("bad", flip_rate=1.5)


def test_length_biased_annotator_prefers_longer_answers():
    def longer(rows):
        return np.mean([len(r["chosen"].split()) > len(r["rejected"].split()) for r in rows])
    clean, length = preference_pairs("clean", 3000, seed=7), preference_pairs("length", 3000, seed=7)
    assert longer(length) > longer(clean) + 0.1
    # padding: the same answer with filler added is dispreferred by gold, preferred under length bias
    p = prompt_info("how do i bake bread ?")
    short = "sure . first knead the dough . then let the dough rise ."
    padded = "sure . well , it depends . first knead the dough . let me think about it . then let the dough rise ."
    assert gold_reward(p, padded) < gold_reward(p, short)
    assert ANNOTATORS["length"].utility(p, padded) > ANNOTATORS["length"].utility(p, short)


def test_strict_annotator_disagrees_on_borderline_only():
    clean, strict = ANNOTATORS["clean"], ANNOTATORS["strict"]
    assert strict.rubric_version == "v2-strict" and clean.rubric_version == "v1"
    rng = np.random.default_rng(0)
    for p in sample_prompts(600, 8, split="all"):
        y = _random_response(p, rng)[1]
        same = clean.utility(p, y) == strict.utility(p, y)
        assert same or p.slice == "borderline"
    rows_c = preference_pairs(clean, 3000, seed=9)
    rows_s = preference_pairs(strict, 3000, seed=9)
    assert [{r["chosen"], r["rejected"]} for r in rows_c] == [{r["chosen"], r["rejected"]} for r in rows_s]
    assert {r["rubric_version"] for r in rows_s} == {"v2-strict"}

    def agreement(slice_):
        return np.mean([c["chosen"] == s["chosen"] for c, s in zip(rows_c, rows_s) if c["slice"] == slice_])

    def refusal_wins(rows):
        pairs = [r for r in rows if r["slice"] == "borderline" and {classify(r["prompt"], r["chosen"]),
                                                                      classify(r["prompt"], r["rejected"])}
                 == {"help", "refuse"}]
        return np.mean([classify(r["prompt"], r["chosen"]) == "refuse" for r in pairs])

    # same seed, same label stream: where the rubrics agree, the labels are identical
    assert agreement("benign") == 1.0 and agreement("harmful") == 1.0
    assert agreement("borderline") < agreement("benign") - 0.15
    assert refusal_wins(rows_c) < 0.05 and refusal_wins(rows_s) > 0.95


def test_preference_pairs_schema_determinism_and_policies():
    rows = preference_pairs("noisy20", 500, seed=1)
    assert all(set(r) == {"prompt", "chosen", "rejected", "annotator", "rubric_version", "slice", "topic"}
               for r in rows)
    assert all(r["chosen"] != r["rejected"] and r["annotator"] == "noisy20" and r["rubric_version"] == "v1"
               for r in rows)
    assert all(prompt_info(r["prompt"]).split == "train" for r in rows)
    assert rows == preference_pairs("noisy20", 500, seed=1)
    assert rows != preference_pairs("noisy20", 500, seed=2)
    held = preference_pairs("clean", 200, seed=1, split="heldout")
    assert all(prompt_info(r["prompt"]).split == "heldout" for r in held)
    from_demo = preference_pairs("clean", 200, seed=1, policy=Demonstrator())
    assert all(r["chosen"] != r["rejected"] for r in from_demo)
    lm_like = preference_pairs("clean", 50, seed=1, policy=lambda text, rng: "sure . " * int(rng.integers(1, 4)))
    assert all(r["chosen"] != r["rejected"] for r in lm_like)
    with pytest.raises(RuntimeError, match="two different responses"):
        preference_pairs("clean", 5, seed=1, policy=lambda text, rng: "sure .")
    with pytest.raises(ValueError, match="unknown annotator"):
        preference_pairs("alice", 5, seed=1)


def test_relabel_under_a_new_rubric_changes_borderline_labels():
    rows = preference_pairs("oracle", 2000, seed=4)
    again = relabel(rows, Annotator("oracle-strict", temperature=0.0, strict_safety=True, rubric_version="v2"))
    assert [r["prompt"] for r in again] == [r["prompt"] for r in rows]
    assert {r["rubric_version"] for r in again} == {"v2"}
    ties = [gold_reward(r["prompt"], r["chosen"]) == gold_reward(r["prompt"], r["rejected"]) for r in rows]
    changed = Counter(r["slice"] for r, s, tie in zip(rows, again, ties) if r["chosen"] != s["chosen"] and not tie)
    assert changed["borderline"] > 300 and changed["benign"] == changed["harmful"] == 0


def test_everything_is_deterministic_given_a_seed():
    assert sample_prompts(50, 3) == sample_prompts(50, 3) != sample_prompts(50, 4)
    assert demonstrations(100, 3) == demonstrations(100, 3) != demonstrations(100, 4)
    p = _prompt("benign")
    assert make_response(p, "help", np.random.default_rng(1), filler=1) == \
        make_response(p, "help", np.random.default_rng(1), filler=1)


# --------------------------------------------------------------------------------- vocabulary, templates
def _hf_env():
    """Render like transformers: sandboxed, trim_blocks/lstrip_blocks, raise_exception available."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    return env


def _render(name, messages, add_generation_prompt):
    return _hf_env().from_string(TEMPLATES[name]).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                          bos_token="<bos>", eos_token=EOS)


def test_every_generated_word_is_in_the_vocabulary():
    vocab = vocabulary()
    assert vocab == sorted(set(vocab)) and all(w and not any(c.isspace() for c in w) for w in vocab)
    assert 100 < len(vocab) < 500
    texts = [p.text for p in A.all_prompts()] + [SYSTEM_PROMPT]
    texts += [r["response"] for r in demonstrations(3000, 0, split="all")]
    texts += [y for r in preference_pairs("clean", 2000, 0, split="all") for y in (r["chosen"], r["rejected"])]
    rng = np.random.default_rng(0)
    texts += [_random_response(p, rng)[1] for p in sample_prompts(2000, 0, split="all")]
    for name in TEMPLATES:
        texts.append(_render(name, [{"role": "system", "content": SYSTEM_PROMPT},
                                    {"role": "user", "content": texts[0]},
                                    {"role": "assistant", "content": texts[-1]}], True))
    used = {w for t in texts for w in t.split()} - {EOS}
    assert used <= set(vocab), sorted(used - set(vocab))
    assert len(used) > 0.9 * len(vocab)
    assert all(t == " ".join(t.split()) for t in texts)                 # single spaces, nothing trailing


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_render_roles_and_generation_prompt(name):
    x, y = "how do i kill a python process ?", "sure . first open a terminal . then find the process id ."
    convo = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": x}]
    prompt = _render(name, convo, True)
    assert x in prompt and SYSTEM_PROMPT in prompt and EOS not in prompt
    assert prompt == " ".join(prompt.split())
    assert _render(name, convo, False) != prompt                        # add_generation_prompt adds the marker
    full = _render(name, convo + [{"role": "assistant", "content": y}], False)
    assert full == f"{prompt} {y} {EOS}"                                # = what SFT trains on
    assert _render(name, convo[1:], True).startswith(_render(name, convo[1:], False))
    assert set(prompt.split()) <= set(vocabulary())
    with pytest.raises(jinja2.exceptions.TemplateError, match="tool"):
        _render(name, [{"role": "tool", "content": "x"}], False)


def test_templates_differ_from_each_other():
    convo = [{"role": "user", "content": "how do i bake bread ?"}]
    rendered = {name: _render(name, convo, True) for name in TEMPLATES}
    assert len(set(rendered.values())) == len(TEMPLATES) >= 2
    assert rendered["plain"] == "user : how do i bake bread ? assistant :"
    assert rendered["chatml"] == "<|user|> how do i bake bread ? <|end|> <|assistant|>"


# ------------------------------------------------------------------------------------------- misc
def test_generation_is_fast():
    t = time.perf_counter()
    demonstrations(5000, seed=11)
    preference_pairs("clean", 5000, seed=11)
    assert time.perf_counter() - t < 4.0


def test_module_docstring_example_runs():
    result = doctest.testmod(A, verbose=False)
    assert result.attempted >= 1 and result.failed == 0

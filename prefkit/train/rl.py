"""KL-penalized policy gradient on sampled responses: RLOO (or REINFORCE with a baseline) against a reward.

Each step samples k responses per prompt from the CURRENT policy (no gradients), scores them, and takes one
policy-gradient step on the KL-shaped, sequence-level reward

    R(x, y) = r(x, y) - kl_coef * k1(x, y),         k1 = log pi(y|x) - log pi_ref(y|x)   (TRL's RLOO: k1 only)
    A_i     = R_i - 1/(k-1) sum_{j != i} R_j                          RLOO, Ahmadian et al. 2024, eq. 4
    loss    = -mean_i A_i log pi_theta(y_i | x)                       REINFORCE, Williams 1992

which maximizes E[r] - kl_coef KL(pi || pi_ref): LARGER kl_coef stays CLOSER to pi_ref. The score-function
gradient E[grad log pi(y) k1(y)] is exactly grad KL(pi || pi_ref).

k3 = rho - 1 - log rho (rho = pi_ref(y|x) / pi(y|x)) must NOT go into the reward the same way: its
score-function gradient is grad KL(pi||pi_ref) - grad KL(pi_ref||pi), which vanishes to first order near
pi_ref (no penalty where the run starts). With ``kl_estimator="k3"`` the penalty is instead a loss term
differentiated through log pi, the samples held fixed (the form of GRPO's k3 term, Shao et al. 2024 eq. 4, here
on whole sequences):

    loss = -mean_i A_i log pi_theta(y_i | x) + kl_coef mean_i k3(y_i),   A from R = r (no KL in the reward)

whose expected gradient E[(1 - rho) grad log pi] = grad KL(pi_ref || pi): a correct KL penalty, the reverse
direction, equal to k1's to first order near pi_ref. TRL 1.16's RLOOTrainer has no k3 option.

r is the world's gold reward r* or a learned reward model (a proxy). Gold reward is logged at every step
either way, so a run against a proxy shows when proxy reward keeps rising while gold falls (Goodhart).
Metric names follow TRL's RLOOTrainer where they exist, with its definitions: reward, reward_std, kl (k1 per
response token, summed over the batch's tokens and divided by their number), entropy, completions/mean_length,
completions/clipped_ratio; kl/k1 and kl/k3 are the per-sequence estimates (nats per response).

    >>> result = train_rl(RLConfig())                        # gold reward, laptop recipe
    >>> result = train_rl(RLConfig(reward_model="runs/reward-.../checkpoint", kl_coef=0.01))

Laptop recipe (the defaults: gold reward, kl_coef 0.05, 60 steps of 32 samples): about 100 s of training plus
15 s of evaluation on a 2-core CPU with one torch thread; held-out gold -0.16 -> 0.47, KL 3.8 nats, benign
refusals 0.28 -> 0.15, harmful compliance 0.18 -> 0.07. What to inspect: gold by slice in eval.json and the
samples whose gold fell; against a proxy, completions/mean_length and gold over steps in metrics.jsonl.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..data import DataWarning, data_version
from ..data.read import SUFFIXES
from ..losses import kl_estimate
from ..models import (DecoderConfig, Row, collate_rows, decode_samples, load_policy,
                      load_reward_model, prepare_for_training, sample_ids, sequence_logps)
from ..models.encoding import ON_TRUNCATE
from ..worlds import assistant as world
from .config import TrainConfig
from .loop import BatchOrder, make_accelerator, model_name, start_run, train_loop
from .result import TrainResult
from .start import begin, finish
from .pairs import prompt_set
from .recipes import apply_recipe
from .scoring import gold_reward_fn, reward_fn as make_reward_fn
from .validate import NAME, OPTIONAL_PATH, PATH, ConfigError, Int, OneOf, PromptSet, Real, check_template, require

BASELINES = ("rloo", "mean", "none")


@dataclass
class RLConfig(TrainConfig):
    model: str = "assistant-sft"
    """Policy to start from (shipped name, path or hub name; ignored when a policy object is passed)."""
    reference: str | None = None
    """Frozen reference pi_ref of the KL penalty; None = a frozen copy of the starting policy."""
    reward_model: str | None = None
    """Reward model checkpoint to optimize (a proxy, e.g. <reward run>/checkpoint); None = the gold reward r*."""
    reward_template: str = "default"
    """Chat template the reward model scores with (the one it was trained with)."""
    kl_coef: float = 0.05
    """KL penalty strength (TRL's RLOO beta): LARGER kl_coef keeps the policy CLOSER to pi_ref."""
    kl_estimator: str = "k1"
    """KL penalty: 'k1' subtracts kl_coef * k1 from the reward (TRL's RLOO; gradient of KL(pi||pi_ref)); 'k3'
    adds kl_coef * k3 to the loss, differentiated through log pi (GRPO's form; gradient of KL(pi_ref||pi))."""
    num_generations: int = 4
    """k: responses sampled per prompt (RLOO's leave-one-out baseline needs k >= 2)."""
    baseline: str = "rloo"
    """'rloo' (leave-one-out mean of the prompt's other samples), 'mean' (batch mean), or 'none'."""
    normalize_advantages: bool = False
    """Divide advantages by their standard deviation in the batch (TRL's normalize_advantages)."""
    prompts: str = "train"
    """Training prompts: the world's 'train' prompts (held-out prompts are kept for eval.json), or a data file of
    world prompts (TRL's prompt-only format, strings or conversations, e.g. after a system turn)."""
    template: str = "default"
    """Chat template of the policy, in sampling, training and the final evaluation."""
    temperature: float = 1.0
    """Sampling temperature in training (1: samples from pi itself, which the KL estimate assumes)."""
    max_new_tokens: int = 64
    """Longest sampled response, in tokens; longer ones are cut (completions/clipped_ratio) and scored as cut."""
    eval_samples_per_prompt: int | None = None
    """Responses per held-out prompt for eval.json (gold by slice, refusals, KL, win rate); 0 = skip.
    None = the model's recipe: 2 for the course's models, 0 for pretrained ones."""
    steps: int = 60
    """Optimizer steps (the laptop recipe: 60 steps of 32 samples)."""
    batch_size: int = 32
    """Responses per optimizer step: batch_size / num_generations prompts, k responses each."""
    lr: float | None = None
    """Peak learning rate (AdamW). None = the model's recipe: 3e-4 for the course's models, TRL's 1e-6 for
    pretrained ones."""
    warmup_steps: int = 5
    """Linear warmup from 0 to lr."""
    decay: bool = False
    """Hold the learning rate after warmup (RL runs are often stopped early; a decay would hide drift)."""
    log_every: int = 5
    """Write a metrics row every this many steps."""
    on_truncate: str = "warn"
    """A sampled response cut at max_new_tokens: 'warn' keeps it, scored as cut (one warning at the end counts
    them; run.json 'sampling'), 'drop' leaves it out of the loss (TRL's mask_truncated_completions), 'fail'
    stops the run at the first step that cuts one."""

    RULES = {"model": PATH, "reference": OPTIONAL_PATH, "reward_model": OPTIONAL_PATH, "reward_template": NAME,
             "kl_coef": Real(0), "kl_estimator": OneOf(("k1", "k3")), "num_generations": Int(1),
             "baseline": OneOf(BASELINES), "prompts": PromptSet(world.SPLITS, SUFFIXES), "template": NAME,
             "temperature": Real(0, open_lo=True), "max_new_tokens": Int(1),
             "eval_samples_per_prompt": Int(0, optional=True), "on_truncate": OneOf(ON_TRUNCATE)}

    def __post_init__(self):
        super().__post_init__()
        require(self.baseline != "rloo" or self.num_generations >= 2, ("baseline", "num_generations"), self,
                "the RLOO baseline needs num_generations >= 2 (or use --baseline mean)")
        require((self.batch_size // self.grad_accum) % self.num_generations == 0,
                ("batch_size", "grad_accum", "num_generations"), self,
                f"batch_size={self.batch_size} must split into grad_accum={self.grad_accum} micro-batches "
                f"that are multiples of num_generations={self.num_generations}")

    @property
    def decoder(self) -> DecoderConfig:
        return DecoderConfig(temperature=self.temperature, max_new_tokens=self.max_new_tokens)


# ------------------------------------------------------------------------------------- pure functions
def advantages(rewards: torch.Tensor, k: int, baseline: str = "rloo", normalize: bool = False) -> torch.Tensor:
    """Advantages of B = P k rewards, grouped by prompt (k consecutive samples per prompt).        # (B,)

    rloo: A_i = R_i - (sum_j R_j - R_i)/(k - 1)   (prompt's other samples; = k/(k-1) (R_i - mean_prompt))
    mean: A_i = R_i - mean_batch(R);   none: A_i = R_i
    """
    if baseline == "rloo":
        grouped = rewards.view(-1, k)                                                             # (P, k)
        baseline_ = (grouped.sum(1, keepdim=True) - grouped) / (k - 1)                          # (P, k)
        adv = (grouped - baseline_).reshape(-1)
    elif baseline == "mean":
        adv = rewards - rewards.mean()
    else:
        adv = rewards
    if normalize:
        adv = adv / (adv.std() + 1e-4)
    return adv                                                                                    # (B,)


def policy_gradient_loss(logps: torch.Tensor, advantages_: torch.Tensor) -> torch.Tensor:
    """REINFORCE: -mean(A log pi(y|x)), the advantages held constant.                          scalar"""
    return -(advantages_.detach() * logps).mean()


def kl_penalty(logps: torch.Tensor, ref_logps: torch.Tensor, kind: str = "k1") -> tuple[torch.Tensor, torch.Tensor]:
    """``(in_reward, in_loss)``, each (B,): the sequence KL penalty per sample, before kl_coef.

    k1: in_reward = log pi(y|x) - log pi_ref(y|x), detached (subtracted from the reward: score-function gradient
        E[grad log pi k1] = grad KL(pi || pi_ref)); in_loss = 0.
    k3: in_reward = 0; in_loss = rho - 1 - log rho, rho = pi_ref / pi, with gradient through log pi
        (E[grad k3] = E[(1 - rho) grad log pi] = grad KL(pi_ref || pi)).
    """
    if kind == "k1":
        return kl_estimate(logps.detach(), ref_logps, "k1"), torch.zeros_like(logps)
    if kind == "k3":
        return torch.zeros_like(logps), kl_estimate(logps, ref_logps.detach(), "k3")
    raise ValueError(f"kl penalty kind must be 'k1' or 'k3', got {kind!r}")


# ------------------------------------------------------------------------------------------- one step
def rollout(model, tokenizer, prompts: list, cfg: RLConfig, seed: int) -> tuple[list[str], dict]:
    """k responses per prompt from the current policy (no gradients), as the very token ids sampled.

    Each row is the prompt's ids followed by the sampled ids, up to and including the end-of-sequence token;
    a response cut at max_new_tokens has none, so its log-prob is that of the tokens actually sampled. The
    text is never re-encoded: decoding and encoding again can give other tokens (BPE merges, special tokens
    dropped by decoding). Returns (responses as text, batch) with input_ids, attention_mask, response_mask of
    shape (P k, T) and truncated (P k,).
    """
    repeated = [p for p in prompts for _ in range(cfg.num_generations)]
    sampler = getattr(model, "module", model)  # unwrap DDP for .generate
    samples = sample_ids(sampler, tokenizer, repeated, template=cfg.template, seed=seed, decoder=cfg.decoder,
                         batch_size=len(repeated))
    responses = decode_samples(tokenizer, samples)
    enc = collate_rows([Row(s.prompt_ids + s.response_ids, len(s.prompt_ids)) for s in samples],
                       tokenizer.pad_token_id)
    enc["truncated"] = torch.tensor([not s.finished for s in samples])                          # (B,)
    return responses, enc


def rl_step(model, ref, tokenizer, batch: dict, prompts: list[str], reward, gold, cfg: RLConfig,
            tally: dict | None = None):
    """``(loss, metrics)`` of one micro-batch: sample, score, shape with the KL penalty, policy gradient.

    A response cut at max_new_tokens follows ``cfg.on_truncate`` ('drop': its loss terms are 0, the mean is
    still over the whole micro-batch); ``tally`` (``responses``, ``cut``, ``first_cut_step``) counts them.
    """
    device = batch["prompt_idx"].device
    chosen = [prompts[i] for i in batch["prompt_idx"].tolist()]
    repeated = [p for p in chosen for _ in range(cfg.num_generations)]
    responses, enc = rollout(model, tokenizer, chosen, cfg, int(batch["seed"]))
    enc = {k: v.to(device) for k, v in enc.items()}
    n_sampled, n_cut = _over_ranks(len(responses), int(enc["truncated"].sum()), device)
    if tally is not None:
        tally["responses"] += n_sampled
        tally["cut"] += n_cut
        if n_cut and tally["first_cut_step"] is None:
            tally["first_cut_step"] = tally.get("step")
    if n_cut and cfg.on_truncate == "fail":
        raise ConfigError(f"step {tally.get('step') if tally else '?'}: {n_cut} of {n_sampled} sampled responses "
                          f"were cut at --max-new-tokens {cfg.max_new_tokens} and --on-truncate is 'fail'; raise "
                          f"--max-new-tokens, or pass --on-truncate warn (keep them, scored as cut) or drop (leave "
                          f"them out of the loss)")
    keep = (~enc["truncated"]).float() if cfg.on_truncate == "drop" else torch.ones_like(enc["truncated"],
                                                                                           dtype=torch.float)
    logps = sequence_logps(model, enc["input_ids"], enc["attention_mask"], enc["response_mask"])   # (B,)
    with torch.no_grad():
        ref_logps = sequence_logps(ref, enc["input_ids"], enc["attention_mask"], enc["response_mask"])  # (B,)
    scores = torch.as_tensor(reward(repeated, responses), dtype=torch.float32, device=device)      # (B,)
    gold_scores = torch.as_tensor(gold(repeated, responses), dtype=torch.float32, device=device)   # (B,)
    in_reward, in_loss = kl_penalty(logps, ref_logps, cfg.kl_estimator)                          # (B,), (B,)
    shaped = scores - cfg.kl_coef * in_reward                                                     # (B,)
    adv = advantages(shaped, cfg.num_generations, cfg.baseline, cfg.normalize_advantages)         # (B,)
    loss = policy_gradient_loss(logps * keep, adv) + cfg.kl_coef * (in_loss * keep).mean()
    n_tok = enc["response_mask"][:, 1:].sum(1).float()                                             # (B,)
    k1 = kl_estimate(logps.detach(), ref_logps, "k1")                                             # (B,)
    kl = kl_estimate(logps.detach(), ref_logps, cfg.kl_estimator)                                 # (B,)
    metrics = {"reward": scores.mean(), "reward_std": scores.std(), "gold": gold_scores.mean(),
               "kl": k1.sum() / n_tok.sum().clamp_min(1),  # TRL's: k1 per response token, over the batch
               "kl/k1": k1.mean(), "kl/k3": kl_estimate(logps.detach(), ref_logps, "k3").mean(),
               "rlhf_reward": (scores - cfg.kl_coef * kl).mean(),
               "entropy": -logps.detach().sum() / n_tok.sum(),
               "completions/mean_length": n_tok.mean(), "completions/clipped_ratio": enc["truncated"].float().mean(),
               "refusal_rate": torch.tensor(np.mean([world.classify(p, y) == "refuse"
                                                     for p, y in zip(repeated, responses)]),
                                            dtype=torch.float32, device=device)}
    return loss, {k: v.detach() for k, v in metrics.items()}


def _over_ranks(n_sampled: int, n_cut: int, device) -> tuple[int, int]:
    """Responses sampled and cut in this micro-batch, summed over the ranks under DDP (each samples its shard), so
    that every rank counts the same and 'fail' stops all of them together."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return n_sampled, n_cut
    counts = torch.tensor([n_sampled, n_cut], dtype=torch.long, device=device)
    torch.distributed.all_reduce(counts)
    return int(counts[0]), int(counts[1])


# ------------------------------------------------------------------------------------------------ trainer
def _frozen(model):
    model.eval()
    model.requires_grad_(False)
    return model


def train_rl(config: RLConfig, model=None, tokenizer=None, *, ref=None, reward_fn=None) -> TrainResult:
    """Optimize the policy ``model`` against ``reward_fn`` (default: config.reward_model, else gold) with a KL
    penalty; ``ref`` is pi_ref (by default a frozen copy of the policy or ``config.reference``).

    Returns the ``TrainResult``. The run directory holds run.json (config, seed, prompt-set version,
    template, reference model, reward, decoder), metrics.jsonl (one row per log_every steps: reward, gold, kl
    (TRL's: k1 per response token), kl/k1 and kl/k3 (per sequence, nats), rlhf_reward, entropy (nats per token,
    Monte Carlo), completions/mean_length, completions/clipped_ratio, refusal_rate, reward_std, loss, grad_norm,
    learning_rate), checkpoint/ and eval.json (``evaluate_run`` on held-out prompts against pi_ref, plus the proxy
    reward of its samples). Responses cut at max_new_tokens are counted in run.json under ``sampling`` and
    handled as ``on_truncate`` says.
    """
    from ..evaluate import evaluate_for_setting
    from ..evaluate.setting import speaks_world

    policy, tokenizer = begin(config, model, tokenizer, lambda: load_policy(config.model, dtype=config.torch_dtype()))
    eval_setting, eval_prompts, eval_pairs = config.eval_plan(tokenizer)
    if reward_fn is None and not config.reward_model and not speaks_world(tokenizer):
        raise ValueError("RL without a reward model optimizes the assistant world's gold reward, which only judges "
                         "a model that speaks the world; this policy's tokenizer does not (its free text scores as "
                         "'ramble'). Give reward_model (--reward-model RUN_DIR, a kit-trained reward model) "
                         "or reward_fn")
    config, recipe = apply_recipe(config, policy, "rl")
    if ref is None:
        ref = (load_policy(config.reference, dtype=config.torch_dtype(), with_tokenizer=False) if config.reference
               else copy.deepcopy(policy))
    if ref is policy:
        raise ValueError("ref must be a separate model from the policy (pass a copy, e.g. copy.deepcopy(policy))")
    accelerator = make_accelerator(config)
    device = accelerator.device
    _frozen(ref).to(device)
    if reward_fn is None and config.reward_model:
        rm, rm_tok = load_reward_model(config.reward_model)
        check_template(rm_tok, config.reward_template, "reward_template")
        reward_fn = make_reward_fn(_frozen(rm), rm_tok, template=config.reward_template)
    reward, reward_name = (reward_fn, _name(reward_fn, config)) if reward_fn is not None else (gold_reward_fn(), "gold")
    if getattr(reward, "model", None) is not None:
        reward.model.to(device)
    texts = prompt_set(config.prompts)
    if config.prompts == "heldout":
        warnings.warn("RL on the held-out prompts: eval.json then measures training prompts, not generalization")
    _, run = start_run(config, "rl", accelerator, tokenizer=tokenizer, recipe=recipe,
                       data_version=data_version([{"prompt": t} for t in texts]),
                       template=config.template, reference=config.reference or config.model, policy_version=None,
                       decoder=config.decoder.as_dict(), reward=reward_name,
                       base_model=model_name(policy, config.model))
    main = accelerator.is_main_process  # under DDP only the main process writes the run directory
    if main:
        run.update_record(eval_setting=eval_setting)
    k = config.num_generations
    order = BatchOrder(len(texts), config.batch_size // config.grad_accum // k, config.seed)

    def next_batch(i):  # prompt indices as a tensor, so a data-parallel loop can shard them across ranks
        return {"prompt_idx": torch.as_tensor(order(i), dtype=torch.long),
                "seed": torch.tensor(config.seed * 1_000_003 + i)}

    tally = {"responses": 0, "cut": 0, "first_cut_step": None, "step": 1}

    def step_fn(model, batch):
        micro = int(batch["seed"]) - config.seed * 1_000_003  # next_batch's index, also after a resume
        tally["step"] = micro // config.grad_accum + 1         # the optimizer step it belongs to, from 1
        return rl_step(model, ref, tokenizer, batch, texts, reward, gold_reward_fn(), config, tally)

    policy = prepare_for_training(policy, config.lora_r, config.gradient_checkpointing)  # after pi_ref was copied
    history = train_loop(policy, config, run, next_batch, step_fn, tokenizer=tokenizer, desc="rl", main_metric="gold",
                         accelerator=accelerator)
    if main and tally["cut"]:
        warnings.warn(_cut_warning(tally, config), DataWarning, stacklevel=2)

    def evaluate():
        if config.eval_samples_per_prompt <= 0:
            return None
        result = evaluate_for_setting(policy, tokenizer, ref=ref, prompts=eval_prompts, setting=eval_setting,
                                      samples_per_prompt=config.eval_samples_per_prompt, seed=config.seed,
                                      template=config.template, decoder=None, pairs=eval_pairs,
                                      beta=config.kl_coef,
                                      reward_fn=None if reward_name == "gold" else reward)
        if reward_name != "gold" and result["setting"] == "assistant":
            result["proxy"] = float(np.mean(reward([s["prompt"] for s in result["samples"]],
                                                   [s["response"] for s in result["samples"]])))
        return result

    return finish(config, run, policy, history, accelerator, evaluate, sampling=_sampling_record(tally, config))


def _sampling_record(tally: dict, config: RLConfig) -> dict:
    """run.json 'sampling': training responses sampled and cut at max_new_tokens (over every rank under DDP)."""
    return {"responses": tally["responses"], "cut": tally["cut"], "first_cut_step": tally["first_cut_step"],
            "max_new_tokens": config.max_new_tokens, "on_truncate": config.on_truncate}


def _cut_warning(tally: dict, config: RLConfig) -> str:
    fate = ("left out of the loss" if config.on_truncate == "drop"
            else "kept and scored as cut. Raise --max-new-tokens, or pass --on-truncate drop (leave them out of the "
                 "loss) or fail (stop at the first)")
    return (f"{tally['cut']} of {tally['responses']} sampled responses cut at max_new_tokens={config.max_new_tokens} "
            f"(first at step {tally['first_cut_step']}), {fate}; run.json 'sampling' has the counts")


def _name(reward_fn, config: RLConfig) -> str:
    if reward_fn is world.gold_rewards:
        return "gold"
    return config.reward_model or getattr(reward_fn, "name", None) or getattr(reward_fn, "__name__", "custom")


__all__ = ["RLConfig", "BASELINES", "train_rl", "rl_step", "rollout", "advantages", "policy_gradient_loss", "kl_penalty"]

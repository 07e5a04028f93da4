"""The ``prefkit`` command line: ``prefkit check-env``, and one subcommand per tool as they land."""
from __future__ import annotations

import argparse
import sys


def _check_env(args: argparse.Namespace) -> int:
    from .environment import check_env

    return 0 if check_env() else 1


def _build_data(args: argparse.Namespace) -> int:
    from .build import BuildConfig, build

    build(BuildConfig(out=args.out, seed=args.seed, model=not args.datasets_only, sft_steps=args.sft_steps))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prefkit", description="prefkit: preference optimization course kit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("check-env", help="check dependencies, device and shipped data; exit 1 if anything fails")
    p.set_defaults(func=_check_env)
    from .build import BuildConfig

    d = BuildConfig()
    p = sub.add_parser("build-data", help="regenerate the shipped datasets and reference policy from seeds")
    p.add_argument("--out", default=d.out, help="data folder (default: the kit's data/)")
    p.add_argument("--seed", type=int, default=d.seed, help="base seed")
    p.add_argument("--sft-steps", type=int, default=d.sft_steps, help="SFT steps of the reference policy")
    p.add_argument("--datasets-only", action="store_true", help="write the datasets, not the model")
    p.set_defaults(func=_build_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

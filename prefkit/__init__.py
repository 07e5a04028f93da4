"""prefkit: a course and lab kit for preference optimization (RLHF and DPO).

Layers, lowest first (a module imports only from its own layer or one below it): core, data, losses, worlds,
models, evaluate, train, plots, widgets, labs, apps (environment, cards, build, tour, cli). See docs/design.md,
Layers; tests/test_layers.py enforces the order.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("prefkit")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def check_env(verbose: bool = True) -> bool:
    """Print one [OK]/[FAIL] line per dependency, the device and the shipped files; True when all OK."""
    from .environment import check_env as _check_env

    return _check_env(verbose=verbose)


__all__ = ["__version__", "check_env"]

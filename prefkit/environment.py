"""``check_env``: is everything the course needs installed, and where will it run?"""
from __future__ import annotations

import platform
import sys
from importlib import metadata

from .core import DATA_DIR, get_device

# What the course ships (`make data` builds them); checked so a broken clone is caught early.
SHIPPED = {
    "shipped data": DATA_DIR / "assistant" / "README.md",
    "reference model": DATA_DIR / "models" / "assistant-sft" / "model.safetensors",
}
DEV_EXTRA = "dev"


def _requirements() -> list[tuple[str, object, bool]]:
    """(name, specifier, optional) for every requirement of the installed prefkit distribution."""
    from packaging.requirements import Requirement

    out = []
    for text in metadata.requires("prefkit") or []:
        req = Requirement(text)
        optional = req.marker is not None and "extra" in str(req.marker)
        if optional and f'extra == "{DEV_EXTRA}"' not in str(req.marker):
            continue
        out.append((req.name, req.specifier, optional))
    return out


def _line(ok: bool | None, text: str) -> str:
    tag = {True: "[OK]  ", False: "[FAIL]", None: "[--]  "}[ok]
    return f"{tag} {text}"


def check_env(verbose: bool = True) -> bool:
    """Print one [OK]/[FAIL] line per dependency (with its version), the device, and the shipped files.

    Development extras (pytest, nbval, TRL, ...) that are missing are shown as ``[--]`` and do not fail the
    check; a missing or too old runtime dependency, or missing shipped data, does. Returns True when all OK.
    """
    lines, ok_all = [], True
    py_ok = sys.version_info >= (3, 10)
    ok_all &= py_ok
    lines.append(_line(py_ok, f"python {platform.python_version()} (needs >= 3.10)"))
    try:
        requirements = _requirements()
    except metadata.PackageNotFoundError:
        requirements = []
        ok_all = False
        lines.append(_line(False, "prefkit is not installed as a package: run `make lab` or `pip install -e .`"))
    for name, spec, optional in requirements:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            lines.append(_line(None if optional else False,
                               f"{name} not installed" + (" (dev extra: pip install -e .[dev])" if optional else "")))
            ok_all &= optional
            continue
        good = spec.contains(version, prereleases=True) if str(spec) else True
        ok_all &= good or optional
        need = f" (needs {spec})" if str(spec) else ""
        lines.append(_line(good if good or not optional else None, f"{name} {version}{need}"))
    try:
        import torch

        device = get_device()
        detail = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
        lines.append(_line(True, f"device {device} ({detail}; torch {torch.__version__})"))
    except Exception as exc:  # a broken torch install must still produce a readable report
        ok_all = False
        lines.append(_line(False, f"device: torch failed to load ({exc})"))
    for label, path in SHIPPED.items():
        present = path.exists()
        ok_all &= present
        lines.append(_line(present, f"{label}: {path}" + ("" if present else " missing; run `make data`")))
    from .models.catalog import MODELS, install_command, installed_path, models_dir

    for alias, spec in MODELS.items():  # optional: reported, never a failure
        path = installed_path(alias)
        lines.append(_line(True, f"model {alias} ({spec.hub_name}): {path}") if path is not None else
                     _line(None, f"model {alias} ({spec.hub_name}) not installed in {models_dir()}; "
                                 f"run `{install_command(alias)}` (or `make model`)"))
    if verbose:
        print("\n".join(lines))
    return ok_all

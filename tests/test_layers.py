"""The package's layers (docs/design.md, Layers): no module imports from a layer above its own, no import cycles.

Every module's imports are read with ``ast``, including imports inside functions (a lazy import that goes up a
layer is still an upward dependency) and ``importlib.import_module("prefkit....")`` with a literal name.
``from pkg import name`` is an import of the submodule ``pkg.name`` when that module exists, else of ``pkg``.
The checker is tested on synthetic sources too, so a deliberately bad import is shown to fail.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "prefkit"

# Lowest first. A module belongs to the layer of its longest matching prefix; "prefkit" itself (the package
# root, which only re-exports check_env) is matched exactly.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("prefkit.core", "prefkit.core_rundir")),
    ("data", ("prefkit.data",)),
    ("losses", ("prefkit.losses",)),
    ("worlds", ("prefkit.worlds",)),
    ("models", ("prefkit.models",)),
    ("evaluate", ("prefkit.evaluate",)),
    ("train", ("prefkit.train",)),
    ("plots", ("prefkit.plots",)),
    ("widgets", ("prefkit.widgets",)),
    ("labs", ("prefkit.labs",)),
    ("apps", ("prefkit.environment", "prefkit.cards", "prefkit.lesson", "prefkit.build", "prefkit.build_english",
              "prefkit.build_english_bank", "prefkit.tour", "prefkit.cli", "prefkit")),
]


# ------------------------------------------------------------------------------------------------ the checker
def package_sources(package: Path = PACKAGE) -> dict[str, tuple[str, bool]]:
    """{module name: (source, is_package)} for every .py file under ``package``."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path.read_text(encoding="utf-8"), is_pkg)
    return out


def _absolute(module: str, is_pkg: bool, level: int, name: str | None) -> str:
    """The absolute module a ``from <level dots><name> import ...`` inside ``module`` refers to."""
    if level == 0:
        return name or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(module: str, source: str, is_pkg: bool, known: set[str]) -> list[tuple[str, int]]:
    """(imported prefkit module, line) for every import in ``source``, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(source, filename=module)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_pkg, node.level, node.module)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.args[0].value, node.lineno))
    return sorted({(name, line) for name, line in found if name == "prefkit" or name.startswith("prefkit.")})


def layer_of(module: str, layers=LAYERS) -> int:
    """Index (0 = lowest) of the layer ``module`` belongs to; KeyError names a module no layer claims."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            matches = module == prefix if prefix == "prefkit" else (module == prefix or module.startswith(prefix + "."))
            if matches and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise KeyError(f"{module} belongs to no layer: add it to LAYERS in tests/test_layers.py and to the "
                       "Layers table of docs/design.md")
    return best


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, list[tuple[str, int]]]:
    known = set(sources)
    return {m: imports_of(m, src, is_pkg, known) for m, (src, is_pkg) in sources.items()}


def upward_imports(sources: dict[str, tuple[str, bool]], layers=LAYERS) -> list[str]:
    """One line per import that goes to a higher layer than its importer's."""
    bad = []
    for module, targets in import_graph(sources).items():
        here = layer_of(module, layers)
        path = module.replace(".", "/") + ("/__init__.py" if sources[module][1] else ".py")
        for target, line in targets:
            there = layer_of(target, layers)
            if there > here:
                bad.append(f"{path}, line {line}: {module} (layer {layers[here][0]}) imports {target} "
                           f"(layer {layers[there][0]}, above it)")
    return bad


def import_cycles(sources: dict[str, tuple[str, bool]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (or a module importing itself), sorted."""
    graph = {m: sorted({t for t, _ in ts if t in sources}) for m, ts in import_graph(sources).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


# -------------------------------------------------------------------------------------------- the package
def test_every_module_belongs_to_a_layer():
    sources = package_sources()
    assert len(sources) > 50, sorted(sources)  # the walk found the package
    for module in sources:
        layer_of(module)


def test_no_module_imports_from_a_layer_above_its_own():
    bad = upward_imports(package_sources())
    assert not bad, ("imports that go up a layer (docs/design.md, Layers):\n" + "\n".join(bad) + "\nFix: move the "
                     "code that needs the higher layer up into that layer, or what it imports down into a lower one")


def test_no_import_cycles():
    cycles = import_cycles(package_sources())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_the_known_lazy_imports():
    """The bandit imports the loss layer inside fit_policy; the checker must see imports inside functions."""
    sources = package_sources()
    targets = {t for t, _ in import_graph(sources)["prefkit.worlds.bandit"]}
    assert "prefkit.losses" in targets
    assert "prefkit.plots" in {t for t, _ in import_graph(sources)["prefkit.widgets.beta"]}  # `from .. import plots`


def test_the_stated_order_matches_the_docstring_and_the_design_page():
    names = [name for name, _ in LAYERS]
    doc = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    stated = re.search(r"Layers, lowest first[^:]*:(.*?)\.\s", doc, re.S)
    assert stated, "prefkit/__init__.py's docstring no longer states the layers"
    assert [w.strip() for w in re.sub(r"\([^)]*\)", "", stated.group(1)).split(",")] == names
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8").split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\w+) \| ", design, re.M)
    assert [r for r in rows if r != "layer"] == names


# ------------------------------------------------------------------------------- the checker can fail
KNOWN = {"prefkit", "prefkit.core", "prefkit.losses", "prefkit.train", "prefkit.train.dpo", "prefkit.worlds",
         "prefkit.worlds.bandit", "prefkit.plots", "prefkit.widgets", "prefkit.widgets.beta"}


def _synthetic(**overrides: str) -> dict[str, tuple[str, bool]]:
    pkgs = {"prefkit", "prefkit.train", "prefkit.worlds", "prefkit.widgets"}
    sources = {m: ("", m in pkgs) for m in KNOWN}
    for dotted, src in overrides.items():
        m = dotted.replace("__", ".")
        sources[m] = (src, m in pkgs)
    return sources


@pytest.mark.parametrize("source", [
    "from prefkit.train.dpo import dpo\n",                              # absolute, top of the file
    "from .train import dpo\n",                                          # relative; dpo is a submodule
    "import prefkit.train.dpo\n",
    "def f():\n    from .train.dpo import dpo\n    return dpo\n",        # lazy, inside a function
    "import importlib\nM = importlib.import_module('prefkit.train.dpo')\n",
])
def test_an_upward_import_fails(source):
    bad = upward_imports(_synthetic(prefkit__losses=source))
    assert len(bad) == 1, bad
    assert bad[0].startswith("prefkit/losses.py, line ") and "prefkit.losses (layer losses) imports " in bad[0], bad
    assert bad[0].endswith("(layer train, above it)"), bad


def test_downward_and_same_layer_imports_pass():
    ok = _synthetic(prefkit__widgets__beta="from .. import plots\nfrom ..worlds.bandit import Bandit\n",
                    prefkit__train__dpo="from ..losses import preference_loss\nfrom ..core import RunDir\n")
    assert upward_imports(ok) == []
    up = _synthetic(prefkit__worlds__bandit="from .. import plots\n")  # plots sits above worlds
    assert upward_imports(up) == ["prefkit/worlds/bandit.py, line 1: prefkit.worlds.bandit (layer worlds) imports "
                                  "prefkit.plots (layer plots, above it)"]


def test_a_module_no_layer_claims_fails():
    with pytest.raises(KeyError, match="prefkit.extra belongs to no layer"):
        upward_imports({**_synthetic(), "prefkit.extra": ("", False)})


def test_an_import_cycle_fails():
    cyclic = _synthetic(prefkit__train__dpo="from prefkit.train import config\n",
                        prefkit__train="from .dpo import dpo\n")  # dpo -> train/__init__ -> dpo
    assert import_cycles(cyclic) == [["prefkit.train", "prefkit.train.dpo"]]
    lazy = _synthetic(prefkit__core="def f():\n    import prefkit.losses\n",
                      prefkit__losses="from prefkit.core import x\n")
    assert import_cycles(lazy) == [["prefkit.core", "prefkit.losses"]]
    assert import_cycles(_synthetic(prefkit__core="import prefkit.core\n")) == [["prefkit.core"]]
    assert import_cycles(_synthetic(prefkit__train__dpo="from ..losses import x\n")) == []

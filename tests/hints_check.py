"""Does a hint give its exercise's answer away? Compare the hint with the solution code, token by token.

Both texts become streams of canonical tokens: module prefixes, casts and filler words dropped, keyword arguments and
assignment targets dropped, numpy/torch names mapped to their math names (maximum -> max, logsigmoid -> sigmoid),
the lab's names for the two responses mapped to W and L (chosen_rewards, r_w, y_w -> W), probabilities to P and
the reference to REF, ``log`` dropped (``log pi`` and ``logp`` both become P). A hint shares a formula with the
solution when the two streams have three consecutive tokens in common, one of them an operator and one a name:
``max(p, 1 - p)`` and ``np.maximum(p, 1 - p)`` share ``P 1 -``; ``log n - (n - 1)/n`` and
``math.log(n) - (n - 1) / n`` share ``n - n``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from prefkit.labs.student import BEGIN, END, HINT

CHECK = Path(__file__).resolve().parent.parent / "prefkit" / "labs" / "check"
TOKEN = re.compile(r"[A-Za-z_]\w*(?:/\w+)*|\d+(?:\.\d+)?|[-+*/<>]")
SYNONYMS = {"maximum": ["max"], "average": ["mean"], "logsigmoid": ["sigmoid"], "log_softmax": ["softmax"],
            "pi": ["P"], "probs": ["P"], "p": ["P"], "logp": ["P"], "pi_ref": ["REF"], "ref_probs": ["REF"]}
DROP = {"np", "torch", "math", "f", "float", "int", "asarray", "item", "double", "dtype", "to", "of", "over", "the",
        "a", "an", "pairs", "pair", "each", "per", "by", "then", "and", "is", "return", "dim", "axis", "lambda",
        "for", "in", "log"}
OPS = set("-+*/<>")


def canon(text: str) -> list[str]:
    text = re.sub(r"\b\w+\s*=(?!=)", " ", text)  # keyword arguments and assignment targets: keep the values
    out = []
    for tok in TOKEN.findall(text):
        low = tok.lower()
        if low in DROP:
            continue
        if re.fullmatch(r"\w*chosen\w*|\w*_w", low):
            out.append("W")
        elif re.fullmatch(r"\w*rejected\w*|\w*_l", low):
            out.append("L")
        else:
            out.extend(SYNONYMS.get(low, [low]))
    return out


def shared_formula(hint: str, solution: str, n: int = 3) -> str | None:
    """The first run of n tokens (an operator and a name among them) that the hint shares with the solution."""
    h, s = canon(hint), canon(solution)
    grams = {tuple(h[i:i + n]) for i in range(len(h) - n + 1)}
    for i in range(len(s) - n + 1):
        gram = tuple(s[i:i + n])
        if gram in grams and any(t in OPS for t in gram) and any(t not in OPS and not t[0].isdigit() for t in gram):
            return " ".join(gram)
    return None


def solutions(labs: Path) -> dict[tuple[str, str], str]:
    """(lab, function) -> the code between the solution markers, hint lines and comments left out."""
    out = {}
    for path in sorted(labs.glob("lab*.ipynb")):
        lab = path.name.split("_")[0]
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or BEGIN not in cell.source:
                continue
            region, body = False, []
            for line in cell.source.splitlines():
                if line.strip() in (BEGIN, END):
                    region = line.strip() == BEGIN
                elif region and not line.strip().startswith(HINT):
                    body.append(line.split("#")[0])
            out[(lab, re.search(r"def (\w+)\(", cell.source).group(1))] = "\n".join(body)
    return out


def checker_texts(lab: str, checker: str) -> list[str]:
    """Every sentence the checker (and the module's helpers) can print for a wrong answer: the string constants of
    its code, docstrings and the texts of passing verdicts left out, words-only strings (keys, patterns) too."""
    tree = ast.parse((CHECK / f"{lab}.py").read_text(encoding="utf-8"))
    texts = []
    for node in tree.body:
        if not (isinstance(node, ast.FunctionDef) and (node.name == checker or node.name.startswith("_"))):
            continue
        skip = set()
        if ast.get_docstring(node) is not None:
            skip.add(id(node.body[0].value))
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "Verdict" and len(sub.args) > 1
                    and isinstance(sub.args[1], ast.Constant) and sub.args[1].value is True):
                skip.update(id(c) for c in ast.walk(sub))
        texts += [sub.value for sub in ast.walk(node) if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
                  and id(sub) not in skip and " " in sub.value.strip()]
    return texts

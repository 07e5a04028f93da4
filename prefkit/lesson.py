"""The lesson's shared apparatus, rendered from a chapter's own artifacts and measured numbers.

Every chapter opens with the five alignment objects (data, objective, policy, evaluation, feedback), each with
its mathematical and its engineering question and the artifact of this kit that answers them in the chapter,
and closes with the failure pressures (symptom, mitigation, and where the course demonstrates each one with a
number). A chapter fills a plain dict with text it formats from its variables; the renderers here only lay the
text out as Markdown (or HTML), so the numbers in a table are the numbers the chapter computed.

    display(Markdown(alignment_table({"data": f"`prefs/clean`, data version {version}", ...})))
"""
from __future__ import annotations

import html
from typing import Mapping

OBJECTS: dict[str, tuple[str, str]] = {
    "data": ("Which examples define the target behaviour?", "Who wrote, filtered and approved them?"),
    "objective": ("Which terms receive weight?", "Are masks, margins and thresholds logged?"),
    "policy": ("Which actions are allowed?", "Can a reviewer reproduce the decision?"),
    "evaluation": ("Which metric detects a regression?", "Is the test private, stable and sliced?"),
    "feedback": ("Which new evidence changes training?", "How does it enter the next data version?"),
}
"""The five alignment objects: (mathematical question, engineering question)."""

PRESSURES: dict[str, tuple[str, str]] = {
    "proxy reward": ("the proxy reward climbs while gold reward (human judgment) falls",
                     "held-out preferences scored by gold, adversarial review of the top picks"),
    "refusal shortcut": ("safe-looking but unhelpful: benign and borderline requests refused",
                         "measure the benign refusal rate separately from harmful compliance"),
    "template overfit": ("good only under the chat template used in training",
                         "evaluate under the other templates (`evaluate.template_overfit`)"),
    "policy ambiguity": ("annotators disagree on the same pairs, mostly on borderline prompts",
                         "adjudicate and revise the rubric; measure agreement by slice"),
    "feedback drift": ("new labels silently change an old policy",
                       "version rubric, data and policy together (`data_version` in `run.json`)"),
}
"""The five failure pressures: (symptom, mitigation)."""


def _check(kind: str, given: Mapping[str, str], known: Mapping[str, tuple[str, str]]) -> None:
    missing = [k for k in known if k not in given]
    unknown = [k for k in given if k not in known]
    if missing or unknown:
        raise ValueError(f"{kind} needs exactly the keys {list(known)}; missing {missing}, unknown {unknown}. "
                         f"Give each one this chapter's artifact (a file, a version, a measured number) as text.")
    empty = [k for k, v in given.items() if not str(v).strip()]
    if empty:
        raise ValueError(f"{kind}: no text for {empty}; say what this chapter uses or measures for each")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _render(header: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "markdown":
        return _markdown(header, rows)
    if fmt == "html":
        return _html(header, rows)
    raise ValueError(f"fmt must be 'markdown' or 'html', got {fmt!r}")


def alignment_table(artifacts: Mapping[str, str], fmt: str = "markdown") -> str:
    """The alignment-object table: object, its two questions, and this chapter's artifact for it.

    artifacts maps each of ``OBJECTS`` (data, objective, policy, evaluation, feedback) to text the chapter
    formats from its variables: the file and data version, the loss and its logged knobs, the rubric version,
    the held-out slices and metrics, how a relabel enters the next data version.
    """
    _check("alignment_table", artifacts, OBJECTS)
    rows = [[f"**{name}**", math_q, eng_q, artifacts[name]] for name, (math_q, eng_q) in OBJECTS.items()]
    return _render(["object", "mathematical question", "engineering question", "in this chapter"], rows, fmt)


def failure_table(evidence: Mapping[str, str], fmt: str = "markdown") -> str:
    """The failure-pressure table: pressure, symptom, mitigation, and where the course shows it with a number.

    evidence maps each of ``PRESSURES`` to text naming the chapter or lab and the measured number.
    """
    _check("failure_table", evidence, PRESSURES)
    rows = [[f"**{name}**", symptom, fix, evidence[name]] for name, (symptom, fix) in PRESSURES.items()]
    return _render(["failure pressure", "symptom", "mitigation", "where the course measures it"], rows, fmt)


__all__ = ["OBJECTS", "PRESSURES", "alignment_table", "failure_table"]

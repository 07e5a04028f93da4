"""One figure style for the whole course: labels in the notation (docs/design.md), one colour per method, findings
as titles.

Chapters and widgets draw with the same helpers, so a KL axis always reads "KL(pi || pi_ref) [nats]", DPO is
always the same blue and a title always states what the figure shows ("larger beta stays closer to pi_ref"),
not what it plots. Helpers take a matplotlib Axes and return the artists they drew, so a widget can update
them in place:

    fig, ax = new_figure(pyplot=True)                     # in a notebook: shown inline like plt.subplots()
    kl, reward = bandit.frontier(np.logspace(-2, 2, 200))
    plot_frontier(ax, kl, reward)
    style_axes(ax, x="kl", y="reward")
    finding(ax, "Every extra nat of KL buys less reward")

Everything is PNG (never SVG: SVG output embeds a date, so notebooks would differ on every run).
"""
import contextlib
import io

import numpy as np

# Axis labels by key; style_axes(ax, x="kl") looks them up, any other string is used as given.
LABELS = {
    "kl": r"KL($\pi\,\|\,\pi_{\rm ref}$)  [nats]",
    "kl_star": r"KL($\pi\,\|\,\pi^*$)  [nats]",
    "beta": r"$\beta$  (KL strength; larger = closer to $\pi_{\rm ref}$)",
    "eps": r"$\epsilon$  (label-flip rate)",
    "temperature": r"Bradley-Terry temperature $T$",
    "h": r"margin $h$ = logratio($y_w$) $-$ logratio($y_l$)  [nats]",
    "reward": r"expected gold reward $E_{y\sim\pi}[r^*]$",
    "prob": "probability",
    "loss": "loss per pair",
    "response": r"response $y$ (sorted by gold reward $r^*$)",
    "n": r"$n$ (best-of-$n$ samples)",
    "accuracy": "label accuracy",
    "confidence": "predicted probability",
    "frequency": "observed frequency",
    "step": "training step",
}

# One colour per method and per reference object, used by every figure (colour-blind-safe Okabe-Ito palette).
COLORS = {
    "ref": "#999999",          # pi_ref
    "star": "#000000",         # pi* = pi_ref exp(r / beta) / Z
    "policy": "#E69F00",       # the policy being shown (pi_theta, pi_beta)
    "dpo": "#0072B2",
    "cdpo": "#009E73",
    "rdpo": "#D55E00",
    "ipo": "#CC79A7",
    "hinge": "#56B4E9",
    "bt": "#000000",           # Bradley-Terry probability sigma(beta h)
    "weight": "#E69F00",       # DPO gradient weight sigma(-beta h)
    "bon": "#CC79A7",          # best-of-n
    "budget": "#D55E00",       # KL budget and what it buys
    "ceiling": "#009E73",      # accuracy ceiling
}

ERROR_KW = {"ecolor": "#333333", "elinewidth": 1, "capsize": 2}  # error bars on every bar chart (95% intervals)

METHOD_NAMES = {"dpo": "DPO", "cdpo": "cDPO", "rdpo": "rDPO", "ipo": "IPO", "hinge": "hinge (SLiC)"}

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
}


@contextlib.contextmanager
def style():
    """Context manager applying the course style (matplotlib rcParams) to figures created inside it."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width=6.0, height=3.6, ncols=1, nrows=1, dpi=100, pyplot=False, **subplot_kw):
    """(fig, axes) in the course style. pyplot=False gives a Figure that no notebook shows by itself (widgets
    render it to PNG); pyplot=True registers it with pyplot so a notebook cell shows it inline."""
    with style():
        if pyplot:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(width, height), dpi=dpi)
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig = Figure(figsize=(width, height), dpi=dpi)
            FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def style_axes(ax, x=None, y=None, title=None, xlim=None, ylim=None):
    """Label an Axes: x and y are LABELS keys ("kl", "beta", "eps", "h", ...) or literal text."""
    if x is not None:
        ax.set_xlabel(LABELS.get(x, x))
    if y is not None:
        ax.set_ylabel(LABELS.get(y, y))
    if title is not None:
        ax.set_title(title, loc="left")
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return ax


def finding(target, text):
    """Title that states the finding. target: a Figure (suptitle) or an Axes (its title). Returns the Text."""
    if hasattr(target, "suptitle"):
        return target.suptitle(text, x=0.01, ha="left", fontsize=12, fontweight="bold")
    return target.set_title(text, loc="left", fontweight="bold")


def subtitle(fig, text="", y=0.885):
    """A smaller line under the finding, for the numbers behind it (e.g. "beta = 0.5: KL = 0.83 nats").
    Returns the Text, so a widget can update it."""
    return fig.text(0.01, y, text, ha="left", va="top", fontsize=10.5, color="#333333")


def plot_frontier(ax, kl, reward, label=r"$\pi^*(\beta)$ frontier", color=None, **kw):
    """The reward-KL frontier: expected gold reward against KL(pi || pi_ref) in nats, one point per beta."""
    order = np.argsort(kl)
    (line,) = ax.plot(np.asarray(kl)[order], np.asarray(reward)[order], color=color or COLORS["star"],
                      label=label, **kw)
    return line


def mark_betas(ax, betas, kl, reward, color=None):
    """Markers on a frontier at chosen beta, each annotated "beta = b": where each strength sits on the curve.

    betas, kl, reward: [M] (e.g. ``bandit.frontier(betas)``). Returns the Line2D of the markers (data in the
    order given), drawn without a legend entry.
    """
    color = color or COLORS["star"]
    (line,) = ax.plot(np.asarray(kl, dtype=float), np.asarray(reward, dtype=float), marker="o", linestyle="none",
                      markersize=5, color=color, label="_nolegend_")
    for b, x, y in zip(betas, kl, reward):
        ax.annotate(rf"$\beta$={b:g}", (x, y), textcoords="offset points", xytext=(-5, 5), ha="right", fontsize=7,
                    color=color)  # above-left of a rising frontier: over empty space, off the curves below it
    return line


def plot_policy_bars(ax, policies, tick_labels=None, colors=None, width=0.8, errors=None):
    """Grouped bars of several policies over the same responses; policies: {label: probs [K]}.

    errors: {label: error bars} for any of the policies, as ``Axes.bar``'s yerr takes them: [K] half-widths or
    [2, K] (below, above), e.g. ``prefkit.evaluate.rate_errorbars`` (95% Wilson intervals of the rates).
    Returns {label: BarContainer} so the heights can be updated in place (``.errorbar`` holds the bars' errors).
    """
    k = len(next(iter(policies.values())))
    step = width / len(policies)
    out = {}
    for i, (name, probs) in enumerate(policies.items()):
        offset = (i - (len(policies) - 1) / 2) * step
        color = (colors or {}).get(name)
        yerr = (errors or {}).get(name)
        out[name] = ax.bar(np.arange(k) + offset, probs, step * 0.95, label=name, color=color,
                           yerr=None if yerr is None else np.asarray(yerr, dtype=float),
                           error_kw=ERROR_KW)
    ax.set_xticks(np.arange(k))
    if tick_labels is not None:
        ax.set_xticklabels(tick_labels)
    return out


def set_bar_heights(bars, heights):
    """Update a BarContainer in place (for widgets redrawing one persistent figure)."""
    for bar, h in zip(bars, heights):
        bar.set_height(float(h))


def plot_losses(ax, h, losses, linestyles=None):
    """Loss curves against the margin h, one per kind; losses: {kind: array like h}. Returns {kind: Line2D}."""
    out = {}
    for kind, values in losses.items():
        (out[kind],) = ax.plot(h, values, color=COLORS.get(kind), label=METHOD_NAMES.get(kind, kind),
                               linestyle=(linestyles or {}).get(kind, "-"))
    return out


def reliability_diagram(ax, confidence, outcome, bins=10, label="model"):
    """Reliability diagram: mean outcome against mean predicted probability in equal-width bins, with the
    diagonal of perfect calibration. Returns ECE = sum_b (n_b / n) |acc_b - conf_b| (Guo et al. 2017)."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(outcome, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    used = counts > 0
    mean_conf = np.bincount(which, conf, bins)[used] / counts[used]
    mean_hit = np.bincount(which, hit, bins)[used] / counts[used]
    ece = float(np.sum(counts[used] / len(conf) * np.abs(mean_hit - mean_conf)))
    ax.plot([0, 1], [0, 1], color=COLORS["ref"], linestyle="--", linewidth=1, label="perfectly calibrated")
    ax.plot(mean_conf, mean_hit, marker="o", color=COLORS["dpo"], label=f"{label} (ECE {ece:.3f})")
    style_axes(ax, x="confidence", y="frequency", xlim=(0, 1), ylim=(0, 1))
    return ece


def plot_curves(ax, history, keys, x="step"):
    """Training curves: history is a list of metric rows (metrics.jsonl); one line per key that appears."""
    lines = {}
    for key in keys:
        rows = [row for row in history if key in row]
        if rows:
            (lines[key],) = ax.plot([row.get(x, i) for i, row in enumerate(rows)], [row[key] for row in rows],
                                    label=key)
    style_axes(ax, x=x)
    return lines


def png_bytes(fig, dpi=None):
    """The figure as PNG bytes (to save, embed or feed an ipywidgets.Image)."""
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


__all__ = [
    "LABELS",
    "COLORS",
    "METHOD_NAMES",
    "STYLE",
    "style",
    "new_figure",
    "style_axes",
    "finding",
    "subtitle",
    "plot_frontier",
    "plot_policy_bars",
    "mark_betas",
    "set_bar_heights",
    "plot_losses",
    "reliability_diagram",
    "plot_curves",
    "png_bytes",
]


# ------------------------------------------------------------------------------------------------------------------
# Analysis figures (reward-model audit, overoptimization, frontier, template overfit, agreement), used by chapter 02,
# chapter 03 and `prefkit tour`. Each helper draws on given Axes and returns the artists it drew, keyed by name, so
# tests can check the plotted data and widgets can update it.
LABELS.update({
    "sqrt_kl": r"$d=\sqrt{{\rm KL}(\pi\,\|\,\pi_{\rm ref})}$  [nats$^{1/2}$]",
    "gain": r"gain over $\pi_{\rm ref}$: $r - r(\pi_{\rm ref})$",
    "gold": r"gold reward $E[r^*]$ on held-out prompts",
    "agreement": "share of pairs labelled the same way",
})
COLORS.update({"rl": "#D55E00", "gold": "#000000", "proxy": "#E69F00", "template": "#56B4E9"})
METHOD_NAMES.update({"rl": "RL (KL-penalized)", "bon": "best-of-$n$ (vs gold)"})
SLICE_COLORS = {"benign": "#0072B2", "borderline": "#E69F00", "harmful": "#D55E00", "all": "#000000"}


def plot_overoptimization(ax, kl, gold, proxy=None, fit=None, label="best-of-$n$", color=None, annotate=None):
    """Gold (and proxy) reward GAIN over the starting policy against d = sqrt(KL), with a Gao et al. fit and its peak.

    kl: KL(pi || pi_ref) in nats per point (the first point is usually pi_ref itself, KL 0); gold, proxy: the
    gains r - r(pi_ref) at those points; fit: a ``prefkit.evaluate.overopt.OveroptFit`` of the gold gains, drawn
    as a thin curve with a star at its predicted peak (when the peak is finite). annotate: a text label per point
    (e.g. "n=16"). Returns {"gold", "proxy", "fit", "peak"} (absent keys: not drawn).
    """
    color = color or COLORS["bon"]
    d = np.sqrt(np.clip(np.asarray(kl, dtype=float), 0, None))
    out = {}
    (out["gold"],) = ax.plot(d, np.asarray(gold, dtype=float), marker="o", color=color, label=f"{label}: gold $r^*$")
    if proxy is not None:
        (out["proxy"],) = ax.plot(d, np.asarray(proxy, dtype=float), marker="s", linestyle="--", color=color,
                                  alpha=0.7, label=f"{label}: proxy $r$")
    if fit is not None:
        top = max(float(d.max()), fit.peak_d if np.isfinite(fit.peak_d) else 0.0) * 1.1
        grid = np.linspace(0, top, 200)
        (out["fit"],) = ax.plot(grid, fit.predict(grid), color=color, linewidth=1, linestyle=":",
                                label=f"Gao et al. fit ({fit.kind}), $R^2$={fit.r2:.2f}")
        if np.isfinite(fit.peak_d):
            (out["peak"],) = ax.plot([fit.peak_d], [fit.peak_gain], marker="*", markersize=14, linestyle="none",
                                     color=color, markeredgecolor="black",
                                     label=f"predicted peak: KL {fit.peak_kl:.2f} nats")
    for x, y, text in zip(d, np.asarray(gold, dtype=float), annotate or []):
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(3, -11), fontsize=7, color="#333333")
    ax.axhline(0, color=COLORS["ref"], linewidth=0.8)
    style_axes(ax, x="sqrt_kl", y="gain")
    return out


def plot_frontier_points(ax, kl, gold, method, labels=None, xerr=None, yerr=None):
    """Measured (KL, gold reward) points of one method (e.g. DPO at several beta), joined in order of KL.

    method: a COLORS / METHOD_NAMES key ("dpo", "rl", "bon"); labels: a text per point ("beta=0.1").
    Returns the Line2D (its data are the points sorted by KL) and draws error bars when given.
    """
    kl, gold = np.asarray(kl, dtype=float), np.asarray(gold, dtype=float)
    order = np.argsort(kl)
    color = COLORS.get(method, COLORS["policy"])
    if xerr is not None or yerr is not None:
        ax.errorbar(kl, gold, xerr=xerr, yerr=yerr, fmt="none", ecolor=color, alpha=0.5, linewidth=1)
    (line,) = ax.plot(kl[order], gold[order], marker="o", color=color, label=METHOD_NAMES.get(method, method))
    for x, y, text in zip(kl, gold, labels or []):
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    return line


def frontier_figure(bandit_kl, bandit_reward, points, reference_gold=None, pyplot=False,
                    title="The reward-KL frontier: exact in the bandit, measured in the assistant world",
                    beta_marks=None):
    """Two panels: the exact bandit frontier of pi_beta = pi_ref exp(r/beta)/Z, and measured assistant-world points.

    points: {method: {"kl": [...], "gold": [...], "labels": [...]}} for "dpo", "rl", "bon" (any subset);
    reference_gold: pi_ref's gold reward, drawn at KL 0; beta_marks: (betas, kl, reward) of frontier points to
    mark with their beta (``mark_betas``). Returns (fig, {"bandit": Line2D, "beta_marks": Line2D, method: ...}).
    """
    fig, (left, right) = new_figure(width=11.0, height=4.2, ncols=2, pyplot=pyplot)
    out = {"bandit": plot_frontier(left, bandit_kl, bandit_reward, label=r"$\pi_\beta$ (exact, every $\beta$)")}
    if beta_marks is not None:
        out["beta_marks"] = mark_betas(left, *beta_marks)
    style_axes(left, x="kl", y="reward", title=r"bandit: larger $\beta$ sits lower-left, closer to $\pi_{\rm ref}$")
    for method, p in points.items():
        out[method] = plot_frontier_points(right, p["kl"], p["gold"], method, p.get("labels"))
    if reference_gold is not None:
        (out["ref"],) = right.plot([0.0], [reference_gold], marker="D", linestyle="none", color=COLORS["ref"],
                                   label=r"$\pi_{\rm ref}$ (SFT)")
    style_axes(right, x="kl", y="gold", title="assistant world: measured on held-out prompts")
    for ax in (left, right):
        ax.legend(loc="lower right")
    finding(fig, title)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig, out


def plot_template_overfit(ax, table, metric="gold_reward", trained_on=None, errors=None):
    """Grouped bars of a policy's ``metric`` by slice (groups) under each chat template (bars).

    table: {template: {slice: value}} (``prefkit.evaluate.templates.template_table``'s "by_template" numbers);
    errors: {template: yerr} ([K] or [2, K], in the slices' order), e.g. 95% intervals of the rates.
    Returns {template: BarContainer}; the template the policy was trained on is hatched.
    """
    templates = list(table)
    slices = list(next(iter(table.values())))
    width = 0.8 / len(templates)
    palette = ["#0072B2", "#56B4E9", "#E69F00", "#009E73", "#CC79A7"]
    out = {}
    for i, t in enumerate(templates):
        offset = (i - (len(templates) - 1) / 2) * width
        name = f"{t} (trained on)" if t == trained_on else t
        yerr = (errors or {}).get(t)
        out[t] = ax.bar(np.arange(len(slices)) + offset, [table[t][s] for s in slices], width * 0.95, label=name,
                        color=palette[i % len(palette)], hatch="//" if t == trained_on else None,
                        yerr=None if yerr is None else np.asarray(yerr, dtype=float),
                        error_kw=ERROR_KW)
    ax.set_xticks(np.arange(len(slices)))
    ax.set_xticklabels(slices)
    ax.axhline(0, color=COLORS["ref"], linewidth=0.8)
    style_axes(ax, y={"gold_reward": "gold reward $r^*$", "refusal_rate": "refusal rate"}.get(metric, metric))
    ax.legend(title="chat template", loc="best")
    return out


def plot_agreement(ax, agreement, label="two annotators", errors=None):
    """Bars of the agreement rate between two label sets by slice (``prefkit.evaluate.agreement_by_slice``).

    errors: yerr in the order of ``agreement``'s keys ([K] or [2, K], e.g. 95% Wilson intervals).
    Returns the BarContainer; the bar heights are the rates, in the order of ``agreement``'s keys.
    """
    names = list(agreement)
    bars = ax.bar(names, [agreement[k] for k in names], color=[SLICE_COLORS.get(k, COLORS["ref"]) for k in names],
                  label=label, yerr=None if errors is None else np.asarray(errors, dtype=float),
                  error_kw=ERROR_KW)
    for bar, k in zip(bars, names):
        ax.annotate(f"{agreement[k]:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    textcoords="offset points", xytext=(0, 2), ha="center", fontsize=8)
    style_axes(ax, y="agreement", ylim=(0, 1.08))
    return bars


def save_png(fig, path, dpi=None):
    """Write the figure to ``path`` as PNG (atomically, via png_bytes) and return the path."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".png.tmp")
    tmp.write_bytes(png_bytes(fig, dpi=dpi))
    tmp.replace(path)
    return path


def plot_implementation_pattern(rubric, data, objective, system, audit, evaluation, title=None, pyplot=False):
    """The implementation pattern as boxes and arrows: rubric -> training data -> objective -> aligned system,
    with the audit metadata and the held-out safety evaluation hanging off the aligned system.

    Each argument is the text of one box, formatted by the chapter from its own run (file names, data version,
    loss and knobs, policy version, eval slices and numbers); a line break starts a new line in the box.
    title: the finding (default: what the pattern keeps apart). Returns (fig, boxes), boxes a dict name -> Text,
    so a test can read what each box says.
    """
    fig, ax = new_figure(width=11.5, height=3.4, pyplot=pyplot)
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 2)
    ax.axis("off")
    colors = {"rubric": "#F3E3C3", "data": "#D6E6F2", "objective": "#D6E6F2", "system": "#CFE8DA",
              "audit": "#EEEEEE", "evaluation": "#F6D5CC"}
    heads = {"rubric": "policy (rubric)", "data": "training data", "objective": "objective / threshold",
             "system": "aligned system", "audit": "audit metadata", "evaluation": "safety evaluation, held out"}
    texts = {"rubric": rubric, "data": data, "objective": objective, "system": system, "audit": audit,
             "evaluation": evaluation}
    centres = {"rubric": (0.5, 1.45), "data": (1.5, 1.45), "objective": (2.5, 1.45), "system": (3.5, 1.45),
               "audit": (2.5, 0.42), "evaluation": (3.5, 0.42)}
    boxes = {}
    for name, (cx, cy) in centres.items():
        boxes[name] = ax.text(cx, cy, f"$\\bf{{{heads[name].replace(' ', '~')}}}$\n{texts[name]}", ha="center",
                              va="center", fontsize=8.5, wrap=False,
                              bbox={"boxstyle": "round,pad=0.45", "facecolor": colors[name], "edgecolor": "#555555"})
    arrow = {"arrowstyle": "-|>", "color": "#333333", "linewidth": 1.2}
    for a, b in (("rubric", "data"), ("data", "objective"), ("objective", "system")):
        ax.annotate("", xy=(centres[b][0] - 0.42, 1.45), xytext=(centres[a][0] + 0.42, 1.45), arrowprops=arrow)
    ax.annotate("", xy=(3.5, 0.78), xytext=(3.5, 1.1), arrowprops=arrow)
    ax.annotate("", xy=(2.5, 0.78), xytext=(3.2, 1.12), arrowprops=arrow)
    finding(fig, title or "Policy, data and measurement kept apart: each box is a versioned artifact of this run")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.02)
    return fig, boxes


__all__ += ["SLICE_COLORS", "plot_overoptimization", "plot_frontier_points", "frontier_figure",
            "plot_template_overfit", "plot_agreement", "save_png", "plot_implementation_pattern"]

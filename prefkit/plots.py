"""One figure style for the whole course: labels in DESIGN.md notation, one colour per method, findings as titles.

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


def plot_policy_bars(ax, policies, tick_labels=None, colors=None, width=0.8):
    """Grouped bars of several policies over the same responses; policies: {label: probs [K]}.
    Returns {label: BarContainer} so the heights can be updated in place."""
    k = len(next(iter(policies.values())))
    step = width / len(policies)
    out = {}
    for i, (name, probs) in enumerate(policies.items()):
        offset = (i - (len(policies) - 1) / 2) * step
        color = (colors or {}).get(name)
        out[name] = ax.bar(np.arange(k) + offset, probs, step * 0.95, label=name, color=color)
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
    "set_bar_heights",
    "plot_losses",
    "reliability_diagram",
    "plot_curves",
    "png_bytes",
]

"""Every figure of every report: one set-up, one atomic save, and the plots reports share.

Figures are drawn on a bare Agg canvas (no pyplot state), so reports build headless and never
leak figures; each PNG is written through `ctxlab.io.write_with`, so a reader sees the old plot
or the new one. matplotlib is imported inside the functions: only a report pays for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxlab.io import write_with

DPI = 120
Bounds = tuple[float, float]
Grid = tuple[list[Any], list[Any], dict[tuple[Any, Any], float]]


def figure(width: float, height: float) -> tuple[Any, Any]:
    """A (figure, axes) pair on its own Agg canvas, `width` x `height` inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save(fig: Any, path: str | Path) -> Path:
    """Lay out and write `fig` as a PNG, atomically."""
    fig.tight_layout()
    return write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def _short_len(length: Any) -> str:
    """4096 -> 4k: what NIAH plots put on the x axis."""
    if isinstance(length, int) and length >= 1024 and length % 1024 == 0:
        return f"{length // 1024}k"
    return str(length)


def _yerr(values: Sequence[float], bounds: Sequence[Bounds | None]) -> list[list[float]]:
    """Error-bar lengths below and above each value; 0 where the interval is unknown."""
    below = [max(0.0, v - b[0]) if b else 0.0 for v, b in zip(values, bounds)]
    above = [max(0.0, b[1] - v) if b else 0.0 for v, b in zip(values, bounds)]
    return [below, above]


def plot_heatmap(
    grid: Grid, title: str, path: Path, diverging: bool = False, label: str = "score"
) -> None:
    """The NIAH-style depth × length heatmap with a fixed 0–100 red→green scale, or, for a
    difference of scores, a -100..100 red-white-blue scale."""
    import numpy as np

    depths, lengths, cells = grid
    data = np.full((len(depths), len(lengths)), np.nan)
    for (depth, length), value in cells.items():
        data[depths.index(depth), lengths.index(length)] = value
    fig, ax = figure(max(4.5, 0.9 * len(lengths) + 2.5), max(3.0, 0.45 * len(depths) + 1.8))
    low, cmap = (-100, "RdBu") if diverging else (0, "RdYlGn")
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=low, vmax=100, aspect="auto")
    ax.set_facecolor("0.85")
    for i, j in zip(*np.nonzero(~np.isnan(data)), strict=True):
        value = data[i, j]
        extreme = abs(value) > 70 if diverging else (value < 20 or value > 85)
        text = f"{value:+.0f}" if diverging else f"{value:.0f}"
        color = "white" if extreme else "black"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=9)
    ax.set_xticks(range(len(lengths)), [_short_len(v) for v in lengths])
    ax.set_yticks(range(len(depths)), [str(v) for v in depths])
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("depth")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label=label)
    save(fig, path)


def plot_bars(
    names: list[str],
    values: list[float],
    bounds: list[Bounds | None],
    counts: list[int],
    title: str,
    ylabel: str,
    path: Path,
) -> None:
    """One bar a group (e.g. a NIAH variant) with its 95% interval as an error bar, labelled with
    n so small groups stand out."""
    shown = [0.0 if math.isnan(v) else v for v in values]
    fig, ax = figure(max(4.0, 1.1 * len(names) + 2.0), 3.6)
    ax.bar(names, shown, yerr=_yerr(shown, bounds), capsize=4, color="tab:blue")
    for i, (value, bound, n) in enumerate(zip(values, bounds, counts)):
        top = bound[1] if bound else shown[i]
        text = "—" if math.isnan(value) else f"{value:.1f}"
        ax.text(i, top + 2, f"{text}\nn={n}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 120)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    save(fig, path)


def plot_learning_curve(metrics: list[dict], path: Path) -> bool:
    """Training loss per logging step and validation loss at eval steps; False when the log has
    neither."""
    train = [(m["step"], m["loss"]) for m in metrics if "loss" in m and "step" in m]
    val = [(m["step"], m["eval_loss"]) for m in metrics if "eval_loss" in m and "step" in m]
    if not train and not val:
        return False
    fig, ax = figure(6, 3.6)
    if train:
        ax.plot(*zip(*train), marker=".", label="train loss")
    if val:
        ax.plot(*zip(*val), marker="o", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (target tokens)")
    ax.set_title("learning curve", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)
    return True


def plot_metric_by_tokens(points: list[tuple[int, int, float]], metric: str, path: Path) -> bool:
    """The validation score (percent) at each evaluation against training tokens seen: how much
    data a model needed to learn the task; False without points."""
    if not points:
        return False
    fig, ax = figure(6, 3.6)
    ax.plot([t for _, t, _ in points], [100 * v for _, _, v in points], marker="o")
    ax.set_xlabel("training tokens")
    ax.set_ylabel(f"validation {metric} (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(f"validation {metric} against training tokens", fontsize=10)
    ax.grid(alpha=0.3)
    save(fig, path)
    return True


@dataclass
class Line:
    """One line of `plot_lines`: (x, y, 95% interval or None) points, or with `flat` a reference
    level (its one point's y, e.g. a closed-book score) drawn across the whole plot."""

    label: str
    points: list[tuple[float, float, Bounds | None]]
    flat: bool = False


def plot_lines(
    lines: list[Line],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    ylim: Bounds,
    xticks: list[float] | None = None,
    xlabels: list[str] | None = None,
    log_x: bool = False,
    bands: bool = False,
    size: Bounds = (6.4, 4.2),
) -> None:
    """Lines with their intervals: error bars at each point, or shaded `bands` where the x axis
    is a sequence (OaK rounds, k); a flat reference gets a shaded band of its interval."""
    fig, ax = figure(*size)
    xs_all = [p[0] for line in lines if not line.flat for p in line.points]
    drawn = sum(not line.flat for line in lines)
    # error bars of lines sharing an x would hide each other: shift each line a little
    step = 0.0 if bands or log_x or not xs_all else 0.012 * (max(xs_all) - min(xs_all) or 1)
    shift = -step * (drawn - 1) / 2
    for i, line in enumerate(lines):
        color = f"C{i % 10}"  # one colour a line, flat references included
        if line.flat:
            _, y, bound = line.points[0]
            ax.axhline(y, linestyle="--", linewidth=1.2, label=line.label, color=color)
            if bound:
                ax.axhspan(*bound, color=color, alpha=0.12, linewidth=0)
            continue
        xs = [p[0] + shift for p in line.points]
        shift += step
        ys = [p[1] for p in line.points]
        bounds = [p[2] for p in line.points]
        if bands:
            ax.plot(xs, ys, marker="o", label=line.label, color=color)
            low = [b[0] if b else math.nan for b in bounds]
            high = [b[1] if b else math.nan for b in bounds]
            ax.fill_between(xs, low, high, color=color, alpha=0.15, linewidth=0)
        else:
            yerr = _yerr(ys, bounds)
            ax.errorbar(xs, ys, yerr=yerr, marker="o", capsize=3, label=line.label, color=color)
    if log_x:
        ax.set_xscale("log")
    if xticks is not None:
        ax.set_xticks(xticks, xlabels if xlabels is not None else [f"{x:g}" for x in xticks])
        ax.set_xticks([], minor=True)  # a log axis would label its own minor ticks (2×10⁰)
    ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)


def plot_side_by_side(
    panels: Sequence[tuple[str, Path | None, str]], title: str, path: Path
) -> None:
    """Images next to each other, each under its title: (title, PNG or None, text shown instead
    when there is no image, e.g. why a graph could not be drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    fig = Figure(figsize=(5.0 * len(panels), 4.5))
    FigureCanvasAgg(fig)
    for n, (name, image, text) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), n)
        ax.set_axis_off()
        ax.set_title(name, fontsize=10)
        if image is not None:
            ax.imshow(imread(image))
        else:
            wrapped = "\n".join(text[i : i + 48] for i in range(0, min(len(text), 480), 48))
            ax.text(0.5, 0.5, wrapped, ha="center", va="center", fontsize=8, wrap=True)
    fig.suptitle(title, fontsize=11)
    save(fig, path)

"""`ctxlab curves`: accuracy against gold position or number of documents, one line a condition.

The lost-in-the-middle figure: each labelled eval run (zero-shot, SFT, scratchpad, ...) is a line
over the gold positions (or numbers of documents) of its breakdown; a run that has a single
setting (gold-only, closed-book) is drawn as a flat reference line at its overall score. Built
from the run directories alone (their results.json), like every ctxlab report.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.report import _atomic_write, _load_results, markdown_table

AXES = {"gold_position": "position of the gold document (1 = first)", "num_docs": "documents"}


def find_results(path: str | Path) -> Path:
    """The eval directory of `path`: itself, or the eval/ or tuned/ of a `ctxlab run` dir."""
    root = Path(path)
    for candidate in (root, root / "eval", root / "tuned"):
        if (candidate / "results.json").is_file():
            return candidate
    raise CtxlabError(
        f"{path} holds no results.json: pass a `ctxlab eval` run directory, or a `ctxlab run` "
        "directory's baseline/, tuned/ or eval/"
    )


def series(results: dict[str, Any], axis: str, metric: str) -> dict[Any, tuple[float, int]]:
    """Mean score and count per value of `axis` in a run's breakdown (n-weighted)."""
    points: dict[Any, list[float]] = {}
    for row in results.get("breakdown") or []:
        value = row.get(axis)
        if value is None or metric not in row:
            continue
        total, n = points.setdefault(value, [0.0, 0])
        points[value] = [total + row[metric] * row.get("n", 1), n + row.get("n", 1)]
    return {k: (t / n, int(n)) for k, (t, n) in sorted(points.items()) if n}


def collect(runs: list[tuple[str, Path]], axis: str) -> dict[str, Any]:
    """Per labelled run: its points along `axis`, or its overall score as a flat reference."""
    lines = []
    metric = None
    for label, path in runs:
        results = _load_results(find_results(path))
        metric = metric or next(iter(results.get("metrics") or {}), None)
        if metric is None or metric not in (results.get("metrics") or {}):
            raise CtxlabError(f"{path}: its results.json has no metric {metric!r} to compare")
        points = series(results, axis, metric)
        line: dict[str, Any] = {"label": label, "run": str(path), "model": results.get("model")}
        if len(points) > 1:
            line["points"] = [[k, mean, n] for k, (mean, n) in points.items()]
        else:
            line["flat"] = results["metrics"][metric]
            line["n"] = results.get("num_evaluated")
        lines.append(line)
    return {"axis": axis, "metric": metric, "lines": lines}


def plot(data: dict[str, Any], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    axis, metric = data["axis"], data["metric"]
    xs = sorted({p[0] for line in data["lines"] for p in line.get("points", [])})
    shift = 1 if axis == "gold_position" else 0  # the paper counts positions from 1
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, line in enumerate(data["lines"]):
        color = f"C{i % 10}"  # one colour a condition, flat references included
        if "points" in line:
            ax.plot(
                [p[0] + shift for p in line["points"]],
                [p[1] for p in line["points"]],
                marker="o",
                label=line["label"],
                color=color,
            )
        else:
            ax.axhline(
                line["flat"], linestyle="--", linewidth=1.2, label=line["label"], color=color
            )
    ax.set_xticks([x + shift for x in xs])
    ax.set_xlabel(AXES[axis])
    ax.set_ylabel(f"{metric} (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def table(data: dict[str, Any]) -> list[str]:
    xs = sorted({p[0] for line in data["lines"] for p in line.get("points", [])})
    shift = 1 if data["axis"] == "gold_position" else 0
    body = []
    for line in data["lines"]:
        points = {p[0]: p[1] for p in line.get("points", [])}
        values = [points.get(x, line.get("flat", math.nan)) for x in xs] or [line.get("flat")]
        body.append([line["label"], *values])
    header = ["condition", *[str(x + shift) for x in xs]] if xs else ["condition", "score"]
    return markdown_table(header, body)


def build_curves(runs: list[tuple[str, Path]], out_dir: str | Path, title: str = "") -> Path:
    """Write `<axis>.png`, `<axis>.json` and curves.md for each axis some run varies over."""
    if not runs:
        raise CtxlabError("no runs to plot: pass --run LABEL=RUN_DIR at least once")
    found = [collect(runs, axis) for axis in AXES]
    found = [data for data in found if any("points" in line for line in data["lines"])]
    if not found:
        raise CtxlabError(
            "no run varies the gold position or the number of documents: include a run "
            "evaluated at several --gold-positions or --num-docs"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {title or 'Curves'}", ""]
    for data in found:
        axis = data["axis"]
        plot(data, out / f"{axis}.png", title or f"{data['metric']} by {axis}")
        text = json.dumps(data, indent=2)
        _atomic_write(out / f"{axis}.json", lambda tmp, t=text: tmp.write_text(t, "utf-8"))
        md += [f"## {data['metric']} by {AXES[axis]}", "", *table(data), f"![{axis}]({axis}.png)"]
        md += [""]
    md += ["Runs:", ""] + [f"- {label}: `{path}`" for label, path in runs] + [""]
    _atomic_write(out / "curves.md", lambda tmp: tmp.write_text("\n".join(md), "utf-8"))
    return out / "curves.md"


def _labelled(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=RUN_DIR, got {text!r}")
    return label, Path(path)


def cmd_curves(args: argparse.Namespace) -> int:
    print(f"curves: {build_curves(args.runs, args.output, args.title)}")
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "curves", help="accuracy vs gold position / number of documents, one line per run"
    )
    p.add_argument(
        "--run",
        dest="runs",
        action="append",
        type=_labelled,
        default=[],
        metavar="LABEL=RUN_DIR",
        help="an eval run (or a `ctxlab run`'s baseline/, tuned/, eval/); repeat per condition",
    )
    p.add_argument("-o", "--output", required=True, help="directory for the plots and curves.md")
    p.add_argument("--title", default="", help="plot title")
    p.set_defaults(handler=cmd_curves)

"""The before/after report of a `ctxlab run`: table, heatmaps of each side and of the difference,
and the learning curve, rebuilt from the run directory's files alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.report import depth_length_grid, markdown_table, plot_heatmap
from ctxlab.tracking import write_atomic


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _diff_rows(base: list[dict], tuned: list[dict], metric: str) -> list[dict]:
    keyed = {(r.get("variant"), r.get("length"), r.get("depth")): r for r in base}
    rows = []
    for row in tuned:
        before = keyed.get((row.get("variant"), row.get("length"), row.get("depth")))
        if before is not None:
            rows.append({**row, metric: row[metric] - before[metric]})
    return rows


def plot_learning_curve(metrics: list[dict], path: Path) -> bool:
    """Training loss per logging step and validation loss at eval steps."""
    train = [(m["step"], m["loss"]) for m in metrics if "loss" in m and "step" in m]
    val = [(m["step"], m["eval_loss"]) for m in metrics if "eval_loss" in m and "step" in m]
    if not train and not val:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if train:
        ax.plot(*zip(*train), marker=".", label="train loss")
    if val:
        ax.plot(*zip(*val), marker="o", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (target tokens)")
    ax.set_title("learning curve", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=120)
    tmp.replace(path)
    return True


def build_comparison_report(run_dir: str | Path) -> Path:
    """Write report.md and plots for a `ctxlab run` directory from comparison.json and train/."""
    run_dir = Path(run_dir)
    path = run_dir / "comparison.json"
    if not path.is_file():
        raise CtxlabError(f"{path} is missing: pass a directory made by `ctxlab run`")
    comp: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    metric = comp["metric"]
    base_rows, tuned_rows = comp["baseline"]["breakdown"], comp["tuned"]["breakdown"]
    lines = [f"# {comp['task']} on {comp['model']}: before and after fine-tuning", ""]
    lines += markdown_table(
        ["metric", "baseline", "tuned", "change"],
        [
            [m, comp["baseline"]["metrics"][m], comp["tuned"]["metrics"][m], comp["delta"][m]]
            for m in comp["baseline"]["metrics"]
        ],
    )
    lines += [
        f"Held-out test examples: {comp['num_test']}; training examples: "
        f"{comp['num_train']}. Times (s): "
        + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in comp["timing"].items()),
        "",
    ]
    keyed = {(r.get("variant"), r.get("length"), r.get("depth")): r for r in base_rows}
    body = []
    for row in tuned_rows:
        before = keyed.get((row.get("variant"), row.get("length"), row.get("depth")), {})
        body.append(
            [
                row.get("variant"),
                row.get("length"),
                row.get("depth"),
                row["n"],
                before.get(metric),
                row[metric],
            ]
        )
    lines += ["## By variant, length and depth", ""]
    lines += markdown_table(["variant", "length", "depth", "n", "baseline", "tuned"], body)
    images = []
    for name, rows, diverging, title in (
        ("heatmap_baseline.png", base_rows, False, f"baseline {metric}"),
        ("heatmap_tuned.png", tuned_rows, False, f"tuned {metric}"),
        (
            "heatmap_diff.png",
            _diff_rows(base_rows, tuned_rows, metric),
            True,
            f"tuned - baseline {metric}",
        ),
    ):
        grid = depth_length_grid(rows, metric)
        if grid[0] and grid[1]:
            plot_heatmap(
                grid,
                title,
                run_dir / name,
                diverging=diverging,
                label="change" if diverging else "score",
            )
            images.append(name)
    if plot_learning_curve(
        _read_jsonl(run_dir / "train" / "metrics.jsonl"), run_dir / "learning_curve.png"
    ):
        images.append("learning_curve.png")
    if images:
        lines += ["## Plots", ""] + [f"![{name[:-4]}]({name})" for name in images] + [""]
    lines += [
        "Per-side reports: [baseline](baseline/report.md), [tuned](tuned/report.md); "
        "training log: `train/metrics.jsonl`.",
        "",
    ]
    return write_atomic(run_dir / "report.md", "\n".join(lines))

"""Rebuild a Markdown report and PNG plots for an eval run directory from its files alone.

Runs are compared long after they finish, often on a machine without the model or GPU, so
everything here is derived from what `ctxlab eval` wrote: config.yaml, results.json,
summary.json and predictions.jsonl.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError

Row = dict[str, Any]
Grid = tuple[list[Any], list[Any], dict[tuple[Any, Any], float]]

NIAH_KEYS = ("variant", "length", "depth")
MAX_EXAMPLES = 10
PREDICTION_CHARS = 200


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temp file in the same dir so readers never see a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_json(path: Path, default: Any) -> Any:
    """Read optional JSON; a damaged side file should not stop the report."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def _load_results(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "results.json"
    if not path.is_file():
        raise CtxlabError(
            f"no results.json in {path.parent}: pass a run directory made by `ctxlab eval`"
        )
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CtxlabError(f"{path} is not valid JSON ({exc}); re-run `ctxlab eval`") from exc
    if not isinstance(results, dict):
        raise CtxlabError(f"{path} should hold a JSON object; re-run `ctxlab eval`")
    return results


def _load_examples(run_dir: Path, results: dict[str, Any]) -> list[Row]:
    """Prefer the examples kept in results.json; fall back to the head of predictions.jsonl."""
    examples = results.get("examples") or []
    if examples:
        return examples[:MAX_EXAMPLES]
    path = run_dir / "predictions.jsonl"
    if not path.is_file():
        return []
    out: list[Row] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if len(out) >= MAX_EXAMPLES:
                break
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _mean(rows: Iterable[Row], metric: str) -> tuple[float, int]:
    """n-weighted mean of a percent metric, so unequal cell sizes don't skew the average."""
    total, count = 0.0, 0
    for row in rows:
        value = row.get(metric)
        if isinstance(value, (int, float)):
            n = int(row.get("n", 1) or 0)
            total += float(value) * n
            count += n
    return (total / count if count else math.nan), count


def _variants(rows: list[Row]) -> list[str]:
    return sorted({str(r["variant"]) for r in rows if "variant" in r})


def depth_length_grid(rows: list[Row], metric: str) -> Grid:
    """Aggregate rows into depth × length cells (rows without a depth are left out)."""
    cells: dict[tuple[Any, Any], list[Row]] = {}
    for row in rows:
        if row.get("depth") is not None and row.get("length") is not None:
            cells.setdefault((row["depth"], row["length"]), []).append(row)
    depths = sorted({d for d, _ in cells})
    lengths = sorted({length for _, length in cells})
    return depths, lengths, {key: _mean(group, metric)[0] for key, group in cells.items()}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.1f}"
    return "—" if value is None else str(value)


def _short_len(length: Any) -> str:
    """4096 -> 4k: what NIAH plots put on the x axis."""
    if isinstance(length, int) and length >= 1024 and length % 1024 == 0:
        return f"{length // 1024}k"
    return str(length)


def _cell(text: Any) -> str:
    """Make text safe for a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_table(header: list[str], body: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(_fmt(v)) for v in row) + " |" for row in body]
    return lines + [""]


def plot_heatmap(
    grid: Grid, title: str, path: Path, diverging: bool = False, label: str = "score"
) -> None:
    """Draw the NIAH-style depth × length heatmap with a fixed 0–100 red→green scale, or, for a
    difference of scores, a -100..100 red-white-green scale."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    depths, lengths, cells = grid
    data = np.full((len(depths), len(lengths)), np.nan)
    for (depth, length), value in cells.items():
        data[depths.index(depth), lengths.index(length)] = value
    fig = Figure(figsize=(max(4.5, 0.9 * len(lengths) + 2.5), max(3.0, 0.45 * len(depths) + 1.8)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    low, cmap = (-100, "RdBu") if diverging else (0, "RdYlGn")
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=low, vmax=100, aspect="auto")
    ax.set_facecolor("0.85")
    for i, j in zip(*np.nonzero(~np.isnan(data)), strict=True):
        value = data[i, j]
        extreme = abs(value) > 70 if diverging else (value < 20 or value > 85)
        color = "white" if extreme else "black"
        ax.text(
            j,
            i,
            f"{value:+.0f}" if diverging else f"{value:.0f}",
            ha="center",
            va="center",
            color=color,
            fontsize=9,
        )
    ax.set_xticks(range(len(lengths)), [_short_len(v) for v in lengths])
    ax.set_yticks(range(len(depths)), [str(v) for v in depths])
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("depth")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def _plot_variants(rows: list[Row], metric: str, title: str, path: Path) -> None:
    """Bar chart of the main metric per variant, labelled with n so small cells stand out."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = _variants(rows)
    stats = [_mean([r for r in rows if str(r.get("variant")) == v], metric) for v in names]
    fig = Figure(figsize=(max(4.0, 1.1 * len(names) + 2.0), 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars = ax.bar(names, [0.0 if math.isnan(m) else m for m, _ in stats], color="tab:blue")
    ax.bar_label(bars, labels=[f"{_fmt(m)}\nn={n}" for m, n in stats], fontsize=8)
    ax.set_ylim(0, 115)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def _timing_line(summary: dict[str, Any]) -> str | None:
    timing = summary.get("timing") or {}
    parts = []
    if isinstance(timing.get("load_s"), (int, float)):
        parts.append(f"load {timing['load_s']:.1f} s")
    eval_s = timing.get("eval_s")
    if isinstance(eval_s, (int, float)):
        parts.append(f"eval {eval_s:.1f} s")
    prompt = timing.get("prompt_tokens")
    if isinstance(prompt, (int, float)):
        timed = isinstance(eval_s, (int, float)) and eval_s > 0
        rate = f" ({prompt / eval_s:,.0f} tok/s)" if timed else ""
        parts.append(f"{prompt:,} prompt tokens{rate}")
    if isinstance(timing.get("generated_tokens"), (int, float)):
        parts.append(f"{timing['generated_tokens']:,} generated tokens")
    return "**Timing:** " + " · ".join(parts) if parts else None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "variant"


def build_report(run_dir: str | Path) -> Path:
    """Write report.md (and heatmap/variant PNGs where the breakdown allows) into run_dir."""
    run_dir = Path(run_dir)
    results = _load_results(run_dir)
    summary = load_json(run_dir / "summary.json", {})
    summary = summary if isinstance(summary, dict) else {}
    metrics: dict[str, float] = results.get("metrics") or {}
    rows: list[Row] = [r for r in results.get("breakdown") or [] if isinstance(r, dict)]
    metric_names = list(metrics) or sorted(
        {
            k
            for r in rows
            for k, v in r.items()
            if k not in (*NIAH_KEYS, "n") and isinstance(v, (int, float))
        }
    )
    main = metric_names[0] if metric_names else "score"
    task, model = results.get("task", "?"), results.get("model", "?")

    md = [f"# {task} — {model}", ""]
    if "num_evaluated" in results:
        md += [f"Evaluated **{results['num_evaluated']}** examples. Scores are percent.", ""]
    md += ["## Metrics", ""] + markdown_table(
        ["metric", "score"], [[k, v] for k, v in metrics.items()]
    )
    timing = _timing_line(summary)
    if timing:
        md += [timing, ""]

    has_variant = any("variant" in r for r in rows)
    has_grid = any(r.get("depth") is not None and r.get("length") is not None for r in rows)
    if has_variant:
        md += ["## Per variant", ""]
        body = []
        for v in _variants(rows):
            group = [r for r in rows if str(r.get("variant")) == v]
            body.append([v, _mean(group, main)[1]] + [_mean(group, m)[0] for m in metric_names])
        md += markdown_table(["variant", "n", *metric_names], body)
        title = f"{task} — {model}: {main} per variant"
        _plot_variants(rows, main, title, run_dir / "variants.png")
        md += ["![per-variant scores](variants.png)", ""]
    if has_grid:
        variants = _variants(rows) or [None]
        md += [f"## {main} by depth × length", ""]
        for v in variants:
            group = [r for r in rows if v is None or str(r.get("variant")) == v]
            depths, lengths, cells = depth_length_grid(group, main)
            if v is not None:
                md += [f"### {v}", ""]
            body = [[d] + [cells.get((d, n), math.nan) for n in lengths] for d in depths]
            md += markdown_table(["depth \\ length", *[str(n) for n in lengths]], body)
        plot_heatmap(
            depth_length_grid(rows, main),
            f"{task} — {model}: {main} (mean over variants)",
            run_dir / "heatmap.png",
        )
        md += ["![depth × length heatmap](heatmap.png)", ""]
        if len(variants) > 1:
            for v in variants:
                name = f"heatmap_{_slug(str(v))}.png"
                group = [r for r in rows if str(r.get("variant")) == v]
                plot_heatmap(
                    depth_length_grid(group, main), f"{task} — {model}: {main}, {v}", run_dir / name
                )
                md += [f"![{v}]({name})", ""]
    if rows and not (has_variant and has_grid):
        keys = list(dict.fromkeys(k for r in rows for k in r))
        md += ["## Breakdown", ""] + markdown_table(keys, [[r.get(k) for k in keys] for r in rows])

    examples = _load_examples(run_dir, results)
    if examples:
        md += ["## Examples", ""]
        body = []
        for ex in examples:
            pred = str(ex.get("prediction", ""))
            if len(pred) > PREDICTION_CHARS:
                pred = pred[:PREDICTION_CHARS] + "…"
            score = (ex.get("scores") or {}).get(main)
            body.append(
                [ex.get("id"), json.dumps(ex.get("answers"), ensure_ascii=False), pred, score]
            )
        md += markdown_table(["id", "answers", "prediction", main], body)

    config = run_dir / "config.yaml"
    if config.is_file():
        text = config.read_text(encoding="utf-8").rstrip()
        md += [
            "<details><summary>config.yaml</summary>",
            "",
            "```yaml",
            text,
            "```",
            "",
            "</details>",
            "",
        ]

    out = run_dir / "report.md"
    _atomic_write(out, lambda tmp: tmp.write_text("\n".join(md), encoding="utf-8"))
    return out

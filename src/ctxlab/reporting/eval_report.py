"""Rebuild the Markdown report and PNG plots of an eval run directory from its files alone.

Runs are compared long after they finish, often on a machine without the model or GPU, so
everything here is derived from what `ctxlab eval` wrote: results.json (read through the
artifact schema), summary.json, predictions.jsonl and config.yaml. Every score is shown with its
95% interval; heatmaps are drawn only where the breakdown has a depth and a length.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.io import load_json, write_text
from ctxlab.reporting.artifacts import EvalResults, read_artifact
from ctxlab.reporting.plots import plot_bars, plot_heatmap
from ctxlab.reporting.tables import (
    Row,
    bounds,
    depth_length_grid,
    markdown_table,
    merge_rows,
    prediction_records,
    row_score,
    score,
)

MAX_EXAMPLES = 10
PREDICTION_CHARS = 200


def read_eval_results(run_dir: Path) -> EvalResults:
    """An eval run's results.json, typed; the error names the directory and what to pass."""
    path = run_dir / "results.json"
    if not path.is_file():
        raise CtxlabError(
            f"no results.json in {run_dir}: pass a run directory made by `ctxlab eval`"
        )
    results = read_artifact(path)
    if not isinstance(results, EvalResults):
        raise CtxlabError(
            f"{path} holds a {results.kind} artifact, not an eval run's results: "
            f"use `ctxlab report {run_dir}`"
        )
    return results


def _examples(run_dir: Path, results: EvalResults) -> list[Row]:
    """The examples kept in results.json, else the head of predictions.jsonl."""
    return (results.examples or prediction_records(run_dir))[:MAX_EXAMPLES]


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


def _interval_note(results: EvalResults) -> str:
    if not results.intervals:
        return "Scores are percent."
    return (
        "Scores are percent; brackets are 95% intervals: exact binomial where every score is "
        "0 or 100, else a seeded bootstrap over the examples."
    )


def _variant_section(run_dir: Path, results: EvalResults, metrics: list[str], main: str):
    """Per-variant table and bar chart; the intervals come from predictions.jsonl (`merge_rows`)."""
    rows = merge_rows(results.breakdown, ("variant",), metrics, prediction_records(run_dir))
    for row in rows:
        row["variant"] = str(row["variant"])
    body = [[r["variant"], r["n"], *(row_score(r, m) for m in metrics)] for r in rows]
    plot_bars(
        [r["variant"] for r in rows],
        [r[main] for r in rows],
        [bounds(r["intervals"].get(main)) for r in rows],
        [r["n"] for r in rows],
        f"{results.task} — {results.model}: {main} per variant",
        f"{main} (%)",
        run_dir / "variants.png",
    )
    md = ["## Per variant", "", *markdown_table(["variant", "n", *metrics], body)]
    return rows, md + ["![per-variant scores](variants.png)", ""]


def _grid_section(run_dir: Path, results: EvalResults, variants: list[Any], main: str):
    """depth × length tables (one per variant) and heatmaps: overall and per variant."""
    title = f"{results.task} — {results.model}: {main}"
    md = [f"## {main} by depth × length", ""]
    for v in variants:
        group = [r for r in results.breakdown if v is None or str(r.get("variant")) == v]
        cells = {
            (c["depth"], c["length"]): c for c in merge_rows(group, ("depth", "length"), [main])
        }
        depths = sorted({d for d, _ in cells})
        lengths = sorted({n for _, n in cells})
        if v is not None:
            md += [f"### {v}", ""]
        body = [[d, *(row_score(cells.get((d, n)), main) for n in lengths)] for d in depths]
        md += markdown_table(["depth \\ length", *[str(n) for n in lengths]], body)
    plot_heatmap(
        depth_length_grid(results.breakdown, main),
        f"{title} (mean over variants)",
        run_dir / "heatmap.png",
    )
    md += ["![depth × length heatmap](heatmap.png)", ""]
    if len(variants) > 1:
        for v in variants:
            name = f"heatmap_{_slug(str(v))}.png"
            group = [r for r in results.breakdown if str(r.get("variant")) == v]
            plot_heatmap(depth_length_grid(group, main), f"{title}, {v}", run_dir / name)
            md += [f"![{v}]({name})", ""]
    return md


def _task_section(run_dir: Path, results: EvalResults) -> list[str]:
    """What the run's task adds to its report (its `report_section` hook)."""
    from ctxlab.tasks.base import Task, get_task_class

    try:
        cls = get_task_class(results.task)
    except CtxlabError:
        return []  # a task from a package no longer installed: the generic report only
    if cls.report_section is Task.report_section:
        return []
    return cls(cls.config_class()).report_section(run_dir, prediction_records(run_dir))


def _config_section(run_dir: Path) -> list[str]:
    config = run_dir / "config.yaml"
    if not config.is_file():
        return []
    text = config.read_text(encoding="utf-8").rstrip()
    return [
        "<details><summary>config.yaml</summary>",
        "",
        "```yaml",
        text,
        "```",
        "",
        "</details>",
        "",
    ]


def build_eval_report(run_dir: str | Path) -> Path:
    """Write report.md (and variant/heatmap PNGs where the breakdown has those columns)."""
    run_dir = Path(run_dir)
    results = read_eval_results(run_dir)
    summary = load_json(run_dir / "summary.json", {})
    summary = summary if isinstance(summary, dict) else {}
    metrics = list(results.metrics)
    main = metrics[0] if metrics else "score"
    keys = results.breakdown_keys

    md = [f"# {results.task} — {results.model}", ""]
    md += [f"Evaluated **{results.num_evaluated}** examples. {_interval_note(results)}", ""]
    if results.rope_scaling:
        window = (summary.get("model") or {}).get("max_length", "?")
        md += [f"RoPE scaling: **{results.rope_scaling}** (window {window} tokens).", ""]
    md += ["## Metrics", ""] + markdown_table(
        ["metric", "score"],
        [[m, score(v, results.intervals.get(m))] for m, v in results.metrics.items()],
    )
    timing = _timing_line(summary)
    if timing:
        md += [timing, ""]

    rows = results.breakdown
    has_variant = "variant" in keys and any(r.get("variant") is not None for r in rows)
    has_grid = "depth" in keys and "length" in keys and bool(depth_length_grid(rows, main)[2])
    variants: list[Any] = [None]
    if has_variant:
        merged, section = _variant_section(run_dir, results, metrics, main)
        variants = [r["variant"] for r in merged]
        md += section
    if has_grid:
        md += _grid_section(run_dir, results, variants, main)
    if rows and not (has_variant and has_grid):
        header = [*keys, "n", *metrics]
        body = [
            [*(r.get(k) for k in keys), r.get("n"), *(row_score(r, m) for m in metrics)]
            for r in rows
        ]
        md += ["## Breakdown", ""] + markdown_table(header, body)

    examples = _examples(run_dir, results)
    if examples:
        body = []
        for ex in examples:
            pred = str(ex.get("prediction", ""))
            if len(pred) > PREDICTION_CHARS:
                pred = pred[:PREDICTION_CHARS] + "…"
            answers = json.dumps(ex.get("answers"), ensure_ascii=False)
            body.append([ex.get("id"), answers, pred, (ex.get("scores") or {}).get(main)])
        md += ["## Examples", ""] + markdown_table(["id", "answers", "prediction", main], body)
    md += _task_section(run_dir, results)
    md += _config_section(run_dir)
    return write_text(run_dir / "report.md", "\n".join(md))


build_report = build_eval_report

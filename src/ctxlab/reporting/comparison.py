"""The before/after report of a `ctxlab run`: the change of every metric with its paired interval
and p-value, the same per breakdown row (matched on the artifact's breakdown keys), heatmaps of
each side and of the difference where the breakdown has a depth and a length, and the learning
curve (and, when training scored the validation answers, that score against training tokens);
rebuilt from comparison.json and train/metrics.jsonl alone."""

from __future__ import annotations

from pathlib import Path

from ctxlab.errors import CtxlabError
from ctxlab.io import read_jsonl, write_text
from ctxlab.reporting.artifacts import Comparison, read_artifact
from ctxlab.reporting.plots import plot_heatmap, plot_learning_curve, plot_metric_by_tokens
from ctxlab.reporting.tables import (
    Row,
    change,
    depth_length_grid,
    markdown_table,
    match_rows,
    p_value,
    row_score,
    score,
    tests_of,
    verdict_line,
)


def read_comparison(run_dir: Path) -> Comparison:
    path = run_dir / "comparison.json"
    if not path.is_file():
        raise CtxlabError(f"{path} is missing: pass a directory made by `ctxlab run`")
    comp = read_artifact(path)
    if not isinstance(comp, Comparison):
        raise CtxlabError(f"{path} holds a {comp.kind} artifact: use `ctxlab report {run_dir}`")
    return comp


def metric_table(comp: Comparison, before: str = "baseline", after: str = "tuned") -> list[str]:
    """Every metric on both sides with its interval, and the paired change and p-value."""
    body = []
    for m, value in comp.baseline.metrics.items():
        test = comp.tests.get(m)
        body.append(
            [
                m,
                score(value, comp.baseline.intervals.get(m)),
                score(comp.tuned.metrics.get(m), comp.tuned.intervals.get(m)),
                change(test, comp.delta.get(m)),
                p_value(test),
            ]
        )
    return markdown_table(["metric", before, after, "change [95% interval]", "p"], body)


def verdicts(comp: Comparison, label: str = "tuned − baseline") -> list[str]:
    """The headline metric's verdict in bold, then one line for each other tested metric."""
    headline = verdict_line(label, comp.tests.get(comp.metric), comp.delta.get(comp.metric))
    lines = [f"**{comp.metric}**, {headline}", ""]
    others = [m for m in comp.tests if m != comp.metric]
    lines += [f"- {m}, {verdict_line(label, comp.tests[m])}" for m in others]
    return lines + ([""] if others else [])


def breakdown_table(comp: Comparison) -> list[str]:
    """The headline metric per breakdown row: both sides, the change and its p-value."""
    keys, metric = comp.breakdown_keys, comp.metric
    matched = match_rows(keys, comp.baseline.breakdown, comp.tuned.breakdown, comp.breakdown_tests)
    body = []
    for key, (before, after, tested) in matched:
        test = tests_of(tested).get(metric)
        delta = None
        if before is not None and after is not None and metric in before and metric in after:
            delta = after[metric] - before[metric]
        n = (after or before or {}).get("n")
        body.append(
            [
                *key,
                n,
                row_score(before, metric),
                row_score(after, metric),
                change(test, delta),
                p_value(test),
            ]
        )
    header = [*keys, "n", "baseline", "tuned", "change [95% interval]", "p"]
    return [f"## {metric} by {', '.join(keys)}", "", *markdown_table(header, body)]


def _diff_rows(comp: Comparison) -> list[Row]:
    """tuned − baseline of the headline metric per breakdown row (for the difference heatmap)."""
    metric, rows = comp.metric, []
    matched = match_rows(comp.breakdown_keys, comp.baseline.breakdown, comp.tuned.breakdown)
    for _, (before, after) in matched:
        if before and after and metric in before and metric in after:
            rows.append({**after, metric: after[metric] - before[metric]})
    return rows


def _heatmaps(comp: Comparison, run_dir: Path) -> list[str]:
    if not {"depth", "length"} <= set(comp.breakdown_keys):
        return []
    metric, images = comp.metric, []
    for name, rows, diverging, title in (
        ("heatmap_baseline.png", comp.baseline.breakdown, False, f"baseline {metric}"),
        ("heatmap_tuned.png", comp.tuned.breakdown, False, f"tuned {metric}"),
        ("heatmap_diff.png", _diff_rows(comp), True, f"tuned - baseline {metric}"),
    ):
        grid = depth_length_grid(rows, metric)
        if grid[0] and grid[1]:
            label = "change" if diverging else "score"
            plot_heatmap(grid, title, run_dir / name, diverging=diverging, label=label)
            images.append(name)
    return images


def training_log(run_dir: Path) -> list[dict]:
    """train/metrics.jsonl, or [] when the run has none (an --eval-only run)."""
    path = run_dir / "train" / "metrics.jsonl"
    return read_jsonl(path, "training log") if path.is_file() and path.stat().st_size else []


def metric_by_tokens(log: list[dict], metric: str) -> list[tuple[int, int, float]]:
    """(step, training tokens seen, validation score) at each evaluation that scored `metric`
    (`best_metric: task_metric`), the tokens summed over the log's training lines up to it."""
    points, seen, tokens = [], 0, 0
    trained = sorted((r["step"], r.get("tokens") or 0) for r in log if "loss" in r)
    for row in sorted((r for r in log if f"eval_{metric}" in r), key=lambda r: r["step"]):
        while seen < len(trained) and trained[seen][0] <= row["step"]:
            tokens += trained[seen][1]
            seen += 1
        points.append((row["step"], tokens, float(row[f"eval_{metric}"])))
    return points


def build_comparison_report(run_dir: str | Path) -> Path:
    """Write report.md and plots for a `ctxlab run` directory."""
    run_dir = Path(run_dir)
    comp = read_comparison(run_dir)
    times = ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in comp.timing.items())
    lines = [f"# {comp.task} on {comp.model}: before and after fine-tuning", ""]
    lines += [
        f"Held-out test examples: {comp.num_test}; training examples: {comp.num_train}. "
        f"Scores are percent with 95% intervals; changes are paired on the same test examples "
        f"(bootstrap interval, exact test p-value). Times (s): {times or '—'}.",
        "",
        *verdicts(comp),
        *metric_table(comp),
    ]
    if comp.breakdown_keys and (comp.baseline.breakdown or comp.tuned.breakdown):
        lines += breakdown_table(comp)
    images = _heatmaps(comp, run_dir)
    log = training_log(run_dir)
    if plot_learning_curve(log, run_dir / "learning_curve.png"):
        images.append("learning_curve.png")
    by_tokens = metric_by_tokens(log, comp.metric)
    if plot_metric_by_tokens(by_tokens, comp.metric, run_dir / "metric_by_tokens.png"):
        images.append("metric_by_tokens.png")
        lines += [f"## Validation {comp.metric} against training tokens", ""]
        lines += markdown_table(
            ["step", "training tokens", comp.metric],
            [[step, f"{tokens:,}", round(100 * v, 1)] for step, tokens, v in by_tokens],
        )
    if images:
        lines += ["## Plots", ""] + [f"![{name[:-4]}]({name})" for name in images] + [""]
    lines += [
        "Per-side reports: [baseline](baseline/report.md), [tuned](tuned/report.md); "
        "training log: `train/metrics.jsonl`.",
        "",
    ]
    return write_text(run_dir / "report.md", "\n".join(lines))

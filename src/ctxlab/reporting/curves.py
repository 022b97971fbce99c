"""`ctxlab curves`: accuracy against gold position or number of documents, one line a condition.

The lost-in-the-middle figure: each labelled eval run (zero-shot, SFT, scratchpad, ...) is a line
over the gold positions (or numbers of documents) of its breakdown, with 95% error bars; a run
that has a single setting (gold-only, closed-book) is drawn as a flat reference line at its
overall score, with its interval as a band. Built from the run directories alone (results.json,
and predictions.jsonl for the interval of a point that merges several breakdown rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.io import write_json, write_text
from ctxlab.reporting.artifacts import EvalResults
from ctxlab.reporting.eval_report import read_eval_results
from ctxlab.reporting.plots import Line, plot_lines
from ctxlab.reporting.tables import (
    Bounds,
    bounds,
    change,
    markdown_table,
    merge_rows,
    p_value,
    prediction_records,
    score,
)
from ctxlab.stats import paired_test

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


def series(
    results: EvalResults, axis: str, metric: str, records: list[dict] | None = None
) -> dict[Any, tuple[float, int, Bounds | None]]:
    """Mean score (n-weighted), count and 95% interval per value of `axis` in a run's breakdown;
    the interval of a value that merges several rows comes from the run's `records`."""
    if axis not in results.breakdown_keys:
        return {}
    rows = [r for r in results.breakdown if metric in r]
    merged = merge_rows(rows, (axis,), [metric], records)
    return {r[axis]: (r[metric], r["n"], bounds(r["intervals"].get(metric))) for r in merged}


def collect(runs: list[tuple[str, Path]], axis: str) -> dict[str, Any]:
    """Per labelled run: its points along `axis` (with `intervals`, [x, low, high] each, where
    known), or its overall score as a flat reference."""
    lines = []
    metric = None
    for label, path in runs:
        run_dir = find_results(path)
        results = read_eval_results(run_dir)
        metric = metric or next(iter(results.metrics), None)
        if metric is None or metric not in results.metrics:
            raise CtxlabError(f"{path}: its results.json has no metric {metric!r} to compare")
        points = series(results, axis, metric, prediction_records(run_dir))
        line: dict[str, Any] = {"label": label, "run": str(path), "model": results.model}
        if len(points) > 1:
            line["points"] = [[x, mean, n] for x, (mean, n, _) in points.items()]
            line["intervals"] = [[x, *b] for x, (_, _, b) in points.items() if b]
        else:
            line["flat"] = results.metrics[metric]
            line["n"] = results.num_evaluated
            b = bounds(results.intervals.get(metric))
            if b:
                line["interval"] = list(b)
        lines.append(line)
    return {"axis": axis, "metric": metric, "lines": lines}


def _shift(axis: str) -> int:
    return 1 if axis == "gold_position" else 0  # the paper counts positions from 1


def _bounds_of(line: dict[str, Any]) -> dict[Any, Bounds]:
    return {x: (low, high) for x, low, high in line.get("intervals", [])}


def plot(data: dict[str, Any], path: Path, title: str) -> None:
    axis, metric, shift = data["axis"], data["metric"], _shift(data["axis"])
    xs = sorted({p[0] for line in data["lines"] for p in line.get("points", [])})
    lines = []
    for line in data["lines"]:
        if "points" in line:
            known = _bounds_of(line)
            points = [(x + shift, y, known.get(x)) for x, y, _ in line["points"]]
            lines.append(Line(line["label"], points))
        else:
            flat_bounds = tuple(line["interval"]) if "interval" in line else None
            lines.append(Line(line["label"], [(0, line["flat"], flat_bounds)], flat=True))
    plot_lines(
        lines,
        path,
        title=title,
        xlabel=AXES[axis],
        ylabel=f"{metric} (%)",
        ylim=(-2, 102),
        xticks=[x + shift for x in xs],
    )


def table(data: dict[str, Any]) -> list[str]:
    """One row a condition, one column a value of the axis; flat references fill every column."""
    xs = sorted({p[0] for line in data["lines"] for p in line.get("points", [])})
    body = []
    for line in data["lines"]:
        if "points" in line:
            known = _bounds_of(line)
            points = {p[0]: score(p[1], _interval(known.get(p[0]))) for p in line["points"]}
            body.append([line["label"], *(points.get(x, "—") for x in xs)])
        else:
            flat = score(line["flat"], _interval(line.get("interval")))
            body.append([line["label"], *([flat] * max(1, len(xs)))])
    shift = _shift(data["axis"])
    header = ["condition", *[str(x + shift) for x in xs]] if xs else ["condition", "score"]
    return markdown_table(header, body)


def paired_against_first(runs: list[tuple[str, Path]], metric: str) -> list[str]:
    """Each condition against the first on the examples both scored (matched by id): the change
    with its interval, and the exact paired test, so a gap between two curves is tested."""
    first_label, first_path = runs[0]
    base = {r["id"]: r for r in prediction_records(find_results(first_path))}
    body = []
    for label, path in runs[1:]:
        mine = prediction_records(find_results(path))
        shared = [(base[r["id"]], r) for r in mine if r["id"] in base]
        if not shared:
            body.append([label, 0, "—", "—", "no example in common: not paired"])
            continue
        test = paired_test(
            [b["scores"][metric] for b, _ in shared], [a["scores"][metric] for _, a in shared]
        )
        words = "significant" if test.significant else "not significant"
        body.append([label, test.n, change(test), p_value(test), f"{words} ({test.method})"])
    if not body:
        return []
    header = ["condition", "paired examples", f"change vs {first_label}", "p", "at 0.05"]
    return [f"## Paired against {first_label} ({metric})", "", *markdown_table(header, body)]


def _interval(b: Bounds | list[float] | None) -> dict[str, float] | None:
    return {"low": b[0], "high": b[1]} if b else None


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
    md = [f"# {title or 'Curves'}", ""]
    md += ["Scores are percent with 95% intervals (error bars; bands for flat references).", ""]
    for data in found:
        axis = data["axis"]
        plot(data, out / f"{axis}.png", title or f"{data['metric']} by {axis}")
        write_json(out / f"{axis}.json", data)
        md += [f"## {data['metric']} by {AXES[axis]}", "", *table(data), f"![{axis}]({axis}.png)"]
        md += [""]
    md += paired_against_first(runs, found[0]["metric"])
    md += ["Runs:", ""] + [f"- {label}: `{path}`" for label, path in runs] + [""]
    return write_text(out / "curves.md", "\n".join(md))

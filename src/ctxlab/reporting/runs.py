"""`ctxlab runs [DIR]`: every finished run under a runs directory, one line each, from its
artifact alone — name, time, kind, task, model and the headline score with its 95% interval (or
the before/after change with its p-value) — so the best checkpoint is found without opening
folders. Unfinished runs (`.incomplete-*`) and the `latest` links are passed over."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctxlab.errors import CtxlabError
from ctxlab.reporting.artifacts import Artifact, find_artifact, read_artifact
from ctxlab.reporting.tables import change, markdown_table, p_value, score


@dataclass(frozen=True)
class RunRow:
    name: str
    stamp: str
    kind: str
    task: str
    model: str
    headline: str


def headline(artifact: Artifact) -> str:
    """The run's main number: a score with its interval, or a change with its p-value."""
    if artifact.kind in ("comparison", "oak"):
        metric = artifact.metric
        test = artifact.tests.get(metric)
        before, after = artifact.baseline.metrics[metric], artifact.tuned.metrics[metric]
        return f"{metric} {before:.1f} -> {after:.1f} ({change(test)}, p {p_value(test)})"
    metric = next(iter(artifact.metrics), None)
    if metric is None:
        return "—"
    digits = 3 if artifact.kind == "rag" and "@" in metric and "/" not in metric else 1
    value = artifact.metrics[metric]
    return f"{metric} {score(value, artifact.intervals.get(metric), digits)}"


def list_runs(root: str | Path, name: str | None = None) -> list[RunRow]:
    """The finished runs under `root` (RUNS/NAME/STAMP/), oldest first."""
    root = Path(root)
    if not root.is_dir():
        raise CtxlabError(f"runs directory {root} does not exist: pass the --runs-dir of your runs")
    rows = []
    for group in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if name is not None and group.name != name:
            continue
        for run in sorted(group.iterdir()):
            if run.is_symlink() or not run.is_dir() or run.name.startswith("."):
                continue
            try:
                artifact = read_artifact(find_artifact(run))
            except CtxlabError:
                continue  # not a run directory of ours (or a damaged one): nothing to list
            rows.append(
                RunRow(
                    group.name,
                    run.name,
                    artifact.kind,
                    getattr(artifact, "task", "?"),
                    getattr(artifact, "model", "—"),
                    headline(artifact),
                )
            )
    return sorted(rows, key=lambda r: (r.stamp, r.name))


def runs_table(rows: list[RunRow]) -> list[str]:
    header = ["run", "time", "kind", "task", "model", "headline (95% interval / paired test)"]
    body = [[r.name, r.stamp, r.kind, r.task, r.model, r.headline] for r in rows]
    return markdown_table(header, body)

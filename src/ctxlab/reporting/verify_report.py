"""The report of a `ctxlab verify` run: the solver's metrics with their 95% intervals, the
breakdown, and the cases to read by hand (proofs the checker rejected, with its reasons, or
problems where z3 and the labels disagree). Rebuilt from results.json alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.io import write_text
from ctxlab.reporting.artifacts import VerifyResults, read_artifact
from ctxlab.reporting.tables import markdown_table, row_score, score

MAX_SHOWN = 10
DISAGREEMENT_COLUMNS = ("id", "gold", "solver", "predicted", "status", "error")


def _rejected(extra: dict[str, Any]) -> list[str]:
    rejected = extra.get("rejected") or []
    if not rejected:
        return []
    total = extra.get("num_rejected", len(rejected))
    shown = min(MAX_SHOWN, len(rejected))
    noun = extra.get("rejected_noun", "proofs")
    lines = [f"## Rejected {noun} ({total}{f'; the first {shown}' if shown < total else ''})", ""]
    for item in rejected[:MAX_SHOWN]:
        lines += [f"**{item['id']}**", "", "```", item.get("proof") or "(empty)", "```", ""]
        lines += [f"- {reason}" for reason in item.get("errors", [])] + [""]
    return lines


def _disagreements(extra: dict[str, Any]) -> list[str]:
    rows = extra.get("disagreements") or []
    if not rows:
        return []
    body = [[row.get(c) for c in DISAGREEMENT_COLUMNS] for row in rows]
    return [f"## Disagreements ({extra.get('compared', 'labels vs solver')})", ""] + (
        markdown_table(list(DISAGREEMENT_COLUMNS), body)
    )


def build_verify_report(run_dir: str | Path) -> Path:
    """Write report.md for a `ctxlab verify` run directory."""
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    results = read_artifact(path) if path.is_file() else None
    if not isinstance(results, VerifyResults):
        raise CtxlabError(f"{run_dir} is not a `ctxlab verify` run directory (no verify results)")
    extra = results.model_extra or {}
    checked = f"predictions {extra['predictions']}" if extra.get("predictions") else "gold answers"
    keys, metrics = results.breakdown_keys, list(results.metrics)
    md = [f"# verify {results.task} — {Path(results.data).name}", ""]
    md += [
        f"Checked the {checked} of **{results.num_checked}** examples of `{results.data}`. "
        "Scores are percent with 95% intervals.",
        "",
        "## Metrics",
        "",
    ]
    md += markdown_table(
        ["metric", "score"],
        [[m, score(v, results.intervals.get(m))] for m, v in results.metrics.items()],
    )
    if keys and results.breakdown:
        body = [
            [*(r.get(k) for k in keys), r.get("n"), *(row_score(r, m) for m in metrics)]
            for r in results.breakdown
        ]
        md += [f"## By {', '.join(keys)}", ""] + markdown_table([*keys, "n", *metrics], body)
    md += _rejected(extra) + _disagreements(extra)
    return write_text(run_dir / "report.md", "\n".join(md))

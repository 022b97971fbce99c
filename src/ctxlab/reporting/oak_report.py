"""The report of an OaK run (`ctxlab run logic-oak`): one line per iteration with each round's
p-value against the round before and against iteration 0, the change of every metric per round
with its paired interval, curves with interval bands against the iteration, the held-out
breakdown, and proofs the solver rejected with its reasons. Rebuilt from oak.json and the
rounds' samples.jsonl alone (`ctxlab report DIR`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.io import read_jsonl, write_text
from ctxlab.reporting.artifacts import OakRound, OakSummary, read_artifact
from ctxlab.reporting.comparison import metric_table, verdicts
from ctxlab.reporting.plots import Line, plot_lines
from ctxlab.reporting.tables import (
    bounds,
    change,
    key_of,
    markdown_table,
    p_value,
    row_score,
    score,
    sort_key,
)


def _extra(row: OakRound, name: str, default: Any = None) -> Any:
    """A field oak.json rows carry beyond the schema (pairs, dpo, transfer, rejected, ...)."""
    return (row.model_extra or {}).get(name, default)


def plot_curves(rows: list[OakRound], metrics: list[str], path: Path) -> bool:
    """Held-out metrics (percent) with their 95% bands against the iteration; iteration 0 is
    the SFT (or base) policy."""
    lines = []
    for metric in metrics:
        points = [
            (r.iteration, r.test[metric], bounds(r.test_intervals.get(metric)))
            for r in rows
            if metric in r.test
        ]
        if points:
            lines.append(Line(metric.replace("_", " "), points))
    if not lines:
        return False
    plot_lines(
        lines,
        path,
        title="OaK-DPO: held-out scores per iteration (bands: 95% intervals)",
        xlabel="iteration (0 = before DPO)",
        ylabel="held-out score (%)",
        ylim=(-2, 102),
        xticks=[r.iteration for r in rows],
        bands=True,
        size=(6, 3.6),
    )
    return True


def sample_breakdown(
    run_dir: Path, rows: list[OakRound], keys: list[str], metrics: list[str]
) -> list[list[Any]]:
    """Per round and breakdown value: the sampled training proofs' mean scores (samples.jsonl).
    No interval: a problem's samples are correlated, so one over samples would be too narrow."""
    body = []
    for row in rows:
        path = run_dir / f"iter_{row.iteration}" / "samples.jsonl"
        if not path.is_file():
            continue
        groups: dict[tuple, list[dict]] = {}
        for record in read_jsonl(path, "samples"):
            groups.setdefault(key_of(record.get("meta") or {}, keys), []).append(record)
        for key in sorted(groups, key=sort_key):
            group = groups[key]
            means = [sum(r["scores"].get(m, 0.0) for r in group) / len(group) for m in metrics]
            body.append([row.iteration, *key, len(group), *means])
    return body


def _iteration_table(rows: list[OakRound], metrics: list[str], headline: str) -> list[str]:
    transfer = any(_extra(r, "transfer") for r in rows)
    header = ["iteration", "policy", "pairs", "sample trace score", *metrics]
    header += ["transfer accuracy"] if transfer else []
    header += ["DPO pair loss", "seconds", f"p vs previous ({headline})", "p vs iteration 0"]
    body = []
    for r in rows:
        trace, loss = _extra(r, "mean_trace_score"), (_extra(r, "dpo") or {}).get("final_pair_loss")
        line = [r.iteration, r.stage, _extra(r, "pairs", "—")]
        line.append(f"{trace:.3f}" if isinstance(trace, float) else "—")
        line += [score(r.test.get(m), r.test_intervals.get(m)) for m in metrics]
        if transfer:
            line.append((_extra(r, "transfer") or {}).get("accuracy"))
        line += [f"{loss:.3f}" if isinstance(loss, float) else "—", _extra(r, "seconds")]
        line += [p_value(r.tests.get(headline)), p_value(r.tests_vs_start.get(headline))]
        body.append(line)
    return markdown_table(header, body)


def _changes_table(rows: list[OakRound], metrics: list[str]) -> list[str]:
    """Each round's change of every metric, paired on the same held-out problems."""
    body = [
        [
            r.iteration,
            m,
            change(r.tests.get(m)),
            p_value(r.tests.get(m)),
            change(r.tests_vs_start.get(m)),
            p_value(r.tests_vs_start.get(m)),
        ]
        for r in rows[1:]
        for m in metrics
        if m in r.tests or m in r.tests_vs_start
    ]
    if not body:
        return []
    header = ["iteration", "metric", "vs previous", "p", "vs iteration 0", "p"]
    return ["## Change per round (paired, held-out test)", "", *markdown_table(header, body)]


def _loss_name(dpo: dict) -> str:
    """`sigmoid`, or `sigmoid + sft` (with weights when given): the objective of each round."""
    types = dpo.get("loss_type") or ["sigmoid"]
    types = [types] if isinstance(types, str) else types
    weights = dpo.get("loss_weights")
    if weights:
        return " + ".join(f"{w:g} {t}" for w, t in zip(weights, types))
    return " + ".join(types)


def _settings(summary: OakSummary) -> list[str]:
    oak, solver = summary.oak, summary.oak.get("solver", True)
    return [
        f"SFT on gold proofs: {'yes' if oak.get('sft', True) else 'no (--no-sft)'}; "
        f"preferences: {'solver verdicts' if solver else 'final label only'}"
        f" (--no-solver ablation: {'no' if solver else 'yes'}); "
        f"{oak.get('iterations')} DPO iterations, {oak.get('samples_per_problem')} samples per "
        f"problem at temperature {oak.get('temperature')}, pair gap >= {oak.get('min_gap')}, "
        f"DPO loss {_loss_name(oak.get('dpo', {}))}.",
        f"Training problems: {summary.num_train}; held-out test problems: "
        f"{summary.num_test} ({oak.get('test_task')}). Total time: "
        f"{summary.timing.get('total_s')} s.",
        "",
    ]


def _rejected(rows: list[OakRound]) -> list[str]:
    rejected = _extra(rows[-1], "rejected") or []
    if not rejected:
        return []
    lines = ["## Proofs the solver rejected (last iteration, held-out)", ""]
    for item in rejected:
        query = f" — query: {item['query']}" if item.get("query") else ""
        lines += [f"**{item['id']}**{query}", "", "```", item.get("prediction") or "(empty)"]
        lines += ["```", ""] + [f"- {reason}" for reason in item.get("errors", [])] + [""]
    return lines


def build_oak_report(run_dir: str | Path) -> Path:
    """Write report.md and oak_curves.png for an OaK run directory."""
    run_dir = Path(run_dir)
    path = run_dir / "oak.json"
    if not path.is_file():
        raise CtxlabError(f"{run_dir} has no oak.json: pass an OaK run directory")
    summary = read_artifact(path)
    if not isinstance(summary, OakSummary) or not summary.iterations:
        raise CtxlabError(f"{path} holds no OaK iterations: pass an OaK run directory")
    rows, keys, metric = summary.iterations, summary.breakdown_keys, summary.metric
    metrics = list(rows[0].test)
    last = rows[-1].iteration
    lines = [f"# OaK-DPO: {summary.task} on {summary.model}", "", *_settings(summary)]
    lines += verdicts(summary, f"iteration {last} − iteration 0")
    lines += metric_table(summary, "iteration 0", f"iteration {last}")
    lines += ["## Per iteration (held-out test, percent, 95% intervals)", ""]
    lines += _iteration_table(rows, metrics, metric)
    lines += _changes_table(rows, metrics)
    if plot_curves(rows, metrics, run_dir / "oak_curves.png"):
        lines += ["![held-out scores per iteration](oak_curves.png)", ""]
    if keys and any(r.test_breakdown for r in rows):
        lines += ["## Held-out test by " + ", ".join(keys), ""]
        body = [
            [r.iteration, *key_of(b, keys), b.get("n"), *(row_score(b, m) for m in metrics)]
            for r in rows
            for b in r.test_breakdown
        ]
        lines += markdown_table(["iteration", *keys, "n", *metrics], body)
    samples = sample_breakdown(run_dir, rows, keys, metrics) if keys else []
    if samples:
        lines += [f"## Sampled training proofs by {', '.join(keys)} (what pairs were built from)"]
        lines += ["", *markdown_table(["iteration", *keys, "samples", *metrics], samples)]
    lines += _rejected(rows)
    return write_text(run_dir / "report.md", "\n".join(lines) + "\n")

"""What a person reads about DOT outputs: the classes of Graphviz errors among invalid outputs,
side-by-side renders of reference and prediction (the best and the worst held-out examples), and
the scoring of saved DOT (`ctxlab verify --task dot`).
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from rich.progress import track

from ctxlab.dot.graphviz import parse, render_png
from ctxlab.stats import breakdown, summarize

RENDERS = 3  # best and worst examples drawn in a report
_LINE = re.compile(r"\bline \d+")
_NEAR = re.compile(r"near '.*?'$|near '.*")


def error_class(message: str) -> str:
    """Graphviz's message without the line, the token and the input name, so that messages of
    one kind count together: "syntax error", "no DOT graph in the answer", ..."""
    text = message.removeprefix("Error:").strip().removeprefix("<stdin>:").strip()
    text = _NEAR.sub("", _LINE.sub("line N", text)).strip()
    if text.startswith("syntax error"):
        return "syntax error"
    return text[:80] or "invalid"


def _records_of(task: Any, examples: list, predictions: dict[str, str] | None) -> list[dict]:
    records = []
    for example in examples:
        raw = predictions[example.id] if predictions else task.target(example)
        prediction = task.clean_prediction(raw)
        records.append(
            {
                "id": example.id,
                "prediction": prediction,
                "answers": example.answers,
                "meta": example.meta,
                "scores": task.score(prediction, example),
                "errors": task.explain(prediction, example),
            }
        )
    return records


def verify_graphs(task: Any, examples: list, predictions: dict[str, str] | None, show: bool):
    """(results, verdicts) of the gold graphs, or of given DOT, under the task's metrics."""
    checking = "checking graphs with Graphviz"
    records = _records_of(
        task, track(examples, checking, disable=not show, transient=True), predictions
    )
    rejected = [
        {"id": r["id"], "errors": r["errors"], "proof": r["prediction"]}
        for r in records
        if r["scores"]["valid"] < 100
    ]
    results = {
        **summarize(records, task.metrics),
        "breakdown_keys": list(task.breakdown_keys),
        "breakdown": breakdown(records, task.breakdown_keys, task.metrics),
        "num_rejected": len(rejected),
        "rejected": rejected[:50],
        "rejected_noun": "graphs",
        "error_classes": dict(Counter(error_class(r["errors"][0]) for r in rejected)),
    }
    verdicts = [
        {"id": r["id"], **r["meta"], **r["scores"], "errors": r["errors"], "dot": r["prediction"]}
        for r in records
    ]
    return results, verdicts


def graphs_summary(results: dict, show: int) -> list[str]:
    m, ci = results["metrics"], results["intervals"]
    lines = [
        f"{name} {m[name]:.1f} [{ci[name]['low']:.1f}, {ci[name]['high']:.1f}]"
        for name in ("valid", "graph_f1", "exact")
    ]
    out = [", ".join(lines)]
    for item in results.get("rejected", [])[:show]:
        out.append(f"invalid {item['id']}: {item['errors'][0] if item['errors'] else ''}")
    return out


def _render(reference: str, prediction: str, title: str, path: Path, why: str) -> None:
    from ctxlab.reporting.plots import plot_side_by_side

    with tempfile.TemporaryDirectory() as tmp:
        ref_png, pred_png = Path(tmp) / "reference.png", Path(tmp) / "prediction.png"
        panels = [
            ("reference", ref_png if render_png(reference, ref_png) else None, "not drawable"),
            ("prediction", pred_png if render_png(prediction, pred_png) else None, why),
        ]
        plot_side_by_side(panels, title, path)


def dot_section(task: Any, run_dir: Path, records: list[dict]) -> list[str]:
    """Markdown about an eval run's DOT outputs, with renders written under RUN/renders/."""
    if not records:
        return []
    md = []
    invalid = [r for r in records if (r.get("scores") or {}).get("valid", 0) < 100]
    if invalid:
        classes: Counter = Counter()
        sample: dict[str, str] = {}
        for r in invalid:
            reasons = task.explain(r.get("prediction", ""), None) or ["invalid"]
            kind = error_class(reasons[0])
            classes[kind] += 1
            sample.setdefault(kind, reasons[0])
        md += [f"## Invalid outputs: {len(invalid)} of {len(records)}", ""]
        md += ["| error class | n | example message |", "|---|---|---|"]
        md += [
            f"| {kind} | {n} | {sample[kind][:120].replace('|', '/')} |"
            for kind, n in classes.most_common()
        ]
        md.append("")
    warned = sum(1 for r in records if r.get("prediction") and parse(r["prediction"]).warnings)
    if warned:
        md += [f"{warned} valid outputs drew Graphviz warnings (they still count as valid).", ""]
    ranked = sorted(records, key=lambda r: ((r.get("scores") or {}).get("graph_f1", 0), r["id"]))
    chosen = ranked[-RENDERS:][::-1] + [r for r in ranked[:RENDERS] if r not in ranked[-RENDERS:]]
    md += ["## Renders: reference and prediction (best, then worst, by graph F1)", ""]
    (run_dir / "renders").mkdir(exist_ok=True)
    for r in chosen:
        scores = r.get("scores") or {}
        prediction = r.get("prediction", "")
        reasons = task.explain(prediction, None) if scores.get("valid", 0) < 100 else []
        name = f"renders/{re.sub(r'[^A-Za-z0-9_.-]+', '_', r['id'])}.png"
        f1, valid = scores.get("graph_f1", 0), scores.get("valid", 0)
        title = f"{r['id']}: graph F1 {f1:.0f}, valid {valid:.0f}"
        _render(
            r["answers"][0], prediction, title, run_dir / name, "; ".join(reasons) or "not drawable"
        )
        md += [f"![{r['id']}]({name})", ""]
    return md

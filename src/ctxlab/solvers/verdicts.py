"""Checking a logic data file's answers with the solvers: the proofs of prontoqa problems with
the proof checker, the labels of FOLIO problems with z3 (`ctxlab verify`, through the tasks'
`verify` hook).

prontoqa: every proof (the example's gold `target`, or a model's prediction) -> `accuracy`,
`step_validity`, `trace_validity` (percent, with intervals), by hops, with the rejected proofs and
why. folio: z3 labels each problem from its gold FOL -> `label_agreement` with the gold labels
(or, given predictions, the predicted labels' agreement with z3, plus their `accuracy` against
the gold labels), listing every disagreement.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ctxlab.errors import CtxlabError
from ctxlab.solvers.proofs import check_proof, parse_label
from ctxlab.stats import breakdown, interval, summarize

Predictions = dict[str, str] | None


def _progress(description: str, show: bool) -> Progress:
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show,
        transient=True,
    )


def verify_proofs(examples: list, predictions: Predictions, show: bool) -> tuple[dict, list]:
    """Each proof checked on its own; scores and the rejected proofs with the checker's reasons."""
    verdicts, records = [], []
    with _progress("checking proofs", show) as bar:
        for example in bar.track(examples):
            text = predictions[example.id] if predictions else (example.target or "")
            check = check_proof(text, example)
            scores = check.scores()
            records.append({"meta": example.meta, "scores": scores})
            verdicts.append(
                {
                    "id": example.id,
                    "hops": example.meta.get("hops"),
                    **scores,
                    "label": check.label,
                    "gold": check.gold,
                    "errors": check.errors,
                    "steps": [asdict(s) for s in check.steps],
                    "proof": text,
                }
            )
    metrics = ("accuracy", "step_validity", "trace_validity")
    rejected = [
        {"id": v["id"], "hops": v["hops"], "errors": v["errors"], "proof": v["proof"]}
        for v in verdicts
        if v["trace_validity"] < 100
    ]
    results = {
        **summarize(records, metrics),
        "breakdown_keys": ["hops"],
        "breakdown": breakdown(records, ("hops",), metrics),
        "num_rejected": len(rejected),
        "rejected": rejected[:50],
    }
    return results, verdicts


def _fol_of(example: Any) -> tuple[list[str], str]:
    premises, conclusion = example.meta.get("premises_fol"), example.meta.get("conclusion_fol")
    if not premises or not conclusion:
        raise CtxlabError(
            f"example {example.id} has no gold FOL: verify needs the FOL translations "
            "(premises-FOL and conclusion-FOL) on every record, which Logic-LM's FOLIO lacks "
            "(and FOLIO v0.0 train's conclusion-FOL): verify a FOLIO jsonl that has them "
            "(FOLIO validation), or score the labels with `ctxlab eval --task folio`"
        )
    return list(premises), str(conclusion)


def verify_labels(
    examples: list, predictions: Predictions, show: bool, timeout_ms: int, strict: bool
) -> tuple[dict, list]:
    """z3's label from each problem's gold FOL against the gold (or predicted) label; a formula
    that does not parse is counted (or, with `strict`, stops the check)."""
    from ctxlab.solvers.fol import FolParseError, fol_label, parse_formula  # z3, only here

    problems = [_fol_of(e) for e in examples]
    first_error = None
    for premises, conclusion in problems:
        for formula in [*premises, conclusion]:
            try:
                parse_formula(formula)
            except FolParseError as err:
                if strict:
                    raise
                first_error = first_error or err
                break
    verdicts = []
    with _progress("proving with z3", show) as bar:
        for example, (premises, conclusion) in bar.track(list(zip(examples, problems))):
            verdict = fol_label(premises, conclusion, timeout_ms)
            gold = example.answers[0]
            predicted = parse_label(predictions[example.id]) if predictions else None
            checked = predicted if predictions else gold
            verdicts.append(
                {
                    "id": example.id,
                    "gold": gold,
                    "solver": verdict.label,
                    "predicted": predicted,
                    "agrees": verdict.label is not None and verdict.label == checked,
                    "status": verdict.status,
                    "error": verdict.error,
                    "conclusion": example.meta.get("query"),
                }
            )
    if all(v["status"] == "parse_error" for v in verdicts) and first_error is not None:
        raise first_error
    scores = {"label_agreement": [100.0 * v["agrees"] for v in verdicts]}
    if predictions:
        scores["accuracy"] = [100.0 * (v["predicted"] == v["gold"]) for v in verdicts]
    metrics = {m: sum(values) / len(values) for m, values in scores.items()}
    intervals = {m: interval(values).to_dict() for m, values in scores.items()}
    disagreements = [v for v in verdicts if not v["agrees"]]
    results = {
        "metrics": metrics,
        "intervals": intervals,
        "compared": "predicted vs solver" if predictions else "gold vs solver",
        "num_agree": len(verdicts) - len(disagreements),
        "num_parse_errors": sum(v["status"] == "parse_error" for v in verdicts),
        "num_timeouts": sum(v["status"] == "timeout" for v in verdicts),
        "timeout_ms": timeout_ms,
        "disagreements": disagreements,
    }
    return results, verdicts


def _metrics(r: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in r["metrics"].items())


def labels_summary(r: dict[str, Any], show: int) -> list[str]:
    """What `ctxlab verify --task folio` prints: agreement, then up to `show` disagreements."""
    lines = [
        f"folio ({r['compared']}): {_metrics(r)} — {r['num_agree']}/{r['num_checked']} agree, "
        f"{r['num_parse_errors']} parse errors, {r['num_timeouts']} timeouts"
    ]
    for d in r["disagreements"][:show]:
        why = f" [{d['status']}: {d['error']}]" if d["error"] else f" [{d['status']}]"
        predicted = f", predicted {d['predicted']}" if d["predicted"] is not None else ""
        lines.append(f"  {d['id']}: gold {d['gold']}, solver {d['solver']}{predicted}{why}")
    return lines


def proofs_summary(r: dict[str, Any], show: int) -> list[str]:
    """What `ctxlab verify --task prontoqa` prints: scores, then up to `show` rejections."""
    lines = [f"prontoqa: {_metrics(r)} on {r['num_checked']} proofs, {r['num_rejected']} rejected"]
    return lines + [
        f"  {d['id']} (hops {d['hops']}): {'; '.join(d['errors'])}" for d in r["rejected"][:show]
    ]

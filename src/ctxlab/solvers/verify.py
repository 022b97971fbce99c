"""`ctxlab verify`: check gold or predicted answers of a logic data file with the solvers.

prontoqa: every proof (the example's gold `target`, or a model's prediction) goes through the
proof checker -> `accuracy`, `step_validity`, `trace_validity` (percent), by hops, with the
rejected proofs and why. folio: z3 labels each problem from its gold FOL -> `label_agreement`
with the gold labels (or, given predictions, the predicted labels' agreement with z3, plus their
`accuracy` against the gold labels), listing every disagreement. Everything is computed before
the run directory is created, so bad input leaves none behind.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ctxlab.errors import CtxlabError
from ctxlab.evaluation import breakdown
from ctxlab.solvers.fol import FolParseError, fol_label, parse_formula
from ctxlab.solvers.proofs import check_proof, parse_label
from ctxlab.tasks.base import Example
from ctxlab.tracking import RunDir, write_json, write_jsonl

VERIFIABLE = ("prontoqa", "folio")


@dataclass
class VerifyResult:
    run_dir: Path | None
    results: dict[str, Any]
    verdicts: list[dict[str, Any]]


def read_predictions(path: str | Path) -> dict[str, str]:
    """`{"id", "prediction"}` lines (an eval run's predictions.jsonl works) by id."""
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(f"predictions file {path} does not exist: pass a jsonl of id/prediction")
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                out[str(record["id"])] = str(record["prediction"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise CtxlabError(
                    f"{path}:{number} is not a prediction line: each line needs "
                    '{"id": ..., "prediction": ...} (an eval run\'s predictions.jsonl works)'
                ) from None
    if not out:
        raise CtxlabError(f"predictions file {path} holds no predictions")
    return out


def _progress(description: str, show: bool) -> Progress:
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show,
        transient=True,
    )


def _verify_prontoqa(examples: list[Example], predictions, show: bool) -> tuple[dict, list]:
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
    means = {m: sum(r["scores"][m] for r in records) / len(records) for m in metrics}
    rejected = [
        {"id": v["id"], "hops": v["hops"], "errors": v["errors"], "proof": v["proof"]}
        for v in verdicts
        if v["trace_validity"] < 100
    ]
    results = {
        "metrics": means,
        "breakdown": breakdown(records, ("hops",), metrics),
        "num_rejected": len(rejected),
        "rejected": rejected[:50],
    }
    return results, verdicts


def _fol_of(example: Example) -> tuple[list[str], str]:
    premises, conclusion = example.meta.get("premises_fol"), example.meta.get("conclusion_fol")
    if not premises or not conclusion:
        raise CtxlabError(
            f"example {example.id} has no gold FOL: verify needs premises-FOL and conclusion-FOL "
            "on every record (FOLIO validation has both; FOLIO v0.0 train has no conclusion-FOL)"
        )
    return list(premises), str(conclusion)


def _verify_folio(
    examples: list[Example], predictions, show: bool, timeout_ms: int, strict: bool
) -> tuple[dict, list]:
    problems = [_fol_of(e) for e in examples]
    first_error: FolParseError | None = None
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
    metrics = {"label_agreement": 100.0 * sum(v["agrees"] for v in verdicts) / len(verdicts)}
    if predictions:
        hits = sum(v["predicted"] == v["gold"] for v in verdicts)
        metrics["accuracy"] = 100.0 * hits / len(verdicts)
    disagreements = [v for v in verdicts if not v["agrees"]]
    results = {
        "metrics": metrics,
        "compared": "predicted vs solver" if predictions else "gold vs solver",
        "num_agree": len(verdicts) - len(disagreements),
        "num_parse_errors": sum(v["status"] == "parse_error" for v in verdicts),
        "num_timeouts": sum(v["status"] == "timeout" for v in verdicts),
        "timeout_ms": timeout_ms,
        "disagreements": disagreements,
    }
    return results, verdicts


def verify(
    task: str,
    data: str,
    predictions: str | None = None,
    runs_dir: str = "runs",
    name: str = "verify",
    timeout_ms: int = 5000,
    strict: bool = False,
    progress: bool = True,
) -> VerifyResult:
    """Check a data file's gold answers, or a model's predictions, and write a run directory."""
    from ctxlab.api import build_config
    from ctxlab.evaluation import make_task, read_task_data

    if task not in VERIFIABLE:
        raise CtxlabError(f"verify checks {' or '.join(VERIFIABLE)}, not {task!r}: pass --task")
    if timeout_ms < 1:
        raise CtxlabError(f"--timeout-ms must be positive, got {timeout_ms}")
    config = build_config(task=task, runs_dir=runs_dir, name=name)
    examples = read_task_data(data, make_task(config))
    preds = read_predictions(predictions) if predictions else None
    if preds is not None:
        examples = [e for e in examples if e.id in preds]
        if not examples:
            raise CtxlabError(
                f"no prediction in {predictions} has the id of an example in {data}: "
                "pass the predictions of a run on this data file"
            )
    if task == "prontoqa":
        results, verdicts = _verify_prontoqa(examples, preds, progress)
    else:
        results, verdicts = _verify_folio(examples, preds, progress, timeout_ms, strict)
    results = {
        "task": task,
        "data": str(data),
        "predictions": str(predictions) if predictions else None,
        "num_checked": len(examples),
        **results,
    }
    with RunDir(config.run.runs_dir, config.run.name) as run:
        run.log(f"verify {task} on {data}: {len(examples)} examples, {results['metrics']}")
        write_json(run.path / "results.json", results)
        write_jsonl(run.path / "verdicts.jsonl", verdicts)
    return VerifyResult(run.path, results, verdicts)

"""`ctxlab verify`: check gold or predicted answers of a logic data file with the solvers.

prontoqa: every proof (the example's gold `target`, or a model's prediction) goes through the
proof checker -> `accuracy`, `step_validity`, `trace_validity` (percent), by hops, with the
rejected proofs and why. folio: z3 labels each problem from its gold FOL -> `label_agreement`
with the gold labels (or, given predictions, the predicted labels' agreement with z3, plus their
`accuracy` against the gold labels), listing every disagreement. Everything is computed before
the run directory is created, so bad input leaves none behind.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializeAsAny
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ctxlab.config import RecipeConfig, RunConfig
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import breakdown, make_task, summarize
from ctxlab.io import json_lines, write_json, write_jsonl
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import open_run
from ctxlab.reporting.artifacts import VerifyResults
from ctxlab.solvers.fol import FolParseError, fol_label, parse_formula
from ctxlab.solvers.proofs import check_proof, parse_label
from ctxlab.stats import interval
from ctxlab.tasks.base import Example, TaskConfig

VERIFIABLE = ("prontoqa", "folio")


class VerifyRun(RunConfig):
    name: str = Field("verify", description="run name: the run goes to RUNS_DIR/NAME/<stamp>/")


class VerifyConfig(RecipeConfig):
    """`ctxlab verify`: the task (prontoqa or folio) and its data file (`task.data`), and
    optionally a model's predictions to check instead of the gold answers."""

    recipe: Literal["verify"] = "verify"  # type: ignore[assignment]
    task: SerializeAsAny[TaskConfig] = TaskConfig(name="prontoqa")
    predictions: str | None = Field(
        None, description='jsonl of {"id", "prediction"} (an eval run\'s predictions.jsonl)'
    )
    timeout_ms: int = Field(5000, ge=1, description="z3 time per check (folio)")
    strict: bool = Field(False, description="folio: stop at the first formula that fails to parse")
    show: int = Field(20, ge=0, description="disagreements/rejections to print")
    progress: bool = Field(True, description="show progress bars")
    run: VerifyRun = VerifyRun()


def read_predictions(path: str | Path) -> dict[str, str]:
    """`{"id", "prediction"}` lines (an eval run's predictions.jsonl works) by id."""
    if not Path(path).is_file():
        raise CtxlabError(f"predictions file {path} does not exist: pass a jsonl of id/prediction")
    out: dict[str, str] = {}
    for number, record in json_lines(Path(path), "predictions", noun="predictions"):
        try:
            out[str(record["id"])] = str(record["prediction"])
        except (KeyError, TypeError):
            raise CtxlabError(
                f"{path}:{number} is not a prediction line: each line needs "
                '{"id": ..., "prediction": ...} (an eval run\'s predictions.jsonl works)'
            ) from None
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


def verify(config: VerifyConfig) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """Check a data file's gold answers, or a model's predictions, and write a run directory."""
    task = config.task.name
    if task not in VERIFIABLE:
        raise CtxlabError(f"verify checks {' or '.join(VERIFIABLE)}, not {task!r}: pass --task")
    if not config.task.data:
        raise CtxlabError(f"verify needs the {task} data file: pass --data FILE")
    examples = make_task(config).read_data(config.task.data)  # type: ignore[arg-type]
    preds = read_predictions(config.predictions) if config.predictions else None
    if preds is not None:
        examples = [e for e in examples if e.id in preds]
        if not examples:
            raise CtxlabError(
                f"no prediction in {config.predictions} has the id of an example in "
                f"{config.task.data}: pass the predictions of a run on this data file"
            )
    if task == "prontoqa":
        found, verdicts = _verify_prontoqa(examples, preds, config.progress)
    else:
        found, verdicts = _verify_folio(
            examples, preds, config.progress, config.timeout_ms, config.strict
        )
    results = VerifyResults(
        task=task,
        data=str(config.task.data),
        predictions=config.predictions,
        num_checked=len(examples),
        **found,
    ).model_dump(mode="json")
    with open_run(config) as run:  # type: ignore[arg-type]
        run.log(
            f"verify {task} on {config.task.data}: {len(examples)} examples, {found['metrics']}"
        )
        write_json(run.path / "results.json", results)
        write_jsonl(run.path / "verdicts.jsonl", verdicts)
    return run.path, results, verdicts


@register(VerifyConfig)
def run(config: VerifyConfig) -> RunSummary:
    run_dir, results, _ = verify(config)
    return RunSummary("verify", run_dir, summary_lines(results, config.show), results)


def summary_lines(r: dict[str, Any], show: int) -> str:
    """What `ctxlab verify` prints: the metrics, then the disagreements or rejected proofs."""
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in r["metrics"].items())
    if r["task"] == "folio":
        lines = [
            f"folio ({r['compared']}): {metrics} — {r['num_agree']}/{r['num_checked']} agree, "
            f"{r['num_parse_errors']} parse errors, {r['num_timeouts']} timeouts"
        ]
        for d in r["disagreements"][:show]:
            why = f" [{d['status']}: {d['error']}]" if d["error"] else f" [{d['status']}]"
            predicted = f", predicted {d['predicted']}" if d["predicted"] is not None else ""
            lines.append(f"  {d['id']}: gold {d['gold']}, solver {d['solver']}{predicted}{why}")
    else:
        lines = [f"prontoqa: {metrics} on {r['num_checked']} proofs, {r['num_rejected']} rejected"]
        lines += [
            f"  {d['id']} (hops {d['hops']}): {'; '.join(d['errors'])}"
            for d in r["rejected"][:show]
        ]
    return "\n".join(lines)

"""The `verify` recipe (`ctxlab verify`): check a data file's gold answers, or a model's
predictions, with the task's own checker (its `verify` hook: the proof checker for prontoqa, z3
for folio, see `ctxlab.solvers.verdicts`; Graphviz and the structure metric for dot). Everything
is computed before the run directory is created, so bad input leaves none behind; the run holds
results.json (`kind: verify`, metrics with intervals) and verdicts.jsonl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializeAsAny

from ctxlab.config import RecipeConfig, RunConfig
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.io import json_lines, write_json, write_jsonl
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import open_run
from ctxlab.reporting.artifacts import VerifyResults
from ctxlab.tasks.base import TaskConfig, all_tasks


class VerifyRun(RunConfig):
    name: str = Field("verify", description="run name: the run goes to RUNS_DIR/NAME/<stamp>/")


class VerifyConfig(RecipeConfig):
    """`ctxlab verify`: the task (prontoqa, folio or dot) and its data file (`task.data`), and
    optionally a model's predictions to check instead of the gold answers."""

    recipe: Literal["verify"] = "verify"  # type: ignore[assignment]
    task: SerializeAsAny[TaskConfig] = TaskConfig(name="prontoqa")
    predictions: str | None = Field(
        None, description='jsonl of {"id", "prediction"} (an eval run\'s predictions.jsonl)'
    )
    timeout_ms: int = Field(5000, ge=1, description="z3 time per check (folio)")
    strict: bool = Field(
        False,
        description="stop at the first formula that fails to parse (folio) or pair whose DOT "
        "Graphviz rejects (dot)",
    )
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


def verify(config: VerifyConfig) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """Check a data file's gold answers, or a model's predictions, and write a run directory."""
    if "strict" in type(config.task).model_fields:
        config = config.model_copy(
            update={"task": config.task.model_copy(update={"strict": config.strict})}
        )
    checker = make_task(config)  # type: ignore[arg-type]
    task = checker.name
    if not checker.verifiable:
        raise CtxlabError(
            f"task {task!r} has no solver to check answers with: verify takes "
            f"{' or '.join(verifiable_tasks())} (--task)"
        )
    if not config.task.data:
        raise CtxlabError(f"verify needs the {task} data file: pass --data FILE")
    examples = checker.read_data(config.task.data)
    preds = read_predictions(config.predictions) if config.predictions else None
    if preds is not None:
        examples = [e for e in examples if e.id in preds]
        if not examples:
            raise CtxlabError(
                f"no prediction in {config.predictions} has the id of an example in "
                f"{config.task.data}: pass the predictions of a run on this data file"
            )
    found, verdicts = checker.verify(
        examples,
        preds,
        timeout_ms=config.timeout_ms,
        strict=config.strict,
        progress=config.progress,
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
    lines = make_task(config).verify_summary(results, config.show)  # type: ignore[arg-type]
    return RunSummary("verify", run_dir, "\n".join(lines), results)


def verifiable_tasks() -> list[str]:
    """The tasks whose answers a solver checks (their `verify` hook)."""
    return sorted(name for name, cls in all_tasks().items() if cls.verifiable)

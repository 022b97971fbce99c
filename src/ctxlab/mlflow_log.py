"""`--report-to mlflow`: a finished run's config, scores, training curve and report files in an
MLflow store.

The store is a SQLite file under the runs directory (`RUNS/mlflow.db`, artifacts in
`RUNS/mlflow-artifacts/`), so no server is needed; `MLFLOW_TRACKING_URI` points it anywhere
else. Each run is one MLflow run in the experiment of its run name: the config flattened into
params; every score, its interval bounds and, for a before/after run, both sides, the changes
and the paired tests' p-values as metrics; the training log (metrics.jsonl) as per-step metrics;
the report, plots and JSON files of the run directory's top level as artifacts. `ctxlab train
--report-to mlflow` logs through `Trainer`'s own MLflow callback instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError

ARTIFACT_SUFFIXES = (".md", ".json", ".png", ".yaml", ".log")
PARAM_CHARS = 500


def tracking_uri(runs_dir: str | Path) -> str:
    """`MLFLOW_TRACKING_URI`, else a SQLite store in the runs directory."""
    given = os.environ.get("MLFLOW_TRACKING_URI")
    return given or f"sqlite:///{(Path(runs_dir) / 'mlflow.db').resolve()}"


def check_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise CtxlabError("--report-to mlflow needs mlflow: pip install 'ctxlab[mlflow]'")


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config sections as `section.key` params (MLflow params are short strings)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, f"{name}.")
        else:
            out[name] = str(value)[:PARAM_CHARS]
    return out


def _scores(scores: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out = {f"{prefix}{m}": float(v) for m, v in (scores.get("metrics") or {}).items()}
    for m, ci in (scores.get("intervals") or {}).items():
        out[f"{prefix}{m}_low"], out[f"{prefix}{m}_high"] = float(ci["low"]), float(ci["high"])
    return out


def run_metrics(artifact: dict[str, Any]) -> dict[str, float]:
    """The numbers of a run's artifact: scores with bounds; for a before/after run both sides,
    the change and the paired test's p-value per metric."""
    found = _scores(artifact)
    if artifact.get("kind") == "comparison":
        found |= _scores(artifact["baseline"], "baseline_") | _scores(artifact["tuned"], "tuned_")
        found |= {f"delta_{m}": float(v) for m, v in artifact.get("delta", {}).items()}
        found |= {f"p_{m}": float(t["p_value"]) for m, t in artifact.get("tests", {}).items()}
    return found


def training_curve(run_dir: Path) -> list[tuple[int, dict[str, float]]]:
    """(step, numbers) of each line of a run's training log (train/metrics.jsonl, or the run's
    own metrics.jsonl for pre-training), for MLflow's per-step metrics."""
    from ctxlab.io import read_jsonl

    for path in (run_dir / "train" / "metrics.jsonl", run_dir / "metrics.jsonl"):
        if path.is_file() and path.stat().st_size:
            return [
                (
                    int(line["step"]),
                    {
                        k: float(v)
                        for k, v in line.items()
                        if k != "step" and isinstance(v, (int, float))
                    },
                )
                for line in read_jsonl(path, "training log")
                if isinstance(line.get("step"), int)
            ]
    return []


def log_run(config, run_dir: Path, artifact: dict[str, Any], recipe: str) -> str:
    """Log a finished run; returns the MLflow run id. Uses a client of its own (no global MLflow
    state) and keeps MLflow's and its database migrations' INFO lines off the terminal."""
    check_installed()
    import logging
    import time

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    client = MlflowClient(tracking_uri=tracking_uri(config.run.runs_dir))
    experiment = client.get_experiment_by_name(config.run.name)
    artifacts = (Path(config.run.runs_dir) / "mlflow-artifacts").resolve().as_uri()
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(config.run.name, artifact_location=artifacts)
    )
    run = client.create_run(experiment_id, run_name=run_dir.name, tags={"recipe": recipe})
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in run_metrics(artifact).items()]
    for step, numbers in training_curve(run_dir):
        metrics += [Metric(f"train_{k}", v, now, step) for k, v in numbers.items()]
    params = [Param(k, v) for k, v in flatten(config.model_dump(mode="json")).items()]
    for start in range(0, max(len(metrics), len(params)), 100):  # MLflow's batch limits
        client.log_batch(
            run_id,
            metrics=metrics[start : start + 100],
            params=params[start : start + 100],
            tags=[RunTag("run_dir", str(run_dir.resolve()))] if start == 0 else [],
        )
    for path in sorted(run_dir.iterdir()):
        if path.is_file() and path.suffix in ARTIFACT_SUFFIXES:
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    return run_id

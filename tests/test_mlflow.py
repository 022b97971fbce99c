"""`--report-to mlflow`: a finished run's params, scores (with interval bounds), training curve
and report files in a SQLite MLflow store that `mlflow.search_runs` reads back."""

from __future__ import annotations

import pytest
from cli_helpers import run_cli

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (ctxlab[dev] has it)")


@pytest.fixture(autouse=True)
def no_tracking_uri(monkeypatch):
    """The default store (RUNS_DIR/mlflow.db), whatever the environment or MLflow set before."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def client_of(store):
    return mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{store}")


def runs_of(store, experiment: str):
    client = client_of(store)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def test_an_eval_run_is_read_back_with_its_scores(tmp_path, tiny_model_dir):
    argv = [
        "eval",
        "--variant",
        "niah_single_1",
        "--lengths",
        "256",
        "--num-samples",
        "3",
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "4",
        "--runs-dir",
        str(tmp_path),
        "--name",
        "tracked",
        "--report-to",
        "mlflow",
        "--no-progress",
    ]
    code, out, err = run_cli(argv)
    assert code == 0, err
    found = runs_of(tmp_path / "mlflow.db", "tracked")
    assert len(found) == 1
    run = found[0].data
    assert run.metrics["string_match_all"] == 0.0 and run.metrics["string_match_all_high"] > 0
    assert run.params["model.name"] == str(tiny_model_dir) and run.tags["recipe"] == "eval"
    artifacts = client_of(tmp_path / "mlflow.db").list_artifacts(found[0].info.run_id)
    assert {"report.md", "results.json", "config.yaml"} <= {a.path for a in artifacts}


def test_a_before_after_run_logs_both_sides_the_test_and_the_curve(tmp_path, tiny_model_dir):
    from ctxlab.recipes import preset_config, run_config

    sets = [
        f"model.name={tiny_model_dir}",
        f"run.runs_dir={tmp_path}",
        "run.report_to=mlflow",
        "task.variants=[niah_single_1]",
        "task.lengths=[256]",
        "task.depths=[50]",
        "splits.train=4",
        "splits.val=1",
        "splits.test=2",
        "eval.max_new_tokens=4",
        "training.max_steps=4",
        "training.eval_steps=2",
        "training.save_steps=2",
        "training.logging_steps=1",
    ]
    run_config(preset_config("niah-quick", sets, "finetune"))
    (found,) = runs_of(tmp_path / "mlflow.db", "niah-quick")
    keys = ("baseline_string_match_all", "tuned_string_match_all", "delta_string_match_all")
    assert set(keys) | {"p_string_match_all"} <= set(found.data.metrics)
    losses = client_of(tmp_path / "mlflow.db").get_metric_history(found.info.run_id, "train_loss")
    assert [m.step for m in losses] == [1, 2, 3, 4]


def test_without_mlflow_the_flag_is_one_line(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    code, _, err = run_cli(["eval", "--report-to", "mlflow", "--runs-dir", str(tmp_path)])
    assert code == 2 and "pip install 'ctxlab[mlflow]'" in err and not any(tmp_path.iterdir())

"""`ctxlab run`: the whole loop on a tiny experiment, and its bad-input path."""

from __future__ import annotations

import json

import pytest
import yaml

from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.recipes import preset_config, run_config

TINY = {
    "task": {"name": "niah", "variants": ["niah_single_1"], "lengths": [256], "depths": [0, 100]},
    "splits": {"train": 8, "val": 2, "test": 4},
    "eval": {"batch_size": 4, "max_new_tokens": 16, "progress": False},
    "training": {
        "max_steps": 3,
        "batch_size": 2,
        "eval_steps": 3,
        "save_steps": 3,
        "logging_steps": 1,
        "learning_rate": 1e-4,
    },
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    preset = root / "tiny.yaml"
    preset.write_text(yaml.safe_dump(TINY), encoding="utf-8")
    config = preset_config(str(preset), [f"run.runs_dir={root / 'runs'}"], "finetune")
    return config, run_config(config)


def test_loop_writes_every_part(tiny_run):
    config, summary = tiny_run
    assert config.run.name == "tiny" and config.recipe == "finetune"  # the preset's name
    run = summary.run_dir
    assert run.parent.name == "tiny" and (run.parent / "latest").resolve() == run.resolve()
    for split, n in (("train", 8), ("val", 2), ("test", 4)):
        lines = (run / "data" / f"{split}.jsonl").read_text().splitlines()
        assert len(lines) == n
    train_inputs = {json.loads(x)["input"] for x in (run / "data/train.jsonl").open()}
    assert not any(json.loads(x)["input"] in train_inputs for x in (run / "data/test.jsonl").open())
    for part in ("baseline", "tuned"):
        results = json.loads((run / part / "results.json").read_text())
        assert results["num_evaluated"] == 4
        assert (run / part / "report.md").is_file()
    saved = json.loads((run / "comparison.json").read_text())
    assert set(saved) >= {"baseline", "tuned", "delta", "metric"}
    base = saved["baseline"]["metrics"]["string_match_all"]
    tuned = saved["tuned"]["metrics"]["string_match_all"]
    assert saved["delta"]["string_match_all"] == pytest.approx(tuned - base)
    assert (run / "train" / "final").is_dir()
    metrics = [json.loads(x) for x in (run / "train" / "metrics.jsonl").open()]
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3]
    report = (run / "report.md").read_text()
    assert "baseline" in report and "tuned" in report
    for image in (
        "heatmap_baseline.png",
        "heatmap_tuned.png",
        "heatmap_diff.png",
        "learning_curve.png",
    ):
        assert (run / image).stat().st_size > 1000, image


def test_report_command_rebuilds_comparison(tiny_run, capsys):
    run = tiny_run[1].run_dir
    (run / "report.md").unlink()
    assert main(["report", str(run)]) == 0
    assert (run / "report.md").is_file()


def test_bad_experiment_key_leaves_nothing(tmp_path, capsys):
    preset = tmp_path / "bad.yaml"
    preset.write_text(yaml.safe_dump({**TINY, "training": {"learnig_rate": 1}}), encoding="utf-8")
    with pytest.raises(CtxlabError, match="training.learnig_rate"):
        preset_config(str(preset), default_recipe="finetune")
    code = main(["run", str(preset), "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    assert "training.learnig_rate" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_niah_quick_preset_is_valid():
    config = preset_config("niah-quick")
    assert config.run.name == "niah-quick"
    assert config.splits.test >= 32

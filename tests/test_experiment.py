"""`ctxlab run` (the finetune recipe): the whole loop on a tiny random-weight model, a non-NIAH
(multidoc) comparison whose report must match its two sides row by row, and bad input."""

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
def tiny_run(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("exp")
    preset = root / "tiny.yaml"
    tiny = {**TINY, "recipe": "finetune", "model": {"name": str(tiny_model_dir)}}
    preset.write_text(yaml.safe_dump(tiny), encoding="utf-8")
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


def test_multidoc_comparison_report_matches_both_sides(tmp_path, tiny_model_dir, oracle):
    """The shipped bug: a multidoc before/after report showed the last baseline row against
    every tuned row. Each gold position's row must hold that position's own numbers."""
    sets = [
        f"task.source={oracle}",
        "task.num_docs=[3]",
        "task.gold_positions=0,1,2",
        "splits={train: 4, val: 2, test: 3}",
        f"model.name={tiny_model_dir}",
        "eval={batch_size: 4, max_new_tokens: 4, progress: false}",
        "training={max_steps: 1, batch_size: 2, eval_steps: 1, save_steps: 1, "
        "logging_steps: 1, max_seq_length: 1024}",
        f"run.runs_dir={tmp_path}",
    ]
    summary = run_config(preset_config("multidoc-sft", sets))
    run = summary.run_dir
    comparison = json.loads((run / "comparison.json").read_text())
    assert comparison["kind"] == "comparison"
    assert comparison["breakdown_keys"] == ["num_docs", "gold_position"]
    test = comparison["tests"]["best_subspan_em"]
    assert test["n"] == 9 and 0.0 <= test["p_value"] <= 1.0
    report = (run / "report.md").read_text()
    assert "significant at 0.05" in report  # the verdict, in words
    for side in ("baseline", "tuned"):
        rows = json.loads((run / side / "results.json").read_text())["breakdown"]
        assert [r["gold_position"] for r in rows] == [0, 1, 2]
        assert rows == comparison[side]["breakdown"]
    base = {r["gold_position"]: r for r in comparison["baseline"]["breakdown"]}
    tuned = {r["gold_position"]: r for r in comparison["tuned"]["breakdown"]}
    table = [line for line in report.splitlines() if line.startswith("| 3 |")]
    assert len(table) == 3, report
    for line, position in zip(table, (0, 1, 2)):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == str(position)
        assert cells[3].startswith(f"{base[position]['best_subspan_em']:.1f} [")
        assert cells[4].startswith(f"{tuned[position]['best_subspan_em']:.1f} [")


def test_a_flag_of_another_recipe_is_refused(tmp_path, capsys):
    code = main(["run", "niah-quick", "--iterations", "2", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--iterations" in err and "'finetune' recipe" in err
    assert len(err.strip().splitlines()) == 1 and not any(tmp_path.iterdir())
    preset = tmp_path / "oak-section.yaml"
    preset.write_text(yaml.safe_dump({**TINY, "oak": {"iterations": 2}}), encoding="utf-8")
    with pytest.raises(CtxlabError, match="'oak' is not a known key of the 'finetune' recipe"):
        preset_config(str(preset), default_recipe="finetune")


def test_eval_with_adapter_reproduces_the_tuned_side(tiny_run, tiny_model_dir, tmp_path, capsys):
    """`ctxlab eval --adapter RUN` evaluates a training run's adapter on its base: the tuned
    side's predictions, from the eval command."""
    _, summary = tiny_run
    run = summary.run_dir
    argv = [
        "eval",
        "--model",
        str(tiny_model_dir),
        "--adapter",
        str(run),
        "--data",
        str(run / "data" / "test.jsonl"),
        "--batch-size",
        "4",
        "--max-new-tokens",
        "16",
        "--runs-dir",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(argv) == 0
    capsys.readouterr()

    def predictions(path):
        return [json.loads(x)["raw_prediction"] for x in path.read_text().splitlines()]

    ours = predictions(tmp_path / "eval" / "latest" / "predictions.jsonl")
    assert ours == predictions(run / "tuned" / "predictions.jsonl")
    results = json.loads((tmp_path / "eval" / "latest" / "results.json").read_text())
    assert results["model"] == f"{tiny_model_dir} + {run}"

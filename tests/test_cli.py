"""The command line in-process: bad inputs exit 2 with one line and leave no run behind; a tiny
real eval writes a complete run directory."""

import contextlib
import io
import json
import os
import re
from pathlib import Path

import pytest

import ctxlab.recipes.eval
from ctxlab.api import build_config
from ctxlab.cli import main
from ctxlab.recipes.eval import evaluate_config

STAMP = re.compile(r"\d{8}_\d{6}(_\d+)?")
EVAL_ARGS = [
    "eval",
    "--variant",
    "niah_single_1",
    "--lengths",
    "512",
    "--depths",
    "0,100",
    "--num-samples",
    "4",
]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def good_data(tmp_path_factory) -> Path:
    """One example written by `ctxlab data`."""
    path = tmp_path_factory.mktemp("data") / "one.jsonl"
    code, out, _ = run_cli(
        [
            "data",
            "niah",
            "--variant",
            "niah_single_1",
            "--context-length",
            "512",
            "--num-samples",
            "1",
            "-o",
            str(path),
        ]
    )
    assert code == 0
    assert f"wrote 1 examples to {path}" in out
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, builtin):
    """Two runs of the same name: the CLI (loading the model itself), then the API on the
    session model. Returns (runs_dir, first run dir, second run dir, CLI stdout)."""
    runs_dir = tmp_path_factory.mktemp("runs") / "tmp"
    code, out, err = run_cli(EVAL_ARGS + ["--runs-dir", str(runs_dir), "--name", "t"])
    assert code == 0, err
    first = (runs_dir / "t" / "latest").resolve()
    config = build_config(
        variants="niah_single_1",
        lengths=512,
        depths="0,100",
        num_samples=1,
        max_new_tokens=16,
        progress=False,
        runs_dir=str(runs_dir),
        name="t",
    )
    second = evaluate_config(config, loaded=builtin)
    return runs_dir, first, second.run_dir, out


def must_not_load(*args, **kwargs):
    raise AssertionError("the model was loaded before the input was validated")


@pytest.fixture
def session_model(monkeypatch, builtin):
    """`ctxlab eval` gets the session's model instead of loading its own."""
    monkeypatch.setattr(ctxlab.recipes.eval, "load_base", lambda *a, **k: builtin)


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert err.startswith("ctxlab: error: ")
    assert err.endswith("\n") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def assert_no_run(runs_dir: Path) -> None:
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), list(runs_dir.rglob("*"))


def test_unknown_variant(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ctxlab.recipes.eval, "load_base", must_not_load)
    runs_dir = tmp_path / "runs"
    code = main(["eval", "--variant", "niah_single_9", "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, "niah_single_9", "task.variants")
    assert_no_run(runs_dir)


def test_unknown_config_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ctxlab.recipes.eval, "load_base", must_not_load)
    runs_dir = tmp_path / "runs"
    code = main(["eval", "--set", "task.foo=1", "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, "task.foo")
    assert_no_run(runs_dir)


def test_wrong_type(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ctxlab.recipes.eval, "load_base", must_not_load)
    runs_dir = tmp_path / "runs"
    code = main(["eval", "--set", "eval.batch_size=abc", "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, "eval.batch_size", "integer")
    assert_no_run(runs_dir)


def test_length_beyond_window(tmp_path, capsys, session_model):
    runs_dir = tmp_path / "runs"
    code = main(EVAL_ARGS[:3] + ["--lengths", "20000", "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, "20000", "window")
    assert_no_run(runs_dir)


def test_corrupt_data_line(tmp_path, capsys, session_model, good_data):
    data = tmp_path / "bad.jsonl"
    good = good_data.read_text(encoding="utf-8")
    assert good.count("\n") == 1
    data.write_text(good + '{"id": "x", "task": "niah", "input": \n', encoding="utf-8")
    runs_dir = tmp_path / "runs"
    code = main(["eval", "--data", str(data), "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, f"{data}:2")
    assert_no_run(runs_dir)


def test_data_line_missing_fields(tmp_path, capsys, session_model, good_data):
    data = tmp_path / "bad.jsonl"
    data.write_text(good_data.read_text(encoding="utf-8") + '{"id": "x"}\n', encoding="utf-8")
    runs_dir = tmp_path / "runs"
    code = main(["eval", "--data", str(data), "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, f"{data}:2", "input")
    assert_no_run(runs_dir)


def test_missing_data_file(tmp_path, capsys, session_model):
    runs_dir = tmp_path / "runs"
    missing = tmp_path / "missing.jsonl"
    code = main(["eval", "--data", str(missing), "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, str(missing), "does not exist")
    assert_no_run(runs_dir)


def test_nonexistent_model_dir(tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    model = tmp_path / "no-such-model"
    code = main(EVAL_ARGS + ["--model", str(model), "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, str(model))
    assert_no_run(runs_dir)


def test_model_dir_without_config(tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    model = tmp_path / "empty-model"
    model.mkdir()
    code = main(EVAL_ARGS + ["--model", str(model), "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, str(model), "config.json")
    assert_no_run(runs_dir)


def test_data_with_unknown_variant(tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    code = main(["data", "niah", "--variant", "nope", "-o", str(out)])
    assert_one_line_error(code, capsys.readouterr().err, "nope")
    assert not out.exists()


def test_eval_writes_complete_run(runs):
    runs_dir, first, _, out = runs
    assert "niah: string_match_all" in out and "on 4 examples" in out
    assert f"run directory: {runs_dir / 't' / first.name}" in out
    results = json.loads((first / "results.json").read_text(encoding="utf-8"))
    assert results["task"] == "niah"
    assert results["model"] == "smollm2-135m"
    assert results["num_evaluated"] == 4
    assert results["metrics"]["string_match_all"] >= 75  # 100 measured on the built-in model
    rows = results["breakdown"]
    assert [(r["variant"], r["length"], r["depth"]) for r in rows] == [
        ("niah_single_1", 512, 0),
        ("niah_single_1", 512, 100),
    ]
    for row in rows:
        assert set(row) == {"variant", "length", "depth", "n", "string_match_all", "intervals"}
        assert row["n"] == 2
        assert 0 <= row["string_match_all"] <= 100

    lines = (first / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"id", "prediction", "answers", "scores", "prompt_tokens", "meta"} <= set(record)
        assert record["prompt_tokens"] + 128 <= 512
        assert record["meta"]["variant"] == "niah_single_1"
    mean = sum(r["scores"]["string_match_all"] for r in records) / 4
    assert results["metrics"]["string_match_all"] == pytest.approx(mean)
    assert [r["id"] for r in records] == [f"niah_single_1-512-{i:05d}" for i in range(4)]

    summary = json.loads((first / "summary.json").read_text(encoding="utf-8"))
    timing = summary["timing"]
    assert {"load_s", "eval_s", "prompt_tokens", "generated_tokens"} <= set(timing)
    assert timing["prompt_tokens"] == sum(r["prompt_tokens"] for r in records)
    assert timing["generated_tokens"] > 0
    assert timing["eval_s"] > 0

    assert (first / "report.md").is_file()
    assert (first / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (first / "config.yaml").is_file()
    assert (first / "run.log").is_file()


def test_two_runs_two_dirs_latest_is_newer(runs):
    runs_dir, first, second, _ = runs
    assert first != second
    assert first.parent == second.parent == runs_dir / "t"
    assert STAMP.fullmatch(first.name) and STAMP.fullmatch(second.name)
    assert first.is_dir() and second.is_dir()
    latest = runs_dir / "t" / "latest"
    assert latest.is_symlink()
    assert os.readlink(latest) == second.name
    assert sorted(p.name for p in (runs_dir / "t").iterdir()) == sorted(
        [first.name, second.name, "latest"]
    )  # no half-written runs left behind
    second_results = json.loads((second / "results.json").read_text(encoding="utf-8"))
    assert second_results["num_evaluated"] == 1


def test_report_rebuilds(runs, capsys):
    _, first, _, _ = runs
    report = first / "report.md"
    before = report.read_text(encoding="utf-8")
    report.unlink()
    assert main(["report", str(first)]) == 0
    assert str(report) in capsys.readouterr().out
    after = report.read_text(encoding="utf-8")
    assert after == before
    assert "string_match_all" in after


def test_report_files_readable_like_other_run_files(runs):
    _, first, _, _ = runs
    mode = (first / "results.json").stat().st_mode & 0o777
    assert (first / "report.md").stat().st_mode & 0o777 == mode
    assert (first / "heatmap.png").stat().st_mode & 0o777 == mode


def test_models_lists_builtin(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m" in out


# Bad counts, run names and data lines are rejected with exit 2.
@pytest.mark.parametrize(
    "extra", [["--batch-size", "0"], ["--batch-size", "-1"], ["--num-samples", "0"]]
)
def test_nonpositive_counts_rejected(tmp_path, capsys, session_model, extra):
    runs_dir = tmp_path / "runs"
    code = main(EVAL_ARGS + extra + ["--runs-dir", str(runs_dir), "--no-progress"])
    assert_one_line_error(code, capsys.readouterr().err)
    assert_no_run(runs_dir)


@pytest.mark.parametrize("name", ["a/b", ".hidden"])
def test_bad_run_name_rejected(tmp_path, capsys, session_model, name):
    runs_dir = tmp_path / "runs"
    code = main(EVAL_ARGS + ["--name", name, "--runs-dir", str(runs_dir), "--no-progress"])
    assert_one_line_error(code, capsys.readouterr().err, name)
    assert_no_run(runs_dir)


@pytest.mark.parametrize("line", ["5", "null"])
def test_non_object_data_line(tmp_path, capsys, session_model, line):
    data = tmp_path / "bad.jsonl"
    data.write_text(line + "\n", encoding="utf-8")
    runs_dir = tmp_path / "runs"
    code = main(["eval", "--data", str(data), "--runs-dir", str(runs_dir)])
    assert_one_line_error(code, capsys.readouterr().err, f"{data}:1")
    assert_no_run(runs_dir)

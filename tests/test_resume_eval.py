"""Resumable evaluation: a real eval process killed mid-run (SIGKILL) and rerun continues from
its kept predictions and ends with the uninterrupted run's results; a server that goes away
mid-eval is one line and a resumable run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import free_port, niah_file, run_cli, serving

from ctxlab.evaluation import PARTIAL


@pytest.fixture(scope="module")
def forty(tmp_path_factory) -> Path:
    path = niah_file(tmp_path_factory.mktemp("resume") / "niah.jsonl", 40, "0,25,50,75,100")
    assert len(path.read_text().splitlines()) == 40
    return path


def eval_argv(data: Path, model: Path, runs: Path, name: str) -> list[str]:
    return [
        "eval",
        "--data",
        str(data),
        "--model",
        str(model),
        "--dtype",
        "float32",
        "--batch-size",
        "1",
        "--max-new-tokens",
        "48",
        "--runs-dir",
        str(runs),
        "--name",
        name,
        "--no-progress",
    ]


def outcome(run: Path) -> tuple[dict, dict]:
    metrics = json.loads((run / "results.json").read_text())["metrics"]
    lines = (run / "predictions.jsonl").read_text().splitlines()
    return metrics, {r["id"]: r["raw_prediction"] for r in map(json.loads, lines)}


def test_sigkill_then_rerun_gives_the_uninterrupted_results(forty, tiny_model_dir, tmp_path):
    runs = tmp_path / "runs"
    argv = eval_argv(forty, tiny_model_dir, runs, "killed")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctxlab.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kept = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        partial = list((runs / "killed").glob(f".incomplete-*/{PARTIAL}"))
        if partial and len(partial[0].read_text().splitlines()) >= 5:
            proc.send_signal(signal.SIGKILL)
            kept = partial[0]
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert kept is not None, "the eval ended before it could be killed"
    done = len(kept.read_text().splitlines())
    assert 5 <= done < 40

    code, _, err = run_cli([*argv, "--resume"])
    assert code == 0, err
    resumed = runs / "killed" / "latest"
    log = (resumed / "run.log").read_text()
    reused = int(log.split("resumed: ")[1].split(" of 40")[0])
    assert done <= reused <= done + 1  # the line being written at the kill may be cut off
    assert not list((runs / "killed").glob(".incomplete-*")) and not (resumed / PARTIAL).exists()

    assert run_cli(eval_argv(forty, tiny_model_dir, runs, "whole"))[0] == 0
    assert outcome(resumed) == outcome(runs / "whole" / "latest")


def test_resume_with_nothing_to_resume_is_refused(forty, tiny_model_dir, tmp_path):
    code, _, err = run_cli([*eval_argv(forty, tiny_model_dir, tmp_path, "fresh"), "--resume"])
    assert code == 2 and "nothing to resume: no failed eval run named 'fresh'" in err


def test_a_server_gone_mid_eval_is_one_line_and_the_run_resumes(forty, tiny_model_dir, tmp_path):
    from ctxlab.models import load_model

    loaded = load_model(str(tiny_model_dir), "float32")
    port, runs = free_port(), tmp_path / "runs"
    argv = [
        "eval",
        "--data",
        str(forty),
        "--model",
        "openai:tiny",
        "--tokenizer",
        str(tiny_model_dir),
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        "--concurrency",
        "1",
        "--max-new-tokens",
        "32",
        "--runs-dir",
        str(runs),
        "--no-progress",
    ]
    with serving(loaded, "tiny", port) as (_, app):
        stopper = threading.Thread(target=stop_after, args=(runs, app, 6), daemon=True)
        stopper.start()
        code, _, err = run_cli(argv)
        stopper.join(timeout=60)
    assert code == 2 and "stopped answering" in err and "rerun the same command" in err
    assert len(err.strip().splitlines()) == 1
    kept = list(runs.glob(f"eval/.incomplete-*/{PARTIAL}"))
    assert kept and 6 <= len(kept[0].read_text().splitlines()) < 40
    with serving(loaded, "tiny", port):
        code, _, err = run_cli(argv)
    assert code == 0, err
    assert "resumed: " in (runs / "eval" / "latest" / "run.log").read_text()
    assert len(outcome(runs / "eval" / "latest")[1]) == 40


def stop_after(runs: Path, app, lines: int) -> None:
    """Stop the server once the eval has kept `lines` predictions."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = list(runs.glob(f"eval/.incomplete-*/{PARTIAL}"))
        if partial and len(partial[0].read_text().splitlines()) >= lines:
            app.state.stop()
            return
        time.sleep(0.01)

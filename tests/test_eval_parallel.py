"""Data-parallel evaluation: `accelerate launch -m ctxlab.cli eval` with 2 CPU processes (gloo)
writes one run directory whose predictions and metrics equal a one-process run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from servers import free_port, run_cli


@pytest.mark.integration
def test_two_process_eval_equals_one_process_eval(tmp_path, tiny_model_dir):
    data = tmp_path / "niah.jsonl"
    argv = [
        "data",
        "niah",
        "--variant",
        "niah_single_1",
        "--context-length",
        "256",
        "--depths",
        "0,50,100",
        "--num-samples",
        "9",
        "-o",
        str(data),
    ]
    assert run_cli(argv)[0] == 0
    common = [
        "eval",
        "--data",
        str(data),
        "--model",
        str(tiny_model_dir),
        "--dtype",
        "float32",
        "--batch-size",
        "2",
        "--max-new-tokens",
        "12",
        "--runs-dir",
        str(tmp_path),
        "--no-progress",
    ]
    assert run_cli([*common, "--name", "one"])[0] == 0
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        launcher,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        "ctxlab.cli",
        *common,
        "--name",
        "two",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 1  # rank 0 alone reports

    def content(name: str) -> tuple:
        run = tmp_path / name / "latest"
        predictions = (run / "predictions.jsonl").read_text().splitlines()
        results = json.loads((run / "results.json").read_text())
        return predictions, results

    one, two = content("one"), content("two")
    assert len(one[0]) == 9 and one == two
    assert "data parallel: 2 processes" in (tmp_path / "two" / "latest" / "run.log").read_text()

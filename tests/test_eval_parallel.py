"""Data-parallel evaluation: `accelerate launch -m ctxlab.cli eval` with 2 CPU processes (gloo)
writes one run directory whose predictions and metrics equal a one-process run's."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from cli_helpers import accelerate_launch, niah_file, run_cli


@pytest.mark.integration
def test_two_process_eval_equals_one_process_eval(tmp_path, tiny_model_dir):
    data = niah_file(tmp_path / "niah.jsonl", 9)
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
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = accelerate_launch(2, "-m", "ctxlab.cli", *common, "--name", "two")
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

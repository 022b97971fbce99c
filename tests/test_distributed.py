"""Training under `accelerate launch` with 2 CPU processes (gloo): one model, rank-0 files.

`--multi_gpu` is accelerate's torchrun-based launcher; on a CPU-only machine its processes use
gloo. (`accelerate launch --cpu --num_processes 2` starts a single process unless MPI is set up.)
The training code does not know which launcher started it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap

import pytest
from cli_helpers import accelerate_launch

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    torch.set_num_threads(1)
    from transformers import TrainerCallback
    from ctxlab.api import generate_data
    from ctxlab.tasks.base import get_task_class
    from ctxlab.tasks.niah import NiahConfig
    from ctxlab.training import TrainConfig, train

    def report(line):  # one file per rank: two processes' stdout can interleave mid-line
        with open(f"{sys.argv[1]}.rank{os.environ.get('RANK')}.txt", "a") as f:
            print(line, file=f)

    class Report(TrainerCallback):
        def on_train_end(self, args, state, control, model=None, **kwargs):
            for log in state.log_history:
                if "loss" in log:
                    report(f"RANK{args.process_index} step {log['step']} loss {log['loss']:.6f}")
            total = sum(p.detach().double().sum().item() for p in model.parameters()
                        if p.requires_grad)
            report(f"PARAMS{args.process_index} {total:.12e}")

    examples = generate_data(variants="niah_single_1", lengths=256, num_samples=8, progress=False)
    val = generate_data(variants="niah_single_1", lengths=256, num_samples=2, seed=1)
    task = get_task_class("niah")(NiahConfig())
    config = TrainConfig(max_steps=3, batch_size=2, logging_steps=1, eval_steps=3, save_steps=3,
                         bf16=False)
    result = train(config, "smollm2-135m", examples, val, task, sys.argv[1], callbacks=[Report()])
    report(f"DONE{os.environ.get('RANK')} processes {result.summary['num_processes']}")
    """
)


@pytest.mark.integration
def test_two_cpu_processes_train_one_model(tmp_path):
    script = tmp_path / "train2.py"
    script.write_text(SCRIPT, encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = accelerate_launch(2, str(script), str(out))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = "".join((tmp_path / f"out.rank{r}.txt").read_text() for r in (0, 1))
    losses: dict[int, dict[int, float]] = {0: {}, 1: {}}
    for rank, step, loss in re.findall(r"RANK(\d) step (\d+) loss ([\d.]+)", reports):
        losses[int(rank)][int(step)] = float(loss)
    assert sorted(losses[0]) == [1, 2, 3]
    assert losses[0] == losses[1]  # the ranks train one model (losses are all-reduced)
    params = dict(re.findall(r"PARAMS(\d) (\S+)", reports))
    assert params["0"] == params["1"]  # identical adapter weights after training
    assert "DONE0 processes 2" in reports and "DONE1 processes 2" in reports
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines if "loss" in m] == [1, 2, 3]  # written once, by rank 0
    assert (out / "final").is_dir() and (out / "summary.json").is_file()
    assert not list(out.glob("*.tmp"))

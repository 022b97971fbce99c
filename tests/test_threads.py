"""Threads: the physical cores this process may use, OMP_NUM_THREADS first, shared among
`accelerate launch` processes; recorded with the load average in summary.json."""

from __future__ import annotations

import json
import os

import torch

from ctxlab.threads import configure_threads, describe, machine, physical_cores, thread_count


def test_thread_count_follows_the_environment(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thread_count() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    cores = thread_count()
    assert cores == physical_cores(set(os.sched_getaffinity(0))) >= 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert thread_count() == max(1, cores // 2)


def test_configure_sets_torch_and_reports(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        info = configure_threads()
        assert torch.get_num_threads() == 1 and info["threads"] == 1
        assert info["cpus_allowed"] >= 1 and len(info["load_average"]) == 3
        assert describe(info).startswith("1 threads (")
    finally:
        torch.set_num_threads(before)


def test_eval_summary_records_the_machine(tmp_path, tiny_model_dir):
    from ctxlab.cli import main

    runs = tmp_path / "runs"
    argv = ["eval", "--model", str(tiny_model_dir), "--lengths", "256", "--num-samples", "1"]
    assert main([*argv, "--max-new-tokens", "2", "--runs-dir", str(runs)]) == 0
    summary = json.loads((runs / "eval" / "latest" / "summary.json").read_text())
    assert summary["machine"]["threads"] == machine()["threads"] >= 1

"""What the training-throughput benchmarks share: each side in a fresh process, sides alternating.

A side (ctxlab's trainer, or the plain loop it is measured against) runs in a process of its own
so that its peak memory is its own: peak RSS only grows within a process, and `getrusage`'s
`RUSAGE_CHILDREN` keeps the largest child so far, so each child reports its own
`RUSAGE_SELF` peak (or `torch.cuda.max_memory_allocated` on a GPU). Rounds alternate the order
(A B, then B A, ...) so that load from other processes on the machine hits both sides alike.
Each side's rate is the median tokens/s of its steps, each process's first step excluded.

A benchmark script calls `main(parser, sides, pairs, headline)`; the parent re-runs the same
script with `--side NAME` for each side and reads the one result line the child prints.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from transformers import TrainerCallback

MARK = "BENCH-RESULT "
Side = Callable[[argparse.Namespace], list[float]]


class StepTimer(TrainerCallback):
    """Tokens/s of each optimizer step of a `Trainer` after its first (non-padding input tokens,
    `include_num_input_tokens_seen`), from step begin to step end."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self._steps = 0

    def on_step_begin(self, args, state, control, **kwargs):
        self.start, self.seen = time.perf_counter(), state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        seconds = time.perf_counter() - self.start
        self._steps += 1
        if self._steps > 1:
            self.rates.append((state.num_input_tokens_seen - self.seen) / seconds)


def plain_step(loss, optimizer, batch: dict, start: float, step: int, rates: list[float]) -> None:
    """A plain loop's backward and optimizer step, then its tokens/s since `start`
    (`time.perf_counter`) into `rates`; step 0 is warm-up and not counted."""
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    if step > 0:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        rates.append(int(batch["attention_mask"].sum()) / (time.perf_counter() - start))


def peak_memory_mb() -> float:
    """This process's peak: GPU memory allocated by torch on CUDA, else the peak RSS."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _run_side(name: str) -> dict:
    command = [sys.executable, sys.argv[0], *sys.argv[1:], "--side", name]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    lines = [x for x in done.stdout.splitlines() if x.startswith(MARK)]
    return json.loads(lines[-1][len(MARK) :])


def main(
    parser: argparse.ArgumentParser,
    sides: dict[str, Side],
    pairs: list[tuple[str, str]],
    headline: Callable[[argparse.Namespace], str],
) -> None:
    """Run one side (`--side NAME`, in a child) or all of them for `--rounds` rounds, then print
    each side's tokens/s and peak memory and, per (ours, baseline) pair, both ratios."""
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--side", choices=list(sides), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        rates = sides[args.side](args)
        print(MARK + json.dumps({"rates": rates, "peak_mb": peak_memory_mb()}), flush=True)
        return
    print(f"load average at the start: {load_average()}")
    results: dict[str, list[dict]] = {name: [] for name in sides}
    order = list(sides)
    for round_ in range(args.rounds):
        for name in order if round_ % 2 == 0 else order[::-1]:
            results[name].append(_run_side(name))
    print(headline(args) + f", {args.rounds} rounds alternating, each side in a fresh process")
    memory = "GPU max allocated" if torch.cuda.is_available() else "peak RSS"
    summary = {}
    for name, runs in results.items():
        rate = statistics.median(r for run in runs for r in run["rates"])
        peak = max(run["peak_mb"] for run in runs)
        summary[name] = (rate, peak)
        print(f"{name:16s} {rate:9.1f} tokens/s (median step)   {memory} {peak:8.0f} MiB")
    for ours, base in pairs:
        (rate, peak), (base_rate, base_peak) = summary[ours], summary[base]
        print(
            f"{ours} / {base}: tokens/s ratio {rate / base_rate:.2f} (goal >= 0.95), "
            f"memory ratio {peak / base_peak:.2f} (goal <= 1.3)"
        )
    print(f"load average at the end: {load_average()}")

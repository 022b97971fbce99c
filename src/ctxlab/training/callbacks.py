"""Trainer callbacks: `metrics.jsonl` as training goes, and a stop-at-step switch.

`metrics.jsonl` is written line by line (flushed) so a crashed or running job can be inspected
and plotted; only the main process writes, so the file is the same under `accelerate launch`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

TRAIN_KEYS = ("loss", "learning_rate", "grad_norm", "epoch")


class MetricsCallback(TrainerCallback):
    """One JSON line per logging step (step, loss, learning_rate, grad_norm, tokens_per_s),
    per evaluation (eval_loss, ...) and one at the end (train_runtime, train_loss).

    tokens_per_s counts non-padding input tokens of all processes over the time spent inside
    optimizer steps since the previous line, so evaluation and checkpoint time do not dilute it.
    On resume, lines past the checkpoint's step are dropped: those steps are trained again.
    """

    def __init__(self, path: Path, progress: bool = False):
        self.path = Path(path)
        self.progress = progress
        self.step_seconds = 0.0
        self.total_step_seconds = 0.0
        self._t0: float | None = None
        self._tokens_at_log = self._start_tokens = 0
        self._seconds_at_log = 0.0
        self._file = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control, **kwargs):
        self._tokens_at_log = self._start_tokens = state.num_input_tokens_seen
        if not state.is_world_process_zero:
            return
        if self.path.is_file() and state.global_step > 0:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            records = [json.loads(x) for x in lines if x.strip()]
            kept = [
                json.dumps(r)
                for r in records
                if r.get("step", 0) <= state.global_step and "train_runtime" not in r
            ]
            self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        elif state.global_step == 0:
            self.path.write_text("", encoding="utf-8")
        self._file = open(self.path, "a", encoding="utf-8")  # closed in on_train_end

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_log = True  # so the final loss is always a line of its own
        if self._t0 is not None:
            elapsed = time.perf_counter() - self._t0
            self.step_seconds += elapsed
            self.total_step_seconds += elapsed
            self._t0 = None

    def tokens_per_s(self, state: TrainerState) -> float | None:
        """Throughput since the start of this `train()` call (None before a step ran)."""
        if self.total_step_seconds <= 0:
            return None
        return (state.num_input_tokens_seen - self._start_tokens) / self.total_step_seconds

    def on_log(self, args, state: TrainerState, control: TrainerControl, logs=None, **kwargs):
        logs = dict(logs or {})
        line: dict = {"step": state.global_step}
        if "loss" in logs:
            tokens = state.num_input_tokens_seen - self._tokens_at_log
            seconds = self.step_seconds - self._seconds_at_log
            line.update({k: logs[k] for k in TRAIN_KEYS if k in logs})
            line["tokens"] = tokens
            line["tokens_per_s"] = round(tokens / seconds, 1) if seconds > 0 else None
            self._tokens_at_log, self._seconds_at_log = (
                state.num_input_tokens_seen,
                self.step_seconds,
            )
        else:
            line.update({k: v for k, v in logs.items() if k != "num_input_tokens_seen"})
        if self._file is not None:
            clean = {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in line.items()
            }
            self._file.write(json.dumps(clean) + "\n")
            self._file.flush()
            if self.progress:
                print(_progress_line(line, state), file=sys.stderr, flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self._file is not None:
            self._file.close()
            self._file = None


def _progress_line(line: dict, state: TrainerState) -> str:
    """A short human line for the console; the full record is in metrics.jsonl."""
    head = f"step {line['step']}/{state.max_steps}"
    if "loss" in line:
        rate = f", {line['tokens_per_s']:.0f} tok/s" if line.get("tokens_per_s") else ""
        return f"{head}: loss {line['loss']:.4f}, lr {line.get('learning_rate', 0):.2e}{rate}"
    if "eval_loss" in line:
        return f"{head}: eval_loss {line['eval_loss']:.4f}"
    if "train_runtime" in line:
        return f"{head}: done in {line['train_runtime']:.1f} s"
    return f"{head}: {line}"


class StopAtStep(TrainerCallback):
    """Stop training once `global_step` reaches `step` (after that step's save, if any): how
    tests and `--stop-at-step`-style interruptions simulate a killed job at a known point."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control

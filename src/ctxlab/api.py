"""The Python API, mirroring the CLI: `generate_data(...)` and `evaluate(...)`.

Keyword options map onto config keys: model/dtype/device go to `model.*`, batch_size,
max_new_tokens and print_outputs to `eval.*`, runs_dir and name to `run.*`, everything else to
`task.*` (for NIAH: variants, lengths, depths, num_samples, seed, needle_type_k, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxlab.config import Config, apply_overrides, load_preset, set_dotted, validate_config
from ctxlab.evaluation import EvalResult, evaluate_config, make_task
from ctxlab.tasks.base import Example, write_jsonl

SECTIONS = {
    "model": "model.name",
    "dtype": "model.dtype",
    "device": "model.device",
    "trust_remote_code": "model.trust_remote_code",
    "batch_size": "eval.batch_size",
    "max_new_tokens": "eval.max_new_tokens",
    "print_outputs": "eval.print_outputs",
    "progress": "eval.progress",
    "runs_dir": "run.runs_dir",
    "name": "run.name",
    "task": "task.name",
}


def build_config(
    preset: str | None = None, sets: list[str] | tuple[str, ...] = (), **options: Any
) -> Config:
    """Preset, then keyword options (None means unset), then `dotted.key=value` strings."""
    raw: dict[str, Any] = load_preset(preset) if preset else {}
    for key, value in options.items():
        if value is not None:
            set_dotted(raw, SECTIONS.get(key, f"task.{key}"), value)
    return validate_config(apply_overrides(raw, list(sets)))


def generate_data(
    output: str | Path | None = None,
    preset: str | None = None,
    sets: list[str] | tuple[str, ...] = (),
    **options: Any,
) -> list[Example]:
    """Generate a task's examples with the model's tokenizer; write them to `output` if given."""
    from ctxlab.models import load_tokenizer

    config = build_config(preset, sets, **options)
    task = make_task(config)
    tokenizer, max_length = load_tokenizer(config.model.name, config.model.trust_remote_code)
    examples = task.generate(tokenizer, max_length)
    if output is not None:
        write_jsonl(output, examples)
    return examples


def evaluate(
    preset: str | None = None, sets: list[str] | tuple[str, ...] = (), **options: Any
) -> EvalResult:
    """Evaluate a model on a task and write a run directory (see `ctxlab eval`)."""
    return evaluate_config(build_config(preset, sets, **options))

"""The Python API, mirroring the CLI: `build_config`, `generate_data(...)` and `evaluate(...)`.

Keyword options map onto config keys: model/dtype/device go to `model.*`, batch_size,
max_new_tokens and print_outputs to `eval.*`, runs_dir and name to `run.*`, everything else to
`task.*` (for NIAH: variants, lengths, depths, num_samples, seed, needle_type_k, ...). Other
recipes: `ctxlab.recipes.preset_config(...)` then `ctxlab.recipes.run_config(config)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxlab.config import Config
from ctxlab.evaluation import EvalResult, make_task
from ctxlab.io import write_jsonl
from ctxlab.tasks.base import Example

SECTIONS = {
    "model": "model.name",
    "dtype": "model.dtype",
    "device": "model.device",
    "trust_remote_code": "model.trust_remote_code",
    "rope_scaling": "model.rope_scaling",
    "batch_size": "eval.batch_size",
    "max_new_tokens": "eval.max_new_tokens",
    "print_outputs": "eval.print_outputs",
    "progress": "eval.progress",
    "runs_dir": "run.runs_dir",
    "name": "run.name",
    "task": "task.name",
}


def build_config(
    preset: str | None = None,
    sets: list[str] | tuple[str, ...] = (),
    updates: dict[str, Any] | None = None,
    **options: Any,
) -> Config:
    """An `eval` config: preset, then keyword options and dotted `updates` (None means unset),
    then `dotted.key=value` strings."""
    from ctxlab.recipes import preset_config

    given = {SECTIONS.get(k, f"task.{k}"): v for k, v in options.items() if v is not None}
    return preset_config(preset, sets, "eval", {**given, **(updates or {})})


def generate_data(
    output: str | Path | None = None,
    preset: str | None = None,
    sets: list[str] | tuple[str, ...] = (),
    updates: dict[str, Any] | None = None,
    **options: Any,
) -> list[Example]:
    """Generate a task's examples with the model's tokenizer; write them to `output` if given."""
    from ctxlab.models import load_tokenizer

    config = build_config(preset, sets, updates, **options)
    task = make_task(config)
    m = config.model
    tokenizer, max_length = load_tokenizer(m.name, m.trust_remote_code, m.rope_scaling)
    examples = task.generate(tokenizer, max_length)
    if output is not None:
        write_jsonl(output, examples)
    return examples


def evaluate(
    preset: str | None = None, sets: list[str] | tuple[str, ...] = (), **options: Any
) -> EvalResult:
    """Evaluate a model on a task and write a run directory (see `ctxlab eval`)."""
    from ctxlab.recipes.eval import evaluate_config

    return evaluate_config(build_config(preset, sets, **options))

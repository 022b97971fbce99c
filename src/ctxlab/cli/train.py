"""`ctxlab train`: fine-tune from flags generated from `TrainConfig` (plus the data and model),
a preset (`--config`: its task, model and training sections) and `--set` overrides."""

from __future__ import annotations

import argparse

from pydantic import Field

from ctxlab.cli.common import preset_task, quiet_libraries, task_flags
from ctxlab.cli.flags import add_config, add_flags, command_config
from ctxlab.config import ModelConfig, Section
from ctxlab.errors import CtxlabError
from ctxlab.tasks.base import TaskConfig
from ctxlab.training.config import TrainConfig

FROM_PRESET = ("task", "model", "training")
# Task fields that do not apply to training on given files, whose flags mean training settings.
TRAINING_OWN = ("data", "seed", "num_samples")


class TrainCommandConfig(Section):
    """What `ctxlab train` needs: examples, where to write, the base model, the settings."""

    data: str = Field(description="training examples (.jsonl from `ctxlab data`)")
    val_data: str | None = Field(
        None, description="validation examples: eval loss, best/ and early stopping"
    )
    output: str = Field(
        description="training directory to write",
        json_schema_extra={"flag": "-o", "aliases": ["--output"]},
    )
    task: TaskConfig = TaskConfig()
    model: ModelConfig = ModelConfig()
    training: TrainConfig = TrainConfig()


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("--task", help="task name (default niah)")
    keys = add_flags(parser, TrainCommandConfig)
    keys |= add_flags(parser, ModelConfig, "model.", only=("name", "trust_remote_code"))
    keys |= add_flags(
        parser.add_argument_group("training (ctxlab.training.TrainConfig)"),
        TrainConfig,
        "training.",
    )
    keys |= task_flags(parser, preset_task(argv), skip=TRAINING_OWN)
    add_config(parser)
    parser.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.evaluation import make_task
    from ctxlab.training import train
    from ctxlab.training.trainer import resolve_init

    quiet_libraries()
    given = {"task.name": args.task}
    config: TrainCommandConfig = command_config(args, TrainCommandConfig, given, FROM_PRESET)
    task = make_task(config)  # type: ignore[arg-type]
    model = config.model.name
    if "name" not in config.model.model_fields_set:
        model = resolve_init(config.training.init_from)[1].get("base_model") or model
    examples = task.read_data(config.data)
    val = task.read_data(config.val_data) if config.val_data else None
    for path, items in ((config.data, examples), (config.val_data, val or [])):
        other = sorted({e.task for e in items if e.task != task.name})
        if other:
            raise CtxlabError(f"{path} holds {other[0]!r} examples, not {task.name!r}: pass --task")
    result = train(
        config.training,
        model,
        examples,
        val,
        task,
        config.output,
        trust_remote_code=config.model.trust_remote_code,
        progress=True,
    )
    s = result.summary
    best = f", best val loss {s['best_val_loss']:.4f}" if s["best_val_loss"] is not None else ""
    if s["best_task_metric"] is not None:
        best = f", best {task.metrics[0]} {s['best_task_metric']:.2f}"
    early = " (stopped early)" if s["stopped_early"] else ""
    print(f"trained {s['steps']} steps{early}: final train loss {s['final_train_loss']:.4f}{best}")
    print(f"training directory: {result.out_dir} (final/: {result.final_dir})")
    return 0

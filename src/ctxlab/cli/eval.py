"""`ctxlab eval`: the `eval` recipe from flags, a preset (`--config`) and `--set` overrides."""

from __future__ import annotations

import argparse

from ctxlab.cli.common import preset_task, print_summary, quiet_libraries, task_flags
from ctxlab.cli.flags import add_config, add_flags, updates
from ctxlab.config import EvalConfig, ModelConfig, RunConfig
from ctxlab.errors import CtxlabError


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("--task", help="task name (default: the preset's, else niah)")
    keys = task_flags(parser, preset_task(argv))
    keys |= add_flags(parser, ModelConfig, "model.")
    keys |= add_flags(parser, EvalConfig, "eval.")
    keys |= add_flags(parser, RunConfig, "run.")
    add_config(parser)
    parser.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.recipes import preset_config, run_config

    quiet_libraries()
    given = updates(args, args.keys) | ({"task.name": args.task} if args.task else {})
    config = preset_config(args.config, args.sets, "eval", given)
    if config.recipe != "eval":
        raise CtxlabError(
            f"preset {args.config} runs the {config.recipe!r} recipe: "
            f"use `ctxlab run {args.config}`"
        )
    print_summary(run_config(config))
    return 0

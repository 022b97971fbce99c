"""`ctxlab verify --task prontoqa|folio|dot --data FILE [--predictions P]`: the `verify` recipe."""

from __future__ import annotations

import argparse

from ctxlab.cli.common import preset_task, print_summary, task_flags
from ctxlab.cli.flags import add_config, add_flags, updates


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    from ctxlab.recipes.verify import VerifyConfig, VerifyRun, verifiable_tasks

    parser.add_argument("--task", choices=verifiable_tasks(), help="the solver-checked task")
    # --strict is verify's own flag; it reaches a task that has one too (dot's pair loading).
    keys = task_flags(parser, preset_task(argv, "prontoqa"), skip=("strict",))
    keys |= add_flags(parser, VerifyConfig, skip=("recipe",))
    keys |= add_flags(parser, VerifyRun, "run.")
    add_config(parser)
    parser.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.recipes import preset_config, run_config

    given = updates(args, args.keys) | ({"task.name": args.task} if args.task else {})
    print_summary(run_config(preset_config(args.config, args.sets, "verify", given)))
    return 0

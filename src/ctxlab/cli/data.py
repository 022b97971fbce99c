"""`ctxlab data TASK -o FILE`: a task's examples as jsonl (token lengths need the model's
tokenizer, so the model flags are here too)."""

from __future__ import annotations

import argparse

from ctxlab.cli.common import quiet_libraries, task_flags
from ctxlab.cli.flags import add_config, add_flags, updates
from ctxlab.config import ModelConfig


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("task", help="a registered task: niah, qa, multidoc, kv, prontoqa, ...")
    name = next((a for a in argv if not a.startswith("-")), "niah")
    keys = task_flags(parser, name)
    keys |= add_flags(parser, ModelConfig, "model.")
    parser.add_argument("-o", "--output", required=True, help="output .jsonl file")
    add_config(parser)
    parser.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.api import generate_data

    quiet_libraries()
    given = {"task.name": args.task, **updates(args, args.keys)}
    examples = generate_data(args.output, args.config, args.sets, updates=given)
    print(f"wrote {len(examples)} examples to {args.output}")
    return 0

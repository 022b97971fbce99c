"""`ctxlab export-task DATA.jsonl -o DIR`: an lm-evaluation-harness task of a data file."""

from __future__ import annotations

import argparse

from pydantic import Field

from ctxlab.cli.flags import add_config, add_flags, command_config
from ctxlab.config import Section


class ExportTaskConfig(Section):
    data: str = Field(description="an examples file from `ctxlab data`")
    output: str = Field(
        description="directory to write the task into (its YAML, data and utils.py)",
        json_schema_extra={"flag": "-o", "aliases": ["--output"]},
    )
    name: str | None = Field(None, description="lm-eval task name (ctxlab_<file stem>)")


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("data", nargs="?", help=ExportTaskConfig.model_fields["data"].description)
    keys = add_flags(parser, ExportTaskConfig, skip=("data", "name"))
    parser.add_argument("--name", dest="task_name", help="lm-eval task name (ctxlab_<file stem>)")
    keys["task_name"] = "name"
    add_config(parser)
    parser.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.lm_eval_task import export_task

    config: ExportTaskConfig = command_config(args, ExportTaskConfig, {"data": args.data})
    path = export_task(config.data, config.output, config.name)
    print(f"wrote {path}")
    print(
        f"run it: lm_eval --model hf --model_args pretrained=MODEL --include_path "
        f"{config.output} --tasks {path.stem} --apply_chat_template"
    )
    return 0

"""`ctxlab export RUN -o DIR`: a standalone model directory from a training run."""

from __future__ import annotations

import argparse
from typing import Literal

from pydantic import Field

from ctxlab.cli.common import quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, command_config
from ctxlab.config import Section


class ExportConfig(Section):
    train_dir: str = Field(description="a training directory, `ctxlab run` directory or final/")
    output: str = Field(
        description="model directory to write",
        json_schema_extra={"flag": "-o", "aliases": ["--output"]},
    )
    merge: bool = Field(True, description="merge the adapter into the base (--no-merge copies it)")
    which: Literal["final", "best"] = Field("final", description="which weights")
    dtype: str = Field("float32", description="weights dtype: float32 or bfloat16")


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument(
        "train_dir", nargs="?", help=ExportConfig.model_fields["train_dir"].description
    )
    keys = add_flags(parser, ExportConfig, skip=("train_dir",))
    add_config(parser)
    parser.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.training import export

    quiet_libraries()
    config: ExportConfig = command_config(args, ExportConfig, {"train_dir": args.train_dir})
    out = export(config.train_dir, config.output, config.merge, config.which, config.dtype)
    print(f"exported model: {out} (load it with --model {out})")
    return 0

"""`ctxlab pretrain FILES... --arch decoder|encoder`: the `pretrain` recipe from flags generated
from its config (data, tokenizer, model size, training, eval, run), a preset (`--config`) and
`--set` overrides."""

from __future__ import annotations

import argparse

from ctxlab.cli.common import print_summary, quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, updates
from ctxlab.errors import CtxlabError


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    from ctxlab.models.scratch import ScratchModelConfig
    from ctxlab.recipes.pretrain import PretrainData, PretrainEval, PretrainRun, TokenizerSettings
    from ctxlab.training.config import PretrainSettings

    parser.add_argument("paths", nargs="*", help=PretrainData.model_fields["paths"].description)
    keys = add_flags(parser.add_argument_group("data"), PretrainData, "data.", skip=("paths",))
    keys |= add_flags(parser.add_argument_group("tokenizer"), TokenizerSettings, "tokenizer.")
    keys |= add_flags(parser.add_argument_group("model"), ScratchModelConfig, "model.")
    keys |= add_flags(parser.add_argument_group("training"), PretrainSettings, "training.")
    keys |= add_flags(parser.add_argument_group("held-out scoring"), PretrainEval, "eval.")
    # --report-to is training's (tensorboard or mlflow, per step); the run's is set with --set.
    keys |= add_flags(parser, PretrainRun, "run.", skip=("report_to",))
    add_config(parser)
    parser.set_defaults(keys=keys)


def run(args: argparse.Namespace) -> int:
    from ctxlab.recipes import preset_config, run_config

    quiet_libraries()
    given = updates(args, args.keys) | ({"data.paths": args.paths} if args.paths else {})
    config = preset_config(args.config, args.sets, "pretrain", given)
    if config.recipe != "pretrain":
        raise CtxlabError(
            f"preset {args.config} runs the {config.recipe!r} recipe: "
            f"use `ctxlab run {args.config}`"
        )
    print_summary(run_config(config))
    return 0

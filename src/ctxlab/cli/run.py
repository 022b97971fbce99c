"""`ctxlab run PRESET`: the recipe the preset names, with its shortcut flags.

The flags come from the preset's recipe: the run and eval sections' fields, plus the shortcuts
its config class declares (`shortcuts`, e.g. `--iterations` for oak). A flag of another recipe
is refused by name (`ctxlab run niah-quick --iterations 2`): a flag never switches recipes.
"""

from __future__ import annotations

import argparse

from ctxlab.cli.common import print_summary, quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, updates
from ctxlab.config import EvalConfig, RunConfig
from ctxlab.errors import CtxlabError


def _recipe_of(preset: str | None) -> str:
    from ctxlab.config import load_preset

    return (load_preset(preset).get("recipe") or "finetune") if preset else "finetune"


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    from ctxlab.recipes import get_recipe

    parser.add_argument("experiment", help="a preset (see `ctxlab presets`) or a YAML file")
    preset = next((a for a in argv if not a.startswith("-")), None)
    recipe = get_recipe(_recipe_of(preset))
    own = {flag[2:].replace("-", "_") for flag in recipe.config_class.shortcuts}  # they win
    if recipe.name != "eval":
        own.add("resume")  # resuming a failed evaluation is the eval recipe's alone
    keys = add_flags(parser, RunConfig, "run.")
    keys |= add_flags(parser, EvalConfig, "eval.", skip=("batch_size", *own))
    group = parser.add_argument_group(f"recipe {recipe.name} (shortcuts for --set)")
    for flag, (key, const) in recipe.config_class.shortcuts.items():
        dest = key.replace(".", "__")
        if const is None:
            group.add_argument(flag, dest=dest, help=key)
        else:
            group.add_argument(flag, dest=dest, action="store_const", const=const, help=key)
        keys[dest] = key
    add_config(parser)
    parser.set_defaults(
        keys=keys,
        recipe=recipe.name,
        unknown=f"not a flag of the {recipe.name!r} recipe, which preset {preset} runs "
        f"(a flag never switches recipes; see `ctxlab run {preset} --help`)",
    )


def run(args: argparse.Namespace) -> int:
    from ctxlab.recipes import preset_config, run_config

    quiet_libraries()
    if args.config:
        raise CtxlabError("`ctxlab run` takes the preset as its argument: drop --config")
    config = preset_config(args.experiment, args.sets, args.recipe, updates(args, args.keys))
    print_summary(run_config(config))
    return 0

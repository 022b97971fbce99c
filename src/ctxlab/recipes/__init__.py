"""Recipes: one file a kind of run, registered by name; every preset names its recipe.

A recipe is a pydantic config class (a `RecipeConfig`: its `recipe` field holds its name) and a
`run(config) -> RunSummary` that writes one run directory. The built-in recipes are `eval`,
`finetune` (baseline -> train -> tuned), `oak` (SFT then solver-verified DPO rounds), `rag_eval`,
`verify`, `pretrain` (a decoder or encoder from random weights), `scratch` and `sentence`
(a SONAR-LLM-style sentence-embedding LM); their shared steps live in
`recipes/common.py`. A new kind of run is a new file here that calls `register`, plus a preset
naming it. A flag never switches recipes: the preset's `recipe:` does, and a key that belongs to
another recipe is refused by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxlab.config import RecipeConfig, assemble, validate_config
from ctxlab.errors import CtxlabError

BUILTIN = {
    "eval": "ctxlab.recipes.eval",
    "finetune": "ctxlab.recipes.finetune",
    "oak": "ctxlab.recipes.oak",
    "rag_eval": "ctxlab.recipes.rag_eval",
    "verify": "ctxlab.recipes.verify",
    "pretrain": "ctxlab.recipes.pretrain",
    "scratch": "ctxlab.recipes.scratch",
    "sentence": "ctxlab.recipes.sentence",
}


@dataclass
class RunSummary:
    """What a recipe hands back: where its run is, one line for the terminal, the artifact.
    `run_dir` is None in the processes of a data-parallel run that rank 0 writes for."""

    recipe: str
    run_dir: Path | None
    headline: str
    artifact: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    config_class: type[RecipeConfig]
    run: Callable[[Any], RunSummary]


RECIPES: dict[str, Recipe] = {}


def register(config_class: type[RecipeConfig]):
    """Decorator of a recipe's `run`; the name is the config class's `recipe` default."""

    def wrap(run: Callable[[Any], RunSummary]) -> Callable[[Any], RunSummary]:
        name = config_class.model_fields["recipe"].default
        RECIPES[name] = Recipe(name, config_class, run)
        return run

    return wrap


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in RECIPES:
        raise CtxlabError(f"unknown recipe {name!r}: choose one of {', '.join(sorted(BUILTIN))}")
    return RECIPES[name]


def preset_config(
    preset: str | None,
    sets: list[str] | tuple[str, ...] = (),
    default_recipe: str = "eval",
    updates: dict[str, Any] | None = None,
) -> Any:
    """A preset (name or path; none for defaults) validated against the config of the recipe
    it names (`default_recipe` when it names none), after `updates` (dotted keys from flags)
    and `--set` strings. The run name defaults to the preset's name."""
    raw = assemble(preset, updates or {}, sets)
    if preset:
        raw.setdefault("run", {}).setdefault("name", Path(preset).name.split(".")[0])
    recipe = get_recipe(raw.get("recipe") or default_recipe)
    return validate_config(raw, recipe.config_class)


def run_config(config: RecipeConfig) -> RunSummary:
    """Run a validated config with the recipe it names (and log it where `run.report_to` says)."""
    tracked = getattr(config.run, "report_to", "none") == "mlflow"
    if tracked:
        from ctxlab.mlflow_log import check_installed

        check_installed()
    summary = get_recipe(config.recipe).run(config)
    if tracked and summary.run_dir is not None:
        from ctxlab.mlflow_log import log_run

        log_run(config, summary.run_dir, summary.artifact, summary.recipe)
    return summary

"""`ctxlab presets`: every preset found (yours in ./configs first, then the shipped ones) and
the recipe it runs."""

from __future__ import annotations

import argparse

from ctxlab.cli.flags import add_config


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    add_config(parser)


def run(args: argparse.Namespace) -> int:
    from ctxlab.config import load_preset, preset_names

    for name in preset_names():
        raw = load_preset(name)
        task = (raw.get("task") or {}).get("name", "-")
        print(f"{name:24} recipe {raw.get('recipe', '?'):10} task {task}")
    return 0

"""`ctxlab models`: the built-in model and its cache state (no torch imported)."""

from __future__ import annotations

import argparse

from ctxlab.cli.flags import add_config


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    add_config(parser)


def run(args: argparse.Namespace) -> int:
    from ctxlab.models.builtin import BUILTIN_MODELS, builtin_cache_dir

    print("Built-in models (work offline):")
    for name, info in BUILTIN_MODELS.items():
        cache = builtin_cache_dir(name)
        state = (
            f"cached at {cache}"
            if (cache / "config.json").is_file()
            else f"not yet converted (first load writes {cache}, ~20 s)"
        )
        print(f"  {name}: {info['description']}\n    {state}")
    print(
        "Other models: --model DIR (a Hugging Face model directory, e.g. `ctxlab export` "
        "output), --model FILE.gguf, or --model ORG/NAME (a hub id; needs the network)."
    )
    print("Cache root: $CTXLAB_CACHE (default ~/.cache/ctxlab).")
    return 0

"""The command line (`ctxlab`); `python -m ctxlab.cli` runs it too (e.g. under accelerate)."""

from ctxlab.cli.main import main

__all__ = ["main"]

"""`ctxlab report RUN_DIR`: rebuild report.md and plots from a run directory's artifacts."""

from __future__ import annotations

import argparse

from ctxlab.cli.flags import add_config


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("run_dir", help="a run directory (eval, run, rag eval or verify)")
    add_config(parser)


def run(args: argparse.Namespace) -> int:
    from ctxlab.reporting import build_report

    print(f"report: {build_report(args.run_dir)}")
    return 0

"""`ctxlab runs [DIR]`: the finished runs under a runs directory with their headline scores."""

from __future__ import annotations

import argparse

from ctxlab.cli.flags import add_config


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("runs_dir", nargs="?", default="runs", help="where runs go (runs/)")
    parser.add_argument("--name", help="only the runs of this name")
    add_config(parser)


def run(args: argparse.Namespace) -> int:
    from ctxlab.reporting.runs import list_runs, runs_table

    rows = list_runs(args.runs_dir, args.name)
    if not rows:
        print(f"no finished run under {args.runs_dir}")
        return 0
    print("\n".join(runs_table(rows)).rstrip())
    return 0

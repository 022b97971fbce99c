"""`ctxlab curves --run LABEL=RUN_DIR ... -o DIR`: accuracy against gold position or number of
documents, one line a labelled run (`ctxlab.reporting.curves`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ctxlab.cli.flags import add_config


def _labelled(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=RUN_DIR, got {text!r}")
    return label, Path(path)


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument(
        "--run",
        dest="runs",
        action="append",
        type=_labelled,
        default=[],
        metavar="LABEL=RUN_DIR",
        help="an eval run (or a `ctxlab run`'s baseline/, tuned/, eval/); repeat per condition",
    )
    parser.add_argument("-o", "--output", required=True, help="directory for plots and curves.md")
    parser.add_argument("--title", default="", help="plot title")
    add_config(parser)


def run(args: argparse.Namespace) -> int:
    from ctxlab.reporting.curves import build_curves

    print(f"curves: {build_curves(args.runs, args.output, args.title)}")
    return 0

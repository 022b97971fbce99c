"""The `ctxlab verify` subcommand (see `ctxlab.solvers.verify`)."""

from __future__ import annotations

import argparse

from ctxlab.solvers.verify import VERIFIABLE, verify


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check gold or predicted proofs/labels of prontoqa or folio data with the solvers",
    )
    p.add_argument("--task", required=True, choices=VERIFIABLE)
    p.add_argument(
        "--data", required=True, help="examples jsonl, FOLIO jsonl, or PrOntoQA/LoGiPT file"
    )
    p.add_argument(
        "--predictions", help='jsonl of {"id", "prediction"} (an eval run\'s predictions.jsonl)'
    )
    p.add_argument("--runs-dir", default="runs", help="where runs go (default runs/)")
    p.add_argument("--name", default="verify", help="run name (default verify)")
    p.add_argument("--timeout-ms", type=int, default=5000, help="z3 time per check (folio)")
    p.add_argument(
        "--strict", action="store_true", help="folio: stop at the first formula that fails to parse"
    )
    p.add_argument("--show", type=int, default=20, help="disagreements/rejections to print")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    result = verify(
        args.task,
        args.data,
        args.predictions,
        runs_dir=args.runs_dir,
        name=args.name,
        timeout_ms=args.timeout_ms,
        strict=args.strict,
        progress=args.progress,
    )
    r = result.results
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in r["metrics"].items())
    if args.task == "folio":
        print(
            f"folio ({r['compared']}): {metrics} — {r['num_agree']}/{r['num_checked']} agree, "
            f"{r['num_parse_errors']} parse errors, {r['num_timeouts']} timeouts"
        )
        for d in r["disagreements"][: args.show]:
            why = f" [{d['status']}: {d['error']}]" if d["error"] else f" [{d['status']}]"
            predicted = f", predicted {d['predicted']}" if d["predicted"] is not None else ""
            print(f"  {d['id']}: gold {d['gold']}, solver {d['solver']}{predicted}{why}")
    else:
        print(f"prontoqa: {metrics} on {r['num_checked']} proofs, {r['num_rejected']} rejected")
        for d in r["rejected"][: args.show]:
            print(f"  {d['id']} (hops {d['hops']}): {'; '.join(d['errors'])}")
    print(f"run directory: {result.run_dir}")
    return 0

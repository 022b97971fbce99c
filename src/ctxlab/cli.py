"""Command line: thin argument parsing into the same config objects the Python API takes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ctxlab.errors import CtxlabError


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        help="smollm2-135m (built in), a model directory, a .gguf file, or a hub id (online only)",
    )
    p.add_argument("--dtype", help="auto (default), float32 or bfloat16")
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--trust-remote-code", action="store_true", default=None)


def _add_niah(p: argparse.ArgumentParser, lengths_flag: str) -> None:
    g = p.add_argument_group("needle in a haystack")
    g.add_argument(
        "--variant",
        dest="variants",
        type=_csv,
        help="niah_single_1..3, niah_multikey_1..3, niah_multivalue, niah_multiquery, "
        "a comma list, or all",
    )
    if lengths_flag == "--lengths":
        g.add_argument("--lengths", type=_csv, help="context lengths, e.g. 512,1024,2048")
    else:
        g.add_argument("--context-length", dest="lengths", type=_csv, help="context length")
    g.add_argument("--depths", type=_csv, help="needle depths in percent, e.g. 0,50,100")
    g.add_argument("--depth-distribution", choices=["uniform", "random", "fixed"])
    g.add_argument("--needle-type-k", choices=["words", "numbers", "uuids"])
    g.add_argument("--needle-type-v", choices=["words", "numbers", "uuids"])
    g.add_argument("--haystack", choices=["noise", "essay", "needle"])
    g.add_argument("--haystack-file", help="your own prose for the essay haystack")
    g.add_argument("--length-unit", choices=["tokens", "chars"])
    g.add_argument("--data-cleaning", choices=["ruler", "none"])
    g.add_argument("--pred-cleaning", choices=["ruler", "flag", "none"])
    g.add_argument("--num-samples", type=int, help="examples per (variant, length)")
    g.add_argument("--seed", type=int)


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="a preset name from configs/ or a YAML file")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set eval.batch_size=4",
    )


TASK_OPTIONS = (
    "variants",
    "lengths",
    "depths",
    "depth_distribution",
    "needle_type_k",
    "needle_type_v",
    "haystack",
    "haystack_file",
    "length_unit",
    "data_cleaning",
    "pred_cleaning",
    "num_samples",
    "seed",
)


def _options(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctxlab", description="Measure and improve how language models use their context."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="generate a task's examples as jsonl")
    data.add_argument("task", choices=["niah"])
    _add_niah(data, "--context-length")
    _add_model(data)
    _add_config(data)
    data.add_argument("-o", "--output", required=True, help="output .jsonl file")

    ev = sub.add_parser("eval", help="evaluate a model; writes a run directory with a report")
    ev.add_argument("--task", help="task name (default niah)")
    ev.add_argument("--data", help="a jsonl file of examples instead of generating them")
    _add_niah(ev, "--lengths")
    _add_model(ev)
    ev.add_argument("--batch-size", type=int)
    ev.add_argument("--max-new-tokens", type=int)
    ev.add_argument("--print-outputs", action="store_true", default=None)
    ev.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    ev.add_argument("--runs-dir", help="where runs go (default runs/)")
    ev.add_argument("--name", help="run name (default eval)")
    _add_config(ev)

    rep = sub.add_parser("report", help="rebuild report.md and plots of a run directory")
    rep.add_argument("run_dir")

    sub.add_parser("models", help="the built-in model, its cache state, how to add others")
    return parser


def cmd_data(args: argparse.Namespace) -> int:
    from ctxlab.api import generate_data

    opts = _options(args, TASK_OPTIONS + ("model", "dtype", "device", "trust_remote_code"))
    examples = generate_data(args.output, args.config, args.sets, task=args.task, **opts)
    print(f"wrote {len(examples)} examples to {args.output}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ctxlab.api import evaluate

    names = TASK_OPTIONS + (
        "task",
        "data",
        "model",
        "dtype",
        "device",
        "trust_remote_code",
        "batch_size",
        "max_new_tokens",
        "print_outputs",
        "progress",
        "runs_dir",
        "name",
    )
    result = evaluate(args.config, args.sets, **_options(args, names))
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in result.results["metrics"].items())
    print(f"{result.results['task']}: {metrics} on {result.results['num_evaluated']} examples")
    print(f"run directory: {result.run_dir}")
    print(f"report: {result.run_dir / 'report.md'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ctxlab.report import build_report

    print(f"report: {build_report(Path(args.run_dir))}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from ctxlab.models import BUILTIN_MODELS, builtin_cache_dir

    print("Built-in models (work offline):")
    for name, info in BUILTIN_MODELS.items():
        cache = builtin_cache_dir(name)
        state = (
            f"cached at {cache}"
            if (cache / "config.json").is_file()
            else (f"not yet converted (first load writes {cache}, ~20 s)")
        )
        print(f"  {name}: {info['description']}\n    {state}")
    print(
        "Other models: --model DIR (a Hugging Face model directory, e.g. `ctxlab export` "
        "output), --model FILE.gguf, or --model ORG/NAME (a hub id; needs the network)."
    )
    print("Cache root: $CTXLAB_CACHE (default ~/.cache/ctxlab).")
    return 0


COMMANDS = {"data": cmd_data, "eval": cmd_eval, "report": cmd_report, "models": cmd_models}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        return COMMANDS[args.command](args)
    except CtxlabError as err:
        print(f"ctxlab: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())

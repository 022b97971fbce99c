"""Command line: thin argument parsing into the same config objects the Python API takes."""

from __future__ import annotations

import argparse
import importlib
import json
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


def _add_task_options(p: argparse.ArgumentParser, lengths_flag: str) -> tuple[str, ...]:
    """Common task flags, then each registered task's own (`Task.cli_flags`), one group a task.

    Returns the destinations, which become `task.*` config keys. A task adds a flag by declaring
    it in its own module; a flag two tasks share is declared once (the first wins).
    """
    from ctxlab.tasks.base import TASKS, get_task_class

    get_task_class("niah")  # imports the built-in tasks
    common = p.add_argument_group("any task")
    if lengths_flag == "--lengths":
        common.add_argument("--lengths", type=_csv, help="context lengths, e.g. 512,1024,2048")
    else:
        common.add_argument("--context-length", dest="lengths", type=_csv, help="context length")
    common.add_argument("--num-samples", type=int, help="examples per setting of the sweep")
    common.add_argument("--seed", type=int)
    common.add_argument("--pred-cleaning", choices=["ruler", "flag", "none"])
    dests = ["lengths", "num_samples", "seed", "pred_cleaning"]
    seen = {"--lengths", "--context-length", "--num-samples", "--seed", "--pred-cleaning"}
    for name, cls in TASKS.items():
        flags = {f: kw for f, kw in cls.cli_flags.items() if f not in seen}
        if not flags:
            continue
        group = p.add_argument_group(f"--task {name}")
        for flag, kwargs in flags.items():
            action = group.add_argument(flag, **kwargs)
            dests.append(action.dest)
            seen.add(flag)
    return tuple(dests)


# Modules that add whole subcommands: each has `add_commands(subparsers)`, which sets
# `handler=` on its parsers (a function taking the parsed args, returning an exit code).
EXTENSIONS: tuple[str, ...] = (
    "ctxlab.training.cli",
    "ctxlab.solvers.cli",
    "ctxlab.rag.cli",
    "ctxlab.curves",
)


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


def _options(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctxlab", description="Measure and improve how language models use their context."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="generate a task's examples as jsonl")
    data.add_argument("task", help="a registered task: niah, qa, ...")
    data.set_defaults(task_options=_add_task_options(data, "--context-length"))
    _add_model(data)
    _add_config(data)
    data.add_argument("-o", "--output", required=True, help="output .jsonl file")

    ev = sub.add_parser("eval", help="evaluate a model; writes a run directory with a report")
    ev.add_argument("--task", help="task name (default niah)")
    ev.add_argument("--data", help="a jsonl file of examples instead of generating them")
    ev.set_defaults(task_options=_add_task_options(ev, "--lengths"))
    _add_model(ev)
    ev.add_argument("--batch-size", type=int)
    ev.add_argument("--max-new-tokens", type=int)
    ev.add_argument("--print-outputs", action="store_true", default=None)
    ev.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    ev.add_argument("--runs-dir", help="where runs go (default runs/)")
    ev.add_argument("--name", help="run name (default eval)")
    _add_config(ev)

    run = sub.add_parser("run", help="the whole loop: data, baseline, train, tuned, report")
    run.add_argument("experiment", help="an experiment preset (e.g. niah-quick) or YAML file")
    run.add_argument("--runs-dir", help="where runs go (default runs/)")
    run.add_argument("--name", help="run name (default: the preset's name)")
    run.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    g = run.add_argument_group("scratchpad-rag flags (shortcuts for --set)")
    g.add_argument("--num-train-samples", type=int, help="splits.train")
    g.add_argument("--num-val-samples", type=int, help="splits.test: the evaluated examples")
    g.add_argument("--eval-split", help="task.eval_split: val_anc, val_pos or closedbook")
    g.add_argument("--train-method", choices=["sft", "scratchpad"], help="training.method")
    g.add_argument("--last-answer-only", action="store_true", default=None)
    g.add_argument("--max-new-tokens", type=int)
    g.add_argument("--print-outputs", action="store_true", default=None)
    g.add_argument("--eval-only", action="store_true", default=None, help="no training")
    g.add_argument("--load-checkpoint", help="with --eval-only: evaluate these trained weights")
    oak = run.add_argument_group("OaK presets (logic-oak): solver-verified DPO rounds")
    oak.add_argument("--iterations", type=int, help="DPO iterations after SFT (oak.iterations)")
    oak.add_argument(
        "--no-solver",
        dest="solver",
        action="store_false",
        default=None,
        help="ablation: preference pairs from the final label only",
    )
    oak.add_argument(
        "--no-sft",
        dest="sft",
        action="store_false",
        default=None,
        help="ablation: DPO from the base model, no SFT on gold proofs",
    )
    oak.add_argument("--eval-task", help="also evaluate each iteration on this task (folio)")
    _add_config(run)

    rep = sub.add_parser("report", help="rebuild report.md and plots of a run directory")
    rep.add_argument("run_dir")

    sub.add_parser("models", help="the built-in model, its cache state, how to add others")
    for module in EXTENSIONS:
        importlib.import_module(module).add_commands(sub)
    return parser


def cmd_data(args: argparse.Namespace) -> int:
    from ctxlab.api import generate_data

    opts = _options(args, args.task_options + ("model", "dtype", "device", "trust_remote_code"))
    examples = generate_data(args.output, args.config, args.sets, task=args.task, **opts)
    print(f"wrote {len(examples)} examples to {args.output}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ctxlab.api import evaluate

    names = args.task_options + (
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


def cmd_run(args: argparse.Namespace) -> int:
    from ctxlab.experiment import load_experiment, run_experiment

    sets = list(args.sets)
    for flag, key in (
        ("runs_dir", "run.runs_dir"),
        ("name", "run.name"),
        ("progress", "eval.progress"),
        ("num_train_samples", "splits.train"),
        ("num_val_samples", "splits.test"),
        ("eval_split", "task.eval_split"),
        ("train_method", "training.method"),
        ("last_answer_only", "task.last_answer_only"),
        ("max_new_tokens", "eval.max_new_tokens"),
        ("print_outputs", "eval.print_outputs"),
        ("eval_only", "eval_only"),
        ("load_checkpoint", "load_checkpoint"),
        ("iterations", "oak.iterations"),
        ("solver", "oak.solver"),
        ("sft", "oak.sft"),
        ("eval_task", "oak.eval_task"),
    ):
        if getattr(args, flag) is not None:
            sets.append(f"{key}={getattr(args, flag)}")
    comparison = run_experiment(load_experiment(args.experiment, sets))
    metric = comparison["metric"]
    if "eval" in comparison:  # --eval-only
        print(f"{metric}: {comparison['eval']['metrics'][metric]:.1f}")
        print(f"run directory: {comparison['run_dir']}")
        return 0
    print(
        f"{metric}: baseline {comparison['baseline']['metrics'][metric]:.1f} -> tuned "
        f"{comparison['tuned']['metrics'][metric]:.1f} ({comparison['delta'][metric]:+.1f})"
    )
    print(f"run directory: {comparison['run_dir']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ctxlab.comparison import build_comparison_report
    from ctxlab.report import build_report

    run_dir = Path(args.run_dir)
    results = run_dir / "results.json"
    if results.is_file() and json.loads(results.read_text(encoding="utf-8")).get("task") == "rag":
        from ctxlab.rag.report import build_rag_report

        print(f"report: {build_rag_report(run_dir)}")
    elif (run_dir / "oak.json").is_file():
        from ctxlab.oak_report import build_oak_report

        print(f"report: {build_oak_report(run_dir)}")
    elif (run_dir / "comparison.json").is_file():
        print(f"report: {build_comparison_report(run_dir)}")
    else:
        print(f"report: {build_report(run_dir)}")
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


COMMANDS = {
    "data": cmd_data,
    "eval": cmd_eval,
    "run": cmd_run,
    "report": cmd_report,
    "models": cmd_models,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args)
    except CtxlabError as err:
        print(f"ctxlab: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())

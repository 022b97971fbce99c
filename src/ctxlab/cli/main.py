"""`ctxlab COMMAND ...`: one module a command under `ctxlab/cli/`, imported only when chosen.

`ctxlab --help` lists the commands without importing any of them (no torch, transformers, z3 or
faiss), so it answers in a fraction of a second; each command module builds its own flags from
its config model (`cli/flags.py`) and imports heavy libraries inside its `run`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ctxlab.errors import CtxlabError

COMMANDS = {
    "data": "generate a task's examples as jsonl",
    "eval": "evaluate a model on a task; writes a run directory with a report",
    "run": "run a preset's recipe (e.g. niah-quick: baseline, train, tuned, report)",
    "train": "fine-tune a model (SFT or scratchpad; LoRA, QLoRA or full)",
    "export": "merge a training run's adapter into a standalone model",
    "export-task": "an lm-evaluation-harness task (YAML, data, ctxlab's metric) of a data file",
    "tokenizer": "train a byte-level BPE tokenizer for a from-scratch model",
    "pretrain": "pre-train a decoder (causal LM) or encoder (MLM) from random weights",
    "codec": "train a sentence codec (autoencoder, minilm) for the sentence LM",
    "verify": "check gold or predicted answers: prontoqa proofs, folio labels, dot graphs",
    "rag": "retrieval-augmented generation: index, ask, eval, report, curves",
    "report": "rebuild report.md and plots of any run directory from its artifacts",
    "curves": "accuracy vs gold position / number of documents, one line per run",
    "runs": "the finished runs under a runs directory, with their headline scores",
    "serve": "an OpenAI-compatible chat-completions server over a model (and adapter)",
    "models": "the built-in model, its cache state, how to pass others",
    "presets": "the shipped presets and the recipe each runs",
}


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The top-level parser; only the chosen command's module is imported and adds flags."""
    parser = argparse.ArgumentParser(
        prog="ctxlab", description="Measure and improve how language models use their context."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _command(argv)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(f"ctxlab.cli.{name.replace('-', '_')}")
            p.set_defaults(handler=module.run, unknown=f"see `ctxlab {name} --help`")
            module.add_arguments(p, argv[argv.index(name) + 1 :])
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        parser = build_parser(argv)
        try:
            args, extra = parser.parse_known_args(argv)
        except SystemExit as done:  # --help, or argparse's own usage error (printed, exit 2)
            return int(done.code or 0)
        if extra:
            raise CtxlabError(f"unknown argument {' '.join(extra)}: {args.unknown}")
        return args.handler(args)
    except CtxlabError as err:
        from ctxlab.cli.flags import name_flags

        print(f"ctxlab: error: {name_flags(str(err))}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())

"""`ctxlab rag index|ask|eval|report|curves`: the RAG subcommands. `rag eval` is the `rag_eval`
recipe, its flags generated from `RagEvalConfig`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field

from ctxlab.cli.common import print_summary, quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, command_config, updates
from ctxlab.errors import CtxlabError
from ctxlab.models.builtin import DEFAULT_MODEL
from ctxlab.rag.splitters import SplitterConfig
from ctxlab.recipes.rag_eval import AnswerSettings, EmbedderSettings, IndexSettings


class IndexConfig(EmbedderSettings, IndexSettings):
    """`ctxlab rag index PATHS -o DIR`: what to read, how to split it, how to embed it."""

    paths: list[str] = Field([], description="text/markdown files, jsonl(.gz) passages, folders")
    output: str = Field(
        description="index directory to write",
        json_schema_extra={"flag": "-o", "aliases": ["--output"]},
    )
    splitter: SplitterConfig = SplitterConfig()
    progress: bool = Field(True, description="show progress bars")


class AskConfig(EmbedderSettings, AnswerSettings):
    """`ctxlab rag ask INDEX QUESTION`: retrieve, then answer citing the sources."""

    index: str = Field(description="an index directory from `ctxlab rag index`")
    question: str = Field(description="the question")
    top_k: int = Field(3, ge=1, description="chunks retrieved and read")
    model: str = Field(DEFAULT_MODEL, description="answering model")
    retrieve_only: bool = Field(False, description="print the sources only")
    scratchpad: bool = Field(
        False, description="the model writes a scratchpad: no stop at a newline"
    )


def _command(parser: argparse.ArgumentParser, config: type, positional: tuple[str, ...], handler):
    """A subcommand whose flags come from `config` (positional fields first)."""
    for name in positional:
        parser.add_argument(
            name, nargs="*" if name == "paths" else "?", help=config.model_fields[name].description
        )
    keys = add_flags(parser, config, skip=positional)
    if "splitter" in config.model_fields:
        keys |= add_flags(parser, SplitterConfig, "splitter.")
    add_config(parser)
    parser.set_defaults(rag_handler=handler, keys=keys, positional=positional, schema=config)


def _config(args: argparse.Namespace):
    """The subcommand's config, its positionals given as they came."""
    return command_config(args, args.schema, {name: vars(args)[name] for name in args.positional})


def add_arguments(rag: argparse.ArgumentParser, argv: list[str]) -> None:
    sub = rag.add_subparsers(dest="rag_command", required=True)

    idx = sub.add_parser("index", help="split and embed documents into a FAISS index directory")
    _command(idx, IndexConfig, ("paths",), cmd_index)
    ask = sub.add_parser("ask", help="retrieve from an index, then answer citing the sources")
    _command(ask, AskConfig, ("index", "question"), cmd_ask)

    ev = sub.add_parser("eval", help="recall@k over a QA file's passages; accuracy vs top-k")
    from ctxlab.recipes.rag_eval import RagEvalConfig, RagEvalRun

    keys = add_flags(ev, RagEvalConfig, skip=("recipe",))
    keys |= add_flags(ev, RagEvalRun, "run.")
    add_config(ev)
    ev.set_defaults(rag_handler=cmd_eval, keys=keys)

    rep = sub.add_parser("report", help="rebuild a rag eval run's report.md and plots")
    rep.add_argument("run_dir")
    rep.set_defaults(rag_handler=cmd_report)

    cur = sub.add_parser("curves", help="one accuracy-vs-k figure for several rag eval runs")
    cur.add_argument("run_dirs", nargs="+", help="rag eval runs that answered the same questions")
    cur.add_argument("-o", "--output", required=True, help="directory for accuracy.png, curves.md")
    cur.set_defaults(rag_handler=cmd_curves)


def cmd_index(args: argparse.Namespace) -> int:
    from ctxlab.rag.documents import expand_paths, load_chunks
    from ctxlab.rag.index import build_index, check_target

    quiet_libraries()
    config: IndexConfig = _config(args)
    config.splitter.check()
    files = expand_paths(config.paths)
    check_target(Path(config.output))
    embedder = config.make_embedder()
    encode = embedder.encode if config.splitter.method == "semantic" else None
    chunks = load_chunks(files, config.splitter, encode)
    if not chunks:
        raise CtxlabError(
            f"no text to index in {', '.join(map(str, files))}: the documents are empty"
        )
    info = {"splitter": config.splitter.model_dump(), "sources": [str(f) for f in files]}
    index, stats = build_index(
        chunks, embedder, config.output, info, config.progress, **config.index_options()
    )
    print(
        f"indexed {stats.num_chunks} chunks from {len(files)} files into {index.path} "
        f"({stats.encoded} embedded in {stats.encode_s:.1f} s, {stats.cached} from the cache; "
        f"{stats.total_s:.1f} s in all)"
    )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from ctxlab.rag.index import RagIndex

    quiet_libraries()
    config: AskConfig = _config(args)
    index = RagIndex.load(config.index)
    embedder = config.make_embedder(config.embedder or index.embedder_name)
    index.check_embedder(embedder)
    if config.top_k > len(index):
        raise CtxlabError(
            f"--top-k {config.top_k} is larger than the index's {len(index)} chunks: lower --top-k"
        )
    hits = index.retrieve(embedder, [config.question], config.top_k)[0]
    if config.retrieve_only:
        for n, hit in enumerate(hits, 1):
            print(f"[{n}] {hit.chunk.title or '(untitled)'} (score {hit.score:.3f})")
            print(f"    {hit.chunk.text}")
        return 0
    from ctxlab.models import load_model
    from ctxlab.rag.pipeline import answer

    loaded = load_model(config.model, config.dtype, config.device)
    budget = max(config.max_new_tokens, 160) if config.scratchpad else config.max_new_tokens
    result = answer(
        loaded,
        [config.question],
        [hits],
        config.template,
        budget,
        batch_size=1,
        progress=False,
        scratchpad=config.scratchpad,
    )[0]
    print(result.text or "(no answer)")
    print("\nSources:")
    print("\n".join(result.sources()))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ctxlab.recipes import preset_config, run_config

    quiet_libraries()
    print_summary(
        run_config(preset_config(args.config, args.sets, "rag_eval", updates(args, args.keys)))
    )
    return 0


def run(args: argparse.Namespace) -> int:
    return args.rag_handler(args)


def cmd_report(args: argparse.Namespace) -> int:
    from ctxlab.reporting.rag_report import build_rag_report

    print(f"report: {build_rag_report(args.run_dir)}")
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    from ctxlab.reporting.rag_report import combine_runs

    print(f"curves: {combine_runs(args.run_dirs, args.output)}")
    return 0

"""`ctxlab rag index|ask|eval|report|curves`: the RAG subcommands. `rag eval` is the `rag_eval`
recipe, its flags generated from `RagEvalConfig`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ctxlab.cli.common import print_summary, quiet_libraries
from ctxlab.cli.flags import add_config, add_flags, updates
from ctxlab.errors import CtxlabError
from ctxlab.rag.splitters import METHODS, SplitterConfig


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_embedder(p: argparse.ArgumentParser, default_help: str) -> None:
    p.add_argument("--embedder", help=default_help)
    p.add_argument("--embed-batch-size", type=_positive, default=64, help="texts per batch")
    p.add_argument(
        "--embed-dtype", default="auto", help="auto (bf16 where fast, default), float32, bfloat16"
    )


def _add_generation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--template", default="qa", help="qa (default) or query-aware prompt")
    p.add_argument("--max-new-tokens", type=_positive, default=100, help="answer budget")
    p.add_argument("--batch-size", type=_positive, default=8, help="generation batch size")
    p.add_argument("--dtype", default="auto", help="model dtype: auto, float32 or bfloat16")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def add_arguments(rag: argparse.ArgumentParser, argv: list[str]) -> None:
    sub = rag.add_subparsers(dest="rag_command", required=True)

    idx = sub.add_parser("index", help="split and embed documents into a FAISS index directory")
    idx.add_argument("paths", nargs="*", help="text/markdown files, jsonl(.gz) passages, dirs")
    idx.add_argument("-o", "--output", required=True, help="index directory to write")
    d = SplitterConfig()
    idx.add_argument("--splitter", choices=METHODS, default=d.method)
    idx.add_argument("--chunk-size", type=int, default=d.chunk_size, help="chars (chunk)")
    idx.add_argument("--overlap", type=int, default=d.overlap, help="chars, < --chunk-size")
    idx.add_argument("--min-length", type=int, default=d.min_length, help="merge shorter chunks")
    idx.add_argument("--max-length", type=int, default=d.max_length, help="cut longer chunks")
    idx.add_argument("--pattern", help="split points for --splitter regex")
    idx.add_argument("--percentile", type=float, default=d.percentile, help="semantic breaks")
    _add_embedder(idx, "all-MiniLM-L6-v2 (built in, default) or a sentence-transformers dir")
    idx.add_argument("--no-progress", dest="progress", action="store_false")
    idx.set_defaults(rag_handler=cmd_index)

    ask = sub.add_parser("ask", help="retrieve from an index, then answer citing the sources")
    ask.add_argument("index", help="an index directory from `ctxlab rag index`")
    ask.add_argument("question")
    ask.add_argument("--top-k", type=_positive, default=3)
    ask.add_argument("--model", default=None, help="answering model (default: built in)")
    ask.add_argument("--retrieve-only", action="store_true", help="print the sources only")
    ask.add_argument(
        "--scratchpad", action="store_true", help="the model writes a scratchpad: no stop at \\n"
    )
    _add_embedder(ask, "must match the index's (default: the index's own)")
    _add_generation(ask)
    ask.set_defaults(rag_handler=cmd_ask)

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


def _embedder(args: argparse.Namespace, spec: str | None):
    from ctxlab.rag.embedder import Embedder

    return Embedder(spec, args.embed_batch_size, "auto", args.embed_dtype)


def cmd_index(args: argparse.Namespace) -> int:
    from ctxlab.rag.documents import expand_paths, load_chunks
    from ctxlab.rag.index import build_index, check_target

    splitter = SplitterConfig(
        args.splitter,
        args.chunk_size,
        args.overlap,
        args.min_length,
        args.max_length,
        args.pattern,
        args.percentile,
    )
    splitter.check()
    files = expand_paths(args.paths)
    check_target(Path(args.output))
    embedder = _embedder(args, args.embedder)
    encode = embedder.encode if splitter.method == "semantic" else None
    chunks = load_chunks(files, splitter, encode)
    if not chunks:
        raise CtxlabError(
            f"no text to index in {', '.join(map(str, files))}: the documents are empty"
        )
    info = {"splitter": asdict(splitter), "sources": [str(f) for f in files]}
    index, stats = build_index(chunks, embedder, args.output, info, args.progress)
    print(
        f"indexed {stats.num_chunks} chunks from {len(files)} files into {index.path} "
        f"({stats.encoded} embedded in {stats.encode_s:.1f} s, {stats.cached} from the cache; "
        f"{stats.total_s:.1f} s in all)"
    )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from ctxlab.rag.index import RagIndex

    index = RagIndex.load(args.index)
    embedder = _embedder(args, args.embedder or index.embedder_name)
    index.check_embedder(embedder)
    if args.top_k > len(index):
        raise CtxlabError(
            f"--top-k {args.top_k} is larger than the index's {len(index)} chunks: lower --top-k"
        )
    hits = index.retrieve(embedder, [args.question], args.top_k)[0]
    if args.retrieve_only:
        for n, hit in enumerate(hits, 1):
            print(f"[{n}] {hit.chunk.title or '(untitled)'} (score {hit.score:.3f})")
            print(f"    {hit.chunk.text}")
        return 0
    from ctxlab.models import DEFAULT_MODEL, load_model
    from ctxlab.rag.pipeline import STOP, answer

    loaded = load_model(args.model or DEFAULT_MODEL, args.dtype, args.device)
    budget = max(args.max_new_tokens, 160) if args.scratchpad else args.max_new_tokens
    stop = () if args.scratchpad else STOP
    result = answer(
        loaded, [args.question], [hits], args.template, budget, 1, False, "answering", stop
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

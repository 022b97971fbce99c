"""report.md and plots of a `ctxlab rag eval` run, rebuilt from its files alone.

Two figures: retrieval recall@k (gold passage, and answer string, among the top k) and the
scratchpad-rag README's curve, answer accuracy vs the number of retrieved documents the model
reads, one line per model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.report import load_json, markdown_table
from ctxlab.tasks.base import json_lines
from ctxlab.tracking import write_atomic


def _save(fig, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_recall(results: dict[str, Any], path: Path) -> None:
    ks, metrics = results["top_k"], results["metrics"]
    fig, ax = _figure()
    for name, label in (("recall", "gold passage in top k"), ("answer_recall", "answer in top k")):
        ax.plot(ks, [metrics[f"{name}@{k}"] for k in ks], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("k (retrieved passages)")
    ax.set_ylabel("recall (fraction)")
    ax.set_title(f"retrieval over {results['pool_size']} passages", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_accuracy(results: dict[str, Any], path: Path) -> None:
    rows = results["answer_accuracy"]
    fig, ax = _figure()
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        ax.plot(
            [r["k"] for r in mine],
            [r["best_subspan_em"] for r in mine],
            marker="o",
            label=f"{model} (n={mine[0]['n']})",
        )
    ks = results["top_k"]
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(0, 100)
    ax.set_xlabel("retrieved documents in the prompt (top k)")
    ax.set_ylabel("best_subspan_em (%)")
    ax.set_title("answer accuracy vs number of retrieved documents", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _answered_ids(run_dir: Path) -> set[str]:
    path = run_dir / "predictions.jsonl"
    return {raw["id"] for _, raw in json_lines(path, "predictions")} if path.is_file() else set()


def combine_runs(run_dirs: list[str | Path], out: str | Path) -> Path:
    """One accuracy-vs-k figure and table for the models of several rag eval runs that answered
    the same questions (e.g. a zero-shot run and a later one of a trained model)."""
    rows: list[dict[str, Any]] = []
    questions: set[str] | None = None
    for run_dir in map(Path, run_dirs):
        results = load_json(run_dir / "results.json", None)
        if not isinstance(results, dict) or not results.get("answer_accuracy"):
            raise CtxlabError(f"{run_dir} is not a rag eval run with answers: pass --answer runs")
        ids = _answered_ids(run_dir)
        if questions is not None and ids != questions:
            raise CtxlabError(
                f"{run_dir} answered other questions than {run_dirs[0]}: combine runs of the "
                "same --data, --pool and --answer-questions"
            )
        questions = ids
        rows += results["answer_accuracy"]
    labels = [r["model"] for r in rows]
    ks = sorted({r["k"] for r in rows})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_accuracy({"answer_accuracy": rows, "top_k": ks}, out / "accuracy.png")
    table = {(r["model"], r["k"]): r["best_subspan_em"] for r in rows}
    models = list(dict.fromkeys(labels))
    md = ["# Answer accuracy vs retrieved documents", ""]
    md += [f"Runs: {', '.join(f'`{d}`' for d in run_dirs)}; best_subspan_em in percent.", ""]
    md += markdown_table(
        ["model", *[f"top-{k}" for k in ks]],
        [[m, *[table.get((m, k)) for k in ks]] for m in models],
    )
    md += ["![accuracy vs k](accuracy.png)", ""]
    path = out / "curves.md"
    write_atomic(path, "\n".join(md))
    return path


def build_rag_report(run_dir: str | Path) -> Path:
    """Write report.md, recall.png and (when models answered) accuracy.png into run_dir."""
    run_dir = Path(run_dir)
    results = load_json(run_dir / "results.json", None)
    if not isinstance(results, dict) or results.get("task") != "rag":
        raise CtxlabError(f"{run_dir} is not a `ctxlab rag eval` run directory (no rag results)")
    timing = load_json(run_dir / "summary.json", {}).get("timing", {})
    ks, metrics = results["top_k"], results["metrics"]
    md = [
        f"# RAG eval — {Path(results['data']).name}",
        "",
        f"{results['num_questions']} questions, pool of {results['pool_size']} passages, "
        f"embedder `{results['embedder']}`, exact inner-product search (FAISS) over "
        f"normalized vectors; index `{results['index']}`.",
        "",
        "## Retrieval",
        "",
        "recall@k is the share of questions whose gold passage is among the top k, a fraction "
        "in [0, 1] (the issue's convention; ctxlab's answer scores below are percent). "
        "answer_recall@k: the top k contain an answer string (SQuAD-normalized).",
        "",
    ]
    md += markdown_table(
        ["k", "recall@k", "answer_recall@k"],
        [[k, f"{metrics[f'recall@{k}']:.3f}", f"{metrics[f'answer_recall@{k}']:.3f}"] for k in ks],
    )
    plot_recall(results, run_dir / "recall.png")
    md += ["![recall@k](recall.png)", ""]
    rows = results.get("answer_accuracy") or []
    if rows:
        models = list(dict.fromkeys(r["model"] for r in rows))
        table = {(r["model"], r["k"]): r for r in rows}
        md += [
            "## Answer accuracy vs retrieved documents",
            "",
            "best_subspan_em (percent) of the answer's first line when the model reads the top "
            "k retrieved documents, best first, in the lost-in-the-middle prompt.",
            "",
        ]
        md += markdown_table(
            ["model", "n", *[f"top-{k}" for k in ks]],
            [
                [m, table[(m, ks[0])]["n"], *[table[(m, k)]["best_subspan_em"] for k in ks]]
                for m in models
            ],
        )
        specs = ", ".join(f"{m} = `{table[(m, ks[0])]['spec']}`" for m in models)
        md += [f"Models: {specs}.", "", "![accuracy vs k](accuracy.png)", ""]
        plot_accuracy(results, run_dir / "accuracy.png")
    if timing:
        md += ["## Timing", "", "```", json.dumps(timing, indent=2), "```", ""]
    out = run_dir / "report.md"
    write_atomic(out, "\n".join(md))
    return out

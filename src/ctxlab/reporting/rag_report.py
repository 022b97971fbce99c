"""report.md and plots of a `ctxlab rag eval` run, rebuilt from its files alone.

Two figures: retrieval recall@k (gold passage, and answer string, among the top k) and the
scratchpad-rag README's curve, answer accuracy vs the number of retrieved documents the model
reads, one line per model; both with their 95% intervals, as are the tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines, load_json, write_text
from ctxlab.reporting.artifacts import RagResults, read_artifact
from ctxlab.reporting.plots import Line, plot_lines
from ctxlab.reporting.tables import bounds, markdown_table, score

RECALLS = (("recall", "gold passage in top k"), ("answer_recall", "answer in top k"))


def read_rag_results(run_dir: Path) -> RagResults | None:
    """A rag eval's results.json, typed; None when the directory holds none."""
    path = run_dir / "results.json"
    results = read_artifact(path) if path.is_file() else None
    return results if isinstance(results, RagResults) else None


def plot_recall(results: RagResults, path: Path) -> None:
    ks = results.top_k
    lines = [
        Line(
            label,
            [
                (k, results.metrics[f"{name}@{k}"], bounds(results.intervals.get(f"{name}@{k}")))
                for k in ks
            ],
        )
        for name, label in RECALLS
    ]
    plot_lines(
        lines,
        path,
        title=f"retrieval over {results.pool_size} passages (bands: 95% intervals)",
        xlabel="k (retrieved passages)",
        ylabel="recall (fraction)",
        ylim=(0, 1.05),
        xticks=ks,
        xlabels=[str(k) for k in ks],
        log_x=True,
        bands=True,
        size=(5.5, 3.6),
    )


def plot_accuracy(rows: list[dict[str, Any]], ks: list[int], path: Path) -> None:
    """best_subspan_em against k, one line (with 95% error bars) a model."""
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        points = [(r["k"], r["best_subspan_em"], bounds(r.get("interval"))) for r in mine]
        lines.append(Line(f"{model} (n={mine[0]['n']})", points))
    plot_lines(
        lines,
        path,
        title="answer accuracy vs number of retrieved documents",
        xlabel="retrieved documents in the prompt (top k)",
        ylabel="best_subspan_em (%)",
        ylim=(0, 100),
        xticks=ks,
        xlabels=[str(k) for k in ks],
        log_x=True,
        size=(5.5, 3.6),
    )


def _accuracy_table(rows: list[dict[str, Any]], ks: list[int], with_n: bool) -> list[str]:
    """model × k cells of best_subspan_em with their intervals."""
    table = {(r["model"], r["k"]): r for r in rows}
    body = []
    for model in dict.fromkeys(r["model"] for r in rows):
        cells = [table.get((model, k)) for k in ks]
        scores = [score(c["best_subspan_em"], c.get("interval")) if c else "—" for c in cells]
        n = next((c["n"] for c in cells if c), None)
        body.append([model, *([n] if with_n else []), *scores])
    header = ["model", *(["n"] if with_n else []), *[f"top-{k}" for k in ks]]
    return markdown_table(header, body)


def _answered_ids(run_dir: Path) -> set[str]:
    path = run_dir / "predictions.jsonl"
    return {raw["id"] for _, raw in json_lines(path, "predictions")} if path.is_file() else set()


def combine_runs(run_dirs: list[str | Path], out: str | Path) -> Path:
    """One accuracy-vs-k figure and table for the models of several rag eval runs that answered
    the same questions (e.g. a zero-shot run and a later one of a trained model)."""
    rows: list[dict[str, Any]] = []
    questions: set[str] | None = None
    for run_dir in map(Path, run_dirs):
        results = read_rag_results(run_dir)
        if results is None or not results.answer_accuracy:
            raise CtxlabError(f"{run_dir} is not a rag eval run with answers: pass --answer runs")
        ids = _answered_ids(run_dir)
        if questions is not None and ids != questions:
            raise CtxlabError(
                f"{run_dir} answered other questions than {run_dirs[0]}: combine runs of the "
                "same --data, --pool and --answer-questions"
            )
        questions = ids
        rows += results.answer_accuracy
    ks = sorted({r["k"] for r in rows})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_accuracy(rows, ks, out / "accuracy.png")
    md = ["# Answer accuracy vs retrieved documents", ""]
    md += [
        f"Runs: {', '.join(f'`{d}`' for d in run_dirs)}; best_subspan_em in percent, with 95% "
        "intervals.",
        "",
    ]
    md += _accuracy_table(rows, ks, with_n=False)
    md += ["![accuracy vs k](accuracy.png)", ""]
    return write_text(out / "curves.md", "\n".join(md))


def build_rag_report(run_dir: str | Path) -> Path:
    """Write report.md, recall.png and (when models answered) accuracy.png into run_dir."""
    run_dir = Path(run_dir)
    results = read_rag_results(run_dir)
    if results is None:
        raise CtxlabError(f"{run_dir} is not a `ctxlab rag eval` run directory (no rag results)")
    extra = results.model_extra or {}
    timing = load_json(run_dir / "summary.json", {}).get("timing", {})
    ks, metrics = results.top_k, results.metrics
    md = [
        f"# RAG eval — {Path(str(extra.get('data', '?'))).name}",
        "",
        f"{results.num_questions} questions, pool of {results.pool_size} passages, "
        f"embedder `{extra.get('embedder')}`, exact inner-product search (FAISS) over "
        f"normalized vectors; index `{extra.get('index')}`.",
        "",
        "## Retrieval",
        "",
        "recall@k is the share of questions whose gold passage is among the top k, a fraction "
        "in [0, 1] (the issue's convention; ctxlab's answer scores below are percent), with its "
        "95% interval. answer_recall@k: the top k contain an answer string (SQuAD-normalized).",
        "",
    ]
    md += markdown_table(
        ["k", "recall@k", "answer_recall@k"],
        [
            [k]
            + [score(metrics[f"{n}@{k}"], results.intervals.get(f"{n}@{k}"), 3) for n, _ in RECALLS]
            for k in ks
        ],
    )
    plot_recall(results, run_dir / "recall.png")
    md += ["![recall@k](recall.png)", ""]
    rows = results.answer_accuracy
    if rows:
        md += [
            "## Answer accuracy vs retrieved documents",
            "",
            "best_subspan_em (percent, 95% interval) of the answer's first line when the model "
            "reads the top k retrieved documents, best first, in the lost-in-the-middle prompt.",
            "",
        ]
        md += _accuracy_table(rows, ks, with_n=True)
        specs = {r["model"]: r.get("spec") for r in rows}
        md += [f"Models: {', '.join(f'{m} = `{s}`' for m, s in specs.items())}.", ""]
        md += ["![accuracy vs k](accuracy.png)", ""]
        plot_accuracy(rows, ks, run_dir / "accuracy.png")
    if timing:
        md += ["## Timing", "", "```", json.dumps(timing, indent=2), "```", ""]
    return write_text(run_dir / "report.md", "\n".join(md))

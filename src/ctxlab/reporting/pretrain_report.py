"""The report of a `ctxlab pretrain` run: held-out perplexity (decoder) or masked-token accuracy
(encoder) beside the unigram baseline measured on the same tokens, the gain over it with its
interval, the data (padding share of the packed sequences), the model and what training cost
(tokens, time, tokens/s, early stopping), and the learning curve; rebuilt from results.json and
metrics.jsonl alone."""

from __future__ import annotations

from pathlib import Path

from ctxlab.errors import CtxlabError
from ctxlab.io import read_jsonl, write_text
from ctxlab.reporting.artifacts import PretrainResults, read_artifact
from ctxlab.reporting.plots import plot_learning_curve
from ctxlab.reporting.tables import markdown_table, score


def _scores(r: PretrainResults) -> list[str]:
    name = "perplexity" if r.arch == "decoder" else "masked_accuracy"
    label = "perplexity (lower is better)" if r.arch == "decoder" else "masked-token accuracy (%)"
    gains = {g["split"]: g for g in r.gains}
    body = []
    for split in ("test", "val"):
        mine, base = f"{split}_{name}", f"{split}_unigram_{name}"
        if mine not in r.metrics:
            continue
        gain = gains.get(split, {})
        body.append(
            [
                split,
                score(r.metrics[mine], r.intervals.get(mine), 2),
                score(r.metrics.get(base), r.intervals.get(base), 2),
                score(gain.get("value"), gain.get("interval"), 3),
                gain.get("sequences"),
                gain.get("tokens"),
            ]
        )
    unit = gains.get("test", {}).get("unit", "")
    header = ["split", "model", "unigram baseline", f"gain ({unit})", "sequences", "tokens"]
    baseline = (
        "the unigram model of the train split's token frequencies (add-one smoothed)"
        if r.arch == "decoder"
        else "always predicting the train split's most frequent token"
    )
    return [
        f"## Held-out {label}",
        "",
        f"Baseline: {baseline}, scored on the same held-out tokens. Intervals are 95% bootstraps "
        "over whole held-out sequences; the gain is paired on the same sequences.",
        "",
        *markdown_table(header, body),
    ]


def _data(r: PretrainResults) -> list[str]:
    d = r.data
    body = [
        [s, v["texts"], v["tokens"], v["sequences"], f"{100 * v['padding_share']:.2f}%"]
        for s, v in d.get("splits", {}).items()
    ]
    return [
        "## Data",
        "",
        f"From {', '.join(map(str, d.get('sources', [])))}, split by {d.get('split_by')} (seed "
        f"{d.get('split_seed')}); packed into sequences of {r.context_length} tokens.",
        "",
        *markdown_table(["split", "texts", "tokens", "sequences", "padding"], body),
    ]


def _training(r: PretrainResults) -> list[str]:
    t, dims = r.training, r.dimensions
    rate = t.get("tokens_per_s")
    rows = [
        [
            "model",
            f"{r.model}: {dims.get('class')}, {dims.get('heads')} heads, feed-forward "
            f"{dims.get('ff_size')}, dropout {dims.get('dropout')}",
        ],
        ["parameters", f"{r.parameters:,}"],
        ["tokenizer", f"{r.tokenizer.get('source')} ({r.tokenizer.get('vocab_size')} tokens)"],
        ["steps", f"{t.get('steps')} of {t.get('max_steps')} ({t.get('epochs', 0):.2f} epochs)"],
        ["training tokens", f"{t.get('tokens_seen', 0):,}"],
        ["training time", f"{t.get('train_runtime') or 0:.1f} s"],
        ["tokens/s", f"{rate:,.0f}" if rate else "—"],
        [
            "best validation loss",
            f"{t['best_val_loss']:.4f} ({t.get('best_checkpoint')})"
            if t.get("best_val_loss") is not None
            else "—",
        ],
        ["learning rate", f"{t.get('learning_rate', 0):g}"],
        ["bf16 autocast", "yes" if t.get("bf16") else "no"],
    ]
    if t.get("resumed_from"):
        rows.append(["resumed from", t["resumed_from"]])
    if t.get("init_from"):
        rows.append(["continued from", t["init_from"]])
    stop = (
        f"Early stopped after {t.get('epochs', 0):.2f} epochs (validation loss stopped improving)."
        if t.get("stopped_early")
        else "Ran to its last step (no early stop)."
    )
    return ["## Training", "", stop, "", *markdown_table(["", ""], rows)]


def build_pretrain_report(run_dir: str | Path) -> Path:
    """Write report.md (and learning_curve.png) for a `ctxlab pretrain` run directory."""
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    results = read_artifact(path) if path.is_file() else None
    if not isinstance(results, PretrainResults):
        raise CtxlabError(
            f"{run_dir} is not a `ctxlab pretrain` run directory (no pretrain results)"
        )
    md = [f"# pretrain — {results.model} from scratch", ""]
    md += _scores(results) + [""] + _data(results) + [""] + _training(results) + [""]
    metrics_file = run_dir / "metrics.jsonl"
    if metrics_file.is_file() and plot_learning_curve(
        read_jsonl(metrics_file, "metrics"), run_dir / "learning_curve.png"
    ):
        md += ["## Learning curve", "", "![learning curve](learning_curve.png)", ""]
    return write_text(run_dir / "report.md", "\n".join(md))

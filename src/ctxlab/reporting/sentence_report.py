"""report.md of a `sentence` run, built from its results.json alone: the codec (and whether it
stands in for SONAR), the score with its interval by value type and depth, the token model on
the same examples with a paired test, the codec's ceiling (what a perfect LM would score),
training and the embedding store's size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxlab.io import write_text
from ctxlab.reporting.artifacts import find_artifact, read_artifact
from ctxlab.stats import verdict


def _cell(row: dict[str, Any], metric: str) -> str:
    i = row["intervals"][metric]
    return f"{row[metric]:.1f} [{i['low']:.1f}, {i['high']:.1f}]"


def _table(title: str, key: str, rows: list[dict], metric: str, others: dict[str, list]) -> list:
    """One row per `key` value: the sentence LM, then each of `others` (header -> its rows)."""
    theirs = {name: {r[key]: r for r in other} for name, other in others.items()}
    head = f"| {key} | n | sentence LM |" + "".join(f" {name} |" for name in others)
    lines = [f"### {title}", "", head, "|---|---|---|" + "---|" * len(others)]
    for row in rows:
        cells = [_cell(t[row[key]], metric) if row[key] in t else "-" for t in theirs.values()]
        lines.append(
            f"| {row[key]} | {row['n']} | {_cell(row, metric)} |"
            + "".join(f" {c} |" for c in cells)
        )
    return [*lines, ""]


def render(a: dict[str, Any]) -> str:
    metric, codec = a["metric"], a["codec"]
    i = a["intervals"][metric]
    sonar = (
        "This codec is **a substitute for SONAR** (SONAR's weights are not available here); "
        "scores measure the sentence-LM method under this codec, not SONAR-LLM itself."
        if codec["substitute_for_sonar"]
        else "This codec is SONAR."
    )
    out = [
        f"# Sentence LM on {a['task']}: {metric} {a['metrics'][metric]:.1f} "
        f"[{i['low']:.1f}, {i['high']:.1f}]",
        "",
        f"- Codec: {codec['description']} from `{codec['source']}`. {sonar}",
        f"- Model: {a['model']}; loss {a['training']['loss']}, objective "
        f"{a['training']['objective']}; {a['training']['steps']} steps in "
        f"{a['training']['train_s']} s, best validation loss {a['training']['best_val_loss']:.4f} "
        f"at step {a['training']['best_step']}.",
        f"- Data: {', '.join(f'{k} {v}' for k, v in a['data'].items())}; test loss "
        f"{a['test_loss']:.4f} on {a['num_evaluated']} examples.",
        f"- Embeddings: {a['store']['rows']:,} vectors ({a['store']['dtype']}), "
        f"{a['store']['disk_bytes'] / 2**20:.1f} MiB on disk, "
        f"{a['store']['ram_bytes'] / 2**20:.1f} MiB if read whole, in `{a['store']['directory']}`.",
    ]
    held = (codec.get("training") or {}).get("held_out")
    if held:
        numbers = f", 7-digit numbers {held['numbers']:.1f}%" if "numbers" in held else ""
        out.append(
            f"- Codec reconstruction on {held['sentences']} held-out sentences: exact "
            f"{held['exact']:.1f}%{numbers}."
        )
    ceiling = a.get("ceiling")
    if ceiling:
        overall = {metric: ceiling["metrics"][metric], "intervals": ceiling["intervals"]}
        out.append(
            f"- Codec ceiling (each test answer sentence's own vector, decoded and scored): "
            f"{metric} {_cell(overall, metric)}, what a perfect sentence LM would score."
        )
    builtin = a.get("builtin")
    if builtin:
        b = builtin["metrics"][metric]
        out += [
            f"- Token model {builtin['model']} on the same examples: {metric} {b:.1f}; "
            f"sentence LM minus token model: {verdict(builtin['test'])}.",
        ]
    out.append("")
    others = {"codec ceiling": ceiling["by_value_type"]} if ceiling else {}
    if builtin:
        others["token model"] = builtin["by_value_type"]
    out += _table("By value type", "value_type", a["by_value_type"], metric, others)
    out += _table("By depth", "depth", a["by_depth"], metric, {})
    out += [f"Timing (s): {', '.join(f'{k} {v}' for k, v in a['timing'].items())}", ""]
    return "\n".join(out)


def build_sentence_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    artifact = read_artifact(find_artifact(run_dir)).model_dump(mode="json")
    return write_text(run_dir / "report.md", render(artifact))

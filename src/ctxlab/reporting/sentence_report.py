"""report.md of a `sentence` run, built from its results.json alone: the codec (and whether it
stands in for SONAR), the score with its interval by value type and depth, the token model on
the same examples with a paired test, training and the embedding store's size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctxlab.io import write_text
from ctxlab.reporting.artifacts import find_artifact, read_artifact
from ctxlab.stats import verdict


def _cell(row: dict[str, Any], metric: str) -> str:
    i = row["intervals"][metric]
    return f"{row[metric]:.1f} [{i['low']:.1f}, {i['high']:.1f}]"


def _table(title: str, key: str, rows: list[dict], metric: str, other: list[dict] | None) -> list:
    theirs = {r[key]: r for r in other or []}
    head = f"| {key} | n | sentence LM |" + (" token model |" if other else "")
    lines = [f"### {title}", "", head, "|---|---|---|" + ("---|" if other else "")]
    for row in rows:
        line = f"| {row[key]} | {row['n']} | {_cell(row, metric)} |"
        if other:
            line += f" {_cell(theirs[row[key]], metric)} |" if row[key] in theirs else " - |"
        lines.append(line)
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
    builtin = a.get("builtin")
    if builtin:
        b = builtin["metrics"][metric]
        out += [
            f"- Token model {builtin['model']} on the same examples: {metric} {b:.1f}; "
            f"sentence LM minus token model: {verdict(builtin['test'])}.",
        ]
    out.append("")
    other = builtin["by_value_type"] if builtin else None
    out += _table("By value type", "value_type", a["by_value_type"], metric, other)
    out += _table("By depth", "depth", a["by_depth"], metric, None)
    out += [f"Timing (s): {', '.join(f'{k} {v}' for k, v in a['timing'].items())}", ""]
    return "\n".join(out)


def build_sentence_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    artifact = read_artifact(find_artifact(run_dir)).model_dump(mode="json")
    return write_text(run_dir / "report.md", render(artifact))

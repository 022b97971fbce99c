"""The report of an OaK run (`ctxlab run logic-oak`): one line per iteration, curves of accuracy,
step validity and trace validity against the iteration, per-hop breakdowns, and proofs the solver
rejected with its reasons. Rebuilt from the run directory's files alone (`ctxlab report DIR`)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.report import _atomic_write, load_json, markdown_table
from ctxlab.tracking import write_atomic

CURVES = ("accuracy", "step_validity", "trace_validity")


def plot_curves(rows: list[dict], path: Path) -> bool:
    """Test metrics (percent) against the iteration; iteration 0 is the SFT (or base) policy."""
    series = {m: [(r["iteration"], r["test"][m]) for r in rows if m in r["test"]] for m in CURVES}
    series = {m: points for m, points in series.items() if points}
    if not series:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for metric, points in series.items():
        ax.plot(*zip(*points), marker="o", label=metric.replace("_", " "))
    ax.set_xlabel("iteration (0 = before DPO)")
    ax.set_ylabel("held-out score (%)")
    ax.set_xticks([r["iteration"] for r in rows])
    ax.set_ylim(-2, 102)
    ax.set_title("OaK-DPO: held-out scores per iteration", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    return True


def sample_hops(run_dir: Path, rows: list[dict]) -> list[list[Any]]:
    """Per round and hop count: the sampled training proofs' mean scores (from samples.jsonl)."""
    body = []
    for row in rows:
        path = run_dir / f"iter_{row['iteration']}" / "samples.jsonl"
        if not path.is_file():
            continue
        groups: dict[Any, list[dict]] = defaultdict(list)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                groups[record.get("meta", {}).get("hops")].append(record)
        for hops in sorted(groups, key=lambda h: (h is None, h)):
            group = groups[hops]
            means = [sum(r["scores"].get(m, 0.0) for r in group) / len(group) for m in CURVES]
            body.append([row["iteration"], hops, len(group), *means])
    return body


def _iteration_table(rows: list[dict]) -> list[str]:
    transfer = any("transfer" in r for r in rows)
    header = ["iteration", "policy", "pairs", "sample trace score", *CURVES]
    header += ["transfer accuracy"] if transfer else []
    header += ["DPO pair loss", "seconds"]
    body = []
    for r in rows:
        dpo = r.get("dpo") or {}
        line = [r["iteration"], r["stage"], r.get("pairs", "—")]
        line.append(f"{r['mean_trace_score']:.3f}" if "mean_trace_score" in r else "—")
        line += [r["test"].get(m) for m in CURVES]
        if transfer:
            line.append((r.get("transfer") or {}).get("accuracy"))
        loss = dpo.get("final_pair_loss")
        line += [f"{loss:.3f}" if isinstance(loss, float) else "—", r.get("seconds")]
        body.append(line)
    return markdown_table(header, body)


def _loss_name(dpo: dict) -> str:
    """`sigmoid`, or `sigmoid + sft` (with weights when given): the objective of each round."""
    types = dpo.get("loss_type") or ["sigmoid"]
    types = [types] if isinstance(types, str) else types
    weights = dpo.get("loss_weights")
    if weights:
        return " + ".join(f"{w:g} {t}" for w, t in zip(weights, types))
    return " + ".join(types)


def build_oak_report(run_dir: str | Path) -> Path:
    """Write report.md and oak_curves.png for an OaK run directory."""
    run_dir = Path(run_dir)
    summary = load_json(run_dir / "oak.json", None)
    if not summary or not summary.get("iterations"):
        raise CtxlabError(f"{run_dir} has no readable oak.json: pass an OaK run directory")
    rows = summary["iterations"]
    oak = summary.get("oak", {})
    lines = [
        f"# OaK-DPO: {summary['task']} on {summary['model']}",
        "",
        f"SFT on gold proofs: {'yes' if oak.get('sft', True) else 'no (--no-sft)'}; "
        f"preferences: {'solver verdicts' if oak.get('solver', True) else 'final label only'}"
        f" (--no-solver ablation: {'no' if oak.get('solver', True) else 'yes'}); "
        f"{oak.get('iterations')} DPO iterations, {oak.get('samples_per_problem')} samples per "
        f"problem at temperature {oak.get('temperature')}, pair gap >= {oak.get('min_gap')}, "
        f"DPO loss {_loss_name(oak.get('dpo', {}))}.",
        f"Training problems: {summary['num_train']}; held-out test problems: "
        f"{summary['num_test']} ({oak.get('test_task')}). Total time: "
        f"{summary.get('timing', {}).get('total_s')} s.",
        "",
        "## Per iteration (held-out test, percent)",
        "",
        *_iteration_table(rows),
    ]
    if plot_curves(rows, run_dir / "oak_curves.png"):
        lines += ["![held-out scores per iteration](oak_curves.png)", ""]
    keys = [k for k in rows[0].get("test_breakdown", [{}])[0] if k not in ("n", *CURVES)]
    if keys:
        lines += ["## Held-out test by " + ", ".join(keys), ""]
        body = [
            [r["iteration"], *(b.get(k) for k in keys), b["n"], *(b.get(m) for m in CURVES)]
            for r in rows
            for b in r["test_breakdown"]
        ]
        lines += markdown_table(["iteration", *keys, "n", *CURVES], body)
    hops = sample_hops(run_dir, rows)
    if hops:
        lines += ["## Sampled training proofs by hops (what the pairs were built from)", ""]
        lines += markdown_table(["iteration", "hops", "samples", *CURVES], hops)
    rejected = rows[-1].get("rejected") or []
    if rejected:
        lines += ["## Proofs the solver rejected (last iteration, held-out)", ""]
        for item in rejected:
            lines += [f"**{item['id']}** — query: {item.get('query')}", "", "```"]
            lines += [item["prediction"] or "(empty)", "```", ""]
            lines += [f"- {reason}" for reason in item["errors"]] + [""]
    path = run_dir / "report.md"
    write_atomic(path, "\n".join(lines) + "\n")
    return path

"""Reports of every artifact kind, built from hand-written artifact files (no model): intervals
next to every score, paired changes with p-values and verdicts, rows matched on the artifact's
breakdown keys, and `ctxlab.reporting.build_report` dispatching on the kind.

Expected intervals are exact Clopper-Pearson 95% intervals of the hit counts named beside them
(e.g. 18 of 24 -> [53.3, 90.2]), checked once against scipy.stats.binomtest.
"""

import json
from pathlib import Path

import pytest

from ctxlab.errors import CtxlabError
from ctxlab.reporting import build_report
from ctxlab.reporting.comparison import build_comparison_report
from ctxlab.reporting.curves import build_curves
from ctxlab.reporting.eval_report import build_eval_report
from ctxlab.reporting.oak_report import build_oak_report

# Clopper-Pearson intervals of h hits in n right/wrong examples, percent.
CP = {
    (0, 4): (0.0, 60.2),
    (1, 4): (0.6, 80.6),
    (2, 4): (6.8, 93.2),
    (4, 4): (39.8, 100.0),
    (3, 6): (11.8, 88.2),
    (2, 10): (2.5, 55.6),
    (3, 10): (6.7, 65.2),
    (4, 10): (12.2, 73.8),
    (5, 10): (18.7, 81.3),
    (6, 10): (26.2, 87.8),
    (7, 10): (34.8, 93.3),
    (10, 30): (17.3, 52.8),
    (17, 30): (37.4, 74.5),
    (27, 48): (41.2, 70.5),
}


def iv(hits: int, n: int) -> dict:
    low, high = CP[(hits, n)]
    return {"low": low, "high": high, "method": "exact binomial"}


def paired(before, after, p, better, worse, n, low, high, method="exact McNemar") -> dict:
    return {
        "n": n,
        "before": before,
        "after": after,
        "delta": after - before,
        "delta_interval": {"low": low, "high": high, "method": "paired bootstrap"},
        "improved": better,
        "worsened": worse,
        "p_value": p,
        "method": method,
        "significant": p < 0.05,
    }


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, list):
        path.write_text("".join(json.dumps(r) + "\n" for r in data))
    else:
        path.write_text(json.dumps(data))
    return path


# --- comparison ---------------------------------------------------------------------------


def _multidoc_row(position: int, hits: int, tests: dict | None = None) -> dict:
    row = {"num_docs": 10, "gold_position": position, "n": 10}
    if tests is not None:
        return {**row, "tests": tests}
    return {
        **row,
        "best_subspan_em": 10.0 * hits,
        "intervals": {"best_subspan_em": iv(hits, 10)},
    }


def _comparison(run_dir: Path) -> Path:
    metric = "best_subspan_em"
    baseline = [_multidoc_row(0, 2), _multidoc_row(4, 5), _multidoc_row(9, 3)]
    # tuned rows in another order than the baseline's: matching is by key, not by position
    tuned = [_multidoc_row(9, 4), _multidoc_row(4, 7), _multidoc_row(0, 6)]
    row_tests = [
        _multidoc_row(0, 0, {metric: paired(20.0, 60.0, 0.0625, 4, 0, 10, 10.0, 70.0)}),
        _multidoc_row(4, 0, {metric: paired(50.0, 70.0, 0.5, 3, 1, 10, -10.0, 50.0)}),
        _multidoc_row(9, 0, {metric: paired(30.0, 40.0, 1.0, 2, 1, 10, -20.0, 40.0)}),
    ]
    comparison = {
        "kind": "comparison",
        "task": "multidoc",
        "model": "tiny",
        "metric": metric,
        "breakdown_keys": ["num_docs", "gold_position"],
        "baseline": {
            "metrics": {metric: 100 / 3, "exact_match": 10.0},
            "intervals": {metric: iv(10, 30)},
            "breakdown": baseline,
        },
        "tuned": {
            "metrics": {metric: 170 / 3, "exact_match": 13.3},
            "intervals": {metric: iv(17, 30)},
            "breakdown": tuned,
        },
        "delta": {metric: 70 / 3, "exact_match": 3.3},
        "tests": {
            metric: paired(100 / 3, 170 / 3, 0.0156, 7, 0, 30, 10.0, 36.7),
            "exact_match": paired(10.0, 13.3, 0.375, 3, 1, 30, -6.7, 13.3),
        },
        "breakdown_tests": row_tests,
        "num_test": 30,
        "num_train": 100,
        "timing": {"baseline_s": 1.5, "train_s": 20.0},
    }
    write(run_dir / "train" / "metrics.jsonl", [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}])
    return write(run_dir / "comparison.json", comparison)


def test_comparison_matches_rows_on_breakdown_keys(tmp_path):
    _comparison(tmp_path)
    text = build_comparison_report(tmp_path).read_text()

    assert "| num_docs | gold_position | n | baseline | tuned | change [95% interval] | p |" in text
    assert (
        "| 10 | 0 | 10 | 20.0 [2.5, 55.6] | 60.0 [26.2, 87.8] | +40.0 [+10.0, +70.0] | 0.0625 |"
        in text
    )
    assert (
        "| 10 | 4 | 10 | 50.0 [18.7, 81.3] | 70.0 [34.8, 93.3] | +20.0 [-10.0, +50.0] | 0.5 |"
        in text
    )
    assert (
        "| 10 | 9 | 10 | 30.0 [6.7, 65.2] | 40.0 [12.2, 73.8] | +10.0 [-20.0, +40.0] | 1 |" in text
    )
    assert (
        "**best_subspan_em**, tuned − baseline: +23.3 [+10.0, +36.7]; significant at 0.05 "
        "(p = 0.0156, exact McNemar: 7 examples better, 0 worse of 30)"
    ) in text
    assert "- exact_match, tuned − baseline: +3.3 [-6.7, +13.3]; not significant at 0.05" in text
    assert (
        "| best_subspan_em | 33.3 [17.3, 52.8] | 56.7 [37.4, 74.5] | +23.3 [+10.0, +36.7] |" in text
    )
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    assert not list(tmp_path.glob("heatmap_*.png"))  # no depth × length in this breakdown
    assert not list(tmp_path.glob(".*.tmp"))


def test_legacy_niah_comparison_renders_bare_numbers_and_heatmaps(tmp_path):
    def rows(scores):
        cells = [(v, n, d) for v in ("single",) for n in (1024, 2048) for d in (0, 100)]
        return [
            {"variant": v, "length": n, "depth": d, "n": 2, "exact_match": s}
            for (v, n, d), s in zip(cells, scores)
        ]

    legacy = {
        "task": "niah",
        "model": "m",
        "metric": "exact_match",
        "baseline": {"metrics": {"exact_match": 50.0}, "breakdown": rows([100, 50, 50, 0])},
        "tuned": {"metrics": {"exact_match": 87.5}, "breakdown": rows([100, 100, 100, 50])},
        "delta": {"exact_match": 37.5},
        "num_test": 8,
        "num_train": 10,
        "timing": {"train_s": 3},
    }
    write(tmp_path / "comparison.json", legacy)
    text = build_comparison_report(tmp_path).read_text()
    assert "| single | 2048 | 100 | 2 | 0.0 | 50.0 | +50.0 | — |" in text
    assert "tuned − baseline: +37.5 (no paired test in this file)" in text
    for side in ("baseline", "tuned", "diff"):
        assert (tmp_path / f"heatmap_{side}.png").stat().st_size > 1000
    assert not (tmp_path / "learning_curve.png").exists()


# --- OaK ----------------------------------------------------------------------------------

OAK_METRICS = ("accuracy", "step_validity", "trace_validity")


def _oak_round(i, stage, scores, intervals=True, **extra) -> dict:
    test = dict(zip(OAK_METRICS, scores))
    row = {
        "iteration": i,
        "stage": stage,
        "test": test,
        "test_breakdown": [{"hops": 3, "n": 40, **test}],
        "seconds": 1.0,
        **extra,
    }
    if intervals:
        row["test_intervals"] = {
            m: {"low": v - 10, "high": v + 10, "method": "x"} for m, v in test.items()
        }
        row["test_breakdown"][0]["intervals"] = row["test_intervals"]
    return row


def _oak(run_dir: Path, intervals: bool = True) -> None:
    step = "step_validity"
    first = paired(40.0, 55.0, 0.0213, 8, 2, 40, 3.0, 27.0, "exact sign test")
    second = paired(55.0, 60.0, 0.453, 4, 2, 40, -5.0, 15.0, "exact sign test")
    overall = paired(40.0, 60.0, 0.00049, 9, 1, 40, 8.0, 32.0, "exact sign test")
    dpo = {"final_pair_loss": 0.61}
    rows = [
        _oak_round(0, "sft", (50.0, 40.0, 25.0), intervals),
        _oak_round(
            1,
            "dpo 1",
            (50.0, 55.0, 25.0),
            intervals,
            pairs=6,
            mean_trace_score=0.5,
            dpo=dpo,
            tests={step: first},
            tests_vs_start={step: first},
        ),
        _oak_round(
            2,
            "dpo 2",
            (52.5, 60.0, 30.0),
            intervals,
            pairs=4,
            mean_trace_score=0.6,
            dpo=dpo,
            tests={step: second},
            tests_vs_start={step: overall},
        ),
    ]
    rows[-1]["rejected"] = [
        {"id": "p1", "query": "Max is red.", "prediction": "Thought: x", "errors": ["s1: bad"]}
    ]
    side = {"metrics": rows[0]["test"], "intervals": rows[0].get("test_intervals", {})}
    summary = {
        "kind": "oak",
        "task": "prontoqa",
        "model": "m",
        "metric": step,
        "breakdown_keys": ["hops"],
        "baseline": side,
        "tuned": {"metrics": rows[-1]["test"], "intervals": rows[-1].get("test_intervals", {})},
        "delta": {m: rows[-1]["test"][m] - rows[0]["test"][m] for m in OAK_METRICS},
        "tests": {step: overall},
        "oak": {
            "iterations": 2,
            "sft": True,
            "solver": True,
            "test_task": {"hops": [3]},
            "dpo": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5]},
        },
        "num_train": 8,
        "num_test": 40,
        "iterations": rows,
    }
    write(run_dir / "oak.json", summary)
    sample = {"scores": {"accuracy": 100.0, "step_validity": 50.0, "trace_validity": 0.0}}
    write(run_dir / "iter_1" / "samples.jsonl", [{**sample, "meta": {"hops": 2}}])


def test_oak_report_rounds_p_values_and_verdict(tmp_path):
    _oak(tmp_path)
    text = build_oak_report(tmp_path).read_text()

    header = "| DPO pair loss | seconds | p vs previous (step_validity) | p vs iteration 0 |"
    assert header in text
    assert (
        "| 1 | dpo 1 | 6 | 0.500 | 50.0 [40.0, 60.0] | 55.0 [45.0, 65.0] | 25.0 [15.0, 35.0] "
        "| 0.610 | 1.0 | 0.0213 | 0.0213 |"
    ) in text
    assert "| 2 | dpo 2 | 4 | 0.600 | 52.5 [42.5, 62.5] |" in text and "| 0.453 | 0.00049 |" in text
    assert "| 0 | sft | — | — | 50.0 [40.0, 60.0] |" in text and "| — | — |" in text
    assert (
        "| 2 | step_validity | +5.0 [-5.0, +15.0] | 0.453 | +20.0 [+8.0, +32.0] | 0.00049 |" in text
    )
    assert (
        "**step_validity**, iteration 2 − iteration 0: +20.0 [+8.0, +32.0]; significant at 0.05 "
        "(p = 0.00049, exact sign test: 9 examples better, 1 worse of 40)"
    ) in text
    assert "| 2 | 3 | 40 | 52.5 [42.5, 62.5] | 60.0 [50.0, 70.0] | 30.0 [20.0, 40.0] |" in text
    assert "| 1 | 2 | 1 | 100.0 | 50.0 | 0.0 |" in text  # sampled proofs by hops, no interval
    assert "DPO loss 1 sigmoid + 0.5 sft." in text
    assert "**p1** — query: Max is red." in text and "- s1: bad" in text
    assert (tmp_path / "oak_curves.png").stat().st_size > 1000
    with pytest.raises(CtxlabError, match="oak.json"):
        build_oak_report(tmp_path / "iter_1")


def test_oak_report_without_intervals_shows_bare_numbers(tmp_path):
    _oak(tmp_path, intervals=False)
    text = build_oak_report(tmp_path).read_text()
    assert "| 1 | dpo 1 | 6 | 0.500 | 50.0 | 55.0 | 25.0 | 0.610 | 1.0 | 0.0213 | 0.0213 |" in text


# --- eval ---------------------------------------------------------------------------------

NIAH_HITS = {"single": [4, 4, 4, 4, 2, 0], "multikey": [4, 2, 2, 1, 0, 0]}  # of 4 per cell


def _niah_eval(run_dir: Path) -> None:
    rows, records = [], []
    for variant, hits in NIAH_HITS.items():
        cells = iter(hits)
        for length in (1024, 4096):
            for depth in (0, 50, 100):
                h = next(cells)
                meta = {"variant": variant, "length": length, "depth": depth}
                rows.append(
                    {
                        **meta,
                        "n": 4,
                        "exact_match": 25.0 * h,
                        "intervals": {"exact_match": iv(h, 4)},
                    }
                )
                for i in range(4):
                    records.append(
                        {
                            "id": f"{variant}-{length}-{depth}-{i}",
                            "prediction": "42" if i < h else "7",
                            "answers": ["42"],
                            "scores": {"exact_match": 100.0 if i < h else 0.0},
                            "meta": meta,
                        }
                    )
    results = {
        "kind": "eval",
        "task": "niah",
        "model": "tiny",
        "num_evaluated": 48,
        "metrics": {"exact_match": 56.25},
        "intervals": {"exact_match": iv(27, 48)},
        "breakdown_keys": ["variant", "length", "depth"],
        "breakdown": rows,
        "examples": records[:20],
    }
    write(run_dir / "results.json", results)
    write(run_dir / "predictions.jsonl", records)


def test_eval_report_intervals_in_every_table(tmp_path):
    _niah_eval(tmp_path)
    text = build_eval_report(tmp_path).read_text()
    assert "brackets are 95% intervals: exact binomial where every score is 0 or 100" in text
    assert "| exact_match | 56.2 [41.2, 70.5] |" in text
    # per variant: merged over cells, the interval recomputed from predictions.jsonl
    assert "| single | 24 | 75.0 [53.3, 90.2] |" in text  # 18 of 24
    assert "| multikey | 24 | 37.5 [18.8, 59.4] |" in text  # 9 of 24
    # depth × length cells of one variant are single rows: their own intervals
    assert "| 0 | 100.0 [39.8, 100.0] | 100.0 [39.8, 100.0] |" in text
    assert "| 100 | 100.0 [39.8, 100.0] | 0.0 [0.0, 60.2] |" in text
    for name in ("variants.png", "heatmap.png", "heatmap_single.png", "heatmap_multikey.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_eval_report_without_variant_or_depth(tmp_path):
    rows = [
        {"hops": h, "n": 10, "accuracy": 10.0 * k, "intervals": {"accuracy": iv(k, 10)}}
        for h, k in ((1, 7), (3, 4))
    ]
    results = {"kind": "eval", "task": "prontoqa", "model": "m", "num_evaluated": 20}
    results |= {"metrics": {"accuracy": 55.0}, "breakdown_keys": ["hops"], "breakdown": rows}
    write(tmp_path / "results.json", results)
    text = build_eval_report(tmp_path).read_text()
    assert "| hops | n | accuracy |" in text and "| 3 | 10 | 40.0 [12.2, 73.8] |" in text
    assert "| accuracy | 55.0 |" in text  # no interval recorded for the aggregate: bare
    assert not list(tmp_path.glob("*.png"))


# --- rag and verify -----------------------------------------------------------------------


def _rag(run_dir: Path) -> None:
    def frac(hits):
        low, high = {21: (0.506, 0.853), 24: (0.614, 0.923)}[hits]
        return {"low": low, "high": high, "method": "exact binomial"}

    accuracy = [
        {"model": "zero-shot", "k": 1, "n": 20, "best_subspan_em": 45.0, "spec": "builtin"},
        {"model": "zero-shot", "k": 3, "n": 20, "best_subspan_em": 55.0, "spec": "builtin"},
    ]
    accuracy[0]["interval"] = {"low": 23.1, "high": 68.5, "method": "exact binomial"}
    accuracy[1]["interval"] = {"low": 31.5, "high": 76.9, "method": "exact binomial"}
    metrics = {"recall@1": 0.7, "recall@3": 0.8, "answer_recall@1": 0.8, "answer_recall@3": 0.8}
    results = {
        "kind": "rag",
        "task": "rag",
        "data": "data/nq.jsonl",
        "embedder": "e5",
        "index": "idx",
        "metrics": metrics,
        "intervals": {"recall@1": frac(21), "recall@3": frac(24), "answer_recall@1": frac(24)},
        "top_k": [1, 3],
        "num_questions": 30,
        "pool_size": 40,
        "answer_accuracy": accuracy,
    }
    write(run_dir / "results.json", results)


def _verify(run_dir: Path) -> None:
    rows = [
        {"hops": h, "n": 10, "trace_validity": 10.0 * k, "intervals": {"trace_validity": iv(k, 10)}}
        for h, k in ((1, 7), (3, 3))
    ]
    results = {
        "kind": "verify",
        "task": "prontoqa",
        "data": "data/prontoqa.jsonl",
        "predictions": None,
        "num_checked": 20,
        "metrics": {"trace_validity": 50.0},
        "intervals": {"trace_validity": {"low": 27.2, "high": 72.8, "method": "exact binomial"}},
        "breakdown_keys": ["hops"],
        "breakdown": rows,
        "num_rejected": 1,
        "rejected": [{"id": "q7", "hops": 3, "errors": ["step 2: not a rule"], "proof": "A. B."}],
    }
    write(run_dir / "results.json", results)


def test_build_report_dispatches_on_kind(tmp_path):
    makers = {
        "eval": (_niah_eval, "# niah — tiny"),
        "comparison": (_comparison, "# multidoc on tiny: before and after fine-tuning"),
        "oak": (_oak, "# OaK-DPO: prontoqa on m"),
        "rag": (_rag, "# RAG eval — nq.jsonl"),
        "verify": (_verify, "# verify prontoqa — prontoqa.jsonl"),
    }
    for kind, (make, title) in makers.items():
        run_dir = tmp_path / kind
        run_dir.mkdir()
        make(run_dir)
        report = build_report(run_dir)
        assert report == run_dir / "report.md"
        assert report.read_text().startswith(title + "\n"), kind

    rag = (tmp_path / "rag" / "report.md").read_text()
    assert "| 1 | 0.700 [0.506, 0.853] | 0.800 [0.614, 0.923] |" in rag
    assert "| 3 | 0.800 [0.614, 0.923] | 0.800 |" in rag  # no interval recorded: bare
    assert "| zero-shot | 20 | 45.0 [23.1, 68.5] | 55.0 [31.5, 76.9] |" in rag
    assert {"recall.png", "accuracy.png"} <= {p.name for p in (tmp_path / "rag").iterdir()}
    verify = (tmp_path / "verify" / "report.md").read_text()
    assert "| trace_validity | 50.0 [27.2, 72.8] |" in verify
    assert "| 3 | 10 | 30.0 [6.7, 65.2] |" in verify
    assert "**q7**" in verify and "- step 2: not a rule" in verify

    with pytest.raises(CtxlabError, match="holds none of oak.json, comparison.json, results.json"):
        build_report(tmp_path / "eval" / "missing")


def test_verify_report_lists_folio_disagreements(tmp_path):
    disagreement = {"id": "f3", "gold": "True", "solver": "Uncertain", "predicted": None}
    disagreement |= {"agrees": False, "status": "ok", "error": None, "conclusion": "x"}
    results = {
        "task": "folio",
        "data": "folio.jsonl",
        "num_checked": 10,
        "metrics": {"label_agreement": 90.0},
        "compared": "gold vs solver",
        "disagreements": [disagreement],
    }
    write(tmp_path / "results.json", results)  # no kind: read as verify by its num_checked
    text = build_report(tmp_path).read_text()
    assert "| label_agreement | 90.0 |" in text
    assert "## Disagreements (gold vs solver)" in text
    assert "| f3 | True | Uncertain | — | ok | — |" in text


# --- curves -------------------------------------------------------------------------------


def _curve_run(path: Path, rows: list[dict], overall: float, interval=None, records=()) -> Path:
    results = {"task": "multidoc", "model": "m", "num_evaluated": sum(r["n"] for r in rows)}
    results |= {"metrics": {"best_subspan_em": overall}, "breakdown": rows}
    if interval:
        results["intervals"] = {"best_subspan_em": interval}
    write(path / "results.json", results)
    if records:
        write(path / "predictions.jsonl", list(records))
    return path


def _doc_row(k, p, n, hits=None, score=None) -> dict:
    row = {"num_docs": k, "gold_position": p, "n": n}
    if hits is None:
        return {**row, "best_subspan_em": score}
    return {
        **row,
        "best_subspan_em": 100.0 * hits / n,
        "intervals": {"best_subspan_em": iv(hits, n)},
    }


def test_curves_draw_intervals_and_merge_from_predictions(tmp_path):
    sft = _curve_run(tmp_path / "sft", [_doc_row(10, 0, 10, 6), _doc_row(10, 9, 10, 4)], 50.0)
    records = [
        {
            "id": f"{k}-{p}-{i}",
            "scores": {"best_subspan_em": 100.0 * (i < h)},
            "meta": {"num_docs": k, "gold_position": p},
        }
        for k, p, n, h in ((5, 0, 4, 4), (5, 9, 6, 3), (20, 4, 10, 3))
        for i in range(n)
    ]
    rows = [_doc_row(5, 0, 4, 4), _doc_row(5, 9, 6, 3), _doc_row(20, 4, 10, 3)]
    mixed = _curve_run(tmp_path / "mixed", rows, 50.0, records=records)
    closed = _curve_run(tmp_path / "closed", [_doc_row(1, 0, 10, 2)], 20.0, iv(2, 10))
    out = tmp_path / "curves"
    build_curves([("sft", sft), ("mixed", mixed), ("closed-book", closed)], out)

    md = (out / "curves.md").read_text()
    assert "| condition | 1 | 5 | 10 |" in md
    assert "| sft | 60.0 [26.2, 87.8] | — | 40.0 [12.2, 73.8] |" in md
    assert "| closed-book | 20.0 [2.5, 55.6] | 20.0 [2.5, 55.6] | 20.0 [2.5, 55.6] |" in md
    docs = {
        line["label"]: line for line in json.loads((out / "num_docs.json").read_text())["lines"]
    }
    assert docs["mixed"]["points"] == [[5, 70.0, 10], [20, 30.0, 10]]
    low, high = docs["mixed"]["intervals"][0][1:]
    assert (round(low, 1), round(high, 1)) == (34.8, 93.3)  # 7 of 10, from predictions.jsonl
    assert docs["mixed"]["intervals"][1] == [20, 6.7, 65.2]  # a single row: its own interval
    assert docs["sft"]["flat"] == 50.0 and "interval" not in docs["sft"]
    assert "| mixed | 70.0 [34.8, 93.3] | 30.0 [6.7, 65.2] |" in md
    for axis in ("gold_position", "num_docs"):
        assert (out / f"{axis}.png").stat().st_size > 1000


def test_curves_of_legacy_runs(tmp_path):
    """The lines of `ctxlab curves` for results.json files without intervals (as before)."""
    zs = _curve_run(
        tmp_path / "zs" / "eval",
        [_doc_row(10, 0, 2, score=50.0), _doc_row(10, 9, 2, score=100.0)],
        75.0,
    )
    rows = [
        _doc_row(5, 0, 1, score=100.0),
        _doc_row(5, 3, 3, score=0.0),
        _doc_row(20, 7, 2, score=50.0),
    ]
    docs = _curve_run(tmp_path / "docs", rows, 40.0)
    gold = _curve_run(tmp_path / "gold", [_doc_row(1, 0, 4, score=90.0)], 90.0)
    out = tmp_path / "curves"
    build_curves([("zero-shot", zs.parent), ("docs", docs), ("gold only", gold)], out)
    positions = {
        line["label"]: line
        for line in json.loads((out / "gold_position.json").read_text())["lines"]
    }
    assert positions["zero-shot"]["points"] == [[0, 50.0, 2], [9, 100.0, 2]]
    assert positions["docs"]["points"] == [[0, 100.0, 1], [3, 0.0, 3], [7, 50.0, 2]]
    assert positions["gold only"]["flat"] == 90.0
    by_docs = {
        line["label"]: line for line in json.loads((out / "num_docs.json").read_text())["lines"]
    }
    assert by_docs["docs"]["points"] == [[5, 25.0, 4], [20, 50.0, 2]]
    assert "| zero-shot | 50.0 | — | — | 100.0 |" in (out / "curves.md").read_text()
    with pytest.raises(CtxlabError, match="holds no results.json"):
        build_curves([("x", tmp_path / "nowhere")], out)


def test_curves_test_each_condition_against_the_first(tmp_path):
    """Two conditions on the same 12 questions: 8 gained, 1 lost -> exact McNemar p = 20/512."""

    def records(hits: list[int]) -> list[dict]:
        return [
            {
                "id": f"q{i}",
                "scores": {"best_subspan_em": 100.0 * h},
                "meta": {"num_docs": 10, "gold_position": i % 2 * 9},
            }
            for i, h in enumerate(hits)
        ]

    before = [0] * 8 + [1] + [1, 0, 0]
    after = [1] * 8 + [0] + [1, 0, 0]
    rows = [_doc_row(10, 0, 6, score=50.0), _doc_row(10, 9, 6, score=50.0)]
    zs = _curve_run(tmp_path / "zs", rows, 16.7, records=records(before))
    sft = _curve_run(tmp_path / "sft", rows, 75.0, records=records(after))
    other = _curve_run(tmp_path / "other", rows, 50.0)  # no predictions: nothing to pair
    build_curves([("zero-shot", zs), ("SFT", sft), ("other", other)], tmp_path / "out")
    md = (tmp_path / "out" / "curves.md").read_text()
    assert "## Paired against zero-shot (best_subspan_em)" in md
    p = 2 * (1 + 9) / 2**9  # two-sided: P(X <= 1) twice, X ~ Bin(9, 1/2)
    assert "| SFT | 12 | +58.3 [" in md and f"| {p:.3g} | significant (exact McNemar) |" in md
    assert "| other | 0 | — | — | no example in common: not paired |" in md


def test_runs_lists_finished_runs_with_their_headline(tmp_path, capsys):
    from ctxlab.cli import main

    runs = tmp_path / "runs"
    _comparison(runs / "tuning" / "20261201_100000")
    eval_run = runs / "sweep" / "20261201_090000"
    write(
        eval_run / "results.json",
        {
            "kind": "eval",
            "task": "niah",
            "model": "m",
            "num_evaluated": 10,
            "metrics": {"string_match_all": 70.0},
            "intervals": {"string_match_all": iv(7, 10)},
        },
    )
    (runs / "sweep" / "latest").symlink_to(eval_run.name)
    (runs / "sweep" / ".incomplete-20261201_110000-1").mkdir()
    (runs / "sweep" / "20261201_120000").mkdir()  # no artifact: not a finished run
    assert main(["runs", str(runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4  # header, rule, the two runs oldest first
    assert (
        lines[2]
        == "| sweep | 20261201_090000 | eval | niah | m | string_match_all 70.0 [34.8, 93.3] |"
    )
    assert lines[3].startswith("| tuning | 20261201_100000 | comparison | multidoc | tiny | ")
    assert "best_subspan_em 33.3 -> 56.7 (" in lines[3] and ", p " in lines[3]
    assert main(["runs", str(runs), "--name", "sweep"]) == 0
    assert "tuning" not in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "nothing")]) == 2

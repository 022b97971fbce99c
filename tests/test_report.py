"""Rebuild an eval report from a synthetic run dir, so tables and plots are checked without a model.

The results.json files here are legacy ones (no `kind`, no intervals, no `breakdown_keys`), as
`ctxlab eval` wrote them before artifacts had a schema: they must still render, with bare
numbers. Reports of current artifacts, with intervals, are in test_reports_kinds.py.
"""

import json
from pathlib import Path

import pytest

from ctxlab.errors import CtxlabError
from ctxlab.reporting import build_report
from ctxlab.reporting.eval_report import build_eval_report

VARIANTS = ("single", "multikey")
LENGTHS = (1024, 4096)
DEPTHS = (0, 50, 100)
SCORES = {
    "single": [100.0, 100.0, 100.0, 100.0, 50.0, 0.0],
    "multikey": [100.0, 50.0, 50.0, 25.0, 0.0, 0.0],
}


def _rows() -> list[dict]:
    rows = []
    for variant in VARIANTS:
        scores = iter(SCORES[variant])
        for length in LENGTHS:
            for depth in DEPTHS:
                rows.append(
                    {
                        "variant": variant,
                        "length": length,
                        "depth": depth,
                        "n": 4,
                        "exact_match": next(scores),
                    }
                )
    return rows


def _make_run(run_dir: Path) -> list[dict]:
    rows = _rows()
    examples = [
        {
            "id": f"ex{i}",
            "prediction": "x" * 500 if i == 0 else "the code is 42",
            "answers": ["42"],
            "scores": {"exact_match": 100.0},
            "prompt_tokens": 900,
            "meta": {},
        }
        for i in range(3)
    ]
    mean = sum(r["exact_match"] for r in rows) / len(rows)
    results = {
        "task": "niah",
        "model": "tiny-model",
        "num_evaluated": 48,
        "metrics": {"exact_match": mean},
        "breakdown": rows,
        "examples": examples,
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    (run_dir / "summary.json").write_text(
        json.dumps({"timing": {"load_s": 1.5, "eval_s": 10.0, "prompt_tokens": 20000}})
    )
    (run_dir / "config.yaml").write_text("task: niah\nlengths: [1024, 4096]\n")
    (run_dir / "predictions.jsonl").write_text("\n".join(json.dumps(e) for e in examples))
    return rows


def test_build_report_writes_files_and_means(tmp_path: Path) -> None:
    rows = _make_run(tmp_path)
    report = build_eval_report(tmp_path)

    assert report == tmp_path / "report.md"
    for name in (
        "report.md",
        "heatmap.png",
        "variants.png",
        "heatmap_single.png",
        "heatmap_multikey.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not list(tmp_path.glob("*.tmp"))

    text = report.read_text()
    assert "# niah — tiny-model" in text
    for variant in VARIANTS:
        scores = [r["exact_match"] for r in rows if r["variant"] == variant]
        assert f"| {variant} | 24 | {sum(scores) / len(scores):.1f} |" in text
    assert "| single | 24 | 75.0 |" in text
    assert "2,000 tok/s" in text
    assert "![depth × length heatmap](heatmap.png)" in text
    assert "x" * 200 + "…" in text and "x" * 201 not in text
    assert "<details><summary>config.yaml</summary>" in text


def test_heatmap_png_loads(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    _make_run(tmp_path)
    build_eval_report(tmp_path)
    image = mpimg.imread(tmp_path / "heatmap.png")
    height, width = image.shape[:2]
    assert height > 100 and width > 100
    assert width > height


def test_breakdown_without_depth_skips_heatmap(tmp_path: Path) -> None:
    rows = [{"gold_position": p, "n": 5, "accuracy": 20.0 * p} for p in range(3)]
    results = {
        "task": "lost_in_middle",
        "model": "m",
        "num_evaluated": 15,
        "metrics": {"accuracy": 20.0},
        "breakdown": rows,
        "examples": [],
    }
    (tmp_path / "results.json").write_text(json.dumps(results))

    text = build_report(tmp_path).read_text()  # dispatched on the legacy file's inferred kind
    assert not (tmp_path / "heatmap.png").exists() and not (tmp_path / "variants.png").exists()
    assert "| gold_position | n | accuracy |" in text
    assert "| 2 | 5 | 40.0 |" in text


def test_missing_results_raises(tmp_path: Path) -> None:
    with pytest.raises(CtxlabError, match="ctxlab eval") as info:
        build_eval_report(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_eval_builder_names_another_kind(tmp_path: Path) -> None:
    results = {"task": "rag", "metrics": {"recall@1": 0.5}, "top_k": [1]}
    (tmp_path / "results.json").write_text(
        json.dumps(results | {"num_questions": 2, "pool_size": 3})
    )
    with pytest.raises(CtxlabError, match="holds a rag artifact, not an eval run's results"):
        build_eval_report(tmp_path)

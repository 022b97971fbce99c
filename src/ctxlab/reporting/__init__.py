"""Reports of run directories, rebuilt from their artifacts alone (`ctxlab report DIR`).

Each artifact kind has one builder; `build_report` finds a run's artifact and dispatches on its
`kind`, so no caller branches on file names or task names. The report modules import matplotlib
and scipy only inside their functions, so importing this package stays cheap for producers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ctxlab.reporting.artifacts import find_artifact, read_artifact
from ctxlab.reporting.comparison import build_comparison_report
from ctxlab.reporting.eval_report import build_eval_report
from ctxlab.reporting.oak_report import build_oak_report
from ctxlab.reporting.rag_report import build_rag_report
from ctxlab.reporting.verify_report import build_verify_report

BUILDERS: dict[str, Callable[[Path], Path]] = {
    "eval": build_eval_report,
    "comparison": build_comparison_report,
    "oak": build_oak_report,
    "rag": build_rag_report,
    "verify": build_verify_report,
}


def build_report(run_dir: str | Path) -> Path:
    """Write the report of `run_dir` with the builder of its artifact's kind; returns report.md."""
    run_dir = Path(run_dir)
    return BUILDERS[read_artifact(find_artifact(run_dir)).kind](run_dir)

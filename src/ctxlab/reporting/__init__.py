"""Reports of run directories, rebuilt from their artifacts alone (`ctxlab report DIR`).

Each artifact kind has one builder; `build_report` finds a run's artifact and dispatches on its
`kind`, so no caller branches on file names or task names. The report modules import matplotlib
and scipy only inside their functions, and are imported only when a report is built.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ctxlab.reporting.artifacts import find_artifact, read_artifact

# kind -> (module, builder): imported when a report is built, so that producers importing the
# artifact schema (every evaluation) do not load every report module.
BUILDERS: dict[str, tuple[str, str]] = {
    "eval": ("eval_report", "build_eval_report"),
    "comparison": ("comparison", "build_comparison_report"),
    "oak": ("oak_report", "build_oak_report"),
    "rag": ("rag_report", "build_rag_report"),
    "verify": ("verify_report", "build_verify_report"),
    "pretrain": ("pretrain_report", "build_pretrain_report"),
    "sentence": ("sentence_report", "build_sentence_report"),
}


def build_report(run_dir: str | Path) -> Path:
    """Write the report of `run_dir` with the builder of its artifact's kind; returns report.md."""
    run_dir = Path(run_dir)
    module, builder = BUILDERS[read_artifact(find_artifact(run_dir)).kind]
    return getattr(importlib.import_module(f"ctxlab.reporting.{module}"), builder)(run_dir)

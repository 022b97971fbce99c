"""Scoring functions, each matching its reference implementation.

Scores are percentages 0-100 (RULER convention); rounding is left to display code.
"""

from __future__ import annotations

from collections.abc import Sequence


def _found(ref: str, pred: str) -> float:
    return 1.0 if ref.lower() in pred.lower() else 0.0


def string_match_all(preds: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    """RULER's `string_match_all`: per sample, the share of references found in the prediction
    (case-insensitive substring), averaged over samples, in percent.

    A sample with 2 of 4 needles found counts 0.5, not 0: this is RULER's definition.
    """
    _check(preds, refs)
    per_sample = [sum(_found(r, p) for r in ref) / len(ref) for p, ref in zip(preds, refs)]
    return 100.0 * sum(per_sample) / len(preds)


def string_match_part(preds: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    """RULER's `string_match_part`: per sample, 1 if any reference is a case-insensitive substring
    of the prediction, averaged over samples, in percent.

    lm-evaluation-harness's RULER port computes `string_match_part` differently (it takes the
    maximum over references of per-reference hit rates pooled across samples); ctxlab follows
    RULER's own code.
    """
    _check(preds, refs)
    per_sample = [max(_found(r, p) for r in ref) for p, ref in zip(preds, refs)]
    return 100.0 * sum(per_sample) / len(preds)


def _check(preds: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} reference lists")
    if not preds:
        raise ValueError("no predictions to score")
    if any(len(ref) == 0 for ref in refs):
        raise ValueError("every sample needs at least one reference string")


METRICS = {"string_match_all": string_match_all, "string_match_part": string_match_part}


def score_one(metric: str, pred: str, refs: Sequence[str]) -> float:
    """One example's score under a named metric, in percent."""
    return METRICS[metric]([pred], [refs])

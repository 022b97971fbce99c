"""Scoring functions, each matching its reference implementation.

Scores are percentages 0-100 (RULER convention); rounding is left to display code.
"""

from __future__ import annotations

import re
import string
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


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalization, as lost-in-the-middle applies it: lowercase, drop ASCII punctuation,
    drop the articles a/an/the, squeeze whitespace (in that order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def first_line(prediction: str) -> str:
    """What lost-in-the-middle scores: everything up to the first newline, stripped (otherwise a
    model could copy the context, which always contains the answer)."""
    return prediction.split("\n")[0].strip()


def best_subspan_hit(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if any normalized answer is a substring of the normalized first line of the
    prediction, else 0.0 (lost-in-the-middle's `best_subspan_em` after its first-line cut)."""
    if not answers:
        raise ValueError("every sample needs at least one reference string")
    normalized = normalize_answer(first_line(prediction))
    return 1.0 if any(normalize_answer(a) in normalized for a in answers) else 0.0


def best_subspan_em(
    prediction: str | Sequence[str], answers: Sequence[str] | Sequence[Sequence[str]]
) -> float:
    """lost-in-the-middle's `best_subspan_em` in percent: one prediction with its accepted
    answers (100.0 or 0.0), or parallel lists of predictions and answer lists (the mean)."""
    if isinstance(prediction, str):
        return 100.0 * best_subspan_hit(prediction, answers)  # type: ignore[arg-type]
    _check(prediction, answers)
    hits = [best_subspan_hit(p, refs) for p, refs in zip(prediction, answers)]
    return 100.0 * sum(hits) / len(hits)


def _check(preds: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} reference lists")
    if not preds:
        raise ValueError("no predictions to score")
    if any(len(ref) == 0 for ref in refs):
        raise ValueError("every sample needs at least one reference string")


METRICS = {
    "string_match_all": string_match_all,
    "string_match_part": string_match_part,
    "best_subspan_em": best_subspan_em,
}


def score_one(metric: str, pred: str, refs: Sequence[str]) -> float:
    """One example's score under a named metric, in percent."""
    return METRICS[metric]([pred], [refs])

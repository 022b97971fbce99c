"""Solver verdicts -> DPO preference pairs, the data step of the OaK loop.

Each sampled proof gets one trace score in [0, 1] from the task's per-trace scores (percent):
with the solver, a weighted mean of step validity, label correctness and full-proof validity, so
a proof with the right label but an invalid step ranks below a fully valid one; without it
(`--no-solver`, the answer-only ablation) the label alone. Pairs join a high-scoring and a
low-scoring sample of the same problem only when their scores differ by at least `min_gap`, so
near-ties (noise) teach nothing. With `improve="step_validity"` the chosen proof must also have
more valid steps than the rejected one: a pair that differs only in its label teaches the label
prior (what the answer-only ablation measures), not valid reasoning.

`step_pairs` adds step-level pairs (as in Step-DPO, Lai et al. 2024): two samples that share their
first k steps, all valid, and part at step k+1, valid in one and not in the other. Both sides
carry the shared prefix and end after that step, with no end-of-turn token, so the prefix's
log-probabilities cancel against the reference and the whole DPO margin sits on the one step the
solver told apart: the premise numbers a 135M model most often gets wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict, Field

from ctxlab.errors import CtxlabError


class ScoreWeights(BaseModel):
    """Weights of the three solver verdicts in a trace score (normalized by their sum)."""

    model_config = ConfigDict(extra="forbid")

    step_validity: float = Field(1.0, ge=0)
    accuracy: float = Field(1.0, ge=0)
    trace_validity: float = Field(1.0, ge=0)


@dataclass
class Candidate:
    """One sampled completion of a problem and its per-trace scores (percent, as task.score)."""

    text: str
    scores: dict[str, float]
    value: float = 0.0


@dataclass
class Pair:
    """A (prompt, chosen, rejected) preference and the trace scores that ordered it."""

    id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float
    complete: bool = True  # False: both sides stop mid-proof (a step pair): no end-of-turn token

    def to_record(self) -> dict:
        return asdict(self)


def trace_score(
    scores: dict[str, float], solver: bool, weights: ScoreWeights | None = None
) -> float:
    """One number in [0, 1] per trace: label only without the solver, else the weighted verdicts."""
    if "accuracy" not in scores:
        raise CtxlabError(f"trace scores {sorted(scores)} lack 'accuracy': score with a logic task")
    if not solver:
        return scores["accuracy"] / 100
    weights = weights or ScoreWeights()
    parts = weights.model_dump()
    missing = [k for k, w in parts.items() if w > 0 and k not in scores]
    if missing:
        raise CtxlabError(
            f"trace scores lack {missing}: the solver-scored loop needs a task whose score() "
            "gives step_validity and trace_validity (prontoqa), or pass --no-solver"
        )
    total = sum(parts.values())
    if total <= 0:
        raise CtxlabError("oak.weights must not all be zero")
    return sum(w * scores.get(k, 0.0) for k, w in parts.items()) / (100 * total)


def build_pairs(
    example_id: str,
    prompt: str,
    candidates: list[Candidate],
    min_gap: float,
    max_pairs: int = 2,
    improve: str | None = None,
) -> list[Pair]:
    """Pair the best remaining sample with the worst remaining one it beats by at least `min_gap`
    (and, with `improve`, on that score too), up to `max_pairs` pairs, each sample used once.
    Identical texts count once (the best score kept), so a pair never prefers a text over
    itself. `candidates[i].value` must hold the trace score."""
    if not 0 < min_gap <= 1:
        raise CtxlabError(f"oak.min_gap must be in (0, 1], got {min_gap}")
    unique: dict[str, Candidate] = {}
    for c in candidates:
        if c.text.strip() and (c.text not in unique or c.value > unique[c.text].value):
            unique[c.text] = c
    ranked = sorted(unique.values(), key=lambda c: -c.value)  # stable: sample order breaks ties
    pairs: list[Pair] = []
    used: set[int] = set()
    for i, best in enumerate(ranked):
        if len(pairs) >= max_pairs:
            break
        if i in used:
            continue
        for j in range(len(ranked) - 1, i, -1):
            worst = ranked[j]
            if best.value - worst.value < min_gap:
                break  # every remaining candidate is closer still
            if j in used or (
                improve and best.scores.get(improve, 0.0) <= worst.scores.get(improve, 0.0)
            ):
                continue
            pairs.append(Pair(example_id, prompt, best.text, worst.text, best.value, worst.value))
            used.update((i, j))
            break
    return pairs


def step_pairs(
    example_id: str,
    prompt: str,
    proofs: list[tuple[str, list[tuple[str, bool]]]],
    max_pairs: int,
) -> list[Pair]:
    """Step-level pairs from sampled proofs, each `(text, [(step text, valid), ...])`. Only
    proofs whose first lines are exactly their steps, one per line, take part. Scores are 1 and
    0: the chosen step is valid, the rejected one is not, after the same valid steps. Each
    distinct (prefix, chosen step, rejected step) appears once, in sample order, up to
    `max_pairs`."""
    lined = []
    for text, steps in proofs:
        lines = text.split("\n")[: len(steps)]
        if steps and [line.strip() for line in lines] == [step for step, _ in steps]:
            lined.append((lines, [valid for _, valid in steps]))
    pairs: list[Pair] = []
    seen: set[tuple[str, str, str]] = set()
    for good, good_valid in lined:
        for bad, bad_valid in lined:
            k = 0
            while k < min(len(good), len(bad)) and good[k] == bad[k]:
                k += 1
            parted = k < min(len(good), len(bad)) and good_valid[k] and not bad_valid[k]
            if not (parted and all(good_valid[:k])):
                continue
            prefix = "".join(line + "\n" for line in good[:k])
            if (prefix, good[k], bad[k]) in seen:
                continue
            seen.add((prefix, good[k], bad[k]))
            chosen, rejected = prefix + good[k], prefix + bad[k]
            pairs.append(Pair(example_id, prompt, chosen, rejected, 1.0, 0.0, complete=False))
            if len(pairs) >= max_pairs:
                return pairs
    return pairs

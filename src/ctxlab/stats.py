"""How sure a score is: 95% intervals over examples and paired tests of before/after changes.

A score on 40 examples is an interval, not a point, and a before/after claim must be tested on
the same examples. Scores here are per-example values on a 0..`scale` scale (percent by default):
- 0/`scale` scores (right or wrong) get the exact binomial (Clopper-Pearson) interval; others a
  seeded percentile bootstrap of the mean (`scipy.stats.bootstrap`).
- A per-token rate over items of unequal size (a held-out sequence's loss) gets a bootstrap that
  resamples whole items (`ratio_interval`), since the tokens of one item are not independent.
- A paired change is tested with the exact sign test on the per-example differences, which for
  0/1 scores is the exact McNemar test (only discordant pairs count); its interval is a seeded
  bootstrap of the mean difference.

The record-level helpers at the end aggregate prediction records (`{"id", "scores", "meta"}`,
as evaluation writes them): means with intervals, a breakdown by meta keys, and paired tests
between two evaluations of the same examples matched by id.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ctxlab.errors import CtxlabError

CONFIDENCE = 0.95
ALPHA = 0.05
RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairedTest:
    """The change of a metric from `before` to `after` on the same `n` examples."""

    n: int
    before: float
    after: float
    delta: float
    delta_interval: Interval
    improved: int
    worsened: int
    p_value: float
    method: str
    significant: bool  # p_value < ALPHA

    def to_dict(self) -> dict:
        return asdict(self)


def is_binary(values: Sequence[float], scale: float = 100.0) -> bool:
    return all(v == 0 or v == scale for v in values)


def _bootstrap(values: Sequence[float], seed: int) -> tuple[float, float]:
    import numpy as np
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=float)
    if np.all(data == data[0]):  # no spread: the bootstrap has nothing to resample
        return float(data[0]), float(data[0])
    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def interval(values: Sequence[float], scale: float = 100.0, seed: int = 0) -> Interval:
    """A 95% interval of the mean of `values`: exact binomial for right/wrong scores, else a
    seeded percentile bootstrap; (nan, nan) for no values."""
    if not values:
        return Interval(math.nan, math.nan, "none")
    if is_binary(values, scale):
        from scipy.stats import binomtest

        hits = sum(v == scale for v in values)
        ci = binomtest(hits, len(values)).proportion_ci(CONFIDENCE, method="exact")
        return Interval(ci.low * scale, ci.high * scale, "exact binomial")
    low, high = _bootstrap(values, seed)
    return Interval(low, high, "bootstrap")


def ratio_interval(
    numerators: Sequence[float], denominators: Sequence[float], seed: int = 0
) -> Interval:
    """A 95% interval of sum(numerators) / sum(denominators), resampling the (numerator,
    denominator) pairs: the per-token mean of a quantity summed over items of unequal size (a
    held-out sequence's loss over its tokens), where the tokens of one item are not
    independent; (nan, nan) for no items."""
    import numpy as np
    from scipy.stats import bootstrap

    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if not len(num) or den.sum() <= 0:
        return Interval(math.nan, math.nan, "none")
    point = float(num.sum() / den.sum())
    if len(num) < 2 or np.allclose(num / np.where(den > 0, den, 1), point):
        return Interval(point, point, "bootstrap over items")

    def ratio(a, b, axis=-1):
        return a.sum(axis=axis) / np.maximum(b.sum(axis=axis), 1e-12)

    result = bootstrap(
        (num, den),
        ratio,
        paired=True,
        vectorized=True,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(float(ci.low), float(ci.high), "bootstrap over items")


def paired_test(
    before: Sequence[float], after: Sequence[float], scale: float = 100.0, seed: int = 0
) -> PairedTest:
    """Exact two-sided sign test (McNemar for right/wrong scores) on paired per-example scores,
    with a bootstrap interval of the mean change."""
    from scipy.stats import binomtest

    if len(before) != len(after) or not before:
        raise ValueError("a paired test needs the same, non-empty set of examples on both sides")
    diffs = [b - a for a, b in zip(before, after)]
    improved = sum(d > 0 for d in diffs)
    worsened = sum(d < 0 for d in diffs)
    discordant = improved + worsened
    p_value = float(binomtest(improved, discordant, 0.5).pvalue) if discordant else 1.0
    binary = is_binary(before, scale) and is_binary(after, scale)
    low, high = _bootstrap(diffs, seed)
    n = len(diffs)
    return PairedTest(
        n=n,
        before=sum(before) / n,
        after=sum(after) / n,
        delta=sum(diffs) / n,
        delta_interval=Interval(low, high, "paired bootstrap"),
        improved=improved,
        worsened=worsened,
        p_value=min(1.0, p_value),
        method="exact McNemar" if binary else "exact sign test",
        significant=bool(p_value < ALPHA),
    )


def verdict(test: dict) -> str:
    """One sentence a report prints about a paired test (a `PairedTest.to_dict()`)."""
    words = "significant" if test["p_value"] < ALPHA else "not significant"
    return (
        f"{words} at {ALPHA:g} (p = {test['p_value']:.3g}, {test['method']}: "
        f"{test['improved']} examples better, {test['worsened']} worse of {test['n']})"
    )


def summarize(records: list[dict], metrics: Sequence[str]) -> dict[str, Any]:
    """Mean of each metric over `records` and its 95% interval."""
    means, intervals = {}, {}
    for metric in metrics:
        values = [r["scores"][metric] for r in records]
        means[metric] = sum(values) / len(values)
        intervals[metric] = interval(values).to_dict()
    return {"metrics": means, "intervals": intervals}


def _groups(records: list[dict], keys: Sequence[str]) -> list[tuple[tuple, list[dict]]]:
    """Records grouped by their meta values of `keys`, in a stable order (None last)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        groups[tuple(record["meta"].get(k) for k in keys)].append(record)
    order = sorted(groups, key=lambda v: tuple((x is None, str(type(x)), x) for x in v))
    return [(values, groups[values]) for values in order]


def breakdown(records: list[dict], keys: Sequence[str], metrics: Sequence[str]) -> list[dict]:
    """Per combination of the breakdown keys: the keys, `n`, each metric's mean and
    `intervals`."""
    rows = []
    for values, group in _groups(records, keys):
        summary = summarize(group, metrics)
        row = {**dict(zip(keys, values)), "n": len(group), **summary["metrics"]}
        rows.append({**row, "intervals": summary["intervals"]})
    return rows


def paired_tests(before: list[dict], after: list[dict], metrics: Sequence[str]) -> dict[str, dict]:
    """A paired test per metric over the examples both evaluations scored (matched by id)."""
    after_by_id = {r["id"]: r for r in after}
    shared = [(r, after_by_id[r["id"]]) for r in before if r["id"] in after_by_id]
    if not shared:
        raise CtxlabError("the two evaluations share no example id: no paired test is possible")
    return {
        m: paired_test(
            [b["scores"][m] for b, _ in shared], [a["scores"][m] for _, a in shared]
        ).to_dict()
        for m in metrics
    }


def breakdown_tests(
    before: list[dict], after: list[dict], keys: Sequence[str], metrics: Sequence[str]
) -> list[dict]:
    """`paired_tests` within each combination of the breakdown keys."""
    rows = []
    for values, group in _groups(before, keys):
        ids = {r["id"] for r in group}
        mine = [r for r in after if r["id"] in ids]
        if mine:
            tests = paired_tests(group, mine, metrics)
            rows.append({**dict(zip(keys, values)), "n": len(mine), "tests": tests})
    return rows

"""What every report table is made of: a score with its 95% interval, a change with its paired
interval and p-value, and breakdown rows matched or merged on the artifact's breakdown keys.

One format for every report, so `42.5 [27.0, 59.1]` means the same everywhere; a file written
before intervals existed shows the bare number. Rows are matched on the columns the artifact
names (`breakdown_keys`), never on guessed ones: matching multidoc rows on NIAH's (variant,
length, depth) once showed the last baseline row against every tuned row.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ctxlab.errors import CtxlabError
from ctxlab.io import read_jsonl
from ctxlab.reporting.artifacts import Interval, PairedTest
from ctxlab.stats import interval, verdict

Row = dict[str, Any]
Grid = tuple[list[Any], list[Any], dict[tuple[Any, Any], float]]
Bounds = tuple[float, float]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def bounds(given: Interval | dict | None) -> Bounds | None:
    """(low, high) of an interval stored as the schema's model or a plain dict; None when it is
    missing or empty (nan)."""
    if isinstance(given, Interval):
        low, high = given.low, given.high
    elif isinstance(given, dict):
        low, high = given.get("low"), given.get("high")
    else:
        return None
    return (float(low), float(high)) if _number(low) and _number(high) else None


def score(value: Any, given: Interval | dict | None = None, digits: int = 1) -> str:
    """`42.5 [27.0, 59.1]`: a score and its interval, or the bare score when there is none."""
    if not _number(value):
        return "—"
    b = bounds(given)
    text = f"{value:.{digits}f}"
    return f"{text} [{b[0]:.{digits}f}, {b[1]:.{digits}f}]" if b else text


def change(test: PairedTest | None, delta: float | None = None) -> str:
    """`+50.0 [35.0, 65.0]`: a paired change and its bootstrap interval; the bare `delta` for a
    file without a paired test."""
    if test is None:
        return f"{delta:+.1f}" if _number(delta) else "—"
    b = bounds(test.delta_interval)
    text = f"{test.delta:+.1f}"
    return f"{text} [{b[0]:+.1f}, {b[1]:+.1f}]" if b else text


def p_value(test: PairedTest | None) -> str:
    return "—" if test is None else f"{test.p_value:.3g}"


def verdict_line(label: str, test: PairedTest | None, delta: float | None = None) -> str:
    """`tuned − baseline: +50.0 [35.0, 65.0]; significant at 0.05 (p = ..., ...)`."""
    if test is None:
        return f"{label}: {change(None, delta)} (no paired test in this file)"
    return f"{label}: {change(test)}; {verdict(test.to_dict())}"


def tests_of(row: Row | None) -> dict[str, PairedTest]:
    """The paired tests of a `breakdown_tests` row, typed (rows ride in the schema untyped)."""
    raw = (row or {}).get("tests") or {}
    return {m: TypeAdapter(PairedTest).validate_python(t) for m, t in raw.items()}


def row_score(row: Row | None, metric: str, digits: int = 1) -> str:
    """A breakdown row's mean of `metric` with the row's own interval."""
    if row is None:
        return "—"
    return score(row.get(metric), (row.get("intervals") or {}).get(metric), digits)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.1f}"
    return "—" if value is None else str(value)


def _cell(text: Any) -> str:
    """Text made safe for a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_table(header: list[str], body: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(_fmt(v)) for v in row) + " |" for row in body]
    return lines + [""]


def key_of(row: Row, keys: list[str] | tuple[str, ...]) -> tuple:
    return tuple(row.get(k) for k in keys)


def sort_key(key: tuple) -> tuple:
    """Sort breakdown values of mixed or missing types the way `evaluation.breakdown` does."""
    return tuple((x is None, str(type(x)), x) for x in key)


def _index(rows: list[Row], keys: list[str]) -> dict[tuple, Row]:
    index: dict[tuple, Row] = {}
    for row in rows:
        key = key_of(row, keys)
        if key in index:
            raise CtxlabError(
                f"two breakdown rows share {dict(zip(keys, key))}: the artifact's breakdown_keys "
                f"{keys} do not identify its rows; re-run the command that wrote it"
            )
        index[key] = row
    return index


def match_rows(keys: list[str], *sides: list[Row]) -> list[tuple[tuple, list[Row | None]]]:
    """The rows of several sides (baseline, tuned, tests) matched on the breakdown columns
    `keys`, in first-seen order; a side without a row for a combination gets None."""
    indexes = [_index(side, keys) for side in sides]
    order = dict.fromkeys(key for index in indexes for key in index)
    return [(key, [index.get(key) for index in indexes]) for key in order]


def prediction_records(run_dir: Path) -> list[Row]:
    """The per-example records of an eval run (predictions.jsonl), or [] without one: the only
    source of an interval for a group of breakdown rows."""
    path = Path(run_dir) / "predictions.jsonl"
    return read_jsonl(path, "predictions") if path.is_file() and path.stat().st_size else []


def merge_rows(
    rows: list[Row], by: tuple[str, ...], metrics: list[str], records: list[Row] | None = None
) -> list[Row]:
    """Breakdown rows merged over every column not in `by`, shaped like breakdown rows: n-weighted
    means, and intervals. The intervals of parts cannot be combined, so a merged row's interval
    is recomputed from the per-example `records` when they hold exactly its examples; a row that
    nothing was merged into keeps its own. Rows missing a column of `by` are left out."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        key = key_of(row, by)
        if all(v is not None for v in key):
            groups.setdefault(key, []).append(row)
    examples: dict[tuple, list[Row]] = {}
    for record in records or []:
        examples.setdefault(key_of(record.get("meta") or {}, by), []).append(record)
    merged = []
    for key in sorted(groups, key=sort_key):
        group, mine = groups[key], examples.get(key, [])
        n = sum(int(r.get("n", 0) or 0) for r in group)
        out: Row = {**dict(zip(by, key)), "n": n, "intervals": {}}
        for metric in metrics:
            parts = [
                (float(r[metric]), int(r.get("n", 0) or 0)) for r in group if _number(r.get(metric))
            ]
            weight = sum(w for _, w in parts)
            out[metric] = sum(v * w for v, w in parts) / weight if weight else math.nan
            if len(group) == 1:
                out["intervals"][metric] = (group[0].get("intervals") or {}).get(metric)
            elif len(mine) == n and all(metric in (r.get("scores") or {}) for r in mine):
                out["intervals"][metric] = interval([r["scores"][metric] for r in mine]).to_dict()
        merged.append(out)
    return merged


def depth_length_grid(rows: list[Row], metric: str) -> Grid:
    """Rows aggregated into depth × length cells (rows without a depth or length are left out)."""
    cells = merge_rows(rows, ("depth", "length"), [metric])
    depths = sorted({c["depth"] for c in cells})
    lengths = sorted({c["length"] for c in cells})
    return depths, lengths, {(c["depth"], c["length"]): c[metric] for c in cells}

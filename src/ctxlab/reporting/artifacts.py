"""The schema of what a run leaves behind, so reports read artifacts and never guess.

Every artifact is JSON with a `kind`: `eval` (an eval run's results.json), `comparison` (a
before/after run's comparison.json), `oak` (oak.json, one row a DPO round), `rag` (a RAG eval's
results.json), `verify` (a verify run's results.json) and `pretrain` (a pre-training run's
results.json: held-out scores beside the unigram baseline's, and the training summary) and
`sentence` (a sentence-LM run's results.json: its codec, scores by value type and depth, the
token model's on the same examples). Each
records the metrics it holds, a 95% interval for every aggregate (`ctxlab.stats`), and the
breakdown columns its rows are keyed by, so a before/after table matches rows on those columns
and nothing else.

Files written before artifacts had a kind are read too: the kind is inferred from the file name
and content, and missing intervals read as empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ctxlab.errors import CtxlabError
from ctxlab.io import read_json, write_json
from ctxlab.stats import Interval, PairedTest  # stored as they are computed

SCHEMA_VERSION = 2
ARTIFACT_FILES = ("oak.json", "comparison.json", "results.json")


class _Artifact(BaseModel):
    # Task-specific extras (verify's rejected proofs, rag's pool size) ride along unchecked.
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION

    def write(self, path: Path) -> Path:
        return write_json(path, self.model_dump(mode="json"))


class Scores(BaseModel):
    """Aggregates of one evaluation: mean metrics, their intervals, and the breakdown rows (each
    holds the breakdown columns, `n`, each metric's mean and `intervals`)."""

    model_config = ConfigDict(extra="allow")

    metrics: dict[str, float]
    intervals: dict[str, Interval] = {}
    breakdown: list[dict[str, Any]] = []


class EvalResults(_Artifact, Scores):
    kind: Literal["eval"] = "eval"
    task: str
    model: str
    num_evaluated: int
    rope_scaling: str | None = None  # "yarn x2": evaluated past the trained window
    breakdown_keys: list[str] = []
    examples: list[dict[str, Any]] = []


class Comparison(_Artifact):
    """A before/after run: both sides on the same test examples, and a paired test a metric."""

    kind: Literal["comparison"] = "comparison"
    task: str
    model: str
    metric: str
    breakdown_keys: list[str] = []
    baseline: Scores
    tuned: Scores
    delta: dict[str, float]
    tests: dict[str, PairedTest] = {}
    # Per combination of the breakdown columns: the columns, `n` and `tests` (metric -> test).
    breakdown_tests: list[dict[str, Any]] = []
    num_test: int
    num_train: int
    timing: dict[str, float] = {}


class OakRound(BaseModel):
    """One row of oak.json: the held-out scores after a round, with paired tests against the
    round before (`tests`) and against iteration 0 (`tests_vs_start`)."""

    model_config = ConfigDict(extra="allow")

    iteration: int
    stage: str
    test: dict[str, float]
    test_intervals: dict[str, Interval] = {}
    test_breakdown: list[dict[str, Any]] = []
    tests: dict[str, PairedTest] = {}
    tests_vs_start: dict[str, PairedTest] = {}


class OakSummary(Comparison):
    kind: Literal["oak"] = "oak"  # type: ignore[assignment]
    oak: dict[str, Any] = {}
    iterations: list[OakRound]


class RagResults(_Artifact, Scores):
    kind: Literal["rag"] = "rag"
    task: Literal["rag"] = "rag"
    top_k: list[int]
    num_questions: int
    pool_size: int
    answer_accuracy: list[dict[str, Any]] = []


class VerifyResults(_Artifact, Scores):
    kind: Literal["verify"] = "verify"
    task: str
    data: str
    num_checked: int
    breakdown_keys: list[str] = []


class PretrainResults(_Artifact, Scores):
    """A from-scratch model's held-out scores (`test_`/`val_` perplexity for a decoder, masked
    accuracy for an encoder, each beside its `unigram_` baseline on the same tokens), the gain
    over that baseline per split with its interval, and what the training cost."""

    kind: Literal["pretrain"] = "pretrain"
    task: Literal["pretrain"] = "pretrain"
    arch: Literal["decoder", "encoder"]
    model: str
    dimensions: dict[str, Any]
    parameters: int
    tokenizer: dict[str, Any]
    data: dict[str, Any]
    context_length: int
    padding_share: float
    gains: list[dict[str, Any]] = []
    training: dict[str, Any] = {}
    timing: dict[str, float] = {}


class SentenceResults(_Artifact, Scores):
    """A sentence LM's held-out scores under its codec (`codec` is the codec card, which says
        whether it is SONAR or a substitute), by value type and depth, with the built-in token
        model's scores on the same examples and a paired test (`builtin`, None when not run), and
    `ceiling`: the test answer sentences' own vectors decoded and scored (the codec's limit)."""

    kind: Literal["sentence"] = "sentence"
    task: str
    model: str
    metric: str
    codec: dict[str, Any]
    lm: dict[str, Any]
    num_evaluated: int
    test_loss: float
    breakdown_keys: list[str] = []
    by_value_type: list[dict[str, Any]] = []
    by_depth: list[dict[str, Any]] = []
    store: dict[str, Any] = {}
    training: dict[str, Any] = {}
    data: dict[str, int] = {}
    builtin: dict[str, Any] | None = None
    ceiling: dict[str, Any] | None = None
    timing: dict[str, float] = {}


Artifact = (
    EvalResults
    | Comparison
    | OakSummary
    | RagResults
    | VerifyResults
    | PretrainResults
    | SentenceResults
)
KINDS: dict[str, type[_Artifact]] = {
    "eval": EvalResults,
    "comparison": Comparison,
    "oak": OakSummary,
    "rag": RagResults,
    "verify": VerifyResults,
    "pretrain": PretrainResults,
    "sentence": SentenceResults,
}


def _legacy_kind(path: Path, raw: dict) -> str:
    """The kind of a file written before artifacts carried one."""
    if path.name == "oak.json":
        return "oak"
    if path.name == "comparison.json":
        return "comparison"
    if raw.get("task") == "rag":
        return "rag"
    if "num_checked" in raw:
        return "verify"
    return "eval"


def read_artifact(path: str | Path) -> Artifact:
    """An artifact file, validated against the schema of its kind."""
    path = Path(path)
    raw = read_json(path, "artifact")
    if not isinstance(raw, dict):
        raise CtxlabError(f"{path} should hold a JSON object: re-run the command that wrote it")
    kind = raw.get("kind") or _legacy_kind(path, raw)
    if kind not in KINDS:
        raise CtxlabError(f"{path} has an unknown kind {kind!r}: expected one of {list(KINDS)}")
    if kind == "oak" and "baseline" not in raw and raw.get("iterations"):
        raw.update(_legacy_oak_sides(raw["iterations"]))
    if "breakdown_keys" not in raw and kind in ("eval", "comparison", "oak"):
        side = raw if kind == "eval" else raw.get("baseline") or {}
        raw["breakdown_keys"] = _legacy_keys(side.get("breakdown") or [], side)
    try:
        return KINDS[kind].model_validate({**raw, "kind": kind})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CtxlabError(f"{path}: '{where}' {first['msg'].lower()}") from None


def _legacy_oak_sides(rows: list[dict]) -> dict[str, Any]:
    """An old oak.json's first and last rounds as the comparison fields it lacks."""
    first, last = rows[0].get("test") or {}, rows[-1].get("test") or {}
    return {
        "metric": "step_validity" if "step_validity" in first else next(iter(first), ""),
        "baseline": {"metrics": first, "breakdown": rows[0].get("test_breakdown", [])},
        "tuned": {"metrics": last, "breakdown": rows[-1].get("test_breakdown", [])},
        "delta": {m: last[m] - v for m, v in first.items() if m in last},
    }


def _legacy_keys(rows: list[dict], raw: dict) -> list[str]:
    """Breakdown columns of an old results.json: the row keys that are not metrics or `n`."""
    metrics = set(raw.get("metrics") or {})
    return list(dict.fromkeys(k for r in rows for k in r if k not in metrics | {"n", "intervals"}))


def find_artifact(run_dir: str | Path) -> Path:
    """The main artifact of a run directory: oak.json, comparison.json or results.json."""
    run_dir = Path(run_dir)
    for name in ARTIFACT_FILES:
        if (run_dir / name).is_file():
            return run_dir / name
    raise CtxlabError(
        f"{run_dir} holds none of {', '.join(ARTIFACT_FILES)}: pass a run directory made by "
        "`ctxlab eval`, `ctxlab run`, `ctxlab rag eval`, `ctxlab verify` or `ctxlab pretrain`"
    )

"""JSON key-value retrieval from "Lost in the Middle": find one UUID key's value among k pairs.

Examples come from the paper's files (`ordered_kv_records`, `key`, `value`; the queried pair is
moved to each asked gold position, as the paper's scripts do) or from a seeded generator of
UUID pairs. The prompt is the paper's; a prediction is right when it contains the value
(case-insensitive), the paper's `evaluate_kv_responses` rule.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.tasks.base import (
    NAME_HELP,
    PRED_CLEANING_HELP,
    Example,
    PredCleaning,
    Task,
    TaskConfig,
    register,
)
from ctxlab.tasks.multidoc_data import counts, int_list, position_spec

_INSTRUCTION = "Extract the value corresponding to the specified key in the JSON object below."
TEMPLATES = {
    "kv": _INSTRUCTION + '\n\nJSON data:\n{records}\n\nKey: "{key}"\nCorresponding value:',
    "kv_with_query_aware_contextualization": _INSTRUCTION
    + '\n\nKey: "{key}"\n\nJSON data:\n{records}\n\nKey: "{key}"\nCorresponding value:',
}
Pairs = list[tuple[str, str]]


def format_records(pairs: Sequence[tuple[str, str]]) -> str:
    """The paper's JSON layout: one `"key": "value"` pair a line, in braces."""
    lines = [f'"{k}": "{v}"' for k, v in pairs]
    return "{" + ",\n ".join(lines) + "}"


def render_prompt(pairs: Sequence[tuple[str, str]], key: str, template: str = "kv") -> str:
    return TEMPLATES[template].format(records=format_records(pairs), key=key)


def kv_accuracy(prediction: str, value: str) -> float:
    """100 when the value occurs in the prediction (case-insensitive), else 0."""
    return 100.0 if value.lower() in prediction.lower() else 0.0


def load_kv_records(path: str | Path) -> list[tuple[Pairs, str, str]]:
    """(pairs, key, value) per line of a lost-in-the-middle kv file; bad lines name file:line."""
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(
            f"kv data file {path} does not exist: pass a file such as "
            "kv-retrieval-75_keys.jsonl.gz, or leave --source out to generate pairs"
        )
    out = []
    for number, raw in json_lines(path, "kv data"):
        try:
            pairs = [(str(k), str(v)) for k, v in raw["ordered_kv_records"]]
            key, value = str(raw["key"]), str(raw["value"])
            pairs.index((key, value))
        except (KeyError, TypeError, ValueError) as err:
            raise CtxlabError(
                f"{path}:{number} is not a kv record ({type(err).__name__}: {err}): each "
                "line needs ordered_kv_records (key/value pairs) holding key and value"
            ) from None
        out.append((pairs, key, value))
    return out


class KVConfig(TaskConfig):
    """`num_samples` queries per (number of keys, gold position); from `source` when given
    (its records fix the number of keys), else generated."""

    name: Literal["kv"] = Field("kv", description=NAME_HELP)
    source: str | None = Field(
        None,
        description="a lost-in-the-middle kv file (e.g. kv-retrieval-75_keys.jsonl.gz); "
        "without it, UUID pairs are generated",
    )
    num_keys: list[int] = Field([75], description="key-value pairs per context, e.g. 75 or 10,50")
    gold_positions: str = Field(
        "0,24,49,74",
        description="0-based positions of the queried pair, e.g. 0,24,49,74, or all, random",
    )
    template: Literal["kv", "kv_with_query_aware_contextualization"] = Field(
        "kv", description="the paper's prompt, or with the key also before the data"
    )
    pred_cleaning: PredCleaning = Field("none", description=PRED_CLEANING_HELP)

    @field_validator("num_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return counts(value, 2, "keys")

    @field_validator("gold_positions", mode="before")
    @classmethod
    def _positions(cls, value: Any) -> Any:
        return position_spec(value, ("all", "random"))

    @model_validator(mode="after")
    def _fits(self) -> KVConfig:
        if self.source is None and self.gold_positions not in ("all", "random"):
            if max(int_list(self.gold_positions)) >= min(self.num_keys):
                raise ValueError(
                    f"gold position {max(int_list(self.gold_positions))} does not fit in "
                    f"{min(self.num_keys)} keys (positions count from 0)"
                )
        return self


@register
class KVTask(Task):
    name = "kv"
    config_class = KVConfig
    metrics = ("accuracy",)
    breakdown_keys = ("num_keys", "gold_position")
    # A small model restates the 36-character key (~25 tokens) before the value, so 48
    # tokens cut the value off (built-in model, 10 keys: accuracy 0.0 at 48, 16.7 at 100).
    max_new_tokens = 100
    config: KVConfig

    @cached_property
    def _file(self) -> list[tuple[Pairs, str, str]] | None:
        return load_kv_records(self.config.source) if self.config.source else None

    def _positions(self, n: int, i: int) -> list[int]:
        spec = self.config.gold_positions
        if spec == "all":
            return list(range(n))
        if spec == "random":
            return [random.Random(f"kv-pos:{self.config.seed}:{n}:{i}").randrange(n)]
        positions = int_list(spec)
        if max(positions) >= n:
            raise CtxlabError(f"gold position {max(positions)} does not fit in {n} keys")
        return positions

    def _generated(self, n: int, i: int) -> tuple[Pairs, str, str]:
        rng = random.Random(f"kv:{self.config.seed}:{n}:{i}")
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2 * n)]
        pairs = list(zip(ids[:n], ids[n:]))
        key, value = pairs[rng.randrange(n)]
        return pairs, key, value

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        cfg = self.config
        if self._file is not None and cfg.num_samples > len(self._file):
            raise CtxlabError(
                f"{cfg.num_samples} samples asked but {cfg.source} holds {len(self._file)} "
                "records: lower --num-samples"
            )
        items = (
            [self._file[i] for i in range(cfg.num_samples)]
            if self._file is not None
            else [self._generated(n, i) for n in cfg.num_keys for i in range(cfg.num_samples)]
        )
        examples = []
        for number, (pairs, key, value) in enumerate(items):
            i = number % cfg.num_samples
            for p in self._positions(len(pairs), i):
                moved = [pair for pair in pairs if pair != (key, value)]
                moved.insert(p, (key, value))
                examples.append(
                    Example(
                        id=f"kv-{len(pairs)}k-p{p}-{i:05d}",
                        task=self.name,
                        input=render_prompt(moved, key, cfg.template),
                        answers=[value],
                        meta={"num_keys": len(pairs), "gold_position": p},
                    )
                )
        return examples

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        return {"accuracy": kv_accuracy(prediction, example.answers[0])}

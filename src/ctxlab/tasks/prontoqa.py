"""PrOntoQA-style logic task: generated fictional ontologies (or a real PrOntoQA/LoGiPT file),
the SOKRATES prompt, gold optionized proofs as the training target, and solver-checked scores.

Each example's `target` is its gold proof; `meta` carries `premises`, `query`, `label` and
`hops`, which is all `ctxlab.solvers.proofs.check_proof` needs, so a proof can be checked from the
example alone. Scores per example, in percent: `accuracy` (label right), `step_validity` (share
of valid steps) and `trace_validity` (whole proof valid and label right).
"""

from __future__ import annotations

import random
import re
from typing import Literal

from pydantic import Field, field_validator

from ctxlab.solvers.proofs import check_proof
from ctxlab.tasks.base import (
    NAME_HELP,
    PRED_CLEANING_HELP,
    Example,
    PredCleaning,
    Task,
    TaskConfig,
    is_examples_file,
    read_jsonl,
    register,
)
from ctxlab.tasks.logic_prompt import make_example
from ctxlab.tasks.logic_sources import load_prontoqa_source
from ctxlab.tasks.ontology import make_problem


def parse_hops(value) -> list[int]:
    """Hop counts: a string (`"1-5"`, `"1,3,5"`) as a sorted list, `3` as `[3]`, and a list with
    each string item expanded in place (`--hops 1-3` may arrive as `["1-3"]`)."""
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [
            h for item in value for h in (parse_hops(item) if isinstance(item, str) else [item])
        ]
    if isinstance(value, str):
        hops: set[int] = set()
        for part in (p.strip() for p in value.split(",") if p.strip()):
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if m:
                hops.update(range(int(m.group(1)), int(m.group(2)) + 1))
            elif part.isdigit():
                hops.add(int(part))
            else:
                raise ValueError(f"hops {value!r}: use numbers, ranges like 1-5, or a comma list")
        return sorted(hops)
    return value


class ProntoQAConfig(TaskConfig):
    """`num_samples` is per hop count. With `source`, examples come from that file (PrOntoQA
    JSON or LoGiPT conversations); `split` then picks a seeded 90/10 train/test share."""

    name: Literal["prontoqa"] = Field("prontoqa", description=NAME_HELP)
    hops: list[int] = Field([1, 2, 3, 4, 5], description="hop counts: 1-5, 3 or 1,3,5")
    distractors: int = Field(
        2, ge=0, le=12, description="distractor rule groups per generated problem"
    )
    source: str | None = Field(
        None, description="a PrOntoQA JSON or LoGiPT file to read problems from instead"
    )
    split: Literal["all", "train", "test"] = Field(
        "all", description="seeded 90/10 share of a --source file without a test split"
    )
    pred_cleaning: PredCleaning = Field("none", description=PRED_CLEANING_HELP)

    @field_validator("hops", mode="before")
    @classmethod
    def _parse_hops(cls, value):
        return parse_hops(value)

    @field_validator("hops")
    @classmethod
    def _check_hops(cls, value: list[int]) -> list[int]:
        if not value or any(h < 1 or h > 12 for h in value):
            raise ValueError("hops must be between 1 and 12, e.g. 1-5")
        return value


@register
class ProntoQATask(Task):
    name = "prontoqa"
    config_class = ProntoQAConfig
    metrics = ("accuracy", "step_validity", "trace_validity")
    breakdown_keys = ("hops",)
    # A 5-hop gold proof is ~150 tokens of the built-in tokenizer; room for a wordier model.
    max_new_tokens = 256
    stop = ("\n\n\n", "\nPremises:")
    has_step_verdicts = True
    verifiable = True
    config: ProntoQAConfig

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        cfg = self.config
        if cfg.source:
            return load_prontoqa_source(cfg.source, cfg, self.name)
        return [self.example(hops, i) for hops in cfg.hops for i in range(cfg.num_samples)]

    def example(self, hops: int, i: int) -> Example:
        """Example i of a hop count: depends only on (seed, hops, i)."""
        cfg = self.config
        problem = make_problem(
            random.Random(f"prontoqa:{cfg.seed}:{hops}:{i}"), hops, cfg.distractors
        )
        return make_example(
            self.name,
            f"prontoqa-h{hops}-{i:05d}",
            problem.premises,
            problem.query,
            problem.label,
            problem.target,
            {"hops": hops, "distractors": cfg.distractors},
        )

    def read_data(self, path: str) -> list[Example]:
        """An examples jsonl, or a raw PrOntoQA JSON / LoGiPT file (converted on the fly)."""
        if is_examples_file(path):
            return self.own_examples(path, read_jsonl(path))
        return load_prontoqa_source(path, self.config, self.name)

    def clean_prediction(self, text: str) -> str:
        return super().clean_prediction(text).strip()

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        return check_proof(prediction, example).scores()

    def step_verdicts(self, prediction: str, example: Example) -> list[tuple[str, bool]]:
        """Each step's text and whether the checker accepts it: the OaK loop's step pairs."""
        return [(step.text, step.valid) for step in check_proof(prediction, example).steps]

    def explain(self, prediction: str, example: Example) -> list[str]:
        """The proof checker's reasons: each invalid step, an unreached query, a wrong label."""
        return check_proof(prediction, example).errors

    def verify(self, examples, predictions, *, timeout_ms=5000, strict=False, progress=True):
        """Each proof through the proof checker (`solvers.verdicts.verify_proofs`)."""
        from ctxlab.solvers.verdicts import verify_proofs

        return verify_proofs(examples, predictions, progress)

    def verify_summary(self, results: dict, show: int) -> list[str]:
        from ctxlab.solvers.verdicts import proofs_summary

        return proofs_summary(results, show)

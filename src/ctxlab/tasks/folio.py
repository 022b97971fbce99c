"""FOLIO: real first-order-logic problems (natural-language premises and a conclusion), scored
by label accuracy.

Examples come from a FOLIO jsonl file or Logic-LM's FOLIO JSON (`--data` or `--source`), in the
SOKRATES prompt shared with `prontoqa` so a model trained on PrOntoQA proofs can be evaluated here
unchanged (transfer). A prediction's label is its `Conclusion:` line (or its last
TRUE/FALSE/UNKNOWN word); FOLIO's `Uncertain`/`Unknown` are UNKNOWN. Each example keeps the gold
FOL in `meta` for `ctxlab verify`; it is None where the file has none (Logic-LM's FOLIO, FOLIO
v0.0 train's conclusions), which label accuracy does not need and verify refuses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ctxlab.errors import CtxlabError
from ctxlab.solvers.proofs import CONCLUSION_FORMAT, parse_label
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
from ctxlab.tasks.logic_sources import read_folio, split_indices


class FolioConfig(TaskConfig):
    """`source` is a FOLIO jsonl or Logic-LM FOLIO JSON; all its records (or `num_samples` if
    set) of `split`."""

    name: Literal["folio"] = Field("folio", description=NAME_HELP)
    source: str | None = Field(
        None,
        description="a FOLIO jsonl (e.g. folio-validation.jsonl) or a Logic-LM FOLIO JSON "
        "to read problems from",
    )
    split: Literal["all", "train", "test"] = Field(
        "all", description="seeded 90/10 share of the --source file"
    )
    pred_cleaning: PredCleaning = Field("none", description=PRED_CLEANING_HELP)


def folio_examples(path: str, config: FolioConfig, task: str = "folio") -> list[Example]:
    """FOLIO records as examples; `split` takes a seeded 90/10 share of the file."""
    records = read_folio(path)
    chosen = split_indices(len(records), config.split, config.seed)
    if "num_samples" in config.model_fields_set:
        chosen = chosen[: config.num_samples]
    return [
        make_example(
            task,
            f"{task}-{records[i]['id']}",
            records[i]["premises"],
            records[i]["conclusion"],
            records[i]["label"],
            CONCLUSION_FORMAT.format(label=records[i]["label"]),
            {
                "premises_fol": records[i]["premises_fol"],
                "conclusion_fol": records[i]["conclusion_fol"],
                "story_id": records[i]["story_id"],
            },
        )
        for i in chosen
    ]


@register
class FolioTask(Task):
    name = "folio"
    config_class = FolioConfig
    metrics = ("accuracy",)
    breakdown_keys = ("label",)
    max_new_tokens = 256
    stop = ("\n\n\n", "\nPremises:")
    verifiable = True
    config: FolioConfig

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        if not self.config.source:
            raise CtxlabError(
                "the folio task needs a FOLIO jsonl or a Logic-LM FOLIO JSON: pass --data FILE "
                "or --source FILE (e.g. folio-validation.jsonl)"
            )
        return folio_examples(self.config.source, self.config, self.name)

    def read_data(self, path: str) -> list[Example]:
        """An examples jsonl, or a raw FOLIO jsonl / Logic-LM FOLIO file converted on the fly."""
        if is_examples_file(path):
            return self.own_examples(path, read_jsonl(path))
        return folio_examples(path, self.config, self.name)

    def clean_prediction(self, text: str) -> str:
        return super().clean_prediction(text).strip()

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        return {"accuracy": 100.0 if parse_label(prediction) == example.answers[0] else 0.0}

    def verify(self, examples, predictions, *, timeout_ms=5000, strict=False, progress=True):
        """z3 labels from the gold FOL (`solvers.verdicts.verify_labels`; imports z3)."""
        from ctxlab.solvers.verdicts import verify_labels

        return verify_labels(examples, predictions, progress, timeout_ms, strict)

    def verify_summary(self, results: dict, show: int) -> list[str]:
        from ctxlab.solvers.verdicts import labels_summary

        return labels_summary(results, show)

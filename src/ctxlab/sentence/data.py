"""Examples as sentence sequences, and batches of their precomputed vectors.

Objective `answer` (the seed's): the prompt's sentences are the inputs and the last position
predicts the answer sentence. Objective `all`: the answer sentence is appended to the inputs and
every position predicts the next sentence, the last one the EOS sentence ("End of sequence."),
so the model also learns where to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from ctxlab.errors import CtxlabError
from ctxlab.sentence.split import EOS_SENTENCE, answer_sentence, split_example
from ctxlab.sentence.store import Embeddings
from ctxlab.tasks.base import Example

Objective = Literal["answer", "all"]


@dataclass(frozen=True)
class SentenceExample:
    id: str
    prompt: list[str]
    answer: str
    answers: list[str]
    key: str
    meta: dict[str, Any] = field(default_factory=dict)


def query_of(example: Example, answer: str, question: str) -> str:
    """The seed's `key` field: the queried NIAH key, or the QA question."""
    if example.task == "qa":
        return question.removeprefix("Question: ")
    return answer.split(" for ", 1)[-1].split(" is:", 1)[0].split(" are:", 1)[0]


def sentence_examples(examples: Sequence[Example]) -> list[SentenceExample]:
    if not examples:
        raise CtxlabError("no examples to turn into sentences: generate at least one")
    out = []
    for e in examples:
        split, answer = split_example(e), answer_sentence(e)
        key = query_of(e, answer, split.question[-1])
        out.append(SentenceExample(e.id, split.sentences, answer, e.answers, key, e.meta))
    return out


def all_texts(items: Sequence[SentenceExample]) -> list[str]:
    """Every sentence a run embeds: prompts, answer sentences and the EOS sentence."""
    seen: dict[str, None] = {EOS_SENTENCE: None}
    for item in items:
        for text in (*item.prompt, item.answer):
            seen.setdefault(text, None)
    return list(seen)


@dataclass
class Batch:
    """Right-padded inputs `[B, S, dim]` with their mask, and the target of each trained
    position: `positions` (row, column) pairs, their `target_texts` and `target_vectors`."""

    vectors: torch.Tensor
    mask: torch.Tensor
    positions: tuple[torch.Tensor, torch.Tensor]
    target_texts: list[str]
    target_vectors: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        rows, cols = self.positions
        return Batch(
            self.vectors.to(device),
            self.mask.to(device),
            (rows.to(device), cols.to(device)),
            self.target_texts,
            self.target_vectors.to(device),
        )


def collate(
    items: Sequence[SentenceExample], store: Embeddings, objective: Objective = "answer"
) -> Batch:
    inputs = [[*i.prompt, i.answer] if objective == "all" else list(i.prompt) for i in items]
    targets = [
        [*i.prompt[1:], i.answer, EOS_SENTENCE] if objective == "all" else [i.answer] for i in items
    ]
    longest = max(len(x) for x in inputs)
    vectors = torch.zeros(len(items), longest, store.dim)
    mask = torch.zeros(len(items), longest, dtype=torch.long)
    rows, cols, texts = [], [], []
    for b, (seq, tgt) in enumerate(zip(inputs, targets)):
        vectors[b, : len(seq)] = store.get(seq)
        mask[b, : len(seq)] = 1
        first = len(seq) - len(tgt)
        rows += [b] * len(tgt)
        cols += list(range(first, len(seq)))
        texts += tgt
    return Batch(vectors, mask, (torch.tensor(rows), torch.tensor(cols)), texts, store.get(texts))

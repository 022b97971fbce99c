"""Scoring the sentence LM: held-out loss, batched predictions decoded by the codec, RULER's
metric on the decoded first line, intervals and a breakdown by depth and value type.

The metric is the task's own: `string_match_all` for NIAH, `string_match_part` for QA (the
seed's two were one function). Predictions are read at each row's own last position
(`SentenceLM.last`), so the batch size never changes a prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ctxlab.metrics import first_line, score_one
from ctxlab.sentence.codec import SentenceCodec
from ctxlab.sentence.data import Objective, SentenceExample, collate
from ctxlab.sentence.model import Loss, SentenceLM, sentence_loss
from ctxlab.sentence.store import Embeddings
from ctxlab.stats import breakdown, summarize

METRIC = {"niah": "string_match_all", "qa": "string_match_part"}
BREAKDOWN = ("value_type", "depth")


def batch_loss(
    model: SentenceLM,
    codec: SentenceCodec,
    store: Embeddings,
    items: Sequence[SentenceExample],
    objective: Objective,
    loss: Loss,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    batch = collate(items, store, objective).to(device)
    predicted = model(batch.vectors, batch.mask)[batch.positions]
    tokens = codec.targets(batch.target_texts) if loss != "mse" else None
    return sentence_loss(codec, predicted, batch.target_vectors, tokens, loss)


@torch.no_grad()
def mean_loss(
    model: SentenceLM,
    codec: SentenceCodec,
    store: Embeddings,
    items: Sequence[SentenceExample],
    objective: Objective,
    loss: Loss,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> float:
    """The loss over `items`, weighted by batch size."""
    was = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        total += batch_loss(model, codec, store, chunk, objective, loss, device).item() * len(chunk)
    model.train(was)
    return total / max(1, len(items))


@torch.no_grad()
def predict(
    model: SentenceLM,
    codec: SentenceCodec,
    store: Embeddings,
    items: Sequence[SentenceExample],
    batch_size: int = 16,
    max_tokens: int = 128,
    beam: int = 1,
    device: torch.device | str = "cpu",
) -> list[str]:
    """The decoded answer sentence predicted after each prompt."""
    model.eval()
    out: list[str] = []
    for start in range(0, len(items), batch_size):
        batch = collate(items[start : start + batch_size], store, "answer").to(device)
        out += codec.decode(model.last(batch.vectors, batch.mask), max_tokens, beam)
    return out


@torch.no_grad()
def codec_ceiling(
    codec: SentenceCodec,
    store: Embeddings,
    items: Sequence[SentenceExample],
    task: str,
    batch_size: int = 64,
    max_tokens: int = 128,
) -> dict[str, Any]:
    """The score a perfect sentence LM would get: each test answer sentence's own vector,
    decoded and scored as a prediction. The gap below it is the LM's; above it, the codec's."""
    out: list[str] = []
    for start in range(0, len(items), batch_size):
        answers = [i.answer for i in items[start : start + batch_size]]
        out += codec.decode(store.get(answers).to(codec.device), max_tokens)
    rows = records(items, out, task)
    metric = METRIC[task]
    return {
        "metric": metric,
        **summarize(rows, [metric]),
        "by_value_type": breakdown(rows, ("value_type",), [metric]),
    }


def records(
    items: Sequence[SentenceExample], predictions: Sequence[str], task: str
) -> list[dict[str, Any]]:
    """Prediction records as ctxlab's evaluation writes them (`id`, `prediction`, `scores`,
    `meta`), `meta` with the value type and depth the breakdown reads."""
    metric = METRIC[task]
    rows = []
    for item, prediction in zip(items, predictions):
        meta = {
            **item.meta,
            "value_type": item.meta.get("needle_type_v", "answer"),
            "depth": item.meta.get("depth"),
        }
        score = score_one(metric, first_line(prediction), item.answers)
        rows.append(
            {"id": item.id, "prediction": prediction, "scores": {metric: score}, "meta": meta}
        )
    return rows


def results(rows: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """Metric means with 95% intervals, and the breakdown by value type and depth."""
    metric = METRIC[task]
    summary = summarize(rows, [metric])
    return {
        "metric": metric,
        **summary,
        "breakdown_keys": list(BREAKDOWN),
        "breakdown": breakdown(rows, BREAKDOWN, [metric]),
        "by_value_type": breakdown(rows, ("value_type",), [metric]),
        "by_depth": breakdown(rows, ("depth",), [metric]),
    }


def seed_examples(
    items: Sequence[SentenceExample], rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`final_results.json`'s examples as the seed wrote them, plus the id and the score."""
    out = []
    for item, row in zip(items, rows):
        (score,) = row["scores"].values()
        out.append(
            {
                "id": item.id,
                "key": item.key,
                "expected_value": ", ".join(item.answers),
                "prediction": row["prediction"],
                "correct": score == 100.0,
                "score": score,
            }
        )
    return out

"""Held-out scores of a pre-trained model, each against a trivial baseline on the same tokens.

A decoder is scored by perplexity over the next-token targets of each held-out sequence; its
baseline is the unigram model of the train split's token frequencies (add-one smoothed), which
knows how common each token is and nothing of context. An encoder is scored by masked-token
accuracy at the held-out split's fixed masks; its baseline always predicts the most frequent
non-special train token. Tokens within one sequence are not independent, so every interval is a
bootstrap over whole sequences (`stats.ratio_interval`), and the gain over the baseline is
measured on the same sequences (a paired bootstrap of the per-token difference).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ctxlab.stats import Interval, ratio_interval
from ctxlab.training.pretrain_data import IGNORE_INDEX, Packed

if TYPE_CHECKING:
    from ctxlab.training.pretrain import Corpus


@dataclass
class SequenceScores:
    """Per held-out sequence: the model's and the baseline's summed quantity (NLL in nats, or
    correct predictions) over its `counts` scored tokens."""

    model: list[float]
    baseline: list[float]
    counts: list[int]


def unigram_counts(train: Packed, vocab_size: int) -> torch.Tensor:
    """How often each token occurs in the train split (padding left out)."""
    tokens = train.input_ids[train.attention_mask.bool()]
    return torch.bincount(tokens, minlength=vocab_size).double()


def _autocast(device: torch.device, bf16: bool):
    if not bf16:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def score_decoder(
    model, dataset, counts: torch.Tensor, batch_size: int, bf16: bool
) -> SequenceScores:
    """Summed next-token NLL of the model and of the unigram baseline, per sequence."""
    log_unigram = ((counts + 1) / (counts.sum() + len(counts))).log()
    scores = SequenceScores([], [], [])
    model.eval()
    device = next(model.parameters()).device
    for start in range(0, len(dataset), batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        ids = torch.stack([r["input_ids"] for r in rows]).to(device)
        mask = torch.stack([r["attention_mask"] for r in rows]).to(device)
        targets = torch.stack([r["labels"] for r in rows])[:, 1:].to(device)
        with _autocast(device, bf16):
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        nll = F.cross_entropy(
            logits.float().transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
        )
        scored = targets.ne(IGNORE_INDEX)
        base = -log_unigram.to(device)[targets.clamp(min=0)] * scored
        scores.model += nll.sum(1).tolist()
        scores.baseline += base.sum(1).tolist()
        scores.counts += scored.sum(1).tolist()
    return scores


@torch.no_grad()
def score_encoder(
    model, dataset, counts: torch.Tensor, special_ids: list[int], batch_size: int, bf16: bool
) -> SequenceScores:
    """Correct masked-token predictions of the model and of the most-frequent-token baseline,
    per sequence (the dataset's fixed masks)."""
    frequent = counts.clone()
    frequent[special_ids] = 0
    top = int(frequent.argmax())
    scores = SequenceScores([], [], [])
    model.eval()
    device = next(model.parameters()).device
    for start in range(0, len(dataset), batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        ids = torch.stack([r["input_ids"] for r in rows]).to(device)
        mask = torch.stack([r["attention_mask"] for r in rows]).to(device)
        labels = torch.stack([r["labels"] for r in rows]).to(device)
        with _autocast(device, bf16):
            logits = model(input_ids=ids, attention_mask=mask, labels=labels).logits
        where = labels.ne(IGNORE_INDEX)
        if logits.dim() == 2:  # sparse prediction: logits at the masked positions, row-major
            predicted = torch.full_like(labels, -1)
            predicted[where] = logits.argmax(-1)
        else:
            predicted = logits.argmax(-1)
        scores.model += ((predicted == labels) & where).sum(1).tolist()
        scores.baseline += ((labels == top) & where).sum(1).tolist()
        scores.counts += where.sum(1).tolist()
    return scores


def _scaled(interval: Interval, scale) -> Interval:
    return Interval(scale(interval.low), scale(interval.high), interval.method)


def summarize(arch: str, split: str, s: SequenceScores) -> dict:
    """The split's metrics with intervals, and the gain over the baseline with its interval:
    `{split}_perplexity` / `{split}_unigram_perplexity` for a decoder, `{split}_masked_accuracy`
    / `{split}_unigram_masked_accuracy` (percent) for an encoder."""
    tokens = sum(s.counts)
    model = ratio_interval(s.model, s.counts)
    baseline = ratio_interval(s.baseline, s.counts)
    if arch == "decoder":
        gain = ratio_interval([b - m for b, m in zip(s.baseline, s.model)], s.counts)
        names = (f"{split}_perplexity", f"{split}_unigram_perplexity")
        values = (math.exp(sum(s.model) / tokens), math.exp(sum(s.baseline) / tokens))
        intervals = (_scaled(model, math.exp), _scaled(baseline, math.exp))
        gain_value, unit = (sum(s.baseline) - sum(s.model)) / tokens, "nats per token"
    else:
        gain = ratio_interval([100 * (m - b) for b, m in zip(s.baseline, s.model)], s.counts)
        names = (f"{split}_masked_accuracy", f"{split}_unigram_masked_accuracy")
        values = (100 * sum(s.model) / tokens, 100 * sum(s.baseline) / tokens)
        intervals = (_scaled(model, lambda x: 100 * x), _scaled(baseline, lambda x: 100 * x))
        gain_value, unit = 100 * (sum(s.model) - sum(s.baseline)) / tokens, "accuracy points"
    return {
        "metrics": dict(zip(names, values)),
        "intervals": {n: i.to_dict() for n, i in zip(names, intervals)},
        "gain": {
            "split": split,
            "value": gain_value,
            "interval": gain.to_dict(),
            "unit": unit,
            "sequences": len(s.counts),
            "tokens": tokens,
        },
    }


def held_out(arch: str, model, corpus: Corpus, batch_size: int, bf16: bool) -> dict[str, Any]:
    """The test and val splits scored against the baseline of the train split's counts: the
    `metrics`, their `intervals` and the `gains` (test first) of a pretrain artifact."""
    tokenizer = corpus.tokenizer
    counts = unigram_counts(corpus.packed["train"], len(tokenizer))
    parts = []
    for split in ("test", "val"):
        dataset = corpus.datasets[split]
        if arch == "decoder":
            scored = score_decoder(model, dataset, counts, batch_size, bf16)
        else:
            special = tokenizer.all_special_ids
            scored = score_encoder(model, dataset, counts, special, batch_size, bf16)
        parts.append(summarize(arch, split, scored))
    return {
        "metrics": {k: v for p in parts for k, v in p["metrics"].items()},
        "intervals": {k: v for p in parts for k, v in p["intervals"].items()},
        "gains": [p["gain"] for p in parts],
    }

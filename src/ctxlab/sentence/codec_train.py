"""Training an offline codec (`ctxlab codec train`): reconstruction of sentences drawn from
ctxlab's own NIAH generator with the codec's own seed (never an evaluation split's), each
example's prompt sentences plus its answer sentence, and the EOS sentence.

The autoencoder trains its encoder and decoder together; the minilm codec keeps MiniLM frozen
(its vectors computed once) and trains the decoder. Small Gaussian noise on the vectors makes
the decoder forgiving of the sentence LM's imperfect predictions. The card records the corpus,
the steps and the held-out reconstruction (exact sentences, and 7-digit numbers recovered).
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from pydantic import Field

from ctxlab.config import Section
from ctxlab.errors import CtxlabError
from ctxlab.sentence.charcodec import CharCodec
from ctxlab.sentence.codec import check_sentences, codec_class
from ctxlab.sentence.split import EOS_SENTENCE, answer_sentence, split_example
from ctxlab.tasks.base import Example

NUMBER = re.compile(r"\b\d{7}\b")


class CodecTrainConfig(Section):
    kind: Literal["tiny", "autoencoder", "minilm"] = Field(
        "autoencoder", description="tiny, autoencoder or minilm (sonar is not trained here)"
    )
    dim: int | None = Field(None, ge=4, description="vector width (the kind's default)")
    hidden: int | None = Field(None, ge=8, description="transformer width (the kind's default)")
    examples: int = Field(400, ge=1, description="NIAH examples per value type in the corpus")
    lengths: list[int] = Field([512], description="NIAH lengths of the corpus, in characters")
    value_types: list[Literal["words", "numbers", "uuids"]] = Field(
        ["words", "numbers"], description="NIAH value types of the corpus"
    )
    variants: list[str] = Field(["niah_single_1", "niah_single_2"], description="NIAH variants")
    seed: int = Field(5000, description="corpus seed: keep it apart from the evaluation seeds")
    steps: int = Field(1500, ge=1, description="optimizer steps")
    batch_size: int = Field(64, ge=1, description="sentences a step")
    learning_rate: float = Field(3e-3, gt=0, description="peak learning rate (cosine decay)")
    noise: float = Field(0.05, ge=0, description="Gaussian noise added to vectors in training")
    precision: Literal["fp32", "bf16"] = Field(
        "bf16", description="bf16 autocast (AMX CPUs, GPUs) or fp32"
    )
    held_out: int = Field(200, ge=0, description="corpus sentences kept out to measure")
    progress: bool = Field(True, description="print a line every 100 steps")


def codec_corpus(
    config: CodecTrainConfig, forbidden: Sequence[str] = (), extra: Sequence[Example] = ()
) -> list[str]:
    """Distinct sentences of NIAH examples drawn with the codec seed (and of `extra` examples,
    e.g. QA drawn with that seed), answer sentences included; a sentence holding any
    `forbidden` string (an evaluation answer) is left out."""
    from ctxlab.tasks.niah import NiahConfig, NiahTask

    examples = list(extra)
    for value_type in config.value_types:
        task = NiahTask(
            NiahConfig(
                variants=config.variants,
                lengths=config.lengths,
                length_unit="chars",
                num_samples=config.examples,
                needle_type_v=value_type,
                seed=config.seed,
            )
        )
        examples += task.generate()
    seen: dict[str, None] = {EOS_SENTENCE: None}
    for example in examples:
        for sentence in [*split_example(example).sentences, answer_sentence(example)]:
            seen.setdefault(sentence, None)
    banned = [f.lower() for f in forbidden if f]
    return [s for s in seen if not any(b in s.lower() for b in banned)]


def make_codec(config: CodecTrainConfig) -> CharCodec:
    settings = {k: v for k, v in (("dim", config.dim), ("hidden", config.hidden)) if v}
    codec = codec_class(config.kind)(**settings)
    assert isinstance(codec, CharCodec)
    return codec


def reconstruction(codec: CharCodec, sentences: Sequence[str]) -> dict[str, float]:
    """Exact-sentence and 7-digit-number recovery (percent) of encode -> decode."""
    if not sentences:
        return {}
    decoded: list[str] = []
    for start in range(0, len(sentences), 128):
        batch = list(sentences[start : start + 128])
        decoded += codec.decode(codec.encode(batch), codec.max_chars + 1)
    exact = sum(d == s for d, s in zip(decoded, sentences)) / len(sentences)
    numbers = [(NUMBER.findall(s), d) for s, d in zip(sentences, decoded) if NUMBER.search(s)]
    out = {"exact": 100 * exact, "sentences": len(sentences)}
    if numbers:
        out["numbers"] = 100 * sum(all(n in d for n in ns) for ns, d in numbers) / len(numbers)
    return out


def train_codec(
    codec: CharCodec,
    sentences: Sequence[str],
    config: CodecTrainConfig,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train in place (then frozen); returns the record the card keeps under `training`."""
    sentences = check_sentences(sentences, "codec training sentences")
    rng = random.Random(config.seed)
    order = sentences[:]
    rng.shuffle(order)
    held = order[: min(config.held_out, len(order) // 5)]
    train = order[len(held) :]
    if not train:
        raise CtxlabError("codec training needs more sentences: raise --examples")
    torch.manual_seed(config.seed)
    frozen = {}
    if not codec.trains_encoder:
        for start in range(0, len(train), 256):
            batch = train[start : start + 256]
            frozen.update(zip(batch, codec.encode(batch)))
    params = codec.unfreeze()
    if not codec.trains_encoder:
        params = list(codec.net["decoder"].parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    warmup = max(1, config.steps // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    start, losses = time.perf_counter(), []
    bf16 = config.precision == "bf16"
    for step in range(config.steps):
        batch = rng.sample(train, min(config.batch_size, len(train)))
        with torch.autocast(codec.device.type, torch.bfloat16, enabled=bf16):
            if codec.trains_encoder:
                vectors = codec.train_vectors(batch)
            else:
                vectors = torch.stack([frozen[s] for s in batch])
            if config.noise:
                vectors = vectors + config.noise * torch.randn_like(vectors) / math.sqrt(codec.dim)
            loss = codec.loss(vectors, codec.targets(batch))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if config.progress and (step + 1) % 100 == 0:
            log(f"codec step {step + 1}/{config.steps}: loss {sum(losses[-100:]) / 100:.4f}")
    codec.freeze()
    return {
        "corpus": f"ctxlab niah {','.join(config.variants)} at {config.lengths} chars, values "
        f"{','.join(config.value_types)}, seed {config.seed}",
        "train_sentences": len(train),
        "steps": config.steps,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
        "seconds": round(time.perf_counter() - start, 1),
        "held_out": reconstruction(codec, held),
    }

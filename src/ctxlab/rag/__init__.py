"""Retrieval-augmented generation: splitters, embedder, a FAISS index on disk, retrieve-then-
answer (`ctxlab rag ask`) and retrieval/answer evaluation (`ctxlab rag eval`)."""

from ctxlab.rag.embedder import DEFAULT_EMBEDDER, Embedder
from ctxlab.rag.index import Chunk, Hit, RagIndex, build_index
from ctxlab.rag.splitters import METHODS, SplitterConfig, split_text

__all__ = [
    "DEFAULT_EMBEDDER",
    "METHODS",
    "Chunk",
    "Embedder",
    "Hit",
    "RagIndex",
    "SplitterConfig",
    "build_index",
    "split_text",
]

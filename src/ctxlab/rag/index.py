"""A FAISS index on disk with its chunks, metadata, embedder name and an embedding cache.

Layout of an index directory:

    index.json     format, embedder name and dimension, chunk count, how it was built
    chunks.jsonl   one chunk a line: id, title, text, source, meta, hash
    index.faiss    exact inner product over L2-normalized vectors (cosine similarity)
    cache/<embedder>-<dtype>.npz  every vector this directory has computed, keyed by text hash

A build writes a temporary sibling directory and renames it into place, so a crash or bad input
leaves no half-written index. A rebuild into the same directory reads the cache first and encodes
only texts it has not seen with that embedder; the cache keeps vectors of chunks since removed,
so adding documents back costs nothing either.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctxlab.errors import CtxlabError
from ctxlab.io import read_jsonl
from ctxlab.rag.embedder import Embedder

FORMAT = 1
INFO, CHUNKS, VECTORS, CACHE = "index.json", "chunks.jsonl", "index.faiss", "cache"


@dataclass
class Chunk:
    """A piece of text that retrieval returns. The title, when there is one, is embedded with
    the text (a passage's title often names what it is about)."""

    text: str
    title: str = ""
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text

    @property
    def key(self) -> str:
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()


@dataclass
class Hit:
    rank: int
    id: int
    score: float
    chunk: Chunk


@dataclass
class BuildStats:
    """Chunk count, distinct texts encoded and taken from the cache, and seconds spent."""

    num_chunks: int
    encoded: int
    cached: int
    encode_s: float
    total_s: float


def _slug(name: str) -> str:
    """A file name for an embedder's cache: readable stem plus a hash of the full name."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name).strip("_") or "embedder"
    return f"{stem}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    """Cached vectors by text hash; a damaged cache is ignored (it is only a cache)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(zip(data["keys"].tolist(), data["vectors"]))
    except (OSError, ValueError, KeyError):
        return {}


def _write_cache(path: Path, cache: dict[str, np.ndarray], dim: int) -> None:
    keys = np.array(sorted(cache), dtype="U64")
    vectors = np.stack([cache[k] for k in keys.tolist()]) if len(keys) else np.zeros((0, dim))
    with open(path, "wb") as f:
        np.savez(f, keys=keys, vectors=vectors.astype(np.float32))


def check_target(out: Path) -> None:
    """Refuse to write an index over a file or a directory that is not an index."""
    if out.exists() and not out.is_dir():
        raise CtxlabError(f"{out} is a file: pass a directory for the index (-o)")
    if out.is_dir() and any(out.iterdir()) and not (out / INFO).is_file():
        raise CtxlabError(
            f"{out} exists and is not a ctxlab rag index: pass a new or empty directory (-o)"
        )


def embed_chunks(
    chunks: Sequence[Chunk], embedder: Embedder, cache_file: Path | None, progress: bool
) -> tuple[np.ndarray, dict[str, np.ndarray], int, float]:
    """(vectors in chunk order, the updated cache, texts encoded, encode seconds). When every
    text is cached the embedder's model is never loaded."""
    cache = _read_cache(cache_file) if cache_file is not None else {}
    missing: dict[str, str] = {}
    for chunk in chunks:
        if chunk.key not in cache:
            missing.setdefault(chunk.key, chunk.embed_text)
    start = time.perf_counter()
    if missing:
        if any(v.shape != (embedder.dim,) for v in cache.values()):
            cache = {}  # vectors of another shape: not this embedder's
            missing = {c.key: c.embed_text for c in chunks}
        vectors = embedder.encode(list(missing.values()), progress, "embedding chunks")
        cache.update(zip(missing, vectors))
    encode_s = time.perf_counter() - start
    matrix = np.stack([cache[c.key] for c in chunks]).astype(np.float32)
    return matrix, cache, len(missing), encode_s


class RagIndex:
    """Chunks plus their FAISS index; `search` returns chunk ids best first."""

    def __init__(self, path: Path | None, chunks: list[Chunk], index, info: dict[str, Any]):
        self.path = path
        self.chunks = chunks
        self.index = index
        self.info = info

    @property
    def embedder_name(self) -> str:
        return self.info["embedder"]

    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each of shape (len(queries), k), best first."""
        if not 1 <= k <= len(self.chunks):
            raise CtxlabError(
                f"--top-k {k} is out of range for an index of {len(self.chunks)} chunks: "
                f"pass 1..{len(self.chunks)}"
            )
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def retrieve(
        self, embedder: Embedder, questions: Sequence[str], k: int, progress: bool = False
    ) -> list[list[Hit]]:
        """The top-k chunks of each question, best first."""
        self.check_embedder(embedder)
        queries = embedder.encode(list(questions), progress, "embedding questions")
        scores, ids = self.search(queries, k)
        return [
            [Hit(r, int(i), float(s), self.chunks[int(i)]) for r, (i, s) in enumerate(zip(ir, sr))]
            for ir, sr in zip(ids, scores)
        ]

    def check_embedder(self, embedder: Embedder) -> None:
        if embedder.name != self.embedder_name:
            raise CtxlabError(
                f"index {self.path} was built with embedder {self.embedder_name!r}, not "
                f"{embedder.name!r}: pass --embedder {self.embedder_name} or rebuild the index"
            )

    @classmethod
    def load(cls, path: str | Path, embedder: Embedder | None = None) -> RagIndex:
        import faiss

        path = Path(path)
        if not (path / INFO).is_file():
            raise CtxlabError(
                f"{path} is not a ctxlab rag index: build one with "
                f"`ctxlab rag index PATHS -o {path}`"
            )
        try:
            info = json.loads((path / INFO).read_text(encoding="utf-8"))
            chunks = [
                Chunk(record["text"], record["title"], record["source"], record["meta"])
                for record in read_jsonl(path / CHUNKS, "chunks")
            ]
            index = faiss.read_index(str(path / VECTORS))
        except (OSError, ValueError, KeyError, RuntimeError, CtxlabError) as err:
            raise CtxlabError(f"index {path} is damaged ({err}): rebuild it") from None
        if info.get("format") != FORMAT or index.ntotal != len(chunks) or index.d != info["dim"]:
            raise CtxlabError(f"index {path} is inconsistent or of another version: rebuild it")
        set_search_parameters(index, info.get("nprobe"), info.get("ef_search"))
        loaded = cls(path, chunks, index, info)
        if embedder is not None:
            loaded.check_embedder(embedder)
        return loaded


def make_faiss_index(vectors: np.ndarray, index_type: str, train_size: int, seed: int = 0):
    """A FAISS index of `vectors` from a factory string (`Flat`, exact; `IVF256,Flat`,
    `HNSW32`, `IVF1024,PQ32`, ...) over inner products; one that needs training is trained on a
    seeded sample of at most `train_size` vectors, so millions of passages index on one machine."""
    import faiss

    try:
        index = faiss.index_factory(vectors.shape[1], index_type, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        why = str(err).strip().rsplit(": ", 1)[-1][:120]  # faiss: "Error in ... at FILE: why"
        raise CtxlabError(
            f"--index-type {index_type!r} is not a FAISS index factory string ({why}): use "
            "Flat, IVF<lists>,Flat, HNSW<links> or IVF<lists>,PQ<bytes>"
        ) from None
    if not index.is_trained:
        lists = (
            getattr(faiss.try_extract_index_ivf(index), "nlist", 1) if "IVF" in index_type else 1
        )
        if len(vectors) < lists:
            raise CtxlabError(
                f"--index-type {index_type!r} has {lists} lists for {len(vectors)} vectors: use "
                "fewer lists (IVF<n> with n well below the number of chunks) or Flat"
            )
        rows = np.random.default_rng(seed).permutation(len(vectors))[:train_size]
        index.train(np.ascontiguousarray(vectors[np.sort(rows)]))
    index.add(vectors)
    return index


def set_search_parameters(index, nprobe: int | None, ef_search: int | None) -> None:
    """Accuracy/speed knobs of approximate indexes (IVF lists probed, HNSW search breadth)."""
    import faiss

    params = faiss.ParameterSpace()
    ivf = faiss.try_extract_index_ivf(index)
    if nprobe is not None and ivf is not None:
        ivf.nprobe = nprobe
    if ef_search is not None and hasattr(index, "hnsw"):
        params.set_index_parameter(index, "efSearch", ef_search)


def build_index(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    out: str | Path,
    build_info: dict[str, Any] | None = None,
    progress: bool = True,
    index_type: str = "Flat",
    train_size: int = 100_000,
    nprobe: int | None = None,
    ef_search: int | None = None,
) -> tuple[RagIndex, BuildStats]:
    """Embed (reusing `out`'s cache), index (`make_faiss_index`) and write `out` atomically."""
    import faiss

    start = time.perf_counter()
    out = Path(out)
    if not chunks:
        raise CtxlabError("no text to index: the documents are empty or split into nothing")
    check_target(out)
    cache_name = f"{_slug(embedder.name)}-{embedder.dtype}.npz"
    vectors, cache, encoded, encode_s = embed_chunks(
        chunks, embedder, out / CACHE / cache_name, progress
    )
    index = make_faiss_index(vectors, index_type, train_size)
    set_search_parameters(index, nprobe, ef_search)
    info = {
        "format": FORMAT,
        "embedder": embedder.name,
        "embedder_dtype": embedder.dtype,
        "dim": int(vectors.shape[1]),
        "index_type": index_type,
        "nprobe": nprobe,
        "ef_search": ef_search,
        "metric": "inner_product (cosine: vectors are L2-normalized)",
        "num_chunks": len(chunks),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(build_info or {}),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / CACHE).mkdir(parents=True)
        if (out / CACHE).is_dir():  # keep other embedders' caches
            for other in (out / CACHE).glob("*.npz"):
                if other.name != cache_name:
                    shutil.copy2(other, tmp / CACHE / other.name)
        _write_cache(tmp / CACHE / cache_name, cache, vectors.shape[1])
        with open(tmp / CHUNKS, "w", encoding="utf-8") as f:
            for i, (chunk, key) in enumerate(zip(chunks, (c.key for c in chunks))):
                record = {"id": i, "title": chunk.title, "text": chunk.text}
                record.update({"source": chunk.source, "meta": chunk.meta, "hash": key})
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        faiss.write_index(index, str(tmp / VECTORS))
        (tmp / INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    reused = len({c.key for c in chunks}) - encoded
    stats = BuildStats(len(chunks), encoded, reused, encode_s, time.perf_counter() - start)
    return RagIndex(out, list(chunks), index, info), stats


def _swap(tmp: Path, out: Path) -> None:
    """Put `tmp` at `out`; an existing index is moved aside first and removed after."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)

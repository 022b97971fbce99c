"""Precomputed sentence embeddings: every distinct sentence encoded once, kept as a compact
memory-mapped array on disk, and cached by text hash as the RAG index caches its vectors.

The seed precomputed embeddings in RAM and warned of the cost; here the vectors are float16 by
default (half of float32; SONAR's and the offline codecs' vectors lose < 1e-3 cosine) and read
through `np.load(mmap_mode="r")`, so only the rows a batch touches are paged in. Layout of one
codec's store (a sub-directory named by the codec's kind and fingerprint, so two codecs never
mix):

    STORE/<kind>-<fingerprint>/  store.json  keys.npy  vectors.npy  texts.jsonl

`store.json` is written last and records the row count, so a crash mid-update leaves the old
store readable or none at all. Adding texts reads the cache first and encodes only new ones.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ctxlab.errors import CtxlabError
from ctxlab.io import load_json, write_json, write_text, write_with
from ctxlab.sentence.codec import SentenceCodec, check_sentences

FORMAT = 1
INFO, KEYS, VECTORS, TEXTS = "store.json", "keys.npy", "vectors.npy", "texts.jsonl"
DTypes = Literal["float16", "float32"]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoreStats:
    """Rows in the store, texts encoded now and found cached, bytes on disk and the RAM the
    vectors would take if read whole, seconds spent encoding."""

    rows: int
    encoded: int
    cached: int
    disk_bytes: int
    ram_bytes: int
    dtype: str
    encode_s: float

    def line(self) -> str:
        return (
            f"{self.rows:,} sentence vectors ({self.dtype}): {self.disk_bytes / 2**20:.1f} MiB on "
            f"disk, {self.ram_bytes / 2**20:.1f} MiB if read whole (memory-mapped); "
            f"{self.encoded:,} encoded, {self.cached:,} cached, {self.encode_s:.1f} s"
        )

    def to_dict(self) -> dict:
        return asdict(self)


class Embeddings:
    """Vectors by text, read from a memory-mapped array."""

    def __init__(self, directory: Path):
        self.directory = directory
        info = load_json(directory / INFO, None)
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise CtxlabError(f"{directory} is not a ctxlab embedding store: precompute again")
        self.info = info
        keys = np.load(directory / KEYS, allow_pickle=False)
        self.vectors = np.load(directory / VECTORS, mmap_mode="r", allow_pickle=False)
        if len(keys) != info["rows"] or self.vectors.shape != (info["rows"], info["dim"]):
            raise CtxlabError(f"{directory} is damaged (row counts differ): delete it")
        self.rows = {k: i for i, k in enumerate(keys.tolist())}

    @property
    def dim(self) -> int:
        return int(self.info["dim"])

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self.rows

    def get(self, texts: Sequence[str]) -> torch.Tensor:
        """float32 `[len(texts), dim]`; a text never precomputed is an error naming it."""
        try:
            idx = [self.rows[text_key(t)] for t in texts]
        except KeyError:
            missing = next(t for t in texts if t not in self)
            raise CtxlabError(
                f"sentence {missing[:60]!r} is not in the embedding store {self.directory}: "
                "precompute the data it comes from"
            ) from None
        return torch.from_numpy(np.asarray(self.vectors[idx], dtype=np.float32))


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)

    write_with(path, write)


def store_dir(root: str | Path, codec: SentenceCodec) -> Path:
    return Path(root) / f"{codec.kind}-{codec.fingerprint()[:12]}"


def precompute(
    codec: SentenceCodec,
    texts: Sequence[str],
    root: str | Path,
    dtype: DTypes = "float16",
    batch_size: int = 256,
) -> tuple[Embeddings, StoreStats]:
    """The codec's store under `root` holding every text in `texts` (plus what it held)."""
    texts = check_sentences(texts, "texts to precompute")
    directory = store_dir(root, codec)
    old = Embeddings(directory) if (directory / INFO).is_file() else None
    if old is not None and old.info["dtype"] != dtype:
        raise CtxlabError(
            f"{directory} holds {old.info['dtype']} vectors, not {dtype}: use that dtype or "
            "another store directory"
        )
    missing = list(dict.fromkeys(t for t in texts if old is None or t not in old))
    start = time.perf_counter()
    if missing:
        parts = [
            codec.encode(missing[i : i + batch_size]).cpu().numpy()
            for i in range(0, len(missing), batch_size)
        ]
        new = np.concatenate(parts).astype(dtype)
        if new.shape[1] != codec.dim:
            raise CtxlabError(f"the {codec.kind} codec returned {new.shape[1]}-d vectors")
        keys = np.array([text_key(t) for t in missing], dtype="U64")
        if old is not None:
            keys = np.concatenate([np.load(directory / KEYS), keys])
            new = np.concatenate([np.asarray(old.vectors), new])
        directory.mkdir(parents=True, exist_ok=True)
        _save_npy(directory / KEYS, keys)
        _save_npy(directory / VECTORS, new)
        lines = [json.dumps(t, ensure_ascii=False) for t in missing]
        previous = (directory / TEXTS).read_text(encoding="utf-8") if old is not None else ""
        write_text(directory / TEXTS, previous + "".join(f"{line}\n" for line in lines))
        write_json(
            directory / INFO,
            {
                "format": FORMAT,
                "codec": codec.describe(),
                "kind": codec.kind,
                "fingerprint": codec.fingerprint(),
                "dim": codec.dim,
                "dtype": dtype,
                "rows": len(keys),
            },
        )
    encode_s = time.perf_counter() - start
    store = Embeddings(directory)
    disk = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    stats = StoreStats(
        rows=len(store.rows),
        encoded=len(missing),
        cached=len(set(texts)) - len(missing),
        disk_bytes=disk,
        ram_bytes=int(store.vectors.nbytes),
        dtype=dtype,
        encode_s=round(encode_s, 2),
    )
    return store, stats

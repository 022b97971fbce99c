"""Split text into retrieval chunks: paragraph, sentence, chunk, semantic and regex (Mini LLM's
`DocumentProcessor.split_text` methods), all bounded by a minimum and a maximum length.

Lengths are in characters. Every method returns stripped, non-empty chunks in text order; a
piece longer than `max_length` is cut at sentence, then word, boundaries (a single word longer
than that is cut hard), and a piece shorter than `min_length` is merged into its neighbour while
the merge stays within `max_length`, so no text is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ctxlab.errors import CtxlabError

Method = Literal["paragraph", "sentence", "chunk", "semantic", "regex"]
METHODS: tuple[str, ...] = ("paragraph", "sentence", "chunk", "semantic", "regex")

# A sentence ends at . ! or ? (and any closing quotes or brackets) before whitespace, or at a
# line break; abbreviations are not special-cased, which only makes chunks a little shorter.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\s*\n\s*")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")

Encode = Callable[[Sequence[str]], np.ndarray]


class SplitterConfig(BaseModel):
    """How to split. `chunk_size`/`overlap` are for `chunk`; `pattern` for `regex`;
    `percentile` for `semantic` (a breakpoint where the adjacent-sentence distance is above it).
    The method may be given by position: `SplitterConfig("sentence", max_length=300)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(
        "paragraph",
        description="paragraph, sentence, chunk, semantic or regex",
        json_schema_extra={"flag": "--splitter"},
    )
    chunk_size: int = Field(1000, description="characters a chunk (chunk)")
    overlap: int = Field(100, description="characters shared by neighbouring chunks (chunk)")
    min_length: int = Field(0, description="shorter pieces merge into a neighbour")
    max_length: int = Field(2000, description="longer pieces are cut at sentences, then words")
    pattern: str | None = Field(None, description="split points for --splitter regex")
    percentile: float = Field(90.0, description="semantic: break above this distance percentile")

    def __init__(self, *method: str, **settings: Any):
        super().__init__(**dict(zip(("method",), method)), **settings)

    def check(self) -> None:
        """Refuse settings that cannot work, naming the flag to change."""
        if self.method not in METHODS:
            raise CtxlabError(
                f"unknown splitter {self.method!r}: choose one of {', '.join(METHODS)}"
            )
        if self.max_length < 1:
            raise CtxlabError(f"--max-length must be at least 1, got {self.max_length}")
        if not 0 <= self.min_length <= self.max_length:
            raise CtxlabError(
                f"--min-length {self.min_length} must be between 0 and --max-length "
                f"{self.max_length}"
            )
        if self.method == "chunk":
            if self.chunk_size < 1:
                raise CtxlabError(f"--chunk-size must be at least 1, got {self.chunk_size}")
            if not 0 <= self.overlap < self.chunk_size:
                raise CtxlabError(
                    f"--overlap {self.overlap} must be at least 0 and smaller than "
                    f"--chunk-size {self.chunk_size}: lower --overlap"
                )
        if self.method == "regex":
            if not self.pattern:
                raise CtxlabError("the regex splitter needs a pattern: pass --pattern REGEX")
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise CtxlabError(
                    f"--pattern {self.pattern!r} is not a valid regex: {err}"
                ) from None
        if self.method == "semantic" and not 0 <= self.percentile <= 100:
            raise CtxlabError(f"--percentile must be within 0..100, got {self.percentile}")


def _pieces(parts: Sequence[str]) -> list[str]:
    return [p.strip() for p in parts if p and p.strip()]


def sentences(text: str) -> list[str]:
    return _pieces(_SENTENCE_END.split(text))


def _last_space(text: str, lo: int, hi: int) -> int | None:
    for i in range(min(hi, len(text)) - 1, lo - 1, -1):
        if text[i].isspace():
            return i
    return None


def windows(text: str, size: int, overlap: int = 0) -> list[str]:
    """Windows of at most `size` characters that end at whitespace where one lies past the
    overlap, each next one starting up to `overlap` characters (snapped forward to a word start)
    before the previous one's end; a run without whitespace longer than `size` is cut hard."""
    text = text.strip()
    out, start, n = [], 0, len(text)
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = _last_space(text, start + overlap + 1, end + 1)
            end = cut if cut is not None else end
        out.append(text[start:end].strip())
        if end >= n:
            break
        nxt = end - overlap
        while overlap and nxt < end and not text[nxt - 1].isspace():
            nxt += 1
        while nxt < n and text[nxt].isspace():
            nxt += 1
        start = nxt
    return [piece for piece in out if piece]


def _bound(pieces: list[str], min_length: int, max_length: int, joiner: str) -> list[str]:
    """Cut pieces longer than max_length, then merge short ones with their neighbours."""
    cut: list[str] = []
    for piece in pieces:
        if len(piece) <= max_length:
            cut.append(piece)
            continue
        for sentence in sentences(piece):
            cut.extend([sentence] if len(sentence) <= max_length else windows(sentence, max_length))
    if min_length == 0:
        return cut
    merged: list[str] = []
    for piece in cut:
        if merged and len(merged[-1]) < min_length:
            joined = merged[-1] + joiner + piece
            if len(joined) <= max_length:
                merged[-1] = joined
                continue
        merged.append(piece)
    if len(merged) > 1 and len(merged[-1]) < min_length:
        joined = merged[-2] + joiner + merged[-1]
        if len(joined) <= max_length:
            merged[-2:] = [joined]
    return merged


def _pack(units: list[str], max_length: int, joiner: str) -> list[str]:
    """Greedily join consecutive units (sentences) while the result fits in max_length."""
    out: list[str] = []
    for unit in units:
        if out and len(out[-1]) + len(joiner) + len(unit) <= max_length:
            out[-1] = out[-1] + joiner + unit
        else:
            out.append(unit)
    return out


def semantic_breaks(vectors: np.ndarray, percentile: float) -> list[int]:
    """Indices i where a new chunk starts at unit i: the cosine distance between units i-1 and i
    is above the given percentile of all adjacent distances (LangChain's SemanticChunker rule)."""
    if len(vectors) < 2:
        return []
    a, b = vectors[:-1], vectors[1:]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    distance = 1.0 - cos
    threshold = float(np.percentile(distance, percentile))
    return [i + 1 for i, d in enumerate(distance) if d > threshold]


def split_text(text: str, config: SplitterConfig, encode: Encode | None = None) -> list[str]:
    """Chunks of `text` by `config.method`; `encode` (texts -> vectors) is needed by `semantic`."""
    config.check()
    if not text or not text.strip():
        return []
    method, joiner = config.method, " "
    if method == "paragraph":
        pieces, joiner = _pieces(_PARAGRAPH.split(text)), "\n\n"
    elif method == "sentence":
        pieces = sentences(text)
    elif method == "chunk":
        pieces = windows(text, config.chunk_size, config.overlap)
    elif method == "regex":
        pieces, joiner = _pieces(re.split(config.pattern or "", text)), "\n"
    else:
        if encode is None:
            raise CtxlabError("the semantic splitter needs an embedder to find breakpoints")
        units = sentences(text)
        starts = [0, *semantic_breaks(encode(units), config.percentile), len(units)]
        pieces = []
        for lo, hi in zip(starts, starts[1:]):
            pieces.extend(_pack(units[lo:hi], config.max_length, " "))
    return _bound(pieces, config.min_length, config.max_length, joiner)

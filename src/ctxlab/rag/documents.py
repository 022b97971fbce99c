"""Read what `ctxlab rag index` indexes: text/markdown files and jsonl passage files, then split
them into chunks.

A text file is one document titled by its file name. A jsonl(.gz) line is one passage
(`text`, `passage` or `context`, or the `text_field` a caller names, with optional `title` and
`id`) or a lost-in-the-middle record whose `ctxs` each become a passage; identical (title, text)
passages are kept once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.rag.index import Chunk
from ctxlab.rag.splitters import Encode, SplitterConfig, split_text

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files named, and the text/jsonl files under directories named, in a stable order."""
    if not paths:
        raise CtxlabError("no documents given: pass text, markdown or jsonl files or directories")
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _kind(p))
            if not found:
                raise CtxlabError(
                    f"directory {path} holds no {', '.join(TEXT_SUFFIXES + JSONL_SUFFIXES)} files"
                )
            files.extend(found)
        elif path.is_file():
            if _kind(path) is None:
                raise CtxlabError(
                    f"{path}: unsupported file type; pass text ({', '.join(TEXT_SUFFIXES)}) or "
                    "jsonl(.gz) passage files"
                )
            files.append(path)
        else:
            raise CtxlabError(f"{path} does not exist: pass existing files or directories")
    return files


def passages_of(record: object, text_field: str | None = None) -> list[dict]:
    """(title, text, id) dicts of one jsonl line: its ctxs, or the record as one passage; the
    text is `text_field` when given, else the first of text, passage and context."""
    if not isinstance(record, dict):
        raise TypeError("a line must be a JSON object")
    if isinstance(record.get("ctxs"), list) and (text_field is None or text_field not in record):
        return [
            {"title": str(c.get("title") or ""), "text": c[text_field or "text"], "id": c.get("id")}
            for c in record["ctxs"]
        ]
    for key in (text_field,) if text_field else ("text", "passage", "context"):
        if isinstance(record.get(key), str):
            return [{"title": str(record.get("title") or ""), "text": record[key]}]
    raise KeyError(text_field or "text")


def read_jsonl_passages(path: Path, text_field: str | None = None) -> Iterable[tuple[int, dict]]:
    """(line number, passage) pairs; a bad line names file:line and what it needs."""
    needs = f"a {text_field!r} field (--text-field)" if text_field else "text (or passage/context)"
    for number, raw in json_lines(path, "passages"):
        try:
            for passage in passages_of(raw, text_field):
                if not isinstance(passage["text"], str):
                    raise TypeError("text must be a string")
                yield number, passage
        except (KeyError, TypeError) as err:
            raise CtxlabError(
                f"{path}:{number} is not a passage ({type(err).__name__}: {err}): each line "
                f"needs {needs}, optionally title, or lost-in-the-middle ctxs"
            ) from None


def load_chunks(
    paths: Sequence[str | Path],
    splitter: SplitterConfig,
    encode: Encode | None = None,
    text_field: str | None = None,
) -> list[Chunk]:
    """Every file's documents split into chunks (a jsonl line's text from `text_field` when
    given); empty documents give none."""
    splitter.check()
    chunks: list[Chunk] = []
    seen: set[tuple[str, str]] = set()
    for path in expand_paths(paths):
        if _kind(path) == "text":
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise CtxlabError(f"{path} is not UTF-8 text: convert it or leave it out") from None
            docs = [(0, {"title": path.stem, "text": text})]
        else:
            docs = list(read_jsonl_passages(path, text_field))
        for line, doc in docs:
            if (doc["title"], doc["text"]) in seen:
                continue
            seen.add((doc["title"], doc["text"]))
            pieces = split_text(doc["text"], splitter, encode)
            for n, piece in enumerate(pieces):
                meta = {"part": n, "parts": len(pieces)}
                if line:
                    meta["line"] = line
                if doc.get("id") is not None:
                    meta["passage_id"] = doc["id"]
                chunks.append(Chunk(piece, doc["title"], str(path), meta))
    return chunks

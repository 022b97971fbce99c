"""Files, written so that a crash never leaves half of one, and read so that a bad line is named.

Every artifact goes through here: text, JSON and JSONL are written to a hidden temporary sibling
and renamed over the target (readers see the old file or the new one, never a torn one), and
JSONL is read by one reader that names the file and line of a record that is not JSON.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError


def write_with(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it over `path`; on any
    error the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _record(row: Any) -> Any:
    """A dict as it is; a dataclass (an `Example`) without its unset (None) fields."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {k: v for k, v in dataclasses.asdict(row).items() if v is not None}
    return row


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    """One JSON object a line, from dicts or dataclass instances (examples)."""
    lines = "".join(json.dumps(_record(r), ensure_ascii=False) + "\n" for r in rows)
    return write_text(path, lines)


def read_json(path: str | Path, what: str = "JSON") -> Any:
    """A JSON file that must be there and be valid; the error names the file."""
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(f"{what} file {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise CtxlabError(f"{path} is not valid JSON ({err})") from None


def load_json(path: str | Path, default: Any) -> Any:
    """An optional side file (timings, a summary): `default` when it is missing or damaged."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def json_lines(
    path: str | Path, what: str, hint: str = "", noun: str = "records"
) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-empty line of a jsonl(.gz) file; a line that is
    not JSON (followed by `hint`), or a file without any line, fails naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(f"{what} file {path} does not exist")
    opener = gzip.open if path.name.endswith(".gz") else open
    empty = True
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                raise CtxlabError(f"{path}:{number} is not valid JSON ({err.msg}){hint}") from None
            empty = False
            yield number, raw
    if empty:
        raise CtxlabError(f"{what} file {path} holds no {noun}")


def read_jsonl(path: str | Path, what: str = "records") -> list[Any]:
    """Every record of a jsonl(.gz) file (see `json_lines`)."""
    return [record for _, record in json_lines(path, what)]

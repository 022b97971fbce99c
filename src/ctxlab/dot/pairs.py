"""A user's (input, DOT) pairs: a JSON list or jsonl of records, or a folder of pair folders.

Records carry the input in `input_text`, `description`, `input_code` or `code` (the last two make
it a code input) and the graph in `output_dot` or `dot`. A pair folder, found at any depth, holds
`diagram.dot` beside `code.*` and/or `description.txt`; code is the input when both exist, as
research projects in this area keep scraped pairs. Graphviz checks every graph: a pair whose
"DOT" it rejects (Mermaid saved in a DOT field happens) is counted and skipped with a warning
naming the file, or, with `strict`, stops the load with one error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ctxlab.dot.graphviz import parse
from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines

TEXT_FIELDS = ("input_text", "description")
CODE_FIELDS = ("input_code", "code")
DOT_FIELDS = ("output_dot", "dot")
console = Console(stderr=True)


@dataclass(frozen=True)
class LoadedPair:
    input: str
    input_kind: str  # "spec" or "code"
    dot: str
    origin: str  # file (and record) it came from, for messages
    group: str  # breakdown column: the file's stem or the pair folder's top-level folder


def _from_record(record: Any, origin: str, group: str) -> LoadedPair:
    fields = TEXT_FIELDS + CODE_FIELDS
    if not isinstance(record, dict):
        raise CtxlabError(
            f"{origin} is not a JSON object: each pair needs an input and a DOT field"
        )
    given = [f for f in CODE_FIELDS + TEXT_FIELDS if isinstance(record.get(f), str) and record[f]]
    dot = next((record[f] for f in DOT_FIELDS if isinstance(record.get(f), str)), None)
    if not given or dot is None:
        lacking = "an input field (" + ", ".join(fields) + ")" if not given else ""
        lacking += " and " if not given and dot is None else ""
        lacking += "a DOT field (" + ", ".join(DOT_FIELDS) + ")" if dot is None else ""
        raise CtxlabError(f"{origin} lacks {lacking}: add it, or drop the record")
    kind = "code" if given[0] in CODE_FIELDS else "spec"
    return LoadedPair(record[given[0]], kind, dot, origin, group)


def _file_pairs(path: Path) -> list[LoadedPair]:
    if path.suffix == ".jsonl":
        return [
            _from_record(record, f"{path}:{number}", path.stem)
            for number, record in json_lines(path, "pairs", noun="pairs")
        ]
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CtxlabError(
            f"{path} is not JSON ({err}): pass a JSON list or jsonl of pairs"
        ) from None
    if isinstance(records, dict):
        records = records.get("pairs", [records])
    if not isinstance(records, list):
        raise CtxlabError(f"{path} holds no list of pairs: write a JSON list of objects")
    return [_from_record(r, f"{path}[{i}]", path.stem) for i, r in enumerate(records)]


def _folder_pairs(root: Path) -> list[LoadedPair]:
    pairs = []
    for diagram in sorted(root.rglob("diagram.dot")):
        folder = diagram.parent
        code = sorted(p for p in folder.glob("code.*") if p.is_file())
        description = folder / "description.txt"
        source = code[0] if code else description if description.is_file() else None
        if source is None:
            raise CtxlabError(
                f"{folder} has diagram.dot but no code.* or description.txt beside it: "
                "add the input the graph was drawn from, or remove the folder"
            )
        relative = folder.relative_to(root).parts
        pairs.append(
            LoadedPair(
                source.read_text(encoding="utf-8", errors="replace"),
                "code" if code else "spec",
                diagram.read_text(encoding="utf-8", errors="replace"),
                str(diagram),
                relative[0] if len(relative) > 1 else root.name,
            )
        )
    if not pairs:
        raise CtxlabError(
            f"no pair folder under {root}: each needs diagram.dot beside code.* or description.txt"
        )
    return pairs


def load_pairs(path: str | Path, strict: bool = False) -> list[LoadedPair]:
    """The pairs of a file or folder whose DOT Graphviz accepts; the rest are skipped with a
    warning each (or, with `strict`, refused)."""
    path = Path(path)
    if not path.exists():
        raise CtxlabError(f"pairs source {path} does not exist: pass a JSON/jsonl file or a folder")
    pairs = _folder_pairs(path) if path.is_dir() else _file_pairs(path)
    kept, skipped = [], 0
    for pair in pairs:
        checked = parse(pair.dot)
        if checked.valid:
            kept.append(pair)
            continue
        if strict:
            raise CtxlabError(
                f"{pair.origin}: Graphviz rejects its DOT ({checked.error}): fix or remove the "
                "pair, or drop --strict to skip such pairs"
            )
        skipped += 1
        console.print(
            f"[dot] skipped {pair.origin}: Graphviz rejects its DOT ({checked.error})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if skipped:
        console.print(
            f"[dot] {skipped} of {len(pairs)} pairs skipped (invalid DOT); --strict stops instead",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if not kept:
        raise CtxlabError(f"no pair in {path} has DOT that Graphviz accepts: check the DOT fields")
    return kept

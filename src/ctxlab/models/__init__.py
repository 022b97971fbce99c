"""Turn a model spec into (model, tokenizer). Knows nothing of tasks.

The built-in model table is importable without torch (`ctxlab models`, config defaults); the
loaders import torch and transformers on first use.
"""

from ctxlab.models.builtin import BUILTIN_MODELS, DEFAULT_MODEL, builtin_cache_dir

LOADERS = ("LoadedModel", "load_model", "load_tokenizer", "resolve_dtype")


def __getattr__(name: str):
    if name in LOADERS:
        from ctxlab.models import loading

        return getattr(loading, name)
    raise AttributeError(name)


__all__ = ["BUILTIN_MODELS", "DEFAULT_MODEL", "builtin_cache_dir", *LOADERS]

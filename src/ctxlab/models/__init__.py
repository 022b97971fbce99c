"""Turn a model spec into (model, tokenizer). Knows nothing of tasks."""

from ctxlab.models.loading import (
    BUILTIN_MODELS,
    DEFAULT_MODEL,
    LoadedModel,
    builtin_cache_dir,
    load_model,
    load_tokenizer,
    resolve_dtype,
)

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "LoadedModel",
    "builtin_cache_dir",
    "load_model",
    "load_tokenizer",
    "resolve_dtype",
]

"""Shared fixtures: the built-in model and its tokenizer, loaded once per test session.

The suite runs offline. The built-in model's converted copy is cached under $CTXLAB_CACHE
(default ~/.cache/ctxlab), which is left alone so a cached conversion is reused.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def builtin():
    """The built-in model (smollm2-135m) in its default dtype."""
    from ctxlab.models import load_model

    return load_model("smollm2-135m")


@pytest.fixture(scope="session")
def tokenizer():
    """(tokenizer, max_length) of the built-in model."""
    from ctxlab.models import load_tokenizer

    return load_tokenizer("smollm2-135m")

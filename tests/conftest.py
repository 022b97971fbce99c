"""Shared fixtures: the built-in model and its tokenizer, loaded once per test session.

The suite runs offline. The built-in model's converted copy is cached under $CTXLAB_CACHE
(default ~/.cache/ctxlab), which is left alone so a cached conversion is reused.
"""

import os
from pathlib import Path

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


@pytest.fixture(scope="session")
def shared_data():
    """The shared data folder ($CTXLAB_SHARED_DATA, default ../shared/data beside the repo);
    a test that needs it is skipped when it is missing."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = Path(os.environ.get("CTXLAB_SHARED_DATA", default))
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is missing: set CTXLAB_SHARED_DATA to it")
    return path


@pytest.fixture(scope="session")
def oracle(shared_data) -> Path:
    """The lost-in-the-middle NQ-Open records with gold passages (qa, multidoc, rag)."""
    path = shared_data / "lost_in_the_middle/nq-open-oracle.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} is missing (shared lost-in-the-middle data)")
    return path

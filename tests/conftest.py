"""Shared fixtures: the built-in model and its tokenizer (loaded once per session), a tiny
random-weight model directory, and the shared data folder.

Two tiers: tests of behaviour run on the tiny model or on no model; tests that load the built-in
model to pin a real number are marked `integration` (automatically when they use `builtin`).
`make test` runs both; `make test-fast` (`pytest -m "not integration"`) the first. The suite runs
offline; the built-in model's converted copy is cached under $CTXLAB_CACHE (default
~/.cache/ctxlab), which is left alone so a cached conversion is reused.
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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A 2-layer Llama with random weights and the built-in tokenizer, saved as a model
    directory (~3M parameters, loads in well under a second): for tests of the engine, the
    trainer and the recipes that pin behaviour, not a real score."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer[0]
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def pytest_collection_modifyitems(config, items):
    """Tests on the built-in model (the `builtin` fixture) are the integration tier."""
    for item in items:
        if "builtin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def folio_dir(shared_data) -> Path:
    """FOLIO v0.0 (folio-train.jsonl, folio-validation.jsonl) from the shared data folder."""
    path = shared_data / "folio"
    if not (path / "folio-validation.jsonl").is_file():
        pytest.skip(f"{path} has no folio-validation.jsonl (shared FOLIO data)")
    return path


@pytest.fixture(scope="session")
def graphviz() -> str:
    """The real `dot` program (`make setup` installs it): the dot task's tests need the oracle
    itself, so its absence fails them with the install hint rather than skipping them."""
    from ctxlab.dot.graphviz import dot_binary
    from ctxlab.errors import CtxlabError

    try:
        return dot_binary()
    except CtxlabError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny, dispatch-bound models (from-scratch pre-training,
    sentence codecs): on the shared 2-core machine two threads made a GRU codec's backward ~50x
    slower (2 s a step) while another process was busy; one thread runs it in ~0.04 s.
    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    saved = os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = "1"  # what the CLI's thread setting reads
    torch.set_num_threads(1)
    yield
    if saved[0] is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = saved[0]
    torch.set_num_threads(saved[1])

"""Precomputed sentence embeddings: float16 memory-mapped rows equal to the codec's vectors,
a second precompute encodes only new texts, codecs never share a store, the RAM/disk figure,
and bad input (an empty list, a text never precomputed, another dtype) as one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctxlab.errors import CtxlabError
from ctxlab.sentence.charcodec import TinyCodec
from ctxlab.sentence.store import precompute, store_dir

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return TinyCodec()


def test_store_is_memory_mapped_and_cached_by_text(tiny, tmp_path):
    texts = ["One.", "Two.", "One.", "The value for a-b is: 1234567."]
    store, stats = precompute(tiny, texts, tmp_path)
    assert isinstance(store.vectors, np.memmap) and store.vectors.dtype == np.float16
    assert stats.rows == 3 and stats.encoded == 3 and stats.cached == 0
    assert stats.ram_bytes == 3 * 16 * 2 and stats.disk_bytes > stats.ram_bytes
    assert "MiB on disk" in stats.line() and "memory-mapped" in stats.line()
    assert torch.allclose(store.get(texts[:2]), tiny.encode(texts[:2]), atol=2e-3)
    store, stats = precompute(tiny, ["Two.", "Three."], tmp_path)
    assert (stats.rows, stats.encoded, stats.cached) == (4, 1, 1)
    assert torch.allclose(store.get(["Three.", "One."]), tiny.encode(["Three.", "One."]), atol=2e-3)


def test_two_codecs_never_share_a_store(tiny, tmp_path):
    torch.manual_seed(1)
    other = TinyCodec()
    assert store_dir(tmp_path, tiny) != store_dir(tmp_path, other)
    exact, _ = precompute(other, ["One."], tmp_path / "f32", dtype="float32")
    assert torch.equal(exact.get(["One."]), other.encode(["One."]))


def test_bad_input_is_one_line(tiny, tmp_path):
    with pytest.raises(CtxlabError, match="texts to precompute: the list is empty"):
        precompute(tiny, [], tmp_path)
    store, _ = precompute(tiny, ["One."], tmp_path)
    with pytest.raises(CtxlabError, match="'Never seen.' is not in the embedding store"):
        store.get(["Never seen."])
    with pytest.raises(CtxlabError, match="holds float16 vectors, not float32"):
        precompute(tiny, ["Two."], tmp_path, dtype="float32")

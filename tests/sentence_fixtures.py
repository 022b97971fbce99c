"""What the sentence-LM tests share: one torch thread. Their models are tiny and
dispatch-bound, and on the shared 2-core machine two threads made a GRU codec's backward pass
~50x slower (2 s a step) while another process was busy; one thread runs it in ~0.04 s."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    saved = os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = "1"  # what the CLI's thread setting reads
    torch.set_num_threads(1)
    yield
    if saved[0] is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = saved[0]
    torch.set_num_threads(saved[1])

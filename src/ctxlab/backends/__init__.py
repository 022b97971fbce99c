"""Where completions come from: requests in (`GenerationRequest`: messages, assistant prefix,
stop strings, budget), `Generation`s out, greedy or seeded sampling.

- `hf` (default): ctxlab's own engine (`ctxlab.generation`) on a model in this process.
- `openai`: any OpenAI-compatible chat-completions server (`--model openai:NAME --base-url URL`):
  vLLM's or llama.cpp's server, Ollama, TGI, hosted APIs, or `ctxlab serve` (`backends/openai.py`).
- `vllm`: vLLM's offline engine on a GPU (`backends/vllm.py`).

A `LoadedModel` whose `backend` is set generates through it; everything that evaluates calls
`generate_with(loaded, ...)`, so no caller knows which one it has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from ctxlab.generation import Generation, Sampling
from ctxlab.lookup import PromptLookup
from ctxlab.prompts import GenerationRequest

OPENAI_PREFIX = "openai:"
OnBatch = Callable[[list[int], list[Generation]], None]  # finished items and their completions


class Backend(Protocol):
    """What generates for a `LoadedModel` that holds no in-process model."""

    device: str  # where it runs, for the run's summary ("openai http://...", "cuda x2")

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        batch_size: int,
        progress: bool,
        description: str,
        sampling: Sampling | None = None,
        on_batch: OnBatch | None = None,
    ) -> list[Generation]: ...


def generate_with(
    loaded,
    requests: Sequence[GenerationRequest],
    batch_size: int = 8,
    progress: bool = True,
    description: str = "generating",
    sampling: Sampling | None = None,
    on_batch: OnBatch | None = None,
    lookup: PromptLookup | Literal["auto"] | None = "auto",
) -> list[Generation]:
    """Completions of `requests` from a `LoadedModel`, through its backend if it has one;
    `on_batch` hears each group of finished items as it completes. `lookup` (prompt-lookup
    drafting of greedy tokens) is the in-process engine's; other backends decode their own way."""
    if loaded.backend is not None:
        return loaded.backend.generate(
            requests, batch_size, progress, description, sampling, on_batch
        )
    from ctxlab.generation import generate

    return generate(
        loaded.model,
        loaded.tokenizer,
        requests,
        batch_size,
        progress,
        description,
        sampling,
        on_batch,
        lookup,
    )


def backend_name(name: str, backend: str) -> str:
    """The backend a model config asks for: `openai:NAME` means the openai backend."""
    return "openai" if name.startswith(OPENAI_PREFIX) else backend


def load_backend(model_config):
    """A `LoadedModel` that generates through the openai or vllm backend. Nothing is loaded on
    a machine the backend cannot run on (vllm without CUDA): one error says why."""
    import time

    from ctxlab.errors import CtxlabError
    from ctxlab.models import LoadedModel, load_tokenizer

    m = model_config
    kind = backend_name(m.name, m.backend)
    start = time.perf_counter()
    tokenizer, max_length = (
        load_tokenizer(m.tokenizer, m.trust_remote_code) if m.tokenizer else (None, 2**31 - 1)
    )
    if m.adapter and kind == "openai":
        raise CtxlabError(
            f"a server brings its own weights: serve the adapter (`ctxlab serve MODEL --adapter "
            f"{m.adapter}`) and drop --adapter here"
        )
    if kind == "openai":
        from ctxlab.backends.openai import OpenAIBackend

        served = m.name.removeprefix(OPENAI_PREFIX)
        if not m.base_url:
            raise CtxlabError(
                f"--model {m.name} needs the server's address: pass --base-url "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        backend = OpenAIBackend(served, m.base_url, m.api_key_env, m.concurrency, m.timeout_s)
        backend.check()
    else:
        from ctxlab.backends.vllm import VLLMBackend, check_available

        check_available()
        backend = VLLMBackend(m.name, m.tensor_parallel, m.adapter)
        tokenizer = backend.tokenizer
        max_length = backend.llm.llm_engine.model_config.max_model_len
    elapsed = time.perf_counter() - start
    return LoadedModel(None, tokenizer, m.name, None, max_length, elapsed, backend=backend)

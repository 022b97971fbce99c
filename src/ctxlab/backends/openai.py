"""The `openai` backend: any OpenAI-compatible chat-completions server, through the official
client.

Requests run with bounded concurrency (a thread pool; the server batches them); the client
retries 429 and 5xx answers with exponential backoff and gives up after a timeout. An assistant
prefix (NIAH's "The special magic number ... is") is sent as a final assistant message with
`continue_final_message`, as vLLM's server and `ctxlab serve` read it, so the prompt is the one
the in-process engine renders. A prompt the server refuses as too long is reported for that
example (an empty completion, `stopped_by` naming the error) and the evaluation goes on; a
server that stops answering ends the run with one line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ctxlab.errors import CtxlabError
from ctxlab.generation import Generation, Sampling, cut_at_stop
from ctxlab.prompts import GenerationRequest

MAX_STOP = 4  # the chat-completions API takes at most four stop strings
CONTEXT_WORDS = ("context length", "context_length", "maximum context", "too long")


def request_body(
    model: str, request: GenerationRequest, sampling: Sampling | None, seed: int | None
) -> dict[str, Any]:
    """The chat-completions arguments of one request: greedy as temperature 0, or the sampling
    settings with the completion's own seed."""
    messages = [dict(m) for m in request.messages]
    body: dict[str, Any] = {"model": model, "max_tokens": request.max_new_tokens}
    if request.assistant_prefix:
        messages.append({"role": "assistant", "content": request.assistant_prefix})
        body["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
    body["messages"] = messages
    if request.stop:
        body["stop"] = list(request.stop)[:MAX_STOP]
    if sampling is None:
        body["temperature"] = 0.0
    else:
        body.update(temperature=sampling.temperature, top_p=sampling.top_p, seed=seed)
    return body


class OpenAIBackend:
    """Completions from a chat-completions server at `base_url`."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 4,
    ):
        from openai import OpenAI

        self.model, self.base_url, self.concurrency = model, base_url, concurrency
        self.device = f"openai {base_url}"
        key = os.environ.get(api_key_env) or "not-needed"  # local servers take any key
        self.client = OpenAI(
            base_url=base_url, api_key=key, timeout=timeout_s, max_retries=max_retries
        )

    def check(self) -> None:
        """Fail early, in one line, when the server is not there or lacks the model."""
        import openai

        try:
            served = [m.id for m in self.client.models.list()]
        except openai.APIConnectionError as err:
            raise CtxlabError(
                f"no OpenAI-compatible server answers at {self.base_url} ({err}): start one "
                "(e.g. `ctxlab serve MODEL`) or fix --base-url"
            ) from None
        if served and self.model not in served:
            raise CtxlabError(
                f"the server at {self.base_url} serves {', '.join(served)}, not {self.model!r}: "
                f"pass --model openai:{served[0]}"
            )

    def _one(self, request: GenerationRequest, sampling: Sampling | None, seed: int | None):
        import openai

        try:
            reply = self.client.chat.completions.create(
                **request_body(self.model, request, sampling, seed)
            )
        except openai.BadRequestError as err:
            if any(word in str(err).lower() for word in CONTEXT_WORDS):
                return Generation("", 0, 0, stopped_by=f"error: {err.message}")
            raise CtxlabError(f"the server at {self.base_url} refused a request: {err}") from None
        except (openai.APIConnectionError, openai.APIStatusError) as err:
            raise CtxlabError(
                f"the server at {self.base_url} stopped answering ({type(err).__name__}: "
                f"{err}): restart it and rerun"
            ) from None
        choice = reply.choices[0]
        text, hit = cut_at_stop(choice.message.content or "", request.stop)
        usage = reply.usage
        return Generation(
            text,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            stopped_by=hit or ("length" if choice.finish_reason == "length" else "eos"),
        )

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        batch_size: int = 8,
        progress: bool = True,
        description: str = "generating",
        sampling: Sampling | None = None,
        on_batch=None,
    ) -> list[Generation]:
        """Completions in input order (`on_batch` hears each as it arrives, in order); with
        `sampling`, `num_samples` per request (request i's are items i*n .. i*n+n-1), each
        seeded as the in-process engine seeds its rows."""
        n = sampling.num_samples if sampling is not None else 1
        jobs = [
            (r, sampling.row_seed(i, s) if sampling else None)
            for i, r in enumerate(requests)
            for s in range(n)
        ]
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        results: list[Generation] = []
        with (
            Progress(*columns, TimeElapsedColumn(), disable=not progress) as bar,
            ThreadPoolExecutor(max_workers=self.concurrency) as pool,
        ):
            task = bar.add_task(description, total=len(jobs))
            futures = [pool.submit(self._one, r, sampling, seed) for r, seed in jobs]
            try:
                for i, future in enumerate(futures):
                    results.append(future.result())
                    if on_batch is not None:
                        on_batch([i], [results[-1]])
                    bar.advance(task)
            except CtxlabError:
                for future in futures:
                    future.cancel()
                raise
        return results

"""`ctxlab serve`: an OpenAI-compatible chat-completions server (`/v1/chat/completions`,
`/v1/models`) over ctxlab's own engine, so a fine-tuned adapter can be tried from any client.

Requests that arrive together are decoded together: one worker thread owns the model and takes
whatever is queued (up to the batch size, waiting a few milliseconds for company) into one engine
call. Greedy requests share batches; a sampled request (temperature > 0) runs with its own seed,
as the engine seeds each completion, so its text does not depend on what else was queued. A
final assistant message with `continue_final_message` continues that message (the answer prefix
of NIAH), as vLLM's server does. A prompt too long for the window gets a 400 naming the limit.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any, Literal

from pydantic import BaseModel, Field

from ctxlab.generation import Generation, Sampling, generate
from ctxlab.prompts import GenerationRequest, count_prompt_tokens

WAIT_S = 0.02  # how long the first request of a batch waits for others


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    """The fields of the chat-completions request that ctxlab's engine honours."""

    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = None
    n: Literal[1] = 1
    continue_final_message: bool = False
    add_generation_prompt: bool = True


def engine_request(body: ChatRequest, default_tokens: int) -> GenerationRequest:
    """The engine's request for a chat request (the last assistant message continued when asked)."""
    messages = [m.model_dump() for m in body.messages]
    prefix = ""
    if body.continue_final_message and messages[-1]["role"] == "assistant":
        prefix = messages.pop()["content"]
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    tokens = body.max_completion_tokens or body.max_tokens or default_tokens
    return GenerationRequest(messages, prefix, tuple(stop), tokens)


class Batcher:
    """One worker thread that runs queued requests through the engine in batches."""

    def __init__(self, loaded, batch_size: int = 8):
        self.loaded, self.batch_size = loaded, batch_size
        self.queue: queue.Queue[tuple[GenerationRequest, Sampling | None, Future]] = queue.Queue()
        self.batches: list[int] = []  # sizes of the batches run, for tests and logs
        threading.Thread(target=self._work, daemon=True, name="ctxlab-serve").start()

    def submit(self, request: GenerationRequest, sampling: Sampling | None) -> Generation:
        done: Future = Future()
        self.queue.put((request, sampling, done))
        return done.result()

    def _take(self) -> list[tuple[GenerationRequest, Sampling | None, Future]]:
        batch = [self.queue.get()]
        deadline = time.monotonic() + WAIT_S
        while len(batch) < self.batch_size:
            try:
                batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _work(self) -> None:
        while True:
            batch = self._take()
            greedy = [item for item in batch if item[1] is None]
            groups = [greedy] if greedy else []
            groups += [[item] for item in batch if item[1] is not None]
            for group in groups:
                self._run(group)

    def _run(self, group: list[tuple[GenerationRequest, Sampling | None, Future]]) -> None:
        try:
            outputs = generate(
                self.loaded.model,
                self.loaded.tokenizer,
                [request for request, _, _ in group],
                len(group),
                progress=False,
                sampling=group[0][1],
            )
        except Exception as err:  # the client gets a 500 with the reason; the server goes on
            for _, _, done in group:
                done.set_exception(err)
            return
        self.batches.append(len(group))
        for (_, _, done), output in zip(group, outputs):
            done.set_result(output)


def completion(model: str, output: Generation) -> dict[str, Any]:
    finish = "length" if output.stopped_by == "length" else "stop"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": output.text},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": output.prompt_tokens,
            "completion_tokens": output.generated_tokens,
            "total_tokens": output.prompt_tokens + output.generated_tokens,
        },
    }


def make_app(loaded, served_name: str, batch_size: int = 8, default_tokens: int = 256):
    """The FastAPI application serving `loaded` (a `LoadedModel`) under `served_name`."""
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    app = FastAPI(title="ctxlab serve")
    app.state.batcher = batcher = Batcher(loaded, batch_size)

    def error(status: int, message: str, kind: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        card = {"id": served_name, "object": "model", "created": 0, "owned_by": "ctxlab"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest):
        if body.model != served_name:
            return error(
                404,
                f"model {body.model!r} is not served here: use {served_name!r}",
                "model_not_found",
            )
        request = engine_request(body, default_tokens)
        prompt = count_prompt_tokens(loaded.tokenizer, request.messages, request.assistant_prefix)
        if prompt + request.max_new_tokens > loaded.max_length:
            return error(
                400,
                f"this model's maximum context length is {loaded.max_length} tokens; the "
                f"request needs {prompt} prompt + {request.max_new_tokens} completion tokens",
                "invalid_request_error",
            )
        sampling = None
        if body.temperature > 0:
            sampling = Sampling(body.temperature, body.top_p, body.seed or 0, 1)
        output = await run_in_threadpool(batcher.submit, request, sampling)
        return completion(served_name, output)

    return app

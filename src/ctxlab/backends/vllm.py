"""The `vllm` backend: vLLM's offline `LLM` on a GPU, with the model's chat template, the task's
stop strings and budgets in `SamplingParams`, per-request seeds, tensor parallelism and LoRA
adapters.

vLLM needs CUDA; on a machine without it (or without the `vllm` package: `pip install
ctxlab[vllm]`) `check_available` stops before anything loads, with one line saying why. The
mapping of requests to prompts and sampling parameters is plain Python, tested anywhere.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.generation import Generation, Sampling, cut_at_stop
from ctxlab.prompts import GenerationRequest, render_prompt


def check_available() -> None:
    """One error naming what is missing for vLLM on this machine."""
    import torch

    if not torch.cuda.is_available():
        raise CtxlabError(
            "--backend vllm needs a CUDA GPU and this machine has none: use --backend hf "
            "(the default) here, or run on a GPU machine"
        )
    if importlib.util.find_spec("vllm") is None:
        raise CtxlabError("--backend vllm needs the vllm package: pip install 'ctxlab[vllm]'")


def sampling_settings(
    request: GenerationRequest, sampling: Sampling | None, seed: int | None
) -> dict[str, Any]:
    """The `SamplingParams` arguments of one completion: greedy as temperature 0 (vLLM's
    convention), else the sampling settings and the completion's own seed."""
    settings: dict[str, Any] = {
        "max_tokens": request.max_new_tokens,
        "stop": list(request.stop),
        "temperature": 0.0,
    }
    if sampling is not None:
        settings.update(temperature=sampling.temperature, top_p=sampling.top_p, seed=seed)
    return settings


def prompts_and_settings(
    tokenizer, requests: Sequence[GenerationRequest], sampling: Sampling | None
) -> list[tuple[str, dict[str, Any]]]:
    """(prompt text, sampling settings) per completion, in the engine's order: the prompt is
    ctxlab's own rendering (chat template, open assistant turn, prefix), so both backends read
    the same text."""
    n = sampling.num_samples if sampling is not None else 1
    return [
        (
            render_prompt(tokenizer, r.messages, r.assistant_prefix),
            sampling_settings(r, sampling, sampling.row_seed(i, s) if sampling else None),
        )
        for i, r in enumerate(requests)
        for s in range(n)
    ]


class VLLMBackend:
    """Completions from vLLM's offline engine on this machine's GPUs."""

    def __init__(
        self, model: str, tensor_parallel: int = 1, adapter: str | None = None, dtype="auto"
    ):
        check_available()
        from vllm import LLM

        self.llm = LLM(
            model=model,
            tensor_parallel_size=tensor_parallel,
            dtype=dtype,
            enable_lora=adapter is not None,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.adapter = adapter
        self.device = f"cuda x{tensor_parallel} (vllm)"

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        batch_size: int = 8,
        progress: bool = True,
        description: str = "generating",
        sampling: Sampling | None = None,
        on_batch=None,
    ) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        planned = prompts_and_settings(self.tokenizer, requests, sampling)
        lora = LoRARequest("adapter", 1, self.adapter) if self.adapter else None
        outputs = self.llm.generate(
            [p for p, _ in planned],
            [SamplingParams(**s) for _, s in planned],
            use_tqdm=progress,
            lora_request=lora,
        )
        results = []
        for (_, settings), out in zip(planned, outputs):
            completion = out.outputs[0]
            text, hit = cut_at_stop(completion.text, settings["stop"])
            finished = "length" if completion.finish_reason == "length" else "eos"
            results.append(
                Generation(
                    text, len(out.prompt_token_ids), len(completion.token_ids), hit or finished
                )
            )
        if on_batch is not None:  # vLLM returns all at once
            on_batch(list(range(len(results))), results)
        return results

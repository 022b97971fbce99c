"""Best checkpoint by the task's own metric: generate the validation answers and score them.

Validation loss is cheap but only a proxy; `best_metric: task_metric` makes `Trainer` pick the
checkpoint (and early-stop) on what `ctxlab eval` will measure, with the same prompts and engine.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ctxlab.tasks.base import Example, Task


def task_metric_scorer(
    task: Task, examples: list[Example], tokenizer, bf16: bool, batch_size: int
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """A function that generates answers to `examples` with the model being trained (greedy, the
    eval engine and prompts) and returns the task's mean scores."""
    from ctxlab.generation import generate

    requests = task.requests(examples)

    def scores(model: torch.nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
                outputs = generate(model, tokenizer, requests, batch_size, progress=False)
        finally:
            model.train(was_training)
        scored = task.score_batch(examples, [out.text for out in outputs])
        return {m: sum(s[m] for _, s in scored) / len(scored) for m in task.metrics}

    return scores

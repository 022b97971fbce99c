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
    from ctxlab.evaluation import score_predictions
    from ctxlab.generation import GenerationRequest, generate

    requests = [
        GenerationRequest(*task.prompt(e), task.stop, task.max_new_tokens) for e in examples
    ]

    def scores(model: torch.nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
                outputs = generate(model, tokenizer, requests, batch_size, progress=False)
        finally:
            model.train(was_training)
        records = score_predictions(task, examples, outputs)
        return {m: sum(r["scores"][m] for r in records) / len(records) for m in task.metrics}

    return scores

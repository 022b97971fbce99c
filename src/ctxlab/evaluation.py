"""(model, task, examples) -> predictions, scores with 95% intervals, and a breakdown by the
metadata that matters.

The task builds the requests (prompt, stop strings, budget) and scores the completions; this
module only runs them through the engine and aggregates. Every aggregate carries its interval
(`ctxlab.stats`), so a score on 40 examples is never reported as a bare point.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ctxlab.config import Config
from ctxlab.errors import CtxlabError
from ctxlab.io import write_json, write_jsonl
from ctxlab.models import LoadedModel
from ctxlab.prompts import count_prompt_tokens
from ctxlab.reporting.artifacts import EvalResults
from ctxlab.stats import breakdown, summarize
from ctxlab.tasks.base import Example, Task, get_task_class
from ctxlab.threads import describe, machine

console = Console(stderr=True)
PARTIAL = "predictions.partial.jsonl"  # records of finished batches, while an eval runs


@dataclass
class EvalResult:
    run_dir: Path | None
    results: dict[str, Any]
    predictions: list[dict[str, Any]]
    summary: dict[str, Any]


def make_task(config: Config) -> Task:
    return get_task_class(config.task.name)(config.task)


def budget(config: Config, task: Task) -> int:
    """Generated tokens per example: `eval.max_new_tokens`, else the task's own."""
    return config.eval.max_new_tokens or task.max_new_tokens


def check_window(examples: list[Example], task: Task, loaded: LoadedModel, tokens: int) -> None:
    """Refuse, before generating, an example whose prompt plus budget exceeds the window (a
    server without a tokenizer given judges that itself, per example)."""
    if loaded.tokenizer is None:
        return
    for example in examples:
        messages, prefix = task.prompt(example)
        prompt = count_prompt_tokens(loaded.tokenizer, messages, prefix)
        if prompt + tokens > loaded.max_length:
            raise CtxlabError(
                f"example {example.id} needs {prompt} prompt + {tokens} generated "
                f"tokens, beyond {loaded.name}'s window of {loaded.max_length}: "
                "use shorter contexts or a model with a longer window"
            )


def score_outputs(task: Task, examples: list[Example], outputs) -> list[dict]:
    """Prediction records: the task's cleaned prediction and scores, with the token counts."""
    scored = task.score_batch(examples, [out.text for out in outputs])
    return [
        {
            "id": example.id,
            "prediction": prediction,
            "raw_prediction": out.text,
            "answers": example.answers,
            "scores": scores,
            "prompt_tokens": out.prompt_tokens,
            "generated_tokens": out.generated_tokens,
            "meta": example.meta,
        }
        for example, out, (prediction, scores) in zip(examples, outputs, scored)
    ]


def read_partial(out_dir: Path) -> dict[str, dict]:
    """The prediction records a failed eval kept (`PARTIAL`), by example id; a line cut off by
    the kill is dropped (its example is generated again)."""
    path = out_dir / PARTIAL
    done: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[record["id"]] = record
    return done


def run_eval(
    config: Config,
    task: Task,
    examples: list[Example],
    loaded: LoadedModel,
    out_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalResult:
    """Generate, score and aggregate; writes predictions, results and summary into `out_dir`
    when given (the eval-run layout, also each part of a recipe's run: baseline/, tuned/, ...)."""
    records, eval_s = predict(config, task, examples, loaded, out_dir, log)
    return aggregate(config, task, records, loaded, eval_s, out_dir, log)


def predict(
    config: Config,
    task: Task,
    examples: list[Example],
    loaded: LoadedModel,
    out_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[list[dict], float]:
    """(prediction records in example order, seconds generating).

    With `out_dir`, each finished batch's records are appended (flushed) to `PARTIAL` at once,
    and records already there are reused, not generated again: a killed eval rerun in the same
    directory continues where it stopped and ends with the results of an uninterrupted run."""
    from ctxlab.backends import generate_with

    tokens = budget(config, task)
    if config.eval.progress:
        console.print(f"{task.name} eval: {describe(machine())}", markup=False, highlight=False)
    done = read_partial(out_dir) if out_dir is not None else {}
    todo = [e for e in examples if e.id not in done]
    if done and log is not None:
        log(f"resumed: {len(examples) - len(todo)} of {len(examples)} examples reused")
    fresh: dict[str, dict] = {}
    partial = open(out_dir / PARTIAL, "a", encoding="utf-8") if out_dir is not None else None

    def keep(indices: list[int], outs: list) -> None:
        for record in score_outputs(task, [todo[i] for i in indices], outs):
            fresh[record["id"]] = record
            if partial is not None:
                partial.write(json.dumps(record, ensure_ascii=False) + "\n")
        if partial is not None:
            partial.flush()
            os.fsync(partial.fileno())

    start = time.perf_counter()
    try:
        generate_with(
            loaded,
            task.requests(todo, tokens),
            config.eval.batch_size,
            progress=config.eval.progress,
            description=f"{task.name} eval",
            on_batch=keep,
            lookup=config.eval.lookup(loaded.model),
        )
    finally:
        if partial is not None:
            partial.close()
    eval_s = time.perf_counter() - start
    return [done.get(e.id) or fresh[e.id] for e in examples], eval_s


def aggregate(
    config: Config,
    task: Task,
    records: list[dict],
    loaded: LoadedModel,
    eval_s: float,
    out_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalResult:
    """Scores with intervals, the breakdown and the summary of prediction records; written
    into `out_dir` when given."""
    scores = summarize(records, task.metrics)
    results = EvalResults(
        task=task.name,
        model=loaded.name,
        num_evaluated=len(records),
        **scores,
        breakdown_keys=list(task.breakdown_keys),
        breakdown=breakdown(records, task.breakdown_keys, task.metrics),
        examples=records[:20],
        rope_scaling=loaded.rope_scaling,
    ).model_dump(mode="json")
    prompt_tokens = sum(r["prompt_tokens"] for r in records)
    summary = {
        "timing": {
            "load_s": round(loaded.load_s, 3),
            "eval_s": round(eval_s, 3),
            "prompt_tokens": prompt_tokens,
            "generated_tokens": sum(r["generated_tokens"] for r in records),
            "prompt_tokens_per_s": round(prompt_tokens / eval_s, 1) if eval_s else None,
        },
        "model": {
            "name": loaded.name,
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "device": loaded.backend.device if loaded.backend else str(loaded.model.device),
            "max_length": loaded.max_length,
            "rope_scaling": loaded.rope_scaling,
        },
        "batch_size": config.eval.batch_size,
        "max_new_tokens": budget(config, task),
        "machine": machine(),
    }
    if config.eval.print_outputs:
        for r in records:
            console.print(
                f"[bold]{r['id']}[/] {r['scores']} answers={r['answers']} "
                f"prediction={r['prediction']!r}",
                markup=True,
                highlight=False,
            )
    if out_dir is not None:
        write_jsonl(out_dir / "predictions.jsonl", records)
        write_json(out_dir / "results.json", results)
        write_json(out_dir / "summary.json", summary)
        (out_dir / PARTIAL).unlink(missing_ok=True)
    if log is not None:
        main = task.metrics[0]
        log(
            f"{task.name} on {loaded.name}: {len(records)} examples, {main} "
            f"{results['metrics'][main]:.2f}, {eval_s:.1f} s, "
            f"{prompt_tokens / max(eval_s, 1e-9):.0f} prompt tok/s"
        )
    return EvalResult(out_dir, results, records, summary)

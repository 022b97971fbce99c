"""(model, task, examples) -> predictions, scores and a breakdown by the metadata that matters."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ctxlab.config import Config
from ctxlab.errors import CtxlabError
from ctxlab.generation import GenerationRequest, generate
from ctxlab.models import LoadedModel, load_model
from ctxlab.prompts import count_prompt_tokens
from ctxlab.tasks.base import Example, Task, get_task_class, read_jsonl
from ctxlab.tracking import RunDir, write_json, write_jsonl

console = Console(stderr=True)


@dataclass
class EvalResult:
    run_dir: Path | None
    results: dict[str, Any]
    predictions: list[dict[str, Any]]
    summary: dict[str, Any]


def make_task(config: Config) -> Task:
    return get_task_class(config.task.name)(config.task)


def read_task_data(path: str, task: Task) -> list[Example]:
    """Examples from a jsonl file, checked to belong to the task being evaluated. A task with a
    `read_data(path)` method reads the file itself (multidoc builds contexts from records)."""
    reader = getattr(task, "read_data", None)
    examples = reader(path) if callable(reader) else read_jsonl(path)
    other = sorted({e.task for e in examples if e.task != task.name})
    if other:
        raise CtxlabError(
            f"{path} holds {other[0]!r} examples but the task is {task.name!r}: "
            f"pass --task {other[0]}"
        )
    return examples


def _budget(config: Config, task: Task) -> int:
    return (
        config.eval.max_new_tokens
        if config.eval.max_new_tokens is not None
        else (task.max_new_tokens)
    )


def _check_window(examples: list[Example], task: Task, loaded: LoadedModel, budget: int) -> None:
    for example in examples:
        messages, prefix = task.prompt(example)
        tokens = count_prompt_tokens(loaded.tokenizer, messages, prefix)
        if tokens + budget > loaded.max_length:
            raise CtxlabError(
                f"example {example.id} needs {tokens} prompt + {budget} generated "
                f"tokens, beyond {loaded.name}'s window of {loaded.max_length}: "
                "use shorter contexts or a model with a longer window"
            )


def breakdown(records: list[dict], keys: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict]:
    """Mean score per combination of the task's breakdown keys (found in each example's meta)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        groups[tuple(record["meta"].get(k) for k in keys)].append(record)
    rows = []
    for values in sorted(groups, key=lambda v: tuple((x is None, str(type(x)), x) for x in v)):
        group = groups[values]
        row: dict[str, Any] = dict(zip(keys, values))
        row["n"] = len(group)
        for metric in metrics:
            row[metric] = sum(r["scores"][metric] for r in group) / len(group)
        rows.append(row)
    return rows


def score_predictions(task: Task, examples: list[Example], outputs) -> list[dict]:
    records = []
    for example, out in zip(examples, outputs):
        prediction = task.clean_prediction(out.text)
        records.append(
            {
                "id": example.id,
                "prediction": prediction,
                "raw_prediction": out.text,
                "answers": example.answers,
                "scores": task.score(prediction, example),
                "prompt_tokens": out.prompt_tokens,
                "generated_tokens": out.generated_tokens,
                "meta": example.meta,
            }
        )
    return records


def run_eval(
    config: Config,
    task: Task,
    examples: list[Example],
    loaded: LoadedModel,
    out_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalResult:
    """Generate, score and aggregate; writes predictions, results and summary into `out_dir`
    when given (the eval-run layout, also used by `ctxlab run` for baseline/ and tuned/)."""
    budget = _budget(config, task)
    requests = []
    for example in examples:
        messages, prefix = task.prompt(example)
        requests.append(GenerationRequest(messages, prefix, task.stop, budget))
    start = time.perf_counter()
    outputs = generate(
        loaded.model,
        loaded.tokenizer,
        requests,
        config.eval.batch_size,
        progress=config.eval.progress,
        description=f"{task.name} eval",
    )
    eval_s = time.perf_counter() - start
    records = score_predictions(task, examples, outputs)
    metrics = {m: sum(r["scores"][m] for r in records) / len(records) for m in task.metrics}
    results = {
        "task": task.name,
        "model": loaded.name,
        "num_evaluated": len(records),
        "metrics": metrics,
        "breakdown": breakdown(records, task.breakdown_keys, task.metrics),
        "examples": records[:20],
    }
    prompt_tokens = sum(r["prompt_tokens"] for r in records)
    generated = sum(r["generated_tokens"] for r in records)
    summary = {
        "timing": {
            "load_s": round(loaded.load_s, 3),
            "eval_s": round(eval_s, 3),
            "prompt_tokens": prompt_tokens,
            "generated_tokens": generated,
            "prompt_tokens_per_s": round(prompt_tokens / eval_s, 1) if eval_s else None,
        },
        "model": {
            "name": loaded.name,
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "device": str(loaded.model.device),
            "max_length": loaded.max_length,
        },
        "batch_size": config.eval.batch_size,
        "max_new_tokens": budget,
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
    if log is not None:
        main = task.metrics[0]
        log(
            f"{task.name} on {loaded.name}: {len(records)} examples, {main} "
            f"{metrics[main]:.2f}, {eval_s:.1f} s, {prompt_tokens / max(eval_s, 1e-9):.0f} "
            "prompt tok/s"
        )
    return EvalResult(out_dir, results, records, summary)


def evaluate_config(config: Config, loaded: LoadedModel | None = None) -> EvalResult:
    """The whole `ctxlab eval`: validate inputs, then write a finished run directory."""
    from ctxlab.report import build_report

    task = make_task(config)
    # A bad data file fails before a slow model load.
    examples = read_task_data(config.task.data, task) if config.task.data else None
    if loaded is None:
        loaded = load_model(
            config.model.name,
            config.model.dtype,
            config.model.device,
            config.model.trust_remote_code,
        )
    if examples is None:
        examples = task.generate(loaded.tokenizer, loaded.max_length)
    _check_window(examples, task, loaded, _budget(config, task))
    with RunDir(config.run.runs_dir, config.run.name) as run:
        (run.path / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        run.log(f"model {loaded.name} loaded in {loaded.load_s:.1f} s ({loaded.dtype})")
        result = run_eval(config, task, examples, loaded, run.path, run.log)
        build_report(run.path)
    result.run_dir = run.path
    return result

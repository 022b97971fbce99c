"""The `eval` recipe (`ctxlab eval`): one model on one task's examples -> an eval run directory
(config.yaml, run.log, predictions.jsonl, results.json, summary.json, report.md, plots).

Inputs are checked before anything slow or anything written: a bad data file fails before the
model loads, and an example longer than the model's window before the run directory exists. An
eval that fails once it has started (killed, a server gone) keeps its finished predictions;
rerunning the same command (or with --resume) continues it and finishes it as one run.
"""

from __future__ import annotations

import os

from ctxlab.config import Config
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import (
    PARTIAL,
    EvalResult,
    aggregate,
    budget,
    check_window,
    make_task,
    predict,
    run_eval,
)
from ctxlab.models import LoadedModel
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import config_text, console, load_base, open_run
from ctxlab.tasks.base import Example, Task
from ctxlab.tracking import find_incomplete


def evaluate_config(config: Config, loaded: LoadedModel | None = None) -> EvalResult:
    """The whole eval; `loaded` reuses a model already in memory."""
    from ctxlab.reporting import build_report

    task = make_task(config)
    examples = task.read_data(config.task.data) if config.task.data else None
    loaded = loaded or load_base(config)
    if examples is None:
        if loaded.tokenizer is None:
            raise CtxlabError(
                f"generating {task.name} examples fits them to lengths in the model's tokens, "
                f"and {loaded.name} comes without a tokenizer: pass --tokenizer (the served "
                "model's, e.g. smollm2-135m) or --data FILE"
            )
        examples = task.generate(loaded.tokenizer, loaded.max_length)
    check_window(examples, task, loaded, budget(config, task))
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return evaluate_sharded(config, task, examples, loaded)
    failed = find_incomplete(config.run.runs_dir, config.run.name, PARTIAL, config_text(config))
    if config.eval.resume and failed is None:
        raise CtxlabError(
            f"nothing to resume: no failed eval run named {config.run.name!r} with this config "
            f"under {config.run.runs_dir}: drop --resume to start afresh"
        )
    with open_run(config, failed) as run:
        if run.adopted:
            console.print(f"resuming {run.path}", markup=False, highlight=False)
        run.log(f"model {loaded.name} loaded in {loaded.load_s:.1f} s ({loaded.dtype})")
        run.keep_on_error = True  # from here on, a failed run keeps its predictions
        try:
            result = run_eval(config, task, examples, loaded, run.path, run.log)
        except CtxlabError as err:
            raise CtxlabError(
                f"{err} (the predictions so far are kept in {run.path}: rerun the same command "
                "to continue)"
            ) from None
        build_report(run.path)
    result.run_dir = run.path
    return result


def evaluate_sharded(
    config: Config, task: Task, examples: list[Example], loaded: LoadedModel
) -> EvalResult:
    """Data-parallel eval (`accelerate launch -m ctxlab.cli eval ...`): each process takes every
    n-th example; rank 0 gathers the records in example order and writes the one run directory,
    the same (but for timing) as a one-process run's. Other ranks return a result without one."""
    import torch.distributed as dist
    from accelerate import PartialState

    PartialState()  # joins the process group the launcher set up (gloo on CPU, nccl on GPU)
    rank, world = dist.get_rank(), dist.get_world_size()
    own = (
        config
        if rank == 0
        else config.model_copy(update={"eval": config.eval.model_copy(update={"progress": False})})
    )
    records, eval_s = predict(own, task, examples[rank::world], loaded)
    gathered: list = [None] * world
    dist.all_gather_object(gathered, (records, eval_s))
    if rank != 0:
        return EvalResult(None, {}, records, {})
    by_id = {r["id"]: r for part, _ in gathered for r in part}
    with open_run(config) as run:
        run.log(f"data parallel: {world} processes, {len(examples)} examples")
        result = aggregate(
            config,
            task,
            [by_id[e.id] for e in examples],
            loaded,
            max(s for _, s in gathered),
            run.path,
            run.log,
        )
        from ctxlab.reporting import build_report

        build_report(run.path)
    result.run_dir = run.path
    return result


@register(Config)
def run(config: Config) -> RunSummary:
    result = evaluate_config(config)
    if result.run_dir is None:  # a data-parallel helper process: rank 0 reports
        return RunSummary("eval", None, "")
    r = result.results
    scores = ", ".join(
        f"{m} {v:.2f} [{r['intervals'][m]['low']:.1f}, {r['intervals'][m]['high']:.1f}]"
        for m, v in r["metrics"].items()
    )
    headline = f"{r['task']}: {scores} on {r['num_evaluated']} examples"
    return RunSummary("eval", result.run_dir, headline, r)

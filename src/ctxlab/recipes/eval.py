"""The `eval` recipe (`ctxlab eval`): one model on one task's examples -> an eval run directory
(config.yaml, run.log, predictions.jsonl, results.json, summary.json, report.md, plots).

Inputs are checked before anything slow or anything written: a bad data file fails before the
model loads, and an example longer than the model's window before the run directory exists.
"""

from __future__ import annotations

from ctxlab.config import Config
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import EvalResult, budget, check_window, make_task, run_eval
from ctxlab.models import LoadedModel
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import load_base, open_run


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
    with open_run(config) as run:
        run.log(f"model {loaded.name} loaded in {loaded.load_s:.1f} s ({loaded.dtype})")
        result = run_eval(config, task, examples, loaded, run.path, run.log)
        build_report(run.path)
    result.run_dir = run.path
    return result


@register(Config)
def run(config: Config) -> RunSummary:
    result = evaluate_config(config)
    r = result.results
    scores = ", ".join(
        f"{m} {v:.2f} [{r['intervals'][m]['low']:.1f}, {r['intervals'][m]['high']:.1f}]"
        for m, v in r["metrics"].items()
    )
    headline = f"{r['task']}: {scores} on {r['num_evaluated']} examples"
    assert result.run_dir is not None
    return RunSummary("eval", result.run_dir, headline, r)

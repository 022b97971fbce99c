"""The `finetune` recipe (`ctxlab run niah-quick`): data -> baseline eval -> train -> tuned eval ->
comparison with paired tests -> report. The run directory is

    RUNS/NAME/<stamp>/  config.yaml  run.log  data/{train,val,test}.jsonl
                        baseline/  train/  tuned/  comparison.json  report.md  *.png

where baseline/ and tuned/ are laid out as `ctxlab eval` runs. The splits use disjoint seeds,
and no test prompt may appear in the training data. With `eval_only` (the scratchpad-rag
README's --eval_only/--load_checkpoint) only the test split is evaluated, into eval/, on the
base model or on a training run's weights.
"""

from __future__ import annotations

from typing import Any, Literal

from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.recipes import RunSummary, common, register
from ctxlab.recipes.common import Timer, TrainedConfig
from ctxlab.reporting.artifacts import Comparison
from ctxlab.tracking import RunDir


class FinetuneConfig(TrainedConfig):
    shortcuts = {  # the scratchpad-rag README's flags
        **TrainedConfig.shortcuts,
        "--eval-split": ("task.eval_split", None),
        "--train-method": ("training.method", None),
        "--last-answer-only": ("task.last_answer_only", True),
        "--eval-only": ("eval_only", True),
        "--load-checkpoint": ("load_checkpoint", None),
    }

    recipe: Literal["finetune"] = "finetune"  # type: ignore[assignment]
    eval_only: bool = False
    load_checkpoint: str | None = None


def evaluate_only(config: FinetuneConfig) -> RunSummary:
    """The test split alone, on the base model or `load_checkpoint`'s weights, into RUN/eval/."""
    from ctxlab.training.export import find_weights

    task = make_task(config)
    weights = find_weights(config.load_checkpoint) if config.load_checkpoint else None
    with common.open_run(config) as run:
        base = common.load_base(config)
        name = f"{config.model.name} + {config.load_checkpoint}" if weights else base.name
        loaded = common.load_policy(base, weights, name)
        data = common.make_splits(config.splits, task, loaded, ("test",))
        common.write_splits(run, data)
        result = common.evaluate_part(config, task, data["test"], loaded, run, "eval")
    main = task.metrics[0]
    r = result.results
    low, high = r["intervals"][main]["low"], r["intervals"][main]["high"]
    headline = f"{main}: {r['metrics'][main]:.1f} [{low:.1f}, {high:.1f}]"
    return RunSummary("finetune", run.path, headline, r)


@register(FinetuneConfig)
def run(config: FinetuneConfig) -> RunSummary:
    """Baseline, train, tuned, compared on the same held-out examples."""
    if config.load_checkpoint and not config.eval_only:
        raise CtxlabError(
            "load_checkpoint evaluates a checkpoint and needs --eval-only; to continue "
            "training from one, use --set training.init_from=PATH"
        )
    if config.eval_only:
        return evaluate_only(config)
    with common.open_run(config) as run:
        artifact, headline = before_after(config, run, Timer())
    return RunSummary("finetune", run.path, headline, artifact)


def before_after(
    config: TrainedConfig, run: RunDir, timer: Timer, name: str | None = None
) -> tuple[dict[str, Any], str]:
    """Inside an open run: splits, baseline eval, training, tuned eval and their comparison.json
    (with its report); returns the comparison and its headline. `name` labels the tuned model
    (default: the base model and the training method)."""
    task = make_task(config)
    with timer("data_s"):
        base = common.load_base(config)
        data = common.make_splits(config.splits, task, base)
        common.write_splits(run, data)
    with timer("baseline_s"):
        baseline = common.evaluate_part(config, task, data["test"], base, run, "baseline")
    with timer("train_s"):
        trained = common.train_on_splits(config, task, data, run.path / "train")
    run.log(f"trained: {trained.summary}")
    with timer("tuned_s"):
        t = config.training
        name = name or f"{config.model.name} + {t.peft} ({t.method})"
        tuned_model = common.load_policy(base, run.path / "train" / "final", name)
        tuned = common.evaluate_part(config, task, data["test"], tuned_model, run, "tuned")
    comparison = Comparison(
        metric=task.metrics[0], **common.compare(config, task, data, baseline, tuned, timer)
    )
    artifact = common.publish(run, comparison, "comparison.json")
    headline = common.change_line(task.metrics[0], artifact, "baseline", "tuned")
    run.log(headline)
    return artifact, headline

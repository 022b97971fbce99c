"""The steps every recipe shares, written once: open the run, load the base model, load a policy
(base + adapter), make disjoint splits and refuse leaks, evaluate one part of a run into its own
sub-directory, compare two evaluations with paired tests, and keep the time of each stage.

Recipes import this module; it imports no recipe.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from ctxlab.config import Config
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import EvalResult, run_eval
from ctxlab.io import write_jsonl, write_text
from ctxlab.models import LoadedModel
from ctxlab.stats import breakdown_tests, paired_tests
from ctxlab.tasks.base import Example, Task
from ctxlab.tracking import RunDir
from ctxlab.training.config import TrainConfig

console = Console(stderr=True)


class Splits(BaseModel):
    """Examples per (variant, length) in each split, and each split's seed."""

    model_config = ConfigDict(extra="forbid")

    train: int = Field(64, ge=1)
    val: int = Field(8, ge=1)
    test: int = Field(32, ge=1)
    train_seed: int = 1000
    val_seed: int = 2000
    test_seed: int = 3000


class TrainedConfig(Config):
    """The base of the recipes that train: disjoint splits and the training settings."""

    shortcuts = {
        "--num-train-samples": ("splits.train", None),
        "--num-val-samples": ("splits.test", None),
    }

    splits: Splits = Splits()
    training: TrainConfig = TrainConfig()


def config_text(config: Config) -> str:
    """config.yaml's text: the config without `eval.resume`, which says how a run was started,
    not what it is (a resumed run has its first attempt's config)."""
    if getattr(getattr(config, "eval", None), "resume", False):
        config = config.model_copy(
            update={"eval": config.eval.model_copy(update={"resume": False})}
        )
    return config.to_yaml()


@contextmanager
def open_run(config: Config, adopt: Path | None = None) -> Iterator[RunDir]:
    """The run directory (finished on success, removed on error) with its config.yaml; `adopt`
    continues a failed run's directory instead."""
    with RunDir(config.run.runs_dir, config.run.name, adopt) as run:
        write_text(run.path / "config.yaml", config_text(config))
        yield run


def say(run: RunDir, message: str, tag: str) -> None:
    """A line in run.log and on the terminal."""
    run.log(message)
    console.print(f"[{tag}] {message}", markup=False, highlight=False)


class Timer(dict):
    """Seconds per stage: `with timer("train_s"): ...`."""

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self[stage] = round(time.perf_counter() - start, 1)


def load_base(config: Config) -> LoadedModel:
    """The model in this process, or a backend that generates for it (a server, vLLM)."""
    from ctxlab.backends import backend_name, load_backend
    from ctxlab.models import load_model

    m = config.model
    if backend_name(m.name, m.backend) != "hf":
        return load_backend(m)
    base = load_model(m.name, m.dtype, m.device, m.trust_remote_code, m.rope_scaling)
    if m.adapter is None:
        return base
    from ctxlab.training.export import find_weights

    return load_policy(base, find_weights(m.adapter), f"{base.name} + {m.adapter}")


def load_policy(base: LoadedModel, weights: Path | None, name: str) -> LoadedModel:
    """A generation-ready model: the base itself, or a training run's weights (an adapter merged
    into its base, or a full model) in the base's dtype."""
    if weights is None:
        return base
    from ctxlab.training.export import merged_model

    model, tokenizer = merged_model(weights)
    model = model.to(base.dtype).eval()
    return LoadedModel(model, tokenizer, name, base.dtype, base.max_length, 0.0, base.rope_scaling)


def split_task(task: Task, split: str, num_samples: int, seed: int) -> Task:
    """The task as one split draws it: its own size and seed, and for tasks over a fixed
    question set (a `pool` setting) its own disjoint share of the questions."""
    settings: dict[str, Any] = {"num_samples": num_samples, "seed": seed}
    if "pool" in type(task.config).model_fields:
        settings["pool"] = split
    return type(task)(task.config.model_copy(update=settings))


def make_splits(
    splits: Splits,
    task: Task,
    loaded: LoadedModel,
    names: tuple[str, ...] = ("train", "val", "test"),
    test_task: Task | None = None,
) -> dict[str, list[Example]]:
    """Generate the splits with disjoint seeds (the test split from `test_task` when given) and
    refuse any test prompt that also appears in train/val."""
    if len({splits.train_seed, splits.val_seed, splits.test_seed}) < 3:
        raise CtxlabError("splits.train_seed, val_seed and test_seed must differ")
    data: dict[str, list[Example]] = {}
    for split in names:
        source = test_task if split == "test" and test_task is not None else task
        drawn = split_task(source, split, getattr(splits, split), getattr(splits, f"{split}_seed"))
        data[split] = drawn.generate(loaded.tokenizer, loaded.max_length)
    check_leaks(data, test_task or task)
    return data


def check_leaks(data: dict[str, list[Example]], task: Task) -> None:
    """Refuse test examples whose leak key (the prompt; for dot, the graph) train/val hold."""
    seen = {task.leak_key(e) for e in data.get("train", []) + data.get("val", [])}
    leaked = [e.id for e in data.get("test", []) if task.leak_key(e) in seen]
    if leaked:
        what = "prompt" if type(task).leak_key is Task.leak_key else f"{task.name} leak key"
        raise CtxlabError(
            f"test example {leaked[0]}'s {what} also appears in train/val: change the seeds"
        )


def write_splits(run: RunDir, data: dict[str, list[Example]]) -> None:
    for split, examples in data.items():
        write_jsonl(run.path / "data" / f"{split}.jsonl", examples)
    run.log("data: " + ", ".join(f"{k} {len(v)}" for k, v in data.items()))


def evaluate_part(
    config: Config, task: Task, examples: list[Example], loaded: LoadedModel, run: RunDir, part: str
) -> EvalResult:
    """Evaluate into `RUN/part/`, laid out as a `ctxlab eval` run (with its report)."""
    from ctxlab.reporting import build_report

    out = run.path / part
    out.mkdir(parents=True)
    write_text(out / "config.yaml", config.to_yaml())
    result = run_eval(config, task, examples, loaded, out, lambda m: run.log(f"[{part}] {m}"))
    build_report(out)
    return result


def compare(
    config: Config,
    task: Task,
    data: dict[str, list[Example]],
    before: EvalResult,
    after: EvalResult,
    timing: dict[str, float],
) -> dict[str, Any]:
    """The fields of a before/after artifact: both sides' aggregates, the changes, paired tests
    over the same examples (overall and per breakdown row), sizes and times."""
    metrics = task.metrics
    side = ("metrics", "intervals", "breakdown")
    return {
        "task": task.name,
        "model": config.model.name,
        "breakdown_keys": list(task.breakdown_keys),
        "baseline": {k: before.results[k] for k in side},
        "tuned": {k: after.results[k] for k in side},
        "delta": {m: after.results["metrics"][m] - before.results["metrics"][m] for m in metrics},
        "tests": paired_tests(before.predictions, after.predictions, metrics),
        "breakdown_tests": breakdown_tests(
            before.predictions, after.predictions, task.breakdown_keys, metrics
        ),
        "num_test": len(data["test"]),
        "num_train": len(data["train"]),
        "timing": dict(timing),
    }


def publish(run: RunDir, artifact: BaseModel, name: str) -> dict[str, Any]:
    """Write a run's main artifact and build its report from it; returns the artifact's JSON."""
    from ctxlab.reporting import build_report

    artifact.write(run.path / name)  # type: ignore[attr-defined]
    build_report(run.path)
    return artifact.model_dump(mode="json")


def change_line(metric: str, comparison: dict[str, Any], before: str, after: str) -> str:
    """`metric: baseline 42.5 -> tuned 92.5 (+50.0, p = 1e-06)`."""
    test = comparison["tests"][metric]
    return (
        f"{metric}: {before} {test['before']:.1f} -> {after} {test['after']:.1f} "
        f"({test['delta']:+.1f}, p = {test['p_value']:.2g}"
        f"{'' if test['significant'] else ', not significant'})"
    )


def train_on_splits(config: Any, task: Task, data: dict[str, list[Example]], out_dir: Path):
    """The config's `training` settings on the train split, validated on val, into `out_dir`."""
    from ctxlab.training import train

    return train(
        config.training,
        config.model.name,
        data["train"],
        data["val"],
        task,
        out_dir,
        trust_remote_code=config.model.trust_remote_code,
        progress=config.eval.progress,
    )

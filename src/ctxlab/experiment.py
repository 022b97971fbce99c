"""`ctxlab run EXPERIMENT`: data -> baseline eval -> train -> tuned eval -> comparison report.

An experiment is a YAML preset (`configs/NAME.yaml`): the task, split sizes and seeds, the
model, eval settings and training settings. The run directory is

    RUNS/NAME/<stamp>/  config.yaml  run.log  data/{train,val,test}.jsonl
                        baseline/  train/  tuned/  comparison.json  report.md  *.png

where baseline/ and tuned/ are laid out as `ctxlab eval` runs. The splits use disjoint seeds,
and no test prompt may appear in the training data.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ctxlab.comparison import build_comparison_report
from ctxlab.config import Config, apply_overrides, load_preset, validate_config
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task, run_eval
from ctxlab.models import LoadedModel, load_model
from ctxlab.report import build_report
from ctxlab.tasks.base import Example, Task, write_jsonl
from ctxlab.tracking import RunDir, write_json
from ctxlab.training import TrainConfig, train
from ctxlab.training.export import find_weights, merged_model


class Splits(BaseModel):
    """Examples per (variant, length) in each split, and each split's seed."""

    model_config = ConfigDict(extra="forbid")

    train: int = Field(64, ge=1)
    val: int = Field(8, ge=1)
    test: int = Field(32, ge=1)
    train_seed: int = 1000
    val_seed: int = 2000
    test_seed: int = 3000


class ExperimentConfig(Config):
    splits: Splits = Splits()
    training: TrainConfig = TrainConfig()
    # The scratchpad-rag README's --eval_only/--load_checkpoint: evaluate the test split only,
    # on the base model or on a training run's weights.
    eval_only: bool = False
    load_checkpoint: str | None = None


def load_experiment(name_or_path: str, sets: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """A preset by name or path, with `--set` overrides; the run name defaults to the preset's."""
    raw = load_preset(name_or_path)
    raw.setdefault("run", {}).setdefault("name", name_or_path.rsplit("/", 1)[-1].split(".")[0])
    raw = apply_overrides(raw, list(sets))
    schema = ExperimentConfig
    if "oak" in raw:  # SFT then solver-verified DPO rounds (ctxlab.oak)
        from ctxlab.oak import OakExperimentConfig as schema
    config = validate_config(raw, schema)
    assert isinstance(config, ExperimentConfig)
    return config


def make_splits(
    config: ExperimentConfig,
    task: Task,
    loaded: LoadedModel,
    names: tuple[str, ...] = ("train", "val", "test"),
) -> dict[str, list]:
    """Generate train/val/test with disjoint seeds (and, for tasks over a fixed question set,
    disjoint question pools); refuse any test prompt seen in training."""
    splits = config.splits
    if len({splits.train_seed, splits.val_seed, splits.test_seed}) < 3:
        raise CtxlabError("splits.train_seed, val_seed and test_seed must differ")
    data: dict[str, list[Example]] = {}
    for split in names:
        settings = {"num_samples": getattr(splits, split), "seed": getattr(splits, f"{split}_seed")}
        if "pool" in type(task.config).model_fields:  # a fixed question set, split disjointly
            settings["pool"] = split
        split_task = type(task)(task.config.model_copy(update=settings))
        data[split] = split_task.generate(loaded.tokenizer, loaded.max_length)
    seen = {e.input for e in data.get("train", []) + data.get("val", [])}
    leaked = [e.id for e in data.get("test", []) if e.input in seen]
    if leaked:
        raise CtxlabError(f"test example {leaked[0]} also appears in train/val: change the seeds")
    return data


def train_on_splits(config: ExperimentConfig, task: Task, data: dict[str, list], out_dir):
    """`training` settings on the train split, validated on val, into `out_dir`."""
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


def _eval_dir(config: ExperimentConfig, task: Task, examples, loaded, run: RunDir, part: str):
    out = run.path / part
    out.mkdir()
    (out / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    result = run_eval(config, task, examples, loaded, out, lambda m: run.log(f"[{part}] {m}"))
    build_report(out)
    return result


def evaluate_only(config: ExperimentConfig) -> dict[str, Any]:
    """`--eval-only`: the test split alone, on the base model or `load_checkpoint`'s weights,
    into RUN/eval/; returns the task, metric, results and `run_dir`."""
    if config.load_checkpoint and not config.eval_only:
        raise CtxlabError(
            "load_checkpoint evaluates a checkpoint and needs --eval-only; to continue "
            "training from one, use --set training.init_from=PATH"
        )
    task = make_task(config)
    with RunDir(config.run.runs_dir, config.run.name) as run:
        (run.path / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        m = config.model
        loaded = load_model(m.name, m.dtype, m.device, m.trust_remote_code)
        if config.load_checkpoint:
            model, tokenizer = merged_model(find_weights(config.load_checkpoint))
            loaded = LoadedModel(
                model=model.to(loaded.dtype).eval(),
                tokenizer=tokenizer,
                name=f"{m.name} + {config.load_checkpoint}",
                dtype=loaded.dtype,
                max_length=loaded.max_length,
                load_s=loaded.load_s,
            )
        test = make_splits(config, task, loaded, ("test",))["test"]
        write_jsonl(run.path / "data" / "test.jsonl", test)
        result = _eval_dir(config, task, test, loaded, run, "eval")
    main = task.metrics[0]
    return {
        "task": task.name,
        "metric": main,
        "eval": {"metrics": result.results["metrics"], "breakdown": result.results["breakdown"]},
        "run_dir": str(run.path),
    }


def run_experiment(config: ExperimentConfig) -> dict[str, Any]:
    """The whole loop; returns comparison.json's content (with `run_dir`)."""
    if config.eval_only or config.load_checkpoint:
        return evaluate_only(config)
    if "oak" in type(config).model_fields:
        from ctxlab.oak import run_oak

        return run_oak(config)  # type: ignore[arg-type]
    task = make_task(config)
    timings: dict[str, float] = {}
    with RunDir(config.run.runs_dir, config.run.name) as run:
        (run.path / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        start = time.perf_counter()
        loaded = load_model(
            config.model.name,
            config.model.dtype,
            config.model.device,
            config.model.trust_remote_code,
        )
        data = make_splits(config, task, loaded)
        for split, examples in data.items():
            write_jsonl(run.path / "data" / f"{split}.jsonl", examples)
        run.log("data: " + ", ".join(f"{k} {len(v)}" for k, v in data.items()))
        timings["data_s"] = time.perf_counter() - start

        start = time.perf_counter()
        baseline = _eval_dir(config, task, data["test"], loaded, run, "baseline")
        timings["baseline_s"] = time.perf_counter() - start

        start = time.perf_counter()
        trained = train_on_splits(config, task, data, run.path / "train")
        timings["train_s"] = time.perf_counter() - start
        run.log(f"trained: {trained.summary}")

        start = time.perf_counter()
        model, tokenizer = merged_model(run.path / "train" / "final")
        model = model.to(loaded.dtype).eval()
        tuned_model = LoadedModel(
            model=model,
            tokenizer=tokenizer,
            name=f"{config.model.name} + {config.training.peft} ({config.training.method})",
            dtype=loaded.dtype,
            max_length=loaded.max_length,
            load_s=0.0,
        )
        tuned = _eval_dir(config, task, data["test"], tuned_model, run, "tuned")
        timings["tuned_s"] = time.perf_counter() - start

        main = task.metrics[0]
        comparison = {
            "task": task.name,
            "model": config.model.name,
            "metric": main,
            "baseline": {
                "metrics": baseline.results["metrics"],
                "breakdown": baseline.results["breakdown"],
            },
            "tuned": {"metrics": tuned.results["metrics"], "breakdown": tuned.results["breakdown"]},
            "delta": {
                m: tuned.results["metrics"][m] - baseline.results["metrics"][m]
                for m in task.metrics
            },
            "num_test": len(data["test"]),
            "num_train": len(data["train"]),
            "timing": {k: round(v, 1) for k, v in timings.items()},
        }
        write_json(run.path / "comparison.json", comparison)
        build_comparison_report(run.path)
        run.log(
            f"{main}: baseline {baseline.results['metrics'][main]:.1f} -> tuned "
            f"{tuned.results['metrics'][main]:.1f}"
        )
    comparison["run_dir"] = str(run.path)
    return comparison

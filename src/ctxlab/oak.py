"""`ctxlab run logic-oak`: SFT on gold proofs, then K rounds of solver-verified DPO (OaK-DPO).

Each round samples N proofs per training problem from the current policy, scores every proof
with the task's solver (step validity, label, full-proof validity), turns the verdicts into
(chosen, rejected) pairs (`training.pairs`), trains one DPO round against the round's starting
policy (`training.dpo`), and evaluates on held-out problems (3-hop by default). The run is

    RUNS/NAME/<stamp>/  config.yaml  run.log  data/{train,val,test}.jsonl  sft/
                        iter_0/eval/  iter_K/{samples.jsonl, pairs.jsonl, dpo/, eval/}
                        oak.json  report.md  *.png

An experiment preset selects this loop by having an `oak:` section (see configs/logic-oak.yaml).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from ctxlab.config import Config
from ctxlab.errors import CtxlabError
from ctxlab.experiment import ExperimentConfig, _eval_dir, make_splits, train_on_splits
from ctxlab.tasks.base import Example, Task, get_task_class
from ctxlab.training.dpo import DPOSettings
from ctxlab.training.pairs import ScoreWeights
from ctxlab.training.trainer import resolve_adapter

console = Console(stderr=True)


class TransferEval(BaseModel):
    """A second task evaluated each round, e.g. FOLIO validation for PrOntoQA-trained models."""

    model_config = ConfigDict(extra="forbid")

    task: str = "folio"
    data: str = "../shared/data/folio/folio-validation.jsonl"
    num_samples: int | None = Field(32, ge=1)


class OakConfig(BaseModel):
    """The OaK loop's settings (`oak:` in a preset; `--iterations`, `--no-solver`, `--no-sft`,
    `--eval-task` on `ctxlab run`)."""

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(3, ge=0)
    sft: bool = True
    # An earlier run's SFT adapter (its sft/ or sft/final/) to start from instead of training one,
    # so DPO ablations share one SFT model; the preset must build the same splits.
    sft_from: str | None = None
    solver: bool = True
    samples_per_problem: int = Field(4, ge=2)
    temperature: float = Field(0.8, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    sample_seed: int = 0
    problems_per_iteration: int | None = Field(None, ge=1)
    min_gap: float = Field(0.25, gt=0, le=1)
    # With the solver, a pair's chosen proof must have more valid steps than its rejected one.
    require_step_gain: bool = True
    max_pairs_per_problem: int = Field(2, ge=1)
    # With the solver, also up to this many step-level pairs per problem (`pairs.step_pairs`).
    step_pairs_per_problem: int = Field(0, ge=0)
    weights: ScoreWeights = ScoreWeights()
    test_task: dict[str, Any] = {"hops": [3]}
    eval_task: str | None = None
    transfer: TransferEval = TransferEval()
    rejected_examples: int = Field(6, ge=0)
    dpo: DPOSettings = DPOSettings()


class OakExperimentConfig(ExperimentConfig):
    oak: OakConfig = OakConfig()


def _check(config: OakExperimentConfig, task: Task) -> None:
    """Refuse settings the loop cannot honour, before a model is loaded."""
    oak = config.oak
    needed = {"accuracy", "step_validity", "trace_validity"} if oak.solver else {"accuracy"}
    if not needed <= set(task.metrics):
        raise CtxlabError(
            f"the OaK loop scores proofs with a solver, and task {task.name!r} gives "
            f"{list(task.metrics)}: use --task prontoqa (or --no-solver for label-only scores)"
        )
    if oak.eval_task is not None and oak.eval_task not in ("folio", task.name):
        get_task_class(oak.eval_task)  # an unknown name raises with the list of tasks
    if oak.eval_task == "folio" and not Path(oak.transfer.data).is_file():
        raise CtxlabError(
            f"--eval-task folio reads {oak.transfer.data}, which does not exist: set "
            "oak.transfer.data to a FOLIO jsonl (e.g. folio-validation.jsonl)"
        )
    if config.training.peft in ("none", "full"):
        raise CtxlabError("the OaK loop trains LoRA adapters: set training.peft to a lora_* preset")
    if oak.solver and oak.step_pairs_per_problem and not hasattr(task, "step_verdicts"):
        raise CtxlabError(
            f"oak.step_pairs_per_problem needs per-step verdicts, which task {task.name!r} does "
            "not give: set it to 0"
        )
    if oak.sft_from is not None and not oak.sft:
        raise CtxlabError("oak.sft_from starts from an SFT adapter, and --no-sft asks for none")


def test_task(config: OakExperimentConfig, task: Task) -> Task:
    """The held-out task: the training task's settings with `oak.test_task` applied."""
    raw = {**task.config.model_dump(), **config.oak.test_task}
    try:
        return type(task)(type(task.config).model_validate(raw))
    except Exception as err:  # pydantic ValidationError: name the key
        raise CtxlabError(f"oak.test_task {config.oak.test_task}: {err}") from None


def make_oak_splits(config: OakExperimentConfig, task: Task, loaded) -> dict[str, list[Example]]:
    """train/val from the task, test from the held-out task (`make_splits`'s seeds and pools);
    no test prompt may appear in train/val."""
    data = make_splits(config, task, loaded, ("train", "val"))
    data.update(make_splits(config, test_task(config, task), loaded, ("test",)))
    seen = {e.input for e in data["train"] + data["val"]}
    leaked = [e.id for e in data["test"] if e.input in seen]
    if leaked:
        raise CtxlabError(f"test example {leaked[0]} also appears in train/val: change the seeds")
    return data


def transfer_examples(config: OakExperimentConfig, task: Task) -> tuple[Task, list[Example]]:
    """The transfer task and its examples (`--eval-task`), or (task, []) when there is none."""
    oak = config.oak
    if oak.eval_task is None or oak.eval_task == task.name:
        return task, []
    cls = get_task_class(oak.eval_task)
    settings: dict[str, Any] = {"name": oak.eval_task}
    if oak.transfer.num_samples is not None:
        settings["num_samples"] = oak.transfer.num_samples
    other = cls(cls.config_class.model_validate(settings))
    reader = getattr(other, "read_data", None)
    examples = reader(oak.transfer.data) if reader else []
    return other, examples[: oak.transfer.num_samples]


def _policy(adapter: Path | None, base, name: str):
    """The policy as a generation-ready model: the base itself, or base + adapter merged."""
    from ctxlab.models import LoadedModel
    from ctxlab.training.export import merged_model

    if adapter is None:
        return base
    model, tokenizer = merged_model(adapter)
    model = model.to(base.dtype).eval()
    return LoadedModel(model, tokenizer, name, base.dtype, base.max_length, 0.0)


def sample_and_pair(config: OakExperimentConfig, task: Task, problems, policy, round_: int):
    """Sample, verify and pair; returns (sample records, pairs, per-round statistics)."""
    from ctxlab.generation import GenerationRequest, Sampling, sample
    from ctxlab.prompts import render_prompt
    from ctxlab.training.pairs import Candidate, build_pairs, step_pairs, trace_score

    oak = config.oak
    requests = []
    for example in problems:
        messages, prefix = task.prompt(example)
        budget = config.eval.max_new_tokens or task.max_new_tokens
        requests.append(GenerationRequest(messages, prefix, task.stop, budget))
    sampling = Sampling(
        oak.temperature, oak.top_p, oak.sample_seed + 1000 * round_, oak.samples_per_problem
    )
    outputs = sample(
        policy.model,
        policy.tokenizer,
        requests,
        sampling,
        config.eval.batch_size,
        progress=config.eval.progress,
        description=f"round {round_}: sampling",
    )
    improve = "step_validity" if oak.solver and oak.require_step_gain else None
    records, pairs = [], []
    for example, request, samples in zip(problems, requests, outputs):
        candidates = []
        for k, out in enumerate(samples):
            text = task.clean_prediction(out.text)
            scores = task.score(text, example)
            value = trace_score(scores, oak.solver, oak.weights)
            candidates.append(Candidate(text, scores, value))
            records.append(
                {
                    "id": example.id,
                    "sample": k,
                    "prediction": text,
                    "scores": scores,
                    "value": value,
                    "meta": {"hops": example.meta.get("hops")},
                }
            )
        prompt = render_prompt(policy.tokenizer, request.messages, request.assistant_prefix)
        pairs += build_pairs(
            example.id, prompt, candidates, oak.min_gap, oak.max_pairs_per_problem, improve
        )
        if oak.solver and oak.step_pairs_per_problem:
            proofs = [(c.text, task.step_verdicts(c.text, example)) for c in candidates]
            pairs += step_pairs(example.id, prompt, proofs, oak.step_pairs_per_problem)
    n = max(len(records), 1)
    stats = {
        "problems": len(problems),
        "samples": len(records),
        "pairs": len(pairs),
        "step_pairs": sum(not p.complete for p in pairs),
        "mean_trace_score": sum(r["value"] for r in records) / n,
        **{f"sample_{m}": sum(r["scores"].get(m, 0.0) for r in records) / n for m in task.metrics},
    }
    return records, pairs, stats


def rejected_proofs(task: Task, examples: list[Example], records: list[dict], limit: int):
    """Test proofs the solver rejected, each with the checker's reasons (prontoqa-style tasks)."""
    from ctxlab.solvers.proofs import check_proof

    by_id = {e.id: e for e in examples}
    rejected = []
    for record in records:
        example = by_id.get(record["id"])
        if example is None or "premises" not in example.meta:
            continue
        if record["scores"].get("trace_validity", 100.0) >= 100.0:
            continue
        check = check_proof(record["prediction"], example)
        rejected.append(
            {
                "id": record["id"],
                "query": example.meta.get("query"),
                "prediction": record["prediction"],
                "errors": check.errors[:4],
            }
        )
        if len(rejected) >= limit:
            break
    return rejected


def run_oak(config: OakExperimentConfig) -> dict[str, Any]:
    """The whole loop; returns a summary shaped like `ctxlab run`'s comparison (with the
    per-round rows under `iterations`), and writes oak.json and report.md."""
    from ctxlab.evaluation import make_task
    from ctxlab.models import load_model
    from ctxlab.oak_report import build_oak_report
    from ctxlab.tasks.base import write_jsonl
    from ctxlab.tracking import RunDir, write_json
    from ctxlab.tracking import write_jsonl as write_records
    from ctxlab.training.dpo import dpo_train

    task = make_task(config)
    _check(config, task)
    test = test_task(config, task)
    oak = config.oak
    sft_from = resolve_adapter(oak.sft_from, "oak.sft_from")[0] if oak.sft_from else None
    timings: dict[str, float] = {}
    rows: list[dict] = []
    with RunDir(config.run.runs_dir, config.run.name) as run:
        say = _sayer(run)
        (run.path / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        start = time.perf_counter()
        other, transfer = transfer_examples(config, task)
        base = load_model(
            config.model.name,
            config.model.dtype,
            config.model.device,
            config.model.trust_remote_code,
        )
        data = make_oak_splits(config, task, base)
        for split, examples in data.items():
            write_jsonl(run.path / "data" / f"{split}.jsonl", examples)
        say("data: " + ", ".join(f"{k} {len(v)}" for k, v in data.items()))
        timings["data_s"] = time.perf_counter() - start

        adapter: Path | None = None
        policy = base
        if sft_from is not None:
            adapter = sft_from
            say(f"SFT: starting from the adapter in {adapter}")
        elif oak.sft:
            start = time.perf_counter()
            result = train_on_splits(config, task, data, run.path / "sft")
            adapter = result.final_dir
            timings["sft_s"] = time.perf_counter() - start
            say(f"SFT on gold proofs: {result.summary['steps']} steps, {timings['sft_s']:.0f} s")

        for round_ in range(oak.iterations + 1):
            start = time.perf_counter()
            part = run.path / f"iter_{round_}"
            part.mkdir()
            stage = ("sft" if oak.sft else "base") if round_ == 0 else f"dpo {round_}"
            row: dict[str, Any] = {"iteration": round_, "stage": stage}
            if round_ > 0:
                problems = _round_problems(
                    data["train"], oak.problems_per_iteration, round_, oak.sample_seed
                )
                records, pairs, stats = sample_and_pair(config, task, problems, policy, round_)
                write_records(part / "samples.jsonl", records)
                write_records(part / "pairs.jsonl", [p.to_record() for p in pairs])
                row.update(stats)
                say(
                    f"round {round_}: {stats['samples']} proofs sampled, mean trace score "
                    f"{stats['mean_trace_score']:.3f}, {len(pairs)} pairs "
                    f"({stats['step_pairs']} of them step pairs)"
                )
                if pairs:
                    trained = dpo_train(
                        oak.dpo,
                        config.model.name,
                        pairs,
                        part / "dpo",
                        peft=config.training.peft,
                        init_from=adapter,
                        seed=config.training.seed + round_,
                        trust_remote_code=config.model.trust_remote_code,
                        progress=config.eval.progress,
                    )
                    adapter = trained.final_dir
                    row["dpo"] = trained.summary
                else:
                    say(f"round {round_}: no pair reached oak.min_gap; the policy is unchanged")
            policy = _policy(adapter, base, f"{config.model.name} ({stage})")
            result = _eval_dir(config, test, data["test"], policy, run, f"iter_{round_}/eval")
            row["test"] = result.results["metrics"]
            row["test_breakdown"] = result.results["breakdown"]
            if transfer:
                moved = _eval_dir(config, other, transfer, policy, run, f"iter_{round_}/transfer")
                row["transfer"] = {"task": other.name, **moved.results["metrics"]}
            if round_ == oak.iterations:
                row["rejected"] = rejected_proofs(
                    test, data["test"], result.predictions, oak.rejected_examples
                )
            row["seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            say(f"iteration {round_} ({stage}): " + _metrics_line(row["test"]))
        summary = _summary(config, task, data, rows, timings)
        write_json(run.path / "oak.json", summary)
        build_oak_report(run.path)
    summary["run_dir"] = str(run.path)
    return summary


def _round_problems(
    train: list[Example], per_round: int | None, round_: int, seed: int
) -> list[Example]:
    """All training problems, or a rotating `per_round` slice of them in a seeded shuffled
    order (so each round sees a mix of hop counts, and new problems until all were seen)."""
    if per_round is None or per_round >= len(train):
        return train
    order = list(train)
    random.Random(seed).shuffle(order)
    start = (round_ - 1) * per_round % len(order)
    return (order[start:] + order[:start])[:per_round]


def _metrics_line(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in metrics.items())


def _sayer(run):
    def say(message: str) -> None:
        run.log(message)
        console.print(f"[oak] {message}", markup=False, highlight=False)

    return say


def _summary(config: Config, task: Task, data: dict, rows: list[dict], timings: dict) -> dict:
    """oak.json: the rows plus a `ctxlab run`-shaped comparison of the first and last rounds."""
    first, last = rows[0]["test"], rows[-1]["test"]
    return {
        "task": task.name,
        "model": config.model.name,
        "metric": "step_validity" if "step_validity" in first else task.metrics[0],
        "oak": config.oak.model_dump(mode="json"),
        "baseline": {"metrics": first, "breakdown": rows[0]["test_breakdown"]},
        "tuned": {"metrics": last, "breakdown": rows[-1]["test_breakdown"]},
        "delta": {m: last[m] - first[m] for m in first},
        "iterations": rows,
        "num_train": len(data["train"]),
        "num_test": len(data["test"]),
        "timing": {
            **{k: round(v, 1) for k, v in timings.items()},
            "total_s": round(
                timings.get("data_s", 0)
                + timings.get("sft_s", 0)
                + sum(r["seconds"] for r in rows),
                1,
            ),
        },
    }

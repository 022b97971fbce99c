"""`ctxlab run logic-oak`: SFT on gold proofs, then K rounds of solver-verified DPO (OaK-DPO).

Each round samples N proofs per training problem from the current policy, scores every proof
with the task's solver (step validity, label, full-proof validity), turns the verdicts into
(chosen, rejected) pairs (`training.pairs`), trains one DPO round against the round's starting
policy (`training.dpo`), and evaluates on held-out problems (3-hop by default). The run is

    RUNS/NAME/<stamp>/  config.yaml  run.log  data/{train,val,test}.jsonl  sft/
                        iter_0/eval/  iter_K/{samples.jsonl, pairs.jsonl, dpo/, eval/}
                        oak.json  report.md  *.png

A preset runs this loop by naming it (`recipe: oak`, see presets/logic-oak.yaml). Each round's
held-out scores carry intervals, and paired tests against the round before and against
iteration 0 on the same problems.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.io import write_jsonl
from ctxlab.recipes import RunSummary, common, register
from ctxlab.recipes.common import Timer, TrainedConfig
from ctxlab.reporting.artifacts import OakSummary
from ctxlab.stats import paired_tests
from ctxlab.tasks.base import Example, Task, get_task_class
from ctxlab.training.dpo import DPOSettings
from ctxlab.training.pairs import ScoreWeights
from ctxlab.training.trainer import resolve_adapter


class TransferEval(BaseModel):
    """A second task evaluated each round (`oak.eval_task`), read from `data` with that task's
    own reader, e.g. FOLIO validation for PrOntoQA-trained models."""

    model_config = ConfigDict(extra="forbid")

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


class OakRecipeConfig(TrainedConfig):
    """`training` is the SFT stage on gold proofs; `oak` the DPO rounds."""

    shortcuts = {
        **TrainedConfig.shortcuts,
        "--iterations": ("oak.iterations", None),
        "--no-solver": ("oak.solver", False),
        "--no-sft": ("oak.sft", False),
        "--eval-task": ("oak.eval_task", None),
    }

    recipe: Literal["oak"] = "oak"  # type: ignore[assignment]
    oak: OakConfig = OakConfig()


def _check(config: OakRecipeConfig, task: Task) -> None:
    """Refuse settings the loop cannot honour, before a model is loaded."""
    oak = config.oak
    needed = {"accuracy", "step_validity", "trace_validity"} if oak.solver else {"accuracy"}
    if not needed <= set(task.metrics):
        raise CtxlabError(
            f"the OaK loop scores proofs with a solver, and task {task.name!r} gives "
            f"{list(task.metrics)}: use --task prontoqa (or --no-solver for label-only scores)"
        )
    if oak.eval_task is not None and oak.eval_task != task.name:
        get_task_class(oak.eval_task)  # an unknown name raises with the list of tasks
        if not Path(oak.transfer.data).is_file():
            raise CtxlabError(
                f"--eval-task {oak.eval_task} reads {oak.transfer.data}, which does not exist: "
                "set oak.transfer.data to that task's data file (e.g. folio-validation.jsonl)"
            )
    if config.training.peft in ("none", "full"):
        raise CtxlabError("the OaK loop trains LoRA adapters: set training.peft to a lora_* preset")
    if oak.solver and oak.step_pairs_per_problem and not task.has_step_verdicts:
        raise CtxlabError(
            f"oak.step_pairs_per_problem needs per-step verdicts, which task {task.name!r} does "
            "not give: set it to 0"
        )
    if oak.sft_from is not None and not oak.sft:
        raise CtxlabError("oak.sft_from starts from an SFT adapter, and --no-sft asks for none")


def test_task(config: OakRecipeConfig, task: Task) -> Task:
    """The held-out task: the training task's settings with `oak.test_task` applied."""
    raw = {**task.config.model_dump(), **config.oak.test_task}
    try:
        return type(task)(type(task.config).model_validate(raw))
    except Exception as err:  # pydantic ValidationError: name the key
        raise CtxlabError(f"oak.test_task {config.oak.test_task}: {err}") from None


def transfer_examples(config: OakRecipeConfig, task: Task) -> tuple[Task, list[Example]]:
    """The transfer task and its examples (`--eval-task`), or (task, []) when there is none."""
    oak = config.oak
    if oak.eval_task is None or oak.eval_task == task.name:
        return task, []
    cls = get_task_class(oak.eval_task)
    settings: dict[str, Any] = {"name": oak.eval_task}
    if oak.transfer.num_samples is not None:
        settings["num_samples"] = oak.transfer.num_samples
    other = cls(cls.config_class.model_validate(settings))
    return other, other.read_data(oak.transfer.data)[: oak.transfer.num_samples]


def sample_and_pair(config: OakRecipeConfig, task: Task, problems, policy, round_: int):
    """Sample, verify and pair; returns (sample records, pairs, per-round statistics)."""
    from ctxlab.backends import generate_with
    from ctxlab.generation import Sampling
    from ctxlab.prompts import render_prompt
    from ctxlab.training.pairs import Candidate, build_pairs, step_pairs, trace_score

    oak = config.oak
    requests = task.requests(problems, config.eval.max_new_tokens)
    sampling = Sampling(
        oak.temperature, oak.top_p, oak.sample_seed + 1000 * round_, oak.samples_per_problem
    )
    flat = generate_with(
        policy,
        requests,
        config.eval.batch_size,
        progress=config.eval.progress,
        description=f"round {round_}: sampling",
        sampling=sampling,
    )
    n = sampling.num_samples
    outputs = [flat[i : i + n] for i in range(0, len(flat), n)]
    improve = "step_validity" if oak.solver and oak.require_step_gain else None
    records, pairs = [], []
    for example, request, samples in zip(problems, requests, outputs):
        candidates = []
        scored = task.score_batch([example] * len(samples), [out.text for out in samples])
        for k, (text, scores) in enumerate(scored):
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


def rejected(task: Task, examples: list[Example], records: list[dict], limit: int) -> list[dict]:
    """Held-out answers that are not fully right (the headline metric below 100), each with the
    task's reasons (for prontoqa, the proof checker's)."""
    main = "trace_validity" if "trace_validity" in task.metrics else task.metrics[0]
    by_id = {e.id: e for e in examples}
    out = []
    for record in records:
        if record["scores"][main] >= 100.0 or record["id"] not in by_id:
            continue
        example = by_id[record["id"]]
        out.append(
            {
                "id": record["id"],
                "query": example.meta.get("query"),
                "prediction": record["prediction"],
                "errors": task.explain(record["prediction"], example)[:4],
            }
        )
        if len(out) >= limit:
            break
    return out


def _dpo_round(config: OakRecipeConfig, task, problems, policy, adapter, part, round_, log):
    """Sample, pair and train one DPO round; returns (the new adapter, the row's fields)."""
    from ctxlab.training.dpo import dpo_train

    oak = config.oak
    records, pairs, stats = sample_and_pair(config, task, problems, policy, round_)
    write_jsonl(part / "samples.jsonl", records)
    write_jsonl(part / "pairs.jsonl", [p.to_record() for p in pairs])
    log(
        f"round {round_}: {stats['samples']} proofs sampled, mean trace score "
        f"{stats['mean_trace_score']:.3f}, {len(pairs)} pairs "
        f"({stats['step_pairs']} of them step pairs)"
    )
    if not pairs:
        log(f"round {round_}: no pair reached oak.min_gap; the policy is unchanged")
        return adapter, stats
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
    return trained.final_dir, {**stats, "dpo": trained.summary}


@register(OakRecipeConfig)
def run(config: OakRecipeConfig) -> RunSummary:
    """SFT, then `oak.iterations` DPO rounds, each evaluated on the held-out problems."""
    task = make_task(config)
    _check(config, task)
    held_out = test_task(config, task)
    oak = config.oak
    sft_from = resolve_adapter(oak.sft_from, "oak.sft_from")[0] if oak.sft_from else None
    other, transfer = transfer_examples(config, task)
    timer = Timer()
    rows: list[dict] = []
    evals = []
    with common.open_run(config) as run:

        def log(message: str) -> None:
            common.say(run, message, "oak")

        with timer("data_s"):
            base = common.load_base(config)
            data = common.make_splits(config.splits, task, base, test_task=held_out)
            common.write_splits(run, data)
        adapter: Path | None = sft_from
        if sft_from is not None:
            log(f"SFT: starting from the adapter in {adapter}")
        elif oak.sft:
            with timer("sft_s"):
                result = common.train_on_splits(config, task, data, run.path / "sft")
            adapter = result.final_dir
            log(f"SFT on gold proofs: {result.summary['steps']} steps, {timer['sft_s']:.0f} s")
        policy = base
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
                adapter, fields = _dpo_round(
                    config, task, problems, policy, adapter, part, round_, log
                )
                row.update(fields)
            policy = common.load_policy(base, adapter, f"{config.model.name} ({stage})")
            result = common.evaluate_part(
                config, held_out, data["test"], policy, run, f"{part.name}/eval"
            )
            evals.append(result)
            row.update(_round_scores(held_out, evals))
            if transfer:
                moved = common.evaluate_part(
                    config, other, transfer, policy, run, f"{part.name}/transfer"
                )
                row["transfer"] = {"task": other.name, **moved.results["metrics"]}
            if round_ == oak.iterations:
                row["rejected"] = rejected(
                    held_out, data["test"], result.predictions, oak.rejected_examples
                )
            row["seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            log(f"iteration {round_} ({stage}): " + _metrics_line(row["test"]))
        timer["total_s"] = round(sum(timer.values()) + sum(r["seconds"] for r in rows), 1)
        summary = OakSummary(
            metric="step_validity" if "step_validity" in task.metrics else task.metrics[0],
            oak=oak.model_dump(mode="json"),
            iterations=rows,
            **common.compare(config, held_out, data, evals[0], evals[-1], timer),
        )
        artifact = common.publish(run, summary, "oak.json")
    headline = common.change_line(artifact["metric"], artifact, "iteration 0", "last")
    return RunSummary("oak", run.path, headline, artifact)


def _round_scores(task: Task, evals: list) -> dict[str, Any]:
    """The newest evaluation's scores with paired tests against the round before and the first."""
    r = evals[-1].results
    scores: dict[str, Any] = {
        "test": r["metrics"],
        "test_intervals": r["intervals"],
        "test_breakdown": r["breakdown"],
    }
    if len(evals) > 1:
        scores["tests"] = paired_tests(evals[-2].predictions, evals[-1].predictions, task.metrics)
        scores["tests_vs_start"] = paired_tests(
            evals[0].predictions, evals[-1].predictions, task.metrics
        )
    return scores


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

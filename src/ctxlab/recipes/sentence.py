"""The `sentence` recipe (`ctxlab run sentence-niah`): the SONAR-LLM seed's flow on ctxlab's
data. Generate NIAH (or QA) at the task's lengths -> train the sentence codec on codec-seed
sentences with the test answers left out (or load `codec.path`) -> precompute every sentence's
vector -> train the sentence LM -> evaluate on the test split -> compare with the built-in token
model on the same examples -> report. The run directory:

    RUNS/NAME/<stamp>/  config.yaml  run.log  data/{train,val,test}.jsonl  codec/
                        checkpoint_step_N/  best_model/  training_history.json
                        predictions.jsonl  final_results.json  results.json
                        builtin/  report.md

`final_results.json` has the seed's keys (loss, accuracy, num_evaluated, examples with key,
expected_value, prediction, correct); `results.json` is ctxlab's `sentence` artifact (intervals,
breakdown by value type and depth, the token model's scores and a paired test), which `ctxlab
report` and `ctxlab runs` read. Every result names the codec and says when it is a substitute
for SONAR. Embeddings are cached across runs under `codec.store_dir` (default
RUNS/sentence-embeddings), keyed by codec fingerprint and text hash.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializeAsAny

from ctxlab.config import EvalConfig, ModelConfig, RecipeConfig, RunConfig, Section
from ctxlab.errors import CtxlabError
from ctxlab.io import write_json, write_jsonl
from ctxlab.models import DEFAULT_MODEL
from ctxlab.models.scratch import ScratchModelConfig
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import Timer, open_run, publish, say, split_task
from ctxlab.reporting.artifacts import SentenceResults
from ctxlab.sentence.codec_train import CodecTrainConfig
from ctxlab.sentence.train import SentenceTraining
from ctxlab.tasks.base import Example, Task, TaskConfig, get_task_class

VALUE_TYPE_SEED_STRIDE = 100_003


class SentenceCodecSettings(Section):
    kind: Literal["tiny", "autoencoder", "minilm", "sonar"] = Field(
        "autoencoder", description="tiny, autoencoder, minilm or sonar"
    )
    path: str | None = Field(None, description="a trained codec directory to reuse (codec.json)")
    train: CodecTrainConfig = CodecTrainConfig()
    store_dir: str | None = Field(
        None, description="embedding cache root (default RUNS_DIR/sentence-embeddings)"
    )
    store_dtype: Literal["float16", "float32"] = Field("float16", description="stored vectors")


class SentenceData(Section):
    num_samples: int = Field(
        1000, ge=2, description="examples generated for train+val per value type"
    )
    validation_split: float = Field(0.1, gt=0, lt=1, description="share held out for validation")
    max_train_samples: int | None = Field(None, ge=1, description="cap on training examples")
    max_val_samples: int | None = Field(None, ge=1, description="cap on validation examples")
    test_samples: int = Field(100, ge=1, description="held-out test examples per value type")
    value_types: list[Literal["words", "numbers", "uuids"]] = Field(
        ["words", "numbers"], description="NIAH value types (each its own share of the data)"
    )
    train_seed: int = 1000
    test_seed: int = 3000


class SentenceEval(Section):
    batch_size: int = Field(16, ge=1, description="test prompts predicted together")
    max_tokens: int = Field(128, ge=1, description="tokens the codec decodes a sentence")
    beam: int = Field(1, ge=1, description="beam width of the codec's decoder (1: greedy)")
    generate_sentences: int = Field(
        0,
        ge=0,
        description="also generate up to this many sentences a test prompt (decode, re-encode, "
        "append; EOS-cosine stop) into predictions.jsonl's `generated` (objective all)",
    )
    compare_builtin: bool = Field(True, description="also evaluate the built-in token model")
    builtin_model: str = Field(DEFAULT_MODEL, description="the token model compared against")
    builtin_batch_size: int = Field(8, ge=1, description="its batch size")
    progress: bool = Field(True, description="show progress lines")


class SentenceRun(RunConfig):
    name: str = Field("sentence", description="run name: the run goes to RUNS_DIR/NAME/<stamp>/")


class SentenceConfig(RecipeConfig):
    shortcuts = {
        "--codec-kind": ("codec.kind", None),
        "--codec": ("codec.path", None),
        "--epochs": ("training.epochs", None),
        "--max-steps": ("training.max_steps", None),
    }

    recipe: Literal["sentence"] = "sentence"  # type: ignore[assignment]
    task: SerializeAsAny[TaskConfig] = TaskConfig()
    data: SentenceData = SentenceData()
    codec: SentenceCodecSettings = SentenceCodecSettings()
    architecture: ScratchModelConfig = ScratchModelConfig(size="tiny")
    training: SentenceTraining = SentenceTraining()
    eval: SentenceEval = SentenceEval()
    init_from: str | None = Field(
        None, description="a sentence LM directory (best_model/) to continue training"
    )
    device: str = Field("cpu", description="cpu or cuda")
    run: SentenceRun = SentenceRun()


def _check(config: SentenceConfig) -> None:
    if config.task.name not in ("niah", "qa"):
        raise CtxlabError(
            f"the sentence recipe reads niah or qa data, not {config.task.name!r}: set task.name"
        )
    seeds = {config.data.train_seed, config.data.test_seed, config.codec.train.seed}
    if len(seeds) < 3:
        raise CtxlabError(
            "data.train_seed, data.test_seed and codec.train.seed must differ (the codec never "
            "sees evaluation sentences)"
        )
    if config.architecture.arch != "decoder":
        raise CtxlabError("the sentence LM is causal: set architecture.arch to decoder")


def draw(
    task: Task, count: int, seed: int, value_type: str | None, k: int = 0, sizing=(None, None)
) -> list[Example]:
    """`count` examples; the k-th value type draws with its own seed (else its keys and
    haystacks would repeat the first type's) and carries its type in the id (ids stay unique,
    which the paired test against the token model matches on)."""
    drawn = split_task(task, "train", count, seed + VALUE_TYPE_SEED_STRIDE * k)
    if value_type is None:
        return drawn.generate(*sizing)
    drawn = type(drawn)(drawn.config.model_copy(update={"needle_type_v": value_type}))
    return [replace(e, id=f"{e.id}-{value_type}") for e in drawn.generate(*sizing)]


def make_data(config: SentenceConfig, task: Task) -> dict[str, list[Example]]:
    """Train/val from the train seed (split by share, then capped), test from the test seed;
    QA's train/val drop the test questions, and a test prompt still in train/val is refused.
    Token lengths count the token model's tokens (the one the report compares against), chat
    template included, as ctxlab's evals do."""
    from ctxlab.recipes.common import check_leaks

    d = config.data
    types: list[str | None] = list(d.value_types) if task.name == "niah" else [None]
    sizing = (None, None)
    if task.config.length_unit == "tokens":  # type: ignore[attr-defined]  (niah and qa have it)
        from ctxlab.models import load_tokenizer

        sizing = load_tokenizer(config.eval.builtin_model)
    pool, test = [], []
    for k, t in enumerate(types):
        pool += draw(task, d.num_samples, d.train_seed, t, k, sizing)
        test += draw(task, d.test_samples, d.test_seed, t, k, sizing)
    if task.name == "qa":  # both seeds draw from one records file: no test question in train

        def question(example: Example) -> str:  # the prompt's last line
            return example.input.rsplit("\n", 1)[-1]

        asked = {question(e) for e in test}
        pool = [e for e in pool if question(e) not in asked]
    val_every = max(2, round(1 / d.validation_split))
    train = [e for i, e in enumerate(pool) if i % val_every]
    val = [e for i, e in enumerate(pool) if not i % val_every]
    data = {
        "train": train[: d.max_train_samples],
        "val": val[: d.max_val_samples],
        "test": test,
    }
    check_leaks(data, task)
    return data


def ready_codec(config: SentenceConfig):
    """(codec, where it is from) when no training is needed: `codec.path` or SONAR's own;
    None when it is trained in the run. Called before the run directory exists."""
    from ctxlab.sentence.codec import codec_class, load_codec

    c = config.codec
    if c.path:
        return load_codec(c.path, c.kind), c.path
    if c.kind == "sonar":
        return codec_class("sonar")(), "sonar (fairseq2 asset cache)"
    return None


def train_codec(config: SentenceConfig, task: Task, data: dict[str, list[Example]], run, log):
    """A codec trained on codec-seed sentences, the test answers left out, into RUN/codec/."""
    from ctxlab.sentence import codec_train

    c = config.codec
    settings = c.train.model_copy(update={"kind": c.kind, "progress": config.eval.progress})
    forbidden = [a for e in data["test"] for a in e.answers]
    extra = []
    if task.name != "niah":  # the task's own sentences, drawn with the codec's seed
        extra = draw(task, settings.examples, settings.seed, None)
    corpus = codec_train.codec_corpus(settings, forbidden, extra)
    codec = codec_train.make_codec(settings).to(config.device)
    log(f"training the {c.kind} codec on {len(corpus):,} codec-seed sentences")
    codec.training = codec_train.train_codec(codec, corpus, settings, log)
    codec.save(run.path / "codec")
    return codec, "codec/ (trained in this run)"


def builtin_comparison(
    config: SentenceConfig, task: Task, test: list[Example], ours: list[dict], run
) -> dict[str, Any]:
    """The token model on the same test examples (RUN/builtin/, a `ctxlab eval` layout) and a
    paired test of the sentence LM against it."""
    from ctxlab.config import Config
    from ctxlab.recipes.common import evaluate_part, load_base
    from ctxlab.stats import paired_tests

    eval_config = Config(
        task=config.task,
        model=ModelConfig(name=config.eval.builtin_model),
        eval=EvalConfig(batch_size=config.eval.builtin_batch_size, progress=config.eval.progress),
        run=config.run,
    )
    loaded = load_base(eval_config)
    result = evaluate_part(eval_config, task, test, loaded, run, "builtin")
    metric = task.metrics[0]
    return {
        "model": loaded.name,
        "metrics": result.results["metrics"],
        "intervals": result.results["intervals"],
        "by_value_type": _by_value_type(result.predictions, metric),
        "test": paired_tests(result.predictions, ours, [metric])[metric],
    }


def _by_value_type(rows: list[dict], metric: str) -> list[dict]:
    from ctxlab.stats import breakdown

    typed = [{**r, "meta": {"value_type": r["meta"].get("needle_type_v", "answer")}} for r in rows]
    return breakdown(typed, ("value_type",), [metric])


@register(SentenceConfig)
def run(config: SentenceConfig) -> RunSummary:
    """Data, codec, embeddings, sentence LM, evaluation, comparison, report."""
    import torch

    from ctxlab.sentence import evaluate as ev
    from ctxlab.sentence.codec import check_dim
    from ctxlab.sentence.data import all_texts, sentence_examples
    from ctxlab.sentence.model import SentenceLM, generate
    from ctxlab.sentence.split import EOS_SENTENCE
    from ctxlab.sentence.store import precompute
    from ctxlab.sentence.train import train_sentence_lm

    _check(config)
    timer = Timer()
    task = get_task_class(config.task.name)(config.task)
    with timer("data_s"):
        data = make_data(config, task)
        items = {k: sentence_examples(v) for k, v in data.items()}
    longest = max(len(i.prompt) + 1 for split in items.values() for i in split)
    window = config.architecture.dims().context_length
    if longest > window:
        raise CtxlabError(
            f"an example has {longest} sentences, beyond architecture.context_length {window}: "
            "raise it"
        )
    ready = ready_codec(config)
    init = None
    if config.init_from:
        if ready is None:
            raise CtxlabError(
                "--set init_from continues a model of a given codec: pass that codec with "
                "codec.path too"
            )
        init = SentenceLM.load(config.init_from, ready[0])
    with open_run(config) as run:

        def log(message: str) -> None:
            say(run, message, "sentence")

        from ctxlab.threads import describe, machine

        log(f"torch: {describe(machine())}")  # another busy process slows training many-fold
        for split, examples in data.items():
            write_jsonl(run.path / "data" / f"{split}.jsonl", examples)
        log("data: " + ", ".join(f"{k} {len(v)}" for k, v in data.items()))
        with timer("codec_s"):
            codec, codec_source = ready or train_codec(config, task, data, run, log)
        codec.to(config.device)
        log(f"codec: {codec.describe()} from {codec_source}")
        with timer("precompute_s"):
            texts = all_texts([i for split in items.values() for i in split])
            root = Path(config.codec.store_dir or Path(config.run.runs_dir) / "sentence-embeddings")
            store, store_stats = precompute(codec, texts, root, config.codec.store_dtype)
        log(store_stats.line())
        check_dim(codec, store.dim, f"the embedding store {store.directory}")
        torch.manual_seed(config.training.seed)
        model = init or SentenceLM(codec.dim, config.architecture.dims())
        params = sum(p.numel() for p in model.parameters())
        d = model.dims
        label = f"sentence LM ({d.layers} layers x {d.hidden_size}, {params / 1e6:.2f}M)"
        log(f"{label}; {config.training.loss} loss, objective {config.training.objective}")
        with timer("train_s"):
            training = train_sentence_lm(
                model,
                codec,
                store,
                items["train"],
                items["val"],
                config.training,
                run.path,
                log,
                config.device,
            )
        best = SentenceLM.load(run.path / "best_model", codec).to(config.device)
        with timer("eval_s"):
            e = config.eval
            test_loss = ev.mean_loss(
                best,
                codec,
                store,
                items["test"],
                config.training.objective,
                config.training.loss,
                e.batch_size,
                config.device,
            )
            predictions = ev.predict(
                best, codec, store, items["test"], e.batch_size, e.max_tokens, e.beam, config.device
            )
            rows = ev.records(items["test"], predictions, task.name)
            if e.generate_sentences:
                eos = store.get([EOS_SENTENCE])[0].to(config.device)
                for item, row in zip(items["test"], rows):
                    prompt = store.get(item.prompt).to(config.device)
                    row["generated"] = generate(
                        best, codec, prompt, eos, e.generate_sentences, e.max_tokens
                    )
            scores = ev.results(rows, task.name)
            ceiling = ev.codec_ceiling(codec, store, items["test"], task.name, e.batch_size)
        write_jsonl(run.path / "predictions.jsonl", rows)
        metric = scores["metric"]
        write_json(
            run.path / "final_results.json",
            {
                "loss": test_loss,
                "accuracy": scores["metrics"][metric],
                "num_evaluated": len(rows),
                "metric": metric,
                "codec": codec.describe(),
                "substitute_for_sonar": codec.substitute_for_sonar,
                "examples": ev.seed_examples(items["test"], rows),
            },
        )
        comparison = None
        if e.compare_builtin:
            with timer("builtin_s"):
                comparison = builtin_comparison(config, task, data["test"], rows, run)
        artifact = SentenceResults(
            task=task.name,
            model=label,
            codec={**codec.card(), "source": codec_source},
            lm={"parameters": params, "dimensions": vars(d)},
            num_evaluated=len(rows),
            test_loss=test_loss,
            **scores,
            store={"directory": str(store.directory), **store_stats.to_dict()},
            training=training,
            data={k: len(v) for k, v in data.items()},
            builtin=comparison,
            ceiling=ceiling,
            timing=dict(timer),
            machine=machine(),
        )
        published = publish(run, artifact, "results.json")
        headline = (
            f"{metric} {scores['metrics'][metric]:.1f} on {len(rows)} test examples "
            f"({codec.describe()})"
        )
        if comparison:
            headline += f"; {comparison['model']} {comparison['metrics'][metric]:.1f}"
        run.log(headline)
    return RunSummary("sentence", run.path, headline, published)

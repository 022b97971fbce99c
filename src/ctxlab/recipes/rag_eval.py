"""`ctxlab rag eval`: retrieval recall@k over a QA file's pooled passages, and answer accuracy
when models read the top-k (the scratchpad-rag README's curve: accuracy vs retrieved documents).

The pool is every distinct passage of the file (each record's `ctxs`, or its one passage), so
other questions' gold passages are the distractors. recall@k is the share of questions whose
gold passage is among the top k, a fraction in [0, 1] as the issue writes it; answer_recall@k
the share whose top k contain an answer string (SQuAD-normalized); answer accuracy is
lost-in-the-middle's `best_subspan_em` in percent, as every ctxlab score.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ctxlab.config import RecipeConfig, RunConfig, Section
from ctxlab.errors import CtxlabError
from ctxlab.io import write_json, write_jsonl
from ctxlab.metrics import best_subspan_em, normalize_answer
from ctxlab.models.builtin import DEFAULT_MODEL
from ctxlab.rag.embedder import Embedder
from ctxlab.rag.index import Chunk, Hit, RagIndex, build_index
from ctxlab.rag.records import QARecord, load_qa_records, question_pool
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import open_run
from ctxlab.reporting.artifacts import RagResults
from ctxlab.stats import interval
from ctxlab.tasks.multidoc import TEMPLATES, final_answer
from ctxlab.tracking import RunDir

_LABEL = re.compile(r"^[A-Za-z0-9_.+-]+$")


class ModelSpec(BaseModel):
    """A curve: its label, the model spec, and whether it writes a scratchpad (then it may write
    several lines and its text after the last "Answer:" is scored, as multidoc's
    `--last-answer-only` does)."""

    model_config = ConfigDict(extra="forbid")

    label: str
    spec: str
    scratchpad: bool = False


class RagEvalRun(RunConfig):
    name: str = Field("rag-eval", description="run name: the run goes to RUNS_DIR/NAME/<stamp>/")


class EmbedderSettings(Section):
    """The embedder of `rag index`, `rag ask` and `rag eval`."""

    embedder: str | None = Field(
        None, description="all-MiniLM-L6-v2 (built in, default) or a sentence-transformers dir"
    )
    embed_batch_size: int = Field(64, ge=1, description="texts per embedding batch")
    embed_dtype: str = Field("auto", description="auto (bf16 where fast), float32, bfloat16")

    def make_embedder(self, spec: str | None = None) -> Embedder:
        return Embedder(spec or self.embedder, self.embed_batch_size, "auto", self.embed_dtype)


class IndexSettings(Section):
    """Which FAISS index `rag index` and `rag eval` build (exact by default)."""

    index_type: str = Field(
        "Flat",
        description="a FAISS index factory string: Flat (exact), IVF<lists>,Flat, HNSW<links>, "
        "IVF<lists>,PQ<bytes>",
    )
    train_size: int = Field(100_000, ge=1, description="vectors an index that trains samples")
    nprobe: int | None = Field(None, ge=1, description="IVF lists probed per query")
    ef_search: int | None = Field(None, ge=1, description="HNSW search breadth")

    def index_options(self) -> dict[str, Any]:
        return self.model_dump(include={"index_type", "train_size", "nprobe", "ef_search"})


class AnswerSettings(Section):
    """How a model answers from retrieved documents (`rag ask`, `rag eval`)."""

    template: str = Field("qa", description="qa (default) or the query-aware prompt")
    max_new_tokens: int = Field(100, ge=1, description="answer budget")
    batch_size: int = Field(8, ge=1, description="generation batch size")
    dtype: str = Field("auto", description="model dtype: auto, float32 or bfloat16")
    device: str = Field("auto", description="auto, cpu or cuda")


class RagEvalConfig(RecipeConfig, EmbedderSettings, IndexSettings, AnswerSettings):
    """Everything `ctxlab rag eval` takes; `pool` picks questions as the multidoc task's
    train/val/test partition does (by `pool_seed`), so a model trained on multidoc's `train`
    pool can be evaluated on questions it never saw. `models` and `scratchpad_models` are
    `[LABEL=]MODEL` strings (one curve each); `answer` adds the built-in model."""

    recipe: Literal["rag_eval"] = "rag_eval"  # type: ignore[assignment]
    data: str = Field(description="jsonl(.gz) of question/answers/ctxs records")
    top_k: list[int] = Field([1, 5, 20], description="k values of recall@k and of the answers")
    num_questions: int | None = Field(None, ge=1, description="first N records (default all)")
    models: list[str] = Field(
        [],
        description="[LABEL=]MODEL answering too, comma list",
        json_schema_extra={"flag": "--model"},
    )
    scratchpad_models: list[str] = Field(
        [],
        description="[LABEL=]MODEL trained with --method scratchpad: scored after its last Answer:",
        json_schema_extra={"flag": "--scratchpad-model"},
    )
    answer: bool = Field(False, description="answer with the built-in model")
    pool: str = Field("all", description="questions: all, or multidoc's train/val/test partition")
    pool_seed: int = Field(0, description="seed of that partition")
    answer_questions: int | None = Field(None, ge=1, description="answer the first N")
    index: str | None = Field(None, description="where the eval index is kept")
    scratchpad_max_new_tokens: int = Field(160, ge=1, description="scratchpad answer budget")
    progress: bool = Field(True, description="show progress bars")
    run: RagEvalRun = RagEvalRun()

    @field_validator("top_k", mode="before")
    @classmethod
    def _ks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        try:
            ks = sorted({int(v) for v in value if str(v).strip()})
        except (TypeError, ValueError):
            raise ValueError(f"must be integers, e.g. 1,5,20 (got {value!r})") from None
        if not ks or ks[0] < 1:
            raise ValueError(f"must list positive integers, e.g. 1,5,20 (got {value!r})")
        return ks

    def curves(self) -> list[ModelSpec]:
        """The answering models, labelled; refuses two curves with one label."""
        specs = [parse_model(m) for m in self.models]
        specs += [parse_model(m, scratchpad=True) for m in self.scratchpad_models]
        if self.answer and not any(m.spec == DEFAULT_MODEL for m in specs):
            specs.insert(0, ModelSpec(label="zero-shot", spec=DEFAULT_MODEL))
        labels = [m.label for m in specs]
        if len(set(labels)) != len(labels):
            raise CtxlabError(f"two --model curves share a label in {labels}: use LABEL=MODEL")
        return specs


def parse_model(text: str, scratchpad: bool = False) -> ModelSpec:
    """`LABEL=SPEC` names a curve; a bare SPEC is labelled by its last path part."""
    label, sep, spec = text.partition("=")
    if sep and _LABEL.match(label) and spec and not Path(text).exists():
        return ModelSpec(label=label, spec=spec, scratchpad=scratchpad)
    return ModelSpec(label=Path(text.rstrip("/")).name or text, spec=text, scratchpad=scratchpad)


def _index_for(
    config: RagEvalConfig, pool: list[Chunk], embedder: Embedder
) -> tuple[RagIndex, dict[str, Any]]:
    """Reuse the eval index when it holds exactly this pool, else build it (reusing its cache)."""
    if config.index:
        where = Path(config.index)
    else:
        stem = Path(config.data).name.split(".")[0]
        where = Path(config.run.runs_dir) / "rag-index" / f"{stem}-{Path(embedder.name).name}"
    if (where / "index.json").is_file():
        try:
            found = RagIndex.load(where)
        except CtxlabError:
            found = None
        if found is not None:
            same = (
                found.embedder_name == embedder.name
                and found.info.get("index_type", "Flat") == config.index_type
                and [c.key for c in found.chunks] == [c.key for c in pool]
            )
            if same:
                return found, {"reused_index": True, "encoded": 0, "build_s": 0.0}
            if found.info.get("built_by") != "rag eval":
                raise CtxlabError(
                    f"--index {where} holds other passages: pass a new directory for the "
                    "eval index, or leave --index out"
                )
    index, stats = build_index(
        pool,
        embedder,
        where,
        {"built_by": "rag eval", "data": str(config.data)},
        config.progress,
        **config.index_options(),
    )
    return index, {
        "reused_index": False,
        "encoded": stats.encoded,
        "cached": stats.cached,
        "encode_s": round(stats.encode_s, 3),
        "build_s": round(stats.total_s, 3),
    }


def _gold_rank(hits: list[Hit], gold_keys: set[str]) -> int | None:
    return next((h.rank for h in hits if h.chunk.key in gold_keys), None)


def _has_answer(hits: list[Hit], answers: list[str]) -> list[bool]:
    """Per rank: does the top-(rank+1) contain an answer string (normalized)?"""
    wanted = [normalize_answer(a) for a in answers]
    out, found = [], False
    for hit in hits:
        found = found or any(w and w in normalize_answer(hit.chunk.text) for w in wanted)
        out.append(found)
    return out


def rag_eval(
    config: RagEvalConfig,
    loaded: Mapping[str, Any] | None = None,
    embedder: Embedder | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Validate, index (or reuse), retrieve, answer, and write a finished run directory.

    `loaded` maps model labels to models already in memory (others load from their spec);
    `embedder` replaces the one `config.embedder` names.
    """
    from ctxlab.reporting.rag_report import build_rag_report

    ks = config.top_k
    records, pool = load_qa_records(config.data)
    records = question_pool(records, config.pool, config.pool_seed)
    n = config.num_questions if config.num_questions is not None else len(records)
    if not 1 <= n <= len(records):
        raise CtxlabError(
            f"--num-questions {n} is out of range: the {config.pool!r} questions of "
            f"{config.data} number {len(records)}"
        )
    records = records[:n]
    if ks[-1] > len(pool):
        raise CtxlabError(
            f"--top-k {ks[-1]} is larger than the pool of {len(pool)} passages in "
            f"{config.data}: lower --top-k"
        )
    n_answer = config.answer_questions if config.answer_questions is not None else n
    models = config.curves()
    if models and not 1 <= n_answer <= n:
        raise CtxlabError(f"--answer-questions {n_answer} must be within 1..{n}")
    if models and config.template not in TEMPLATES:
        raise CtxlabError(
            f"unknown --template {config.template!r}: choose one of {', '.join(TEMPLATES)}"
        )
    if embedder is None:
        embedder = config.make_embedder()

    timings: dict[str, Any] = {}
    with open_run(config) as run:  # type: ignore[arg-type]
        index, timings["index"] = _index_for(config, pool, embedder)
        run.log(f"index {index.path}: {len(index)} passages, {timings['index']}")
        start = time.perf_counter()
        hits = index.retrieve(embedder, [r.question for r in records], ks[-1], config.progress)
        timings["retrieve_s"] = round(time.perf_counter() - start, 3)
        rows, metrics, intervals = [], {}, {}
        for record, top in zip(records, hits):
            gold_keys = {Chunk(text, title).key for title, text in record.gold}
            rows.append(
                {
                    "id": record.id,
                    "question": record.question,
                    "answers": record.answers,
                    "gold_rank": _gold_rank(top, gold_keys),
                    "answer_in_top": _has_answer(top, record.answers),
                    "top": [{"id": h.id, "score": round(h.score, 5)} for h in top],
                }
            )
        found_at = {
            f"recall@{k}": [r["gold_rank"] is not None and r["gold_rank"] < k for r in rows]
            for k in ks
        }
        found_at |= {f"answer_recall@{k}": [r["answer_in_top"][k - 1] for r in rows] for k in ks}
        for name, found in found_at.items():
            metrics[name] = sum(found) / len(found)
            intervals[name] = interval([float(f) for f in found], scale=1.0).to_dict()
        write_jsonl(run.path / "retrieval.jsonl", rows)
        curves = _answer_curves(
            config, records[:n_answer], hits[:n_answer], run, timings, loaded or {}
        )
        for row in curves:
            metrics[f"{row['model']}/best_subspan_em@{row['k']}"] = row["best_subspan_em"]
            intervals[f"{row['model']}/best_subspan_em@{row['k']}"] = row["interval"]
        results = RagResults(
            **{
                "data": str(config.data),
                "embedder": embedder.name,
                "index": str(index.path),
                "pool_size": len(pool),
                "num_questions": n,
                "top_k": ks,
                "units": {
                    "recall@k": "fraction in [0, 1]",
                    "answer_recall@k": "fraction in [0, 1]",
                    "best_subspan_em": "percent (0-100)",
                },
                "metrics": metrics,
                "intervals": intervals,
                "answer_accuracy": curves,
            }
        ).model_dump(mode="json")
        write_json(run.path / "results.json", results)
        write_json(run.path / "summary.json", {"timing": timings})
        build_rag_report(run.path)
    return run.path, results


def _check_window(
    loaded,
    questions: list[str],
    top: list[list[Hit]],
    template: str,
    budget: int,
    label: str,
    k: int,
) -> None:
    """Refuse, before generating, a top-k prompt longer than the model's window."""
    from ctxlab.prompts import count_prompt_tokens
    from ctxlab.rag.pipeline import request

    longest = max(
        count_prompt_tokens(loaded.tokenizer, request(q, h, template, budget).messages)
        for q, h in zip(questions, top)
    )
    if longest + budget > loaded.max_length:
        raise CtxlabError(
            f"top-{k} prompts need up to {longest} + {budget} tokens, beyond {label}'s window of "
            f"{loaded.max_length}: lower --top-k"
        )


def _answer_curves(
    config: RagEvalConfig,
    records: list[QARecord],
    hits: list[list[Hit]],
    run: RunDir,
    timings: dict[str, Any],
    preloaded: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """For each model and each k: best_subspan_em when the model reads the top-k documents."""
    from ctxlab.models import load_model
    from ctxlab.rag.pipeline import STOP, answer

    curves, predictions = [], []
    for model in config.curves():
        label = model.label
        loaded = preloaded.get(label) or load_model(model.spec, config.dtype, config.device)
        run.log(f"model {label} ({model.spec}): {loaded.name}, loaded in {loaded.load_s:.1f} s")
        budget = config.scratchpad_max_new_tokens if model.scratchpad else config.max_new_tokens
        stop = () if model.scratchpad else STOP
        for k in config.top_k:
            questions, top = [r.question for r in records], [h[:k] for h in hits]
            _check_window(loaded, questions, top, config.template, budget, label, k)
            start = time.perf_counter()
            answers = answer(
                loaded,
                questions,
                top,
                config.template,
                budget,
                config.batch_size,
                config.progress,
                f"{label} top-{k}",
                stop,
            )
            seconds = time.perf_counter() - start
            scored = [final_answer(a.text) if model.scratchpad else a.text for a in answers]
            scores = [best_subspan_em(t, r.answers) for t, r in zip(scored, records)]
            curves.append(
                {
                    "model": label,
                    "spec": model.spec,
                    "scratchpad": model.scratchpad,
                    "k": k,
                    "n": len(scores),
                    "best_subspan_em": sum(scores) / len(scores),
                    "interval": interval(scores).to_dict(),
                    "prompt_tokens": sum(a.generation.prompt_tokens for a in answers),
                    "generated_tokens": sum(a.generation.generated_tokens for a in answers),
                    "seconds": round(seconds, 2),
                }
            )
            predictions += [
                {"model": label, "k": k, "id": r.id, "prediction": a.text, "answers": r.answers}
                | {"best_subspan_em": s}
                for a, r, s in zip(answers, records, scores)
            ]
            run.log(f"{label} top-{k}: best_subspan_em {curves[-1]['best_subspan_em']:.1f}")
        timings[f"answer_s[{label}]"] = round(
            sum(c["seconds"] for c in curves[-len(config.top_k) :]), 2
        )
        del loaded
    if predictions:
        write_jsonl(run.path / "predictions.jsonl", predictions)
    return curves


@register(RagEvalConfig)
def run(config: RagEvalConfig) -> RunSummary:
    run_dir, results = rag_eval(config)
    m = results["metrics"]
    lines = [", ".join(f"recall@{k} {m[f'recall@{k}']:.3f}" for k in config.top_k)]
    for row in results["answer_accuracy"]:
        iv = row["interval"]
        lines.append(
            f"{row['model']} top-{row['k']}: best_subspan_em {row['best_subspan_em']:.1f} "
            f"[{iv['low']:.1f}, {iv['high']:.1f}]"
        )
    return RunSummary("rag_eval", run_dir, "\n".join(lines), results)

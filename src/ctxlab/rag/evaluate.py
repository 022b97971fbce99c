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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ctxlab.errors import CtxlabError
from ctxlab.metrics import best_subspan_em, normalize_answer
from ctxlab.models import LoadedModel
from ctxlab.rag.embedder import Embedder
from ctxlab.rag.index import Chunk, Hit, RagIndex, build_index
from ctxlab.rag.records import QARecord, load_qa_records, question_pool
from ctxlab.tasks.multidoc import TEMPLATES, final_answer
from ctxlab.tracking import RunDir, write_json, write_jsonl

_LABEL = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass
class ModelSpec:
    """A curve: its label, the model spec, and whether it writes a scratchpad (then it may write
    several lines and its text after the last "Answer:" is scored, as multidoc's
    `--last-answer-only` does)."""

    label: str
    spec: str
    scratchpad: bool = False


@dataclass
class EvalSettings:
    """Everything `ctxlab rag eval` takes; `pool` picks questions as the multidoc task's
    train/val/test partition does (by `pool_seed`), so a model trained on multidoc's `train`
    pool can be evaluated on questions it never saw."""

    data: str
    top_k: list[int]
    num_questions: int | None = None
    models: list[ModelSpec] = field(default_factory=list)
    pool: str = "all"
    pool_seed: int = 0
    answer_questions: int | None = None
    embedder: str | None = None
    embed_batch_size: int = 64
    embed_dtype: str = "auto"
    index: str | None = None
    runs_dir: str = "runs"
    name: str = "rag-eval"
    template: str = "qa"
    max_new_tokens: int = 100
    scratchpad_max_new_tokens: int = 160
    batch_size: int = 8
    dtype: str = "auto"
    device: str = "auto"
    progress: bool = True


def parse_model(text: str, scratchpad: bool = False) -> ModelSpec:
    """`LABEL=SPEC` names a curve; a bare SPEC is labelled by its last path part."""
    label, sep, spec = text.partition("=")
    if sep and _LABEL.match(label) and spec and not Path(text).exists():
        return ModelSpec(label, spec, scratchpad)
    return ModelSpec(Path(text.rstrip("/")).name or text, text, scratchpad)


def parse_top_k(text: str) -> list[int]:
    try:
        ks = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise CtxlabError(
            f"--top-k {text!r} must be comma-separated integers, e.g. 1,5,20"
        ) from None
    if not ks or ks[0] < 1:
        raise CtxlabError(f"--top-k {text!r} must list positive integers, e.g. 1,5,20")
    return ks


def _index_for(
    settings: EvalSettings, pool: list[Chunk], embedder: Embedder
) -> tuple[RagIndex, dict[str, Any]]:
    """Reuse the eval index when it holds exactly this pool, else build it (reusing its cache)."""
    if settings.index:
        where = Path(settings.index)
    else:
        stem = Path(settings.data).name.split(".")[0]
        where = Path(settings.runs_dir) / "rag-index" / f"{stem}-{Path(embedder.name).name}"
    if (where / "index.json").is_file():
        try:
            found = RagIndex.load(where)
        except CtxlabError:
            found = None
        if found is not None:
            same = found.embedder_name == embedder.name and [c.key for c in found.chunks] == [
                c.key for c in pool
            ]
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
        {"built_by": "rag eval", "data": str(settings.data)},
        settings.progress,
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
    settings: EvalSettings,
    loaded: Mapping[str, LoadedModel] | None = None,
    embedder: Embedder | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Validate, index (or reuse), retrieve, answer, and write a finished run directory.

    `loaded` maps model labels to models already in memory (others load from their spec);
    `embedder` replaces the one `settings.embedder` names.
    """
    from ctxlab.rag.report import build_rag_report

    ks = settings.top_k
    records, pool = load_qa_records(settings.data)
    records = question_pool(records, settings.pool, settings.pool_seed)
    n = settings.num_questions if settings.num_questions is not None else len(records)
    if not 1 <= n <= len(records):
        raise CtxlabError(
            f"--num-questions {n} is out of range: the {settings.pool!r} questions of "
            f"{settings.data} number {len(records)}"
        )
    records = records[:n]
    if ks[-1] > len(pool):
        raise CtxlabError(
            f"--top-k {ks[-1]} is larger than the pool of {len(pool)} passages in "
            f"{settings.data}: lower --top-k"
        )
    n_answer = settings.answer_questions if settings.answer_questions is not None else n
    if settings.models and not 1 <= n_answer <= n:
        raise CtxlabError(f"--answer-questions {n_answer} must be within 1..{n}")
    if settings.models and settings.template not in TEMPLATES:
        raise CtxlabError(
            f"unknown --template {settings.template!r}: choose one of {', '.join(TEMPLATES)}"
        )
    if embedder is None:
        embedder = Embedder(
            settings.embedder, settings.embed_batch_size, "auto", settings.embed_dtype
        )

    timings: dict[str, Any] = {}
    with RunDir(settings.runs_dir, settings.name) as run:
        write_json(run.path / "config.json", {**asdict(settings), "num_questions": n})
        index, timings["index"] = _index_for(settings, pool, embedder)
        run.log(f"index {index.path}: {len(index)} passages, {timings['index']}")
        start = time.perf_counter()
        hits = index.retrieve(embedder, [r.question for r in records], ks[-1], settings.progress)
        timings["retrieve_s"] = round(time.perf_counter() - start, 3)
        rows, metrics = [], {}
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
        for k in ks:
            metrics[f"recall@{k}"] = sum(
                r["gold_rank"] is not None and r["gold_rank"] < k for r in rows
            ) / len(rows)
        for k in ks:
            metrics[f"answer_recall@{k}"] = sum(r["answer_in_top"][k - 1] for r in rows) / len(rows)
        write_jsonl(run.path / "retrieval.jsonl", rows)
        curves = _answer_curves(
            settings, records[:n_answer], hits[:n_answer], run, timings, loaded or {}
        )
        for row in curves:
            metrics[f"{row['model']}/best_subspan_em@{row['k']}"] = row["best_subspan_em"]
        results = {
            "task": "rag",
            "data": str(settings.data),
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
            "answer_accuracy": curves,
        }
        write_json(run.path / "results.json", results)
        write_json(run.path / "summary.json", {"timing": timings})
        build_rag_report(run.path)
    return run.path, results


def _check_window(
    loaded: LoadedModel,
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
    settings: EvalSettings,
    records: list[QARecord],
    hits: list[list[Hit]],
    run: RunDir,
    timings: dict[str, Any],
    preloaded: Mapping[str, LoadedModel],
) -> list[dict[str, Any]]:
    """For each model and each k: best_subspan_em when the model reads the top-k documents."""
    from ctxlab.models import load_model
    from ctxlab.rag.pipeline import STOP, answer

    curves, predictions = [], []
    for model in settings.models:
        label = model.label
        loaded = preloaded.get(label) or load_model(model.spec, settings.dtype, settings.device)
        run.log(f"model {label} ({model.spec}): {loaded.name}, loaded in {loaded.load_s:.1f} s")
        budget = settings.scratchpad_max_new_tokens if model.scratchpad else settings.max_new_tokens
        stop = () if model.scratchpad else STOP
        for k in settings.top_k:
            questions, top = [r.question for r in records], [h[:k] for h in hits]
            _check_window(loaded, questions, top, settings.template, budget, label, k)
            start = time.perf_counter()
            answers = answer(
                loaded,
                questions,
                top,
                settings.template,
                budget,
                settings.batch_size,
                settings.progress,
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
            sum(c["seconds"] for c in curves[-len(settings.top_k) :]), 2
        )
        del loaded
    if predictions:
        write_jsonl(run.path / "predictions.jsonl", predictions)
    return curves

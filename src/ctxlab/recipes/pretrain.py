"""The `pretrain` recipe (`ctxlab pretrain`, `ctxlab run pretrain-tiny`): text -> train/val/test
splits -> tokenizer -> a decoder (causal LM) or encoder (MLM) trained from random weights ->
held-out perplexity or masked-token accuracy against the unigram baseline -> report. The run
directory is also the training directory:

    RUNS/NAME/<stamp>/  config.yaml  run.log  metrics.jsonl  training_history.json
                        checkpoint-<step>/  best/  final/  results.json  report.md  *.png

`final/` and `best/` are plain Hugging Face model directories with their tokenizer (`ctxlab eval
--model RUN/final` takes a decoder). Every input is checked, the tokenizer trained and the data
packed before the run directory exists, so bad input leaves nothing behind; once training has
written a checkpoint, a crash or Ctrl-C keeps the unfinished run for `--resume`, which continues
the newest run of the name from its last checkpoint into a new run directory.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from ctxlab.config import RecipeConfig, RunConfig, Section
from ctxlab.errors import CtxlabError
from ctxlab.io import read_json, write_json
from ctxlab.models.scratch import ScratchModelConfig, arch_of, dims_of
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import Timer, open_run, publish, say
from ctxlab.training.config import PretrainSettings

CHECKED_ON_RESUME = ("data", "tokenizer", "model")


class PretrainData(Section):
    paths: list[str] = Field([], description="text/markdown files, jsonl(.gz) passages, folders")
    text_field: str | None = Field(
        None,
        description="the text field of jsonl lines (default: text, passage or context; a "
        "lost-in-the-middle line's ctxs each give one)",
    )
    prose_words: int = Field(0, ge=0, description="with no paths: words of ctxlab's own prose")
    split_by: Literal["paragraph", "document"] = Field(
        "paragraph", description="what the splits draw: paragraphs or whole documents"
    )
    val_share: float = Field(0.05, gt=0, lt=0.5, description="share held out for validation")
    test_share: float = Field(0.05, gt=0, lt=0.5, description="share held out for the test")
    split_seed: int = Field(0, description="seed of the split")


class TokenizerSettings(Section):
    path: str | None = Field(
        None,
        description="a tokenizer directory (`ctxlab tokenizer train`) or a model's; none: a "
        "byte-level BPE trained on the train split",
        json_schema_extra={"flag": "--tokenizer"},
    )
    vocab_size: int = Field(8000, description="vocabulary of a tokenizer trained here")
    min_frequency: int = Field(2, ge=1, description="pairs seen fewer times are not merged")


class PretrainEval(Section):
    batch_size: int = Field(
        16,
        ge=1,
        description="held-out sequences scored together",
        json_schema_extra={"flag": "--eval-batch-size"},
    )
    progress: bool = Field(True, description="print a line per log step")


class PretrainRun(RunConfig):
    name: str = Field("pretrain", description="run name: the run goes to RUNS_DIR/NAME/<stamp>/")


class PretrainConfig(RecipeConfig):
    shortcuts = {
        "--arch": ("model.arch", None),
        "--size": ("model.size", None),
        "--tokenizer": ("tokenizer.path", None),
        "--max-steps": ("training.max_steps", None),
        "--resume": ("training.resume", True),
        "--init-from": ("training.init_from", None),
    }

    recipe: Literal["pretrain"] = "pretrain"  # type: ignore[assignment]
    data: PretrainData = PretrainData()
    tokenizer: TokenizerSettings = TokenizerSettings()
    model: ScratchModelConfig = ScratchModelConfig()
    training: PretrainSettings = PretrainSettings()
    eval: PretrainEval = PretrainEval()
    run: PretrainRun = PretrainRun()


def _check(config: PretrainConfig) -> None:
    t = config.training
    if t.save_steps % t.eval_steps:
        raise CtxlabError(
            f"save_steps ({t.save_steps}) must be a multiple of eval_steps ({t.eval_steps}) so "
            "the best checkpoint by validation loss is kept"
        )
    if t.resume and t.init_from:
        raise CtxlabError("--resume continues a run and --init-from starts a new one: pick one")
    if t.init_from and config.tokenizer.path:
        raise CtxlabError("--init-from brings its model's own tokenizer: drop --tokenizer")


def last_checkpoint(run_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
    return Path(found) if found else None


def _stamp(run: Path) -> str:
    """A run directory's start time, finished (`<stamp>`, `<stamp>_2`) or not
    (`.incomplete-<stamp>-<pid>`): file times are not reliable on every filesystem."""
    found = re.search(r"\d{8}_\d{6}", run.name)
    return found.group(0) if found else ""


def find_resumable(config: PretrainConfig) -> Path:
    """The newest run of this name (finished, or left unfinished by a crash) with a checkpoint."""
    base = Path(config.run.runs_dir) / config.run.name
    runs = [p for p in base.iterdir() if p.is_dir() and not p.is_symlink()] if base.is_dir() else []
    found = {run: ckpt for run in runs if (ckpt := last_checkpoint(run))}
    if not found:
        raise CtxlabError(
            f"--resume: no run under {base} holds a checkpoint-<step>/ to resume from: drop "
            "--resume to start a new run (or pass the --name and --runs-dir of that run)"
        )
    source = max(found, key=lambda run: (_stamp(run), int(found[run].name.split("-")[-1])))
    earlier = yaml.safe_load((source / "config.yaml").read_text(encoding="utf-8")) or {}
    now = config.model_dump(mode="json")
    for section in CHECKED_ON_RESUME:
        if earlier.get(section) != now[section]:
            raise CtxlabError(
                f"--resume: {source} was trained with other {section} settings: resume with "
                f"the same {section} section as that run (see its config.yaml)"
            )
    return source


def copy_checkpoints(source: Path, target: Path) -> Path:
    """Copy `source`'s checkpoints and metrics into `target`, pointing each checkpoint's record
    of the best one at its copy; returns the last checkpoint's copy."""
    for ckpt in sorted(source.glob("checkpoint-*")):
        shutil.copytree(ckpt, target / ckpt.name)
        state_file = target / ckpt.name / "trainer_state.json"
        if state_file.is_file():
            state = read_json(state_file, "trainer state")
            if state.get("best_model_checkpoint"):
                state["best_model_checkpoint"] = str(
                    target / Path(state["best_model_checkpoint"]).name
                )
            write_json(state_file, state)
    if (source / "metrics.jsonl").is_file():
        shutil.copy2(source / "metrics.jsonl", target / "metrics.jsonl")
    last = last_checkpoint(target)
    assert last is not None
    return last


def _weights_dir(path: str) -> Path:
    root = Path(path).expanduser()
    for candidate in (root / "final", root):
        if (candidate / "config.json").is_file():
            return candidate
    raise CtxlabError(
        f"--init-from {path}: no model there: pass a pretrain run directory (with final/) or a "
        "model directory"
    )


def _describe(arch: str, dims: dict[str, Any]) -> str:
    family = "llama" if arch == "decoder" else "modernbert"
    return f"{arch} ({family}, {dims['layers']} layers x {dims['hidden_size']})"


def _headline(arch: str, metrics: dict[str, float], intervals: dict, training: dict) -> str:
    name = "perplexity" if arch == "decoder" else "masked_accuracy"
    value, base = metrics[f"test_{name}"], metrics[f"test_unigram_{name}"]
    i = intervals[f"test_{name}"]
    unit = "" if arch == "decoder" else "%"
    line = (
        f"test {name.replace('_', ' ')} {value:.2f}{unit} [{i['low']:.2f}, {i['high']:.2f}] "
        f"vs unigram {base:.2f}{unit}"
    )
    if training.get("stopped_early"):
        line += f"; early stopped after {training['epochs']:.1f} epochs"
    return line


def run_pretrain(config: PretrainConfig, callbacks: Sequence[Any] = ()) -> RunSummary:
    """The whole recipe; `callbacks` go to `Trainer` (tests stop or crash a run with them)."""
    from transformers import AutoTokenizer

    from ctxlab.reporting.artifacts import PretrainResults
    from ctxlab.training import pretrain as pt
    from ctxlab.training import pretrain_eval as pe
    from ctxlab.training.pretrain_data import read_texts, split_texts

    _check(config)
    settings, arch, timer = config.training, config.model.arch, Timer()
    source = find_resumable(config) if settings.resume else None
    init_dir = _weights_dir(settings.init_from) if settings.init_from else None
    found = arch_of(init_dir) if init_dir is not None else arch
    if found != arch:
        raise CtxlabError(
            f"--init-from {settings.init_from} holds a model of architecture {found}, not "
            f"{arch}: pass --arch {found}"
        )
    with timer("data_s"):
        d = config.data
        texts = read_texts(d.paths, d.text_field, d.prose_words)
        splits = split_texts(texts, d.val_share, d.test_share, d.split_seed, d.split_by)
        if source is not None:
            tokenizer = AutoTokenizer.from_pretrained(last_checkpoint(source))
        elif init_dir is not None:
            tokenizer = AutoTokenizer.from_pretrained(init_dir)
        else:
            tok = config.tokenizer
            tokenizer = pt.load_tokenizer(
                tok.path, splits["train"], tok.vocab_size, tok.min_frequency
            )
        length = config.model.dims().context_length
        if init_dir is not None:  # a continued model keeps its own window
            length = int(
                read_json(init_dir / "config.json", "model config")["max_position_embeddings"]
            )
        corpus = pt.build_corpus(
            arch, tokenizer, splits, length, settings.mlm_probability, settings.seed
        )
    with open_run(config) as run:
        resume_from = copy_checkpoints(source, run.path) if source is not None else None
        model = pt.make_model(config.model, tokenizer, settings.seed, resume_from or init_dir)
        dims = asdict(dims_of(model))
        train = corpus.packed["train"]
        say(
            run,
            f"{_describe(arch, dims)}: {pt.parameters(model):,} parameters, vocabulary "
            f"{len(tokenizer)}; {train.tokens:,} training tokens in {len(train.input_ids)} "
            f"sequences of {dims['context_length']} (padding {train.padding_share:.2%})"
            + (f"; resuming {resume_from.name} of {source}" if source is not None else ""),
            "pretrain",
        )
        try:
            with timer("train_s"):
                trainer, summary = pt.pretrain(
                    settings,
                    arch,
                    model,
                    corpus,
                    run.path,
                    resume_from=str(resume_from) if resume_from else None,
                    callbacks=callbacks,
                    progress=config.eval.progress,
                )
        except BaseException:
            run.keep_on_error = last_checkpoint(run.path) is not None
            if run.keep_on_error:
                say(run, f"interrupted: {run.path} kept; continue it with --resume", "pretrain")
            raise
        summary["resumed_from"] = f"{source}/{resume_from.name}" if source else None
        summary["init_from"] = str(init_dir) if init_dir else None
        with timer("eval_s"):
            scores = pe.held_out(
                arch, trainer.model, corpus, config.eval.batch_size, summary["bf16"]
            )
        artifact = PretrainResults(
            arch=arch,
            model=_describe(arch, dims),
            dimensions={**dims, "class": type(trainer.model).__name__},
            parameters=pt.parameters(trainer.model),
            tokenizer={
                "source": str(init_dir or config.tokenizer.path or "trained on the train split"),
                "vocab_size": len(tokenizer),
            },
            data={
                "sources": list(d.paths) or [f"ctxlab prose ({d.prose_words} words)"],
                "split_by": d.split_by,
                "split_seed": d.split_seed,
                "splits": corpus.sizes(),
            },
            context_length=dims["context_length"],
            padding_share=train.padding_share,
            **scores,
            training=summary,
            timing=dict(timer),
        )
        published = publish(run, artifact, "results.json")
        headline = _headline(arch, scores["metrics"], scores["intervals"], summary)
        run.log(headline)
    return RunSummary("pretrain", run.path, headline, published)


@register(PretrainConfig)
def run(config: PretrainConfig) -> RunSummary:
    return run_pretrain(config)

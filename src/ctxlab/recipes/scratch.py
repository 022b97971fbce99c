"""The `scratch` recipe (`ctxlab run scratch-niah`): the finetune loop on a decoder that starts
from random weights. A byte-level BPE is trained on training-split-like task text (drawn with
the train seed, so no test example is seen), a Llama decoder of the `architecture` section's
size is built over it and saved as `init/`, and the finetune recipe's steps run on that model:
the same disjoint splits and leak check, the baseline (random weights, so ~0), full training on
the answer tokens, the tuned eval with the task's own metric and report. The run directory is

    RUNS/NAME/<stamp>/  config.yaml  run.log  init/  data/{train,val,test}.jsonl
                        baseline/  train/  tuned/  comparison.json  report.md  *.png

With `training.best_metric: task_metric` the report also shows the validation score against
training tokens. The `model` section's dtype and device apply; its name becomes `init/`.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from ctxlab.config import Section
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.models.scratch import ScratchModelConfig
from ctxlab.recipes import RunSummary, register
from ctxlab.recipes.common import Timer, TrainedConfig, open_run, say
from ctxlab.recipes.finetune import before_after
from ctxlab.tasks.base import Task

CHARS_PER_TOKEN = 4  # sizes the tokenizer's texts in characters before any tokenizer exists


class ScratchTokenizer(Section):
    path: str | None = Field(
        None,
        description="a tokenizer directory (`ctxlab tokenizer train`); none: a byte-level BPE "
        "trained on task text drawn with the train seed",
        json_schema_extra={"flag": "--tokenizer"},
    )
    vocab_size: int = Field(512, description="vocabulary of a tokenizer trained here")
    min_frequency: int = Field(2, ge=1, description="pairs seen fewer times are not merged")
    split_digits: bool = Field(True, description="every digit its own token (numbers copy)")
    texts: int = Field(200, ge=1, description="examples per (variant, length) it is trained on")


class ScratchConfig(TrainedConfig):
    shortcuts = {
        **TrainedConfig.shortcuts,
        "--size": ("architecture.size", None),
        "--tokenizer": ("tokenizer.path", None),
        "--max-steps": ("training.max_steps", None),
    }

    recipe: Literal["scratch"] = "scratch"  # type: ignore[assignment]
    architecture: ScratchModelConfig = ScratchModelConfig()
    tokenizer: ScratchTokenizer = ScratchTokenizer()


def tokenizer_texts(task: Task, count: int, seed: int) -> list[str]:
    """Prompt, answer prefix and target of `count` examples per (variant, length), drawn with
    `seed` (the train split's) and sized in characters."""
    settings: dict = {"num_samples": count, "seed": seed}
    if "length_unit" in type(task.config).model_fields:
        lengths = [n * CHARS_PER_TOKEN for n in task.config.lengths]  # type: ignore[attr-defined]
        settings.update(length_unit="chars", lengths=lengths)
    drawn = type(task)(task.config.model_copy(update=settings))
    return [
        f"{e.input}\n{e.answer_prefix or ''} {drawn.target(e)}" for e in drawn.generate(None, None)
    ]


def make_tokenizer(config: ScratchConfig, task: Task):
    from ctxlab.training.pretrain import load_tokenizer
    from ctxlab.training.tokenizer import train_tokenizer

    t = config.tokenizer
    if t.path:
        return load_tokenizer(t.path, [], t.vocab_size, t.min_frequency)
    texts = tokenizer_texts(task, t.texts, config.splits.train_seed)
    return train_tokenizer(texts, t.vocab_size, t.min_frequency, t.split_digits)


def build_decoder(config: ScratchConfig, tokenizer):
    """A randomly initialised decoder, seeded by `training.seed`."""
    import torch

    from ctxlab.models.scratch import build_model

    random.seed(config.training.seed)
    torch.manual_seed(config.training.seed)
    return build_model(config.architecture, tokenizer)


def _check(config: ScratchConfig) -> None:
    if config.architecture.arch != "decoder":
        raise CtxlabError(
            "the scratch recipe evaluates generated answers, which an encoder cannot write: "
            "set architecture.arch to decoder"
        )
    if config.training.peft not in ("none", "full"):
        raise CtxlabError(
            f"a model from random weights trains every weight: set training.peft to none, not "
            f"{config.training.peft}"
        )
    longest = max(getattr(config.task, "lengths", [0]))
    window = config.architecture.dims().context_length
    if longest > window:
        raise CtxlabError(
            f"task length {longest} exceeds architecture.context_length {window}: raise it"
        )


@register(ScratchConfig)
def run(config: ScratchConfig) -> RunSummary:
    """Tokenizer and random decoder, then baseline, train and tuned on disjoint splits."""
    _check(config)
    task = make_task(config)
    tokenizer = make_tokenizer(config, task)
    model = build_decoder(config, tokenizer)
    params = sum(p.numel() for p in model.parameters())
    d = config.architecture.dims()
    label = f"scratch decoder ({d.layers} layers x {d.hidden_size}, {params / 1e6:.2f}M)"
    with open_run(config) as run:
        init = run.path / "init"
        model.save_pretrained(init)
        tokenizer.save_pretrained(init)
        say(
            run,
            f"{label}: {params:,} parameters, vocabulary {len(tokenizer)}, window "
            f"{d.context_length}; random weights in {init}",
            "scratch",
        )
        on_init = config.model.model_copy(update={"name": str(init)})
        artifact, headline = before_after(
            config.model_copy(update={"model": on_init}), run, Timer(), label
        )
    return RunSummary("scratch", run.path, headline, artifact)

"""Pre-training from random weights on Hugging Face `Trainer`: a decoder with the causal-LM loss,
or an encoder with masked-language modelling.

Mini LLM writes its own loop, early stopping and checkpointing; here `Trainer` brings them
(`EarlyStoppingCallback` on validation loss, step checkpoints, resume with optimizer, scheduler
and RNG state, bf16 autocast, `accelerate launch`), and `SavingTrainer` (shared with
fine-tuning) writes `final/` and `best/` atomically as plain model directories with their
tokenizer. The steps here: the tokenizer (a directory, or trained on the train split), the
packed datasets, the model (new, continued from a directory, or a checkpoint's), the training
itself and its summary.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ctxlab.errors import CtxlabError
from ctxlab.models.scratch import ScratchModelConfig, build_model
from ctxlab.training.config import PretrainSettings
from ctxlab.training.pretrain_data import (
    SPLITS,
    CausalDataset,
    MaskedDataset,
    MaskingCollator,
    Packed,
    mask_once,
    pack,
)


@dataclass
class Corpus:
    """The tokenizer and each split packed, with the datasets `Trainer` and scoring read."""

    tokenizer: Any
    packed: dict[str, Packed]
    datasets: dict[str, torch.utils.data.Dataset]

    def sizes(self) -> dict[str, dict[str, Any]]:
        """Per split: texts, tokens, sequences and the padding share."""
        return {
            split: {
                "texts": p.texts,
                "tokens": p.tokens,
                "sequences": len(p.input_ids),
                "padding_share": p.padding_share,
            }
            for split, p in self.packed.items()
        }


def load_tokenizer(path: str | None, train_texts: list[str], vocab_size: int, min_frequency: int):
    """A tokenizer directory (from `ctxlab tokenizer train`, or any model's), a model spec the
    models package resolves, or, with no path, a byte-level BPE trained on the train split."""
    from ctxlab.training.tokenizer import train_tokenizer

    if path is None:
        return train_tokenizer(train_texts, vocab_size, min_frequency)
    folder = Path(path).expanduser()
    if folder.is_dir():
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as err:
            raise CtxlabError(
                f"--tokenizer {path}: no tokenizer there ({err}): pass a directory from "
                "`ctxlab tokenizer train`"
            ) from None
    from ctxlab.models import load_tokenizer as model_tokenizer

    return model_tokenizer(path)[0]


def build_corpus(
    arch: str,
    tokenizer,
    texts: dict[str, list[str]],
    context_length: int,
    mlm_probability: float,
    seed: int,
) -> Corpus:
    """Pack every split; an encoder's held-out splits are masked once, with a seed of their own."""
    packed = {split: pack(tokenizer, texts[split], context_length) for split in SPLITS}
    if arch == "decoder":
        datasets = {split: CausalDataset(p) for split, p in packed.items()}
    else:
        datasets = {"train": MaskedDataset(packed["train"])}
        for n, split in enumerate(("val", "test"), 1):
            datasets[split] = mask_once(tokenizer, packed[split], mlm_probability, seed + n)
    return Corpus(tokenizer, packed, datasets)


def model_class(arch: str):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    return AutoModelForCausalLM if arch == "decoder" else AutoModelForMaskedLM


def make_model(config: ScratchModelConfig, tokenizer, seed: int, weights: Path | None = None):
    """A new model of `config` (initialised from `seed`), or the model saved in `weights` (a
    checkpoint or an earlier run's final/), in fp32: bf16 autocast does the speed-up."""
    from transformers import set_seed

    set_seed(seed)
    if weights is None:
        return build_model(config, tokenizer)
    model = model_class(config.arch).from_pretrained(weights, dtype=torch.float32)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        raise CtxlabError(
            f"{weights}: its embeddings cover {model.get_input_embeddings().num_embeddings} "
            f"tokens, fewer than its tokenizer's {len(tokenizer)}: re-save the model"
        )
    model.config.use_cache = False
    return model


def parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def pretrain(
    settings: PretrainSettings,
    arch: str,
    model,
    corpus: Corpus,
    out_dir: Path,
    *,
    resume_from: str | None = None,
    callbacks: Sequence[Any] = (),
    progress: bool = False,
):
    """Train `model` on the corpus's train split, validated on val, into `out_dir` (checkpoints,
    metrics.jsonl, training_history.json, final/, best/); returns (trainer, summary). The
    trainer's model is the best checkpoint's when there was one."""
    from transformers import EarlyStoppingCallback, default_data_collator
    from transformers.trainer_callback import PrinterCallback

    from ctxlab.io import write_json
    from ctxlab.threads import describe, machine
    from ctxlab.training.callbacks import MetricsCallback
    from ctxlab.training.memory import resolve_checkpointing
    from ctxlab.training.trainer import SavingTrainer, stopped_early

    cuda = torch.cuda.is_available()
    window = corpus.packed["train"].input_ids.size(1)
    resolved, checkpointing = resolve_checkpointing(settings, model, window, cuda)
    args = resolved.trainer_arguments(out_dir, True, cuda, group_by_length=False)
    metrics = MetricsCallback(out_dir / "metrics.jsonl", progress=progress)
    early = (
        EarlyStoppingCallback(settings.early_stopping_patience, settings.early_stopping_min_delta)
        if settings.early_stopping_patience
        else None
    )
    collator = (
        default_data_collator
        if arch == "decoder"
        else MaskingCollator(corpus.tokenizer, settings.mlm_probability)
    )
    trainer = SavingTrainer(
        model=model,
        args=args,
        train_dataset=corpus.datasets["train"],
        eval_dataset=corpus.datasets["val"],
        data_collator=collator,
        processing_class=corpus.tokenizer,
        callbacks=[metrics, *([early] if early else []), *callbacks],
        final_dir=out_dir / "final",
    )
    trainer.remove_callback(PrinterCallback)  # MetricsCallback prints the short lines
    for callback in trainer.callback_handler.callbacks:
        if type(callback).__name__ == "TensorBoardCallback":
            callback.logging_dir = str(out_dir / "tensorboard")
    threads = machine()
    if progress and trainer.is_world_process_zero():
        print(f"training: {describe(threads)}", file=sys.stderr)
        print(f"gradient checkpointing {checkpointing.reason}", file=sys.stderr)
    output = trainer.train(resume_from_checkpoint=resume_from)

    state = trainer.state
    if state.best_model_checkpoint:
        trainer.save_atomic(out_dir / "best")
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    summary = {
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "epochs": state.epoch,
        "train_runtime": output.metrics.get("train_runtime"),
        "final_train_loss": losses[-1] if losses else None,
        "final_val_loss": evals[-1] if evals else None,
        "best_val_loss": state.best_metric,
        "best_checkpoint": Path(state.best_model_checkpoint).name
        if state.best_model_checkpoint
        else None,
        "tokens_seen": state.num_input_tokens_seen,
        "tokens_per_s": metrics.tokens_per_s(state),
        "stopped_early": stopped_early(early, state),
        "resumed_from": resume_from,
        "learning_rate": settings.learning_rate,
        "bf16": args.bf16,
        **checkpointing.summary(),
        "num_processes": trainer.accelerator.num_processes,
        "machine": threads,
    }
    if trainer.is_world_process_zero():
        write_json(out_dir / "training_history.json", state.log_history)
    trainer.accelerator.wait_for_everyone()
    return trainer, summary

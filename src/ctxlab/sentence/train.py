"""The sentence LM's training loop, with the seed's options and outputs: epochs, batch size,
learning rate, gradient accumulation, warmup, eval/save/logging steps, precision;
`checkpoint_step_N/` every `save_steps`, `best_model/` at the lowest validation loss, optional
early stopping.

A plain PyTorch loop rather than `transformers.Trainer`: the loss runs the frozen codec's decoder
on texts that vary per batch, and the model is not a `PreTrainedModel`. bf16 autocasts the
transformer and the frozen codec decoder alike; the cross-entropy itself is taken in float32.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from ctxlab.config import Section
from ctxlab.errors import CtxlabError
from ctxlab.io import write_json
from ctxlab.sentence.codec import SentenceCodec
from ctxlab.sentence.data import Objective, SentenceExample
from ctxlab.sentence.evaluate import batch_loss, mean_loss
from ctxlab.sentence.model import Loss, SentenceLM
from ctxlab.sentence.store import Embeddings


class SentenceTraining(Section):
    loss: Loss = Field("ce", description="ce (SONAR-LLM, through the codec decoder), mse, both")
    objective: Objective = Field(
        "answer", description="answer (last position -> answer) or all (every next sentence)"
    )
    epochs: float = Field(3.0, gt=0, description="passes over the training examples")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps (overrides epochs)")
    batch_size: int = Field(8, ge=1, description="examples a micro-batch")
    grad_accum_steps: int = Field(1, ge=1, description="micro-batches an optimizer step")
    learning_rate: float = Field(1e-3, gt=0, description="peak learning rate (cosine decay)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_steps: int | None = Field(None, ge=0, description="warmup steps (else warmup_ratio)")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="share of steps warming up")
    eval_steps: int = Field(50, ge=1, description="steps between validation losses")
    save_steps: int = Field(100, ge=1, description="steps between checkpoint_step_N/")
    logging_steps: int = Field(10, ge=1, description="steps between loss lines")
    save_total_limit: int | None = Field(2, ge=1, description="newest checkpoints kept (all: null)")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop after this many evaluations without a better val loss"
    )
    precision: Literal["fp32", "bf16"] = Field("fp32", description="fp32 or bf16 autocast")
    seed: int = Field(0, description="initialisation and shuffling seed")
    progress: bool = Field(True, description="print the logging lines")


def total_steps(settings: SentenceTraining, num_train: int) -> int:
    per_step = settings.batch_size * settings.grad_accum_steps
    return settings.max_steps or max(1, math.ceil(settings.epochs * num_train / per_step))


def _schedule(settings: SentenceTraining, steps: int) -> Callable[[int], float]:
    warmup = (
        settings.warmup_steps
        if settings.warmup_steps is not None
        else int(settings.warmup_ratio * steps)
    )

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return factor


def _micro_batches(items: Sequence[SentenceExample], size: int, seed: int):
    """Shuffled micro-batches, epoch after epoch, forever."""
    rng, epoch = random.Random(seed), 0
    while True:
        order = list(items)
        rng.shuffle(order)
        for start in range(0, len(order), size):
            yield epoch, order[start : start + size]
        epoch += 1


def _prune(out_dir: Path, keep: int | None) -> None:
    if keep is None:
        return
    found = sorted(out_dir.glob("checkpoint_step_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))
    for old in found[:-keep]:
        shutil.rmtree(old)


def train_sentence_lm(
    model: SentenceLM,
    codec: SentenceCodec,
    store: Embeddings,
    train: Sequence[SentenceExample],
    val: Sequence[SentenceExample],
    settings: SentenceTraining,
    out_dir: Path,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Train in place; `best_model/` holds the best weights. Returns the training summary."""
    if not train or not val:
        raise CtxlabError("the sentence LM needs training and validation examples: raise them")
    s = settings
    steps = total_steps(s, len(train))
    torch.manual_seed(s.seed)
    model.to(device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(s, steps))
    autocast = (
        torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
        if s.precision == "bf16"
        else nullcontext()
    )
    batches = _micro_batches(train, s.batch_size, s.seed)
    history: list[dict[str, Any]] = []
    best, best_step, stale, stopped, recent = math.inf, 0, 0, False, []
    start, epoch = time.perf_counter(), 0
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        for _ in range(s.grad_accum_steps):
            epoch, chunk = next(batches)
            with autocast:
                loss = batch_loss(model, codec, store, chunk, s.objective, s.loss, device)
            (loss / s.grad_accum_steps).backward()
            recent.append(loss.item())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if step % s.logging_steps == 0 or step == steps:
            mean = sum(recent) / len(recent)
            history.append(
                {"step": step, "epoch": epoch, "loss": mean, "lr": scheduler.get_last_lr()[0]}
            )
            if s.progress:
                log(f"step {step}/{steps} epoch {epoch}: loss {mean:.4f}")
            recent = []
        if step % s.eval_steps == 0 or step == steps:
            val_loss = mean_loss(
                model, codec, store, val, s.objective, s.loss, s.batch_size, device
            )
            history.append({"step": step, "val_loss": val_loss})
            log(f"step {step}: validation loss {val_loss:.4f}")
            if val_loss < best:
                best, best_step, stale = val_loss, step, 0
                model.save(out_dir / "best_model", codec)
            else:
                stale += 1
            if s.early_stopping_patience and stale >= s.early_stopping_patience:
                stopped = True
        if step % s.save_steps == 0 or step == steps or stopped:
            model.save(out_dir / f"checkpoint_step_{step}", codec)
            _prune(out_dir, s.save_total_limit)
        if stopped:
            log(f"early stop at step {step}: no better validation loss in {stale} evaluations")
            break
    summary = {
        "steps": step,
        "planned_steps": steps,
        "epochs_seen": epoch + 1,
        "best_val_loss": best,
        "best_step": best_step,
        "stopped_early": stopped,
        "train_s": round(time.perf_counter() - start, 1),
        "loss": s.loss,
        "objective": s.objective,
    }
    write_json(out_dir / "training_history.json", {"summary": summary, "history": history})
    return summary

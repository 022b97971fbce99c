"""One DPO round on LoRA with TRL's `DPOTrainer`: the training step of the OaK loop.

The policy starts from an earlier adapter (SFT or the previous round) or a fresh one; TRL copies
that starting adapter into a frozen "ref" adapter, so the reference is exactly the policy the
round started from, with no second model in memory. Pairs are tokenized here with the same prompt
rendering, target joining and end-of-turn token as SFT (`training.data`), so DPO, SFT and
generation agree token for token. TRL's config defaults `bf16=True` and gradient checkpointing on;
on CPU we pass `use_cpu=True` and fp32 unless asked, and no checkpointing (a 135M model needs none).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from transformers import TrainerCallback

from ctxlab.errors import CtxlabError
from ctxlab.prompts import encode_prompt
from ctxlab.training.callbacks import MetricsCallback
from ctxlab.training.config import SCHEDULERS, TrainConfig
from ctxlab.training.data import end_of_turn_id, join_target
from ctxlab.training.pairs import Pair
from ctxlab.training.peft_presets import check_preset_runnable, parse_preset
from ctxlab.training.trainer import TRAIN_INFO, load_for_training, resolve_adapter


class DPOSettings(BaseModel):
    """DPO hyperparameters of one round (`oak.dpo` in an experiment preset)."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(0.1, gt=0)
    # One TRL loss or several summed with `loss_weights`: ["sigmoid", "sft"] adds the chosen
    # proofs' NLL to DPO (RPO, Pang et al. 2024), which keeps DPO from lowering the likelihood of
    # the very proofs it prefers.
    loss_type: list[str] = ["sigmoid"]
    loss_weights: list[float] | None = None
    learning_rate: float = Field(5e-5, ge=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    batch_size: int = Field(2, ge=1)
    grad_accum: int = Field(1, ge=1)
    scheduler: Literal["none", "linear", "cosine"] = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    max_length: int = Field(1024, ge=8)
    logging_steps: int = Field(1, ge=1)
    bf16: bool | Literal["auto"] = False
    measure_pair_loss: bool = True

    @field_validator("loss_type", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _weights_match(self) -> DPOSettings:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ValueError(
                f"oak.dpo.loss_weights has {len(self.loss_weights)} weights for "
                f"{len(self.loss_type)} loss types {self.loss_type}: give one weight per type"
            )
        return self


@dataclass
class DPOResult:
    out_dir: Path
    final_dir: Path
    summary: dict = field(default_factory=dict)


def pair_records(tokenizer, pairs: list[Pair], max_length: int) -> list[dict]:
    """Token ids per pair: the rendered prompt as generation encodes it, each completion as SFT
    builds its target (joined to the prompt, then the end-of-turn token unless the pair stops
    mid-proof, `Pair.complete` False). Pairs whose prompt
    leaves no room for a completion under `max_length` are refused, not silently dropped."""
    eot = end_of_turn_id(tokenizer)
    records = []
    for pair in pairs:
        prompt_ids = encode_prompt(tokenizer, pair.prompt)
        if len(prompt_ids) >= max_length:
            raise CtxlabError(
                f"pair {pair.id}: its prompt is {len(prompt_ids)} tokens, not under "
                f"oak.dpo.max_length {max_length}: raise oak.dpo.max_length"
            )
        ids = {}
        for side in ("chosen", "rejected"):
            text = join_target(pair.prompt, getattr(pair, side))
            ids[side] = tokenizer(text, add_special_tokens=False)["input_ids"]
            ids[side] += [eot] if pair.complete else []
        records.append(
            {
                "prompt": pair.prompt,
                "chosen": pair.chosen,
                "rejected": pair.rejected,
                "prompt_ids": prompt_ids,
                "chosen_ids": ids["chosen"],
                "rejected_ids": ids["rejected"],
            }
        )
    return records


def completion_lm_head(model, weighting: bool = False) -> None:
    """Give `model` (the causal LM under the PEFT wrapper) a `fused_lm_head=True` forward that
    projects only the completion positions (labels not -100) onto the vocabulary.

    TRL's fused head projects every position, prompt included, wherever Triton is missing (all
    CPUs), and then folds the logits tile by tile in float32 and recomputes them in backward; on
    PrOntoQA pairs, whose prompts are longer than their proofs, that made a DPO step half as fast
    as a plain loop. Here the completion logits are materialized once (a few hundred rows) and
    the per-token fields `DPOTrainer` reads are computed from them."""
    from trl.trainer.utils import FusedCausalLMOutput

    plain_forward = type(model).forward.__get__(model)

    def forward(self, *args, fused_lm_head=False, labels=None, num_items_in_batch=None, **kwargs):
        if not fused_lm_head:
            return plain_forward(*args, **kwargs, **({} if labels is None else {"labels": labels}))
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        labels = labels[:, 1:]
        mask = labels != -100
        targets = labels[mask]
        logits = self.get_output_embeddings()(hidden[mask]).float()
        log_z = logits.logsumexp(-1)
        picked = logits.gather(-1, targets[:, None]).squeeze(-1) - log_z
        fields = {}
        # The logged fields cost a softmax over the vocabulary: the reference pass of a training
        # step (no gradient, training mode) reads only `log_probs`, so it skips them.
        if torch.is_grad_enabled() or not self.training:
            with torch.no_grad():
                probs = torch.softmax(logits, -1)
                fields = {
                    "entropy": log_z - torch.linalg.vecdot(probs, logits),
                    "mean_logits": logits.mean(-1),
                    "is_top1": logits.argmax(-1) == targets,
                    "log_sum_sq_probs": (probs * probs).sum(-1).log() if weighting else None,
                }

        def spread(values):
            if values is None:
                return None
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        log_probs = spread(picked)
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / count,
            log_probs=log_probs,
            label_mask=mask,
            **{name: spread(values) for name, values in fields.items()},
        )

    model.forward = types.MethodType(forward, model)


def _trainer_class():
    from trl import DPOTrainer

    class PretokenizedDPOTrainer(DPOTrainer):
        """Takes records already holding `prompt_ids`/`chosen_ids`/`rejected_ids` (built by
        `pair_records`) instead of re-tokenizing the texts, which could add a second BOS to a
        rendered chat prompt or split the prompt/completion boundary differently. On CPU its
        policy and reference project only completion positions (`completion_lm_head`)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.accelerator.device.type == "cpu" and not self.aux_loss_enabled:
                completion_lm_head(self.model.get_base_model(), self.use_weighting)

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            if "prompt_ids" in dataset.column_names:
                return dataset
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    return PretokenizedDPOTrainer


def _dpo_args(settings: DPOSettings, out_dir: Path, seed: int, cuda: bool, measure: bool):
    from trl import DPOConfig

    use_bf16 = TrainConfig(bf16=settings.bf16).use_bf16(cuda)
    return DPOConfig(
        output_dir=str(out_dir),
        beta=settings.beta,
        loss_type=list(settings.loss_type),
        loss_weights=settings.loss_weights,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        lr_scheduler_type=SCHEDULERS[settings.scheduler],
        warmup_steps=settings.warmup_ratio,
        max_length=settings.max_length,
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        use_cpu=not cuda,
        bf16=use_bf16,
        gradient_checkpointing=False,
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        prediction_loss_only=measure,
    )


def _save_adapter(model, tokenizer, target: Path) -> None:
    """Only the trained "default" adapter (not TRL's frozen "ref" copy), written atomically."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), selected_adapters=["default"], safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def dpo_train(
    settings: DPOSettings,
    model_spec: str,
    pairs: list[Pair],
    out_dir: str | Path,
    *,
    peft: str = "lora_r16_a32_qkvo",
    init_from: str | Path | None = None,
    seed: int = 0,
    trust_remote_code: bool = False,
    progress: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
) -> DPOResult:
    """Train the policy (`init_from`'s adapter, or a new `peft` adapter on `model_spec`) on
    `pairs` against itself as it started; writes `out_dir/final/` (an adapter `merged_model`
    loads), `metrics.jsonl`, `training_history.json` and `summary.json`. `callbacks` go to
    `Trainer` (the throughput benchmark times steps with one)."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback

    from ctxlab.io import write_json

    if not pairs:
        raise CtxlabError("no preference pairs to train on: sample more or lower oak.min_gap")
    preset = parse_preset(peft)
    if preset.is_full:
        raise CtxlabError("OaK DPO trains LoRA adapters: set training.peft to a lora_* preset")
    cuda = torch.cuda.is_available()
    check_preset_runnable(preset, cuda)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise CtxlabError(f"{out_dir} already holds files: pass a new output directory")
    init_dir, init_info = (None, {}) if init_from is None else resolve_adapter(init_from, "DPO")
    train_config = TrainConfig(peft=peft, seed=seed, bf16=settings.bf16)
    model, tokenizer = load_for_training(
        model_spec, train_config, preset, cuda, init_dir, trust_remote_code
    )
    dataset = Dataset.from_list(pair_records(tokenizer, pairs, settings.max_length))
    args = _dpo_args(settings, out_dir, seed, cuda, settings.measure_pair_loss)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = MetricsCallback(out_dir / "metrics.jsonl", progress=progress)
    trainer = _trainer_class()(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[metrics, *callbacks],
    )
    trainer.remove_callback(PrinterCallback)
    output = trainer.train()
    measured: dict[str, float] = {}
    if settings.measure_pair_loss:  # the trained policy against the reference, on its own pairs
        measured = trainer.evaluate(eval_dataset=dataset)
    _save_adapter(trainer.model, tokenizer, out_dir / "final")
    history = trainer.state.log_history
    # Relative to out_dir, so it still points right after a run directory is renamed into place.
    start = os.path.relpath(init_dir, out_dir) if init_dir is not None else None
    steps = [h for h in history if "loss" in h]
    last = steps[-1] if steps else {}
    summary = {
        "pairs": len(pairs),
        "steps": trainer.state.global_step,
        "train_runtime": output.metrics.get("train_runtime"),
        "first_loss": steps[0]["loss"] if steps else None,
        "final_loss": last.get("loss"),
        "mean_train_loss": output.training_loss,
        # The policy equals its reference before the round: DPO's loss is ln 2 (plus the NLL
        # when "sft" is among the losses, which has no such fixed start).
        "initial_pair_loss": math.log(2) if settings.loss_type == ["sigmoid"] else None,
        "final_pair_loss": measured.get("eval_loss"),
        "final_pair_reward_accuracy": measured.get("eval_rewards/accuracies"),
        "final_pair_reward_margin": measured.get("eval_rewards/margins"),
        "final_reward_accuracy": last.get("rewards/accuracies"),
        "final_reward_margin": last.get("rewards/margins"),
        "beta": settings.beta,
        "bf16": args.bf16,
        "init_from": start,
    }
    info = {
        "base_model": init_info.get("base_model", model_spec),
        "peft": init_info.get("peft", preset.name),
        "method": "dpo",
        "init_from": start,
        "config": settings.model_dump(mode="json"),
    }
    (out_dir / TRAIN_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    write_json(out_dir / "training_history.json", history)
    write_json(out_dir / "summary.json", summary)
    return DPOResult(out_dir, out_dir / "final", summary)

"""`TrainConfig`: every training setting the source READMEs expose, validated up front.

It is a pydantic model with `extra="forbid"` so a misspelled key in an experiment YAML or a
`--set training.x=...` override is rejected before a model is loaded. `to_training_arguments`
maps it onto Hugging Face `TrainingArguments`, the single place where our names meet theirs.
`TrainerSettings` holds what fine-tuning and pre-training share (steps, optimizer, schedule,
checkpoints, early stopping, bf16, resume); `TrainConfig` adds fine-tuning's own (method, PEFT,
prompt length, best checkpoint by task metric).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ctxlab.training.peft_presets import parse_preset

SCHEDULERS = {"none": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}


class TrainerSettings(BaseModel):
    """The `Trainer` settings of every kind of training. `max_steps` > 0 overrides `epochs`;
    `early_stopping_patience` None turns early stopping off; `bf16` "auto" uses bf16 autocast
    on CUDA and on CPUs with native bf16 matmul (~1.8x faster LoRA training here), else fp32."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(1.0, gt=0, description="passes over the training examples")
    max_steps: int = Field(-1, description="optimizer steps; above 0 it overrides --epochs")
    batch_size: int = Field(4, ge=1, description="examples per step and process")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps")
    learning_rate: float = Field(
        5e-4, ge=0, description="peak learning rate", json_schema_extra={"aliases": ["--lr"]}
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    scheduler: Literal["none", "linear", "cosine"] = Field("linear", description="lr schedule")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="share of steps with linear warmup")
    gradient_checkpointing: bool | None = Field(
        None,
        description="recompute activations (less memory); unset: on only when the estimated "
        "peak exceeds --memory-budget (see training/memory.py)",
    )
    memory_budget_gb: float | None = Field(
        None,
        gt=0,
        description="GiB a run may use (unset: the free memory); decides gradient checkpointing",
        json_schema_extra={"aliases": ["--memory-budget"]},
    )
    eval_steps: int = Field(50, ge=1, description="validation every N steps")
    save_steps: int = Field(50, ge=1, description="checkpoint every N steps (a multiple of eval)")
    save_total_limit: int | None = Field(2, ge=1, description="checkpoints kept")
    logging_steps: int = Field(10, ge=1, description="a metrics.jsonl line every N steps")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="evaluations without gain before stopping (off by default)"
    )
    early_stopping_min_delta: float = Field(0.0, ge=0, description="the smallest gain that counts")
    seed: int = Field(0, description="seed of the adapter's initialization and the data order")
    bf16: bool | Literal["auto"] = Field(
        "auto", description="auto (bf16 autocast where the hardware has it), true or false"
    )
    report_to: Literal["none", "tensorboard", "mlflow"] = Field(
        "none", description="also log training to tensorboard or mlflow ($MLFLOW_TRACKING_URI)"
    )
    resume: bool = Field(False, description="continue -o's run from its last checkpoint")
    init_from: str | None = Field(
        None, description="start from an earlier training run's final/ adapter (new lr, data)"
    )

    def use_bf16(self, cuda: bool) -> bool:
        """Resolve `bf16: auto`: on CUDA, and on CPUs where `resolve_dtype` picks bf16."""
        if self.bf16 != "auto":
            return bool(self.bf16)
        if cuda:
            return True
        from ctxlab.models.loading import resolve_dtype

        return resolve_dtype("auto", "cpu") == torch.bfloat16

    def trainer_arguments(
        self,
        out_dir: Path,
        has_eval: bool,
        cuda: bool,
        best_metric: str | None = None,
        group_by_length: bool = True,
    ):
        """The `TrainingArguments` for these settings: checkpoints into `out_dir`, rank-0-only
        saving (HF's own), length-grouped batches unless told otherwise, and, when there is
        validation data (which EarlyStoppingCallback needs), the best model by validation loss
        or by the eval metric `best_metric` (higher is better)."""
        from transformers import TrainingArguments

        steps = {"eval_strategy": "steps", "eval_steps": self.eval_steps} if has_eval else {}
        if self.gradient_checkpointing:  # None is off here: `train`/`pretrain` resolve it first
            # the option's name changed in transformers 5
            name = (
                "activation_checkpointing"
                if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
                else "gradient_checkpointing"
            )
            steps.update({name: True, f"{name}_kwargs": {"use_reentrant": False}})
        return TrainingArguments(
            output_dir=str(out_dir),
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.batch_size,
            gradient_accumulation_steps=self.grad_accum,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps if self.max_steps > 0 else -1,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            lr_scheduler_type=SCHEDULERS[self.scheduler],
            warmup_steps=self.warmup_ratio,
            logging_strategy="steps",
            logging_steps=self.logging_steps,
            save_strategy="steps",
            save_steps=self.save_steps,
            save_total_limit=self.save_total_limit,
            load_best_model_at_end=has_eval,
            metric_for_best_model=(
                None if not has_eval else f"eval_{best_metric}" if best_metric else "eval_loss"
            ),
            greater_is_better=bool(best_metric) if has_eval else None,
            prediction_loss_only=True,
            seed=self.seed,
            data_seed=self.seed,
            bf16=self.use_bf16(cuda),
            use_cpu=not cuda,
            report_to=[] if self.report_to == "none" else [self.report_to],
            train_sampling_strategy="group_by_length" if group_by_length else "random",
            include_num_input_tokens_seen="non_padding",
            dataloader_num_workers=0,
            remove_unused_columns=False,
            disable_tqdm=True,
            **steps,
        )


class TrainConfig(TrainerSettings):
    """Fine-tuning settings. `best_metric: task_metric` generates on the validation examples at
    each evaluation and keeps the checkpoint with the best task score (slower than `val_loss`,
    but it selects what the eval measures)."""

    method: Literal["sft", "scratchpad"] = Field(
        "sft", description="sft (the answer) or scratchpad (quote the evidence, then answer)"
    )
    peft: str = Field(
        "lora_r16_a32_qkvo",
        description="lora_r8_a16_qv, lora_r16_a32_qkvo, lora_r64_a128_all, any "
        "(q)lora_r<R>_a<A>_<qv|qkvo|all>, qlora_* (CUDA only), or none/full",
    )
    max_seq_length: int = Field(2048, ge=8, description="longer prompts lose tokens on the left")
    loss_on: Literal["target", "all"] = Field(
        "target",
        description="target (the answer) or all (the prompt too: a model from random weights "
        "learns to copy from the repeated haystack)",
    )
    best_metric: Literal["val_loss", "task_metric"] = Field(
        "val_loss",
        description="what best/ keeps: lowest validation loss, or best task score on generated "
        "validation answers",
    )

    @field_validator("peft")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        try:
            parse_preset(value)
        except Exception as err:  # CtxlabError -> a pydantic error naming the key
            raise ValueError(str(err)) from None
        return value

    def to_training_arguments(
        self, out_dir: Path, has_eval: bool, cuda: bool, task_metric: str | None = None
    ):
        """`trainer_arguments` with length-grouped batches; `best/` by the task metric
        `task_metric` when `best_metric` is task_metric."""
        by_task = self.best_metric == "task_metric"
        if by_task and not task_metric:
            raise ValueError("best_metric task_metric needs the task's metric name")
        return self.trainer_arguments(out_dir, has_eval, cuda, task_metric if by_task else None)


class PretrainSettings(TrainerSettings):
    """Pre-training settings: `TrainerSettings` with defaults for training from random weights
    (more epochs, ended by early stopping on validation loss) and the MLM masking share."""

    epochs: float = Field(
        20.0, gt=0, description="passes over the training sequences (early stopping ends sooner)"
    )
    batch_size: int = Field(16, ge=1, description="sequences per step and process")
    learning_rate: float = Field(
        1e-3, ge=0, description="peak learning rate", json_schema_extra={"aliases": ["--lr"]}
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    scheduler: Literal["none", "linear", "cosine"] = Field("cosine", description="lr schedule")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="share of steps with linear warmup")
    early_stopping_patience: int | None = Field(
        3, ge=1, description="evaluations without a validation-loss gain before stopping"
    )
    seed: int = Field(0, description="seed of the initial weights, the data order and the masks")
    resume: bool = Field(
        False,
        description="continue the newest run of this name (an interrupted one too) from its last "
        "checkpoint, into a new run directory",
    )
    init_from: str | None = Field(
        None,
        description="start from an earlier pretrain run (its final/ or best/, or a model "
        "directory of the same architecture) with new data or learning rate",
    )
    mlm_probability: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="encoder: share of tokens chosen (8 in 10 masked, 1 made random, 1 kept)",
    )

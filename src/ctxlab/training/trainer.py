"""`train(...)`: SFT or scratchpad fine-tuning (LoRA, QLoRA or full) on Hugging Face `Trainer`.

Checkpoints, resume, gradient accumulation, mixed precision, early stopping and multi-process
training (`accelerate launch`: DDP, FSDP, DeepSpeed) all come from `Trainer`; ctxlab adds only
what it must: records whose prompt is the eval prompt (`data.py`), a loss that computes the
vocabulary logits at target positions only, and the files of a training directory:

    metrics.jsonl  training_history.json  summary.json  ctxlab_train.json
    checkpoint-<step>/  best/ (lowest validation loss or best task metric)  final/ (last step)

`best/` and `final/` hold what `save_pretrained` writes (an adapter, or a full model) plus the
tokenizer; `ctxlab_train.json` names the base model so `export` can merge an adapter into it.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import PartialState
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainerState, set_seed
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from ctxlab.errors import CtxlabError
from ctxlab.tasks.base import Example, Task
from ctxlab.threads import describe, machine
from ctxlab.training.callbacks import MetricsCallback
from ctxlab.training.config import TrainConfig
from ctxlab.training.data import IGNORE_INDEX, PadCollator, build_dataset, grouped_padding_share
from ctxlab.training.memory import resolve_checkpointing
from ctxlab.training.peft_presets import (
    PeftPreset,
    check_preset_runnable,
    parse_preset,
    quiet_peft,
)
from ctxlab.training.task_metric import task_metric_scorer

TRAIN_INFO = "ctxlab_train.json"


@dataclass
class TrainResult:
    """Where a training run left its files, and its summary (also in `summary.json`)."""

    out_dir: Path
    final_dir: Path
    best_dir: Path | None
    summary: dict = field(default_factory=dict)


class SavingTrainer(Trainer):
    """`Trainer` that saves `final/` from the end-of-training log, which `Trainer` emits before
    it loads the best checkpoint back, and saves directories atomically: what fine-tuning and
    pre-training share."""

    def __init__(self, *args, final_dir: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.final_dir = final_dir
        self._flops_per_token: int | None = None

    def floating_point_ops(self, inputs: dict) -> int:
        """HF's estimate (6 x input tokens x non-embedding parameters) with the parameter count
        taken once: HF walks every module and parameter each step (~5 ms for the built-in model)."""
        if self._flops_per_token is None:
            count = getattr(self.model, "num_parameters", None)
            self._flops_per_token = 6 * count(exclude_embeddings=True) if count else 0
        ids = inputs.get(getattr(self.model, "main_input_name", "input_ids"))
        return self._flops_per_token * ids.numel() if ids is not None else 0

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log(logs, start_time)
        if "train_runtime" in logs and self.final_dir is not None:
            self.save_atomic(self.final_dir)

    def save_atomic(self, target: Path) -> None:
        """`save_model` into a hidden temporary directory, then rename it over `target` (main
        process); every process joins, as FSDP/DeepSpeed saving needs."""
        tmp = target.with_name(f".{target.name}.tmp")
        if self.is_world_process_zero() and tmp.exists():
            shutil.rmtree(tmp)
        self.accelerator.wait_for_everyone()
        self.save_model(str(tmp))
        self.accelerator.wait_for_everyone()
        if self.is_world_process_zero():
            (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; nothing reads it
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        self.accelerator.wait_for_everyone()


def stopped_early(early: EarlyStoppingCallback | None, state: TrainerState) -> bool:
    """Whether `early` ended the run: its patience ran out before the last step."""
    return bool(
        early
        and early.early_stopping_patience_counter >= early.early_stopping_patience
        and state.global_step < state.max_steps
    )


class CtxlabTrainer(SavingTrainer):
    """`SavingTrainer` whose loss projects onto the vocabulary only at positions whose next token
    is a target (`logits_to_keep`): with answer-only labels the 49K-vocabulary logits of every
    prompt position are what dominated CPU training time. It can add the task's metrics on
    generated validation answers to each evaluation."""

    def __init__(
        self,
        *args,
        task_metrics: Callable[[torch.nn.Module], dict[str, float]] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.task_metrics = task_metrics
        # Count target tokens over all gradient-accumulation micro-batches (and processes), so
        # each token weighs the same whatever batch it lands in, as HF does for its own loss.
        self.model_accepts_loss_kwargs = True
        base = self.accelerator.unwrap_model(self.model)
        base = base.get_base_model() if hasattr(base, "get_base_model") else base
        self._slice_logits = "logits_to_keep" in inspect.signature(base.forward).parameters

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        shifted = labels[:, 1:]
        keep = shifted.ne(IGNORE_INDEX).any(0).nonzero().squeeze(-1)
        if self._slice_logits:
            outputs = model(**inputs, logits_to_keep=keep, use_cache=False)
            logits = outputs.logits
        else:
            outputs = model(**inputs, use_cache=False)
            logits = outputs.logits[:, keep]
        targets = shifted[:, keep]
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)),
            targets.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        if num_items_in_batch is None:
            loss = loss / targets.ne(IGNORE_INDEX).sum().clamp(min=1)
        else:
            loss = loss / num_items_in_batch
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                loss = loss * self.accelerator.num_processes  # DDP averages gradients
        return (loss, outputs) if return_outputs else loss

    def evaluation_loop(self, *args, **kwargs):
        """Validation loss, plus the task's metrics on generated answers when asked: added
        here, before `Trainer` logs them and callbacks (best model, early stopping) read them."""
        output = super().evaluation_loop(*args, **kwargs)
        if self.task_metrics is not None:
            prefix = kwargs.get("metric_key_prefix", "eval")
            scores = self.task_metrics(self.accelerator.unwrap_model(self.model))
            output.metrics.update({f"{prefix}_{k}": v for k, v in scores.items()})
        return output


def resolve_init(path: str | None) -> tuple[Path | None, dict]:
    """`init_from` may name a training directory or its `final/`/`best/`; returns the weights
    directory and the earlier run's `ctxlab_train.json` (empty if absent)."""
    if path is None:
        return None, {}
    root = Path(path).expanduser()
    weights = root / "final" if (root / "final").is_dir() else root
    if not ((weights / "adapter_config.json").is_file() or (weights / "config.json").is_file()):
        raise CtxlabError(
            f"--init-from {path}: no adapter or model found there: pass a training "
            "directory (with final/) or a final/ or best/ directory of one"
        )
    for info_path in (weights / TRAIN_INFO, weights.parent / TRAIN_INFO):
        if info_path.is_file():
            return weights, json.loads(info_path.read_text(encoding="utf-8"))
    return weights, {}


def resolve_adapter(path: str | Path, setting: str) -> tuple[Path, dict]:
    """`resolve_init` for the steps that continue a LoRA adapter (DPO rounds, `oak.sft_from`):
    a full model there is refused, naming the setting that pointed at it."""
    weights, info = resolve_init(str(path))
    if not (weights / "adapter_config.json").is_file():
        raise CtxlabError(f"{setting} {path}: continues from a LoRA adapter, not a full model")
    return weights, info


def _load_quantized(spec: str, preset: PeftPreset, config: TrainConfig, trust_remote_code: bool):
    """The base model in 4-bit NF4 on this process's GPU, prepared for k-bit training."""
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from ctxlab.models.loading import load_tokenizer, resolve_source

    source, gguf_file = resolve_source(spec, trust_remote_code)
    if gguf_file:
        raise CtxlabError(f"{preset.name} needs a Hugging Face model directory, not {spec}")
    model = AutoModelForCausalLM.from_pretrained(
        source,
        quantization_config=preset.bnb_config(),
        dtype=torch.bfloat16,
        device_map={"": PartialState().local_process_index},
        trust_remote_code=trust_remote_code,
    )
    model = prepare_model_for_kbit_training(model, bool(config.gradient_checkpointing))
    return model, load_tokenizer(spec, trust_remote_code)[0]


def load_for_training(
    spec: str,
    config: TrainConfig,
    preset: PeftPreset,
    cuda: bool,
    init_dir: Path | None = None,
    trust_remote_code: bool = False,
):
    """(model, tokenizer) ready for `Trainer`: fp32 weights (bf16 autocast does the speed-up;
    on CUDA a LoRA base is kept in bf16 to halve memory), then a new adapter, or the adapter of
    `init_dir` made trainable to continue training."""
    from ctxlab.models import load_model

    is_adapter = init_dir is not None and (init_dir / "adapter_config.json").is_file()
    if init_dir is not None and not is_adapter:
        spec = str(init_dir)  # a full fine-tuned model continues from its own weights
    if preset.quantized:
        model, tokenizer = _load_quantized(spec, preset, config, trust_remote_code)
    else:
        lora_on_gpu = cuda and not preset.is_full and config.use_bf16(cuda)
        dtype = "bfloat16" if lora_on_gpu else "float32"
        loaded = load_model(spec, dtype=dtype, device="cpu", trust_remote_code=trust_remote_code)
        model, tokenizer = loaded.model, loaded.tokenizer
    set_seed(config.seed)  # adapter initialization is random
    if is_adapter:
        from peft import PeftModel

        with quiet_peft():
            model = PeftModel.from_pretrained(model, str(init_dir), is_trainable=True)
    elif not preset.is_full:
        from peft import get_peft_model

        try:
            with quiet_peft():
                model = get_peft_model(model, preset.lora_config())
        except ValueError as err:
            raise CtxlabError(
                f"PEFT preset {preset.name} does not fit model {spec}: {err}. Use a model "
                "with q_proj/k_proj/v_proj/o_proj (Llama-style) layers, or --peft none"
            ) from None
    model.config.use_cache = False
    tokenizer.padding_side = "right"
    return model, tokenizer


def _check_inputs(config: TrainConfig, train: list, val: list | None, out_dir: Path) -> None:
    if not train:
        raise CtxlabError("no training examples: pass a non-empty --data file")
    if config.best_metric == "task_metric" and not val:
        raise CtxlabError("best_metric task_metric scores validation answers: pass --val-data")
    if config.early_stopping_patience and not val:
        raise CtxlabError("early stopping needs validation data: pass --val-data")
    if val and config.save_steps % config.eval_steps:
        raise CtxlabError(
            f"save_steps ({config.save_steps}) must be a multiple of eval_steps "
            f"({config.eval_steps}) so the best checkpoint by validation loss is kept"
        )
    if config.report_to == "tensorboard":
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise CtxlabError("--report-to tensorboard needs: pip install tensorboard")
    if config.report_to == "mlflow":
        from ctxlab.mlflow_log import check_installed, tracking_uri

        check_installed()  # Trainer's MLflow callback reads where to log from the environment
        os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri(out_dir.parent))
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", out_dir.parent.name or "ctxlab-train")
    if config.resume:
        if not out_dir.is_dir() or get_last_checkpoint(str(out_dir)) is None:
            raise CtxlabError(
                f"--resume: {out_dir} holds no checkpoint-<step>/ to resume from: "
                "drop --resume to start a new run"
            )
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise CtxlabError(
            f"{out_dir} already holds files: pass --resume to continue that run, or "
            "another output directory (use --init-from to continue a finished run)"
        )


def train(
    config: TrainConfig,
    model_spec: str,
    train_examples: list[Example],
    val_examples: list[Example] | None,
    task: Task,
    out_dir: str | Path,
    *,
    callbacks: list[TrainerCallback] | tuple = (),
    trust_remote_code: bool = False,
    progress: bool = False,
) -> TrainResult:
    """Fine-tune `model_spec` on `task`'s examples; writes the training directory `out_dir`.

    Inputs are checked before anything is loaded (a QLoRA preset without CUDA, a non-empty
    `out_dir` without `resume`, ...). `config.resume` continues from the last checkpoint in
    `out_dir`; `config.init_from` starts from an earlier run's `final/` with new data/settings.
    `progress` prints one short line per log to stderr (the full record is metrics.jsonl).
    """
    preset = parse_preset(config.peft)
    cuda = torch.cuda.is_available()
    check_preset_runnable(preset, cuda)
    out_dir = Path(out_dir)
    _check_inputs(config, train_examples, val_examples, out_dir)
    init_dir, init_info = resolve_init(config.init_from)
    if init_info.get("base_model") and init_info["base_model"] != model_spec:
        raise CtxlabError(
            f"--init-from {config.init_from} was trained on {init_info['base_model']!r}, "
            f"not {model_spec!r}: pass --model {init_info['base_model']}"
        )
    resume_from = get_last_checkpoint(str(out_dir)) if config.resume else None
    has_eval = bool(val_examples)
    PartialState().wait_for_everyone()  # every process checked `out_dir` before rank 0 writes

    set_seed(config.seed)
    model, tokenizer = load_for_training(
        model_spec, config, preset, cuda, init_dir, trust_remote_code
    )
    record = (config.method, config.max_seq_length, config.loss_on)
    train_ds = build_dataset(tokenizer, task, train_examples, *record)
    val_ds = build_dataset(tokenizer, task, val_examples, *record) if has_eval else None
    if progress and train_ds.num_truncated:
        print(
            f"note: {train_ds.num_truncated} training prompts exceed max_seq_length "
            f"{config.max_seq_length} and lose tokens on their left",
            file=sys.stderr,
        )
    longest = max(len(r["input_ids"]) for r in train_ds.records)
    resolved, checkpointing = resolve_checkpointing(config, model, longest, cuda)
    args = resolved.to_training_arguments(out_dir, has_eval, cuda, task.metrics[0])
    metrics = MetricsCallback(out_dir / "metrics.jsonl", progress=progress)
    early = (
        EarlyStoppingCallback(config.early_stopping_patience, config.early_stopping_min_delta)
        if config.early_stopping_patience and has_eval
        else None
    )
    trainer = CtxlabTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[metrics, *([early] if early else []), *callbacks],
        final_dir=out_dir / "final",
        task_metrics=(
            task_metric_scorer(task, val_examples, tokenizer, args.bf16, config.batch_size)
            if has_eval and config.best_metric == "task_metric"
            else None
        ),
    )
    trainer.remove_callback(PrinterCallback)  # raw log dicts on stdout; MetricsCallback prints
    for callback in trainer.callback_handler.callbacks:
        if type(callback).__name__ == "TensorBoardCallback":
            callback.logging_dir = str(out_dir / "tensorboard")
    base_model, peft_name = model_spec, preset.name
    if init_dir is not None and (init_dir / "adapter_config.json").is_file():
        base_model = init_info.get("base_model", model_spec)
        peft_name = init_info.get("peft", "adapter")
    elif init_dir is not None:  # a full fine-tune is the new base
        base_model = str(init_dir)
    if trainer.is_world_process_zero():
        out_dir.mkdir(parents=True, exist_ok=True)
        info = {
            "base_model": base_model,
            "peft": peft_name,
            "method": config.method,
            "task": task.name,
            "init_from": str(init_dir) if init_dir else None,
            "config": config.model_dump(mode="json"),
        }
        (out_dir / TRAIN_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    trainer.accelerator.wait_for_everyone()

    threads = machine()
    if progress and trainer.is_world_process_zero():
        print(f"training: {describe(threads)}", file=sys.stderr)
        print(f"gradient checkpointing {checkpointing.reason}", file=sys.stderr)
    output = trainer.train(resume_from_checkpoint=resume_from)

    best_dir = None
    if has_eval and trainer.state.best_model_checkpoint:
        best_dir = out_dir / "best"
        trainer.save_atomic(best_dir)
    state = trainer.state
    by_task = config.best_metric == "task_metric"
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary = {
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "epochs": state.epoch,
        "train_runtime": output.metrics.get("train_runtime"),
        "final_train_loss": losses[-1] if losses else None,
        "mean_train_loss": output.training_loss,
        "best_val_loss": state.best_metric if has_eval and not by_task else None,
        "best_task_metric": state.best_metric if has_eval and by_task else None,
        "best_checkpoint": Path(state.best_model_checkpoint).name
        if state.best_model_checkpoint
        else None,
        "tokens_seen": state.num_input_tokens_seen,
        "tokens_per_s": metrics.tokens_per_s(state),
        "padding_share": grouped_padding_share(train_ds, config.batch_size, config.seed),
        "truncated_examples": train_ds.num_truncated,
        "stopped_early": stopped_early(early, state),
        "resumed_from": Path(resume_from).name if resume_from else None,
        "method": config.method,
        "peft": peft_name,
        "bf16": args.bf16,
        **checkpointing.summary(),
        "trainable_parameters": trainable,
        "num_processes": trainer.accelerator.num_processes,
        "machine": threads,
    }
    if trainer.is_world_process_zero():
        from ctxlab.io import write_json

        write_json(out_dir / "training_history.json", state.log_history)
        write_json(out_dir / "summary.json", summary)
    trainer.accelerator.wait_for_everyone()
    return TrainResult(out_dir, out_dir / "final", best_dir, summary)

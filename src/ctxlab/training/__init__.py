"""Fine-tuning on Hugging Face `Trainer` and PEFT: SFT and scratchpad targets, LoRA/QLoRA/full,
early stopping, checkpoints, resume, continued training, and export of a merged model."""

from ctxlab.tasks.niah import niah_scratchpad
from ctxlab.training.config import TrainConfig
from ctxlab.training.data import build_dataset, build_record, training_target
from ctxlab.training.export import export
from ctxlab.training.peft_presets import PeftPreset, parse_preset, preset_names
from ctxlab.training.trainer import TrainResult, train

__all__ = [
    "PeftPreset",
    "TrainConfig",
    "TrainResult",
    "build_dataset",
    "build_record",
    "export",
    "niah_scratchpad",
    "parse_preset",
    "preset_names",
    "train",
    "training_target",
]

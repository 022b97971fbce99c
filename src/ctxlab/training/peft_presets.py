"""Named PEFT presets: `(q)lora_r<R>_a<A>_<targets>`, or `none`/`full` for full fine-tuning.

Names follow the scratchpad-rag README (`--peft lora_r8_a16_qv`) so a run's adapter is readable
from its name. Any rank/alpha parses; the three named ones are what the source READMEs used:
`lora_r8_a16_qv`, `lora_r16_a32_qkvo` (AnecDOT) and `lora_r64_a128_all` (SOKRATES). A `qlora_*`
twin loads the base model in 4-bit NF4 with bitsandbytes, which runs only on CUDA: on any other
machine it is refused up front, before a model is loaded, so a user waits for nothing.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch

from ctxlab.errors import CtxlabError

TARGETS: dict[str, tuple[str, ...]] = {
    "qv": ("q_proj", "v_proj"),
    "qkvo": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "all": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}
NAMED_PRESETS = ("lora_r8_a16_qv", "lora_r16_a32_qkvo", "lora_r64_a128_all")
FULL_NAMES = ("none", "full")
_PATTERN = re.compile(r"^(?P<kind>q?lora)_r(?P<r>\d+)_a(?P<a>\d+)_(?P<targets>[a-z]+)$")


@dataclass(frozen=True)
class PeftPreset:
    """A parsed preset. `kind` is `full` (no adapter), `lora`, or `qlora` (4-bit base + LoRA)."""

    name: str
    kind: Literal["full", "lora", "qlora"]
    r: int = 0
    alpha: int = 0
    targets: tuple[str, ...] = ()
    dropout: float = 0.05

    @property
    def is_full(self) -> bool:
        return self.kind == "full"

    @property
    def quantized(self) -> bool:
        return self.kind == "qlora"

    def lora_config(self):
        """The `peft.LoraConfig` (None for full fine-tuning)."""
        if self.is_full:
            return None
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            target_modules=list(self.targets),
            lora_dropout=self.dropout,
            bias="none",
            task_type="CAUSAL_LM",
        )

    def bnb_config(self):
        """4-bit NF4, double quantization, bf16 compute, as in QLoRA (None if not qlora)."""
        if not self.quantized:
            return None
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )


def preset_names() -> list[str]:
    """The names worth listing in help texts (any `(q)lora_r<R>_a<A>_<targets>` also parses)."""
    return [*NAMED_PRESETS, *(f"q{n}" for n in NAMED_PRESETS), *FULL_NAMES]


def parse_preset(name: str) -> PeftPreset:
    """Parse a preset name; a malformed one is a `CtxlabError` naming the accepted forms."""
    if name in FULL_NAMES:
        return PeftPreset(name=name, kind="full")
    match = _PATTERN.match(name)
    if not match or match["targets"] not in TARGETS or int(match["r"]) < 1:
        raise CtxlabError(
            f"unknown PEFT preset {name!r}: use none/full (full fine-tuning), one of "
            f"{', '.join(NAMED_PRESETS)}, their qlora_* twins, or the pattern "
            f"(q)lora_r<R>_a<ALPHA>_<{'|'.join(TARGETS)}>"
        )
    return PeftPreset(
        name=name,
        kind=match["kind"],  # type: ignore[arg-type]
        r=int(match["r"]),
        alpha=int(match["a"]),
        targets=TARGETS[match["targets"]],
    )


def check_preset_runnable(preset: PeftPreset, cuda_available: bool | None = None) -> None:
    """Refuse a QLoRA preset where it cannot run (no CUDA, or no bitsandbytes), before loading."""
    if not preset.quantized:
        return
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        plain = preset.name.removeprefix("q")
        raise CtxlabError(
            f"PEFT preset {preset.name!r} loads the base model in 4-bit with bitsandbytes, which "
            f"needs a CUDA GPU and none is available: use {plain!r} (same adapter, full-precision "
            "base) on this machine"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise CtxlabError(
            f"PEFT preset {preset.name!r} needs the bitsandbytes package: pip install bitsandbytes"
        )


@contextmanager
def quiet_peft():
    """PEFT reads transformers' deprecated `is_gradient_checkpointing` whenever it wraps a model;
    the FutureWarning that prints is the libraries' to settle, not the user's to read."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing", category=FutureWarning
        )
        yield

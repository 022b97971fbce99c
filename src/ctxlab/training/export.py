"""`export(...)`: a training run's adapter merged into its base, as a standalone model directory.

The result is an ordinary Hugging Face model directory (safetensors weights, config, tokenizer)
that `ctxlab eval --model DIR` / `load_model(DIR)` loads with no PEFT at inference; a full model
(a full fine-tune, a from-scratch decoder or encoder) is re-saved as it is. The base model comes
from the run's `ctxlab_train.json` (written by `train`), so the user need not remember it. The
directory is written under a temporary name and renamed, so a crash leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ctxlab.errors import CtxlabError
from ctxlab.training.peft_presets import quiet_peft
from ctxlab.training.trainer import TRAIN_INFO


def find_weights(path: str | Path, which: str = "final") -> Path:
    """The adapter or model directory inside a training directory, a `ctxlab run` directory
    (its `train/`), or the `final/`/`best/` directory itself."""
    root = Path(path).expanduser()
    for candidate in (root / which, root / "train" / which, root):
        if (candidate / "adapter_config.json").is_file() or (candidate / "config.json").is_file():
            return candidate
    raise CtxlabError(
        f"{path} holds no trained weights: pass a training directory (with {which}/), "
        "a `ctxlab run` directory (with train/), or a final/ or best/ directory"
    )


def read_train_info(weights: Path) -> dict:
    """`ctxlab_train.json` next to the weights or in the training directory ({} if absent)."""
    for info in (weights / TRAIN_INFO, weights.parent / TRAIN_INFO):
        if info.is_file():
            return json.loads(info.read_text(encoding="utf-8"))
    return {}


def merged_model(weights: Path):
    """(model, tokenizer) of trained weights in fp32: base + adapter merged, or a full model."""
    from transformers import AutoTokenizer

    from ctxlab.models import load_model

    if (weights / "adapter_config.json").is_file():
        from peft import PeftModel

        base = read_train_info(weights).get("base_model") or json.loads(
            (weights / "adapter_config.json").read_text(encoding="utf-8")
        ).get("base_model_name_or_path")
        if not base:
            raise CtxlabError(f"{weights}: cannot tell which base model the adapter fits")
        loaded = load_model(base, dtype="float32", device="cpu")
        with quiet_peft():
            model = PeftModel.from_pretrained(loaded.model, str(weights)).merge_and_unload()
    else:
        model = load_model(str(weights), dtype="float32", device="cpu").model
    tokenizer = AutoTokenizer.from_pretrained(weights)
    tokenizer.padding_side = "left"  # what generation wants
    model.config.use_cache = True
    return model, tokenizer


def full_model(weights: Path):
    """(model, tokenizer) of a full model directory in fp32: a causal LM ready to generate, or an
    encoder (a from-scratch MLM) with its masked-LM head."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from ctxlab.models.scratch import arch_of

    if arch_of(weights) == "decoder":
        return merged_model(weights)
    model = AutoModelForMaskedLM.from_pretrained(weights, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(weights)


def export(
    run_or_train_dir: str | Path,
    out_dir: str | Path,
    merge: bool = True,
    which: str = "final",
    dtype: str = "float32",
) -> Path:
    """Write `out_dir`: base + adapter merged (`merge_and_unload`) with its tokenizer, or, with
    `merge=False`, a copy of the adapter directory. A full fine-tune is re-saved as it is."""
    from ctxlab.models import resolve_dtype

    if which not in ("final", "best"):
        raise CtxlabError(f"which={which!r}: export final or best")
    weights = find_weights(run_or_train_dir, which)
    out = Path(out_dir).expanduser()
    if out.exists() and any(out.iterdir()):
        raise CtxlabError(f"{out} already exists and is not empty: pass a new output directory")
    info = read_train_info(weights)
    is_adapter = (weights / "adapter_config.json").is_file()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if is_adapter and not merge:
            shutil.copytree(weights, tmp)
        else:
            model, tokenizer = merged_model(weights) if is_adapter else full_model(weights)
            model = model.to(torch.float32 if dtype == "auto" else resolve_dtype(dtype, "cpu"))
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        record = {**info, "exported_from": str(weights), "merged": bool(is_adapter and merge)}
        (tmp / TRAIN_INFO).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out

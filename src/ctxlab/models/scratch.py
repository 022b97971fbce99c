"""From-scratch models: a named size or explicit dimensions -> a randomly initialised `transformers`
model (Mini LLM's `vocab_size, d_model, num_heads, num_layers, d_ff, max_seq_len, dropout`).

A decoder is a Llama (`LlamaForCausalLM`: RoPE, RMSNorm, SwiGLU, tied embeddings), so a trained
one is a plain causal-LM directory every ctxlab command loads. An encoder is a ModernBERT with
its masked-language-modelling head (`ModernBertForMaskedLM`: bidirectional attention, RoPE,
GLU); its sparse prediction projects onto the vocabulary at masked positions only, which made a
tiny training step ~2.5x faster than BERT's dense head here (bf16 autocast, 2 CPU threads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from ctxlab.config import Section
from ctxlab.errors import CtxlabError

ARCHS = ("decoder", "encoder")


@dataclass(frozen=True)
class Dims:
    layers: int
    hidden_size: int
    heads: int
    ff_size: int
    context_length: int
    dropout: float


SIZES = {
    "tiny": Dims(2, 64, 4, 256, 128, 0.0),
    "small": Dims(4, 256, 4, 1024, 256, 0.1),
    "base": Dims(6, 512, 8, 2048, 512, 0.1),
}


class ScratchModelConfig(Section):
    """The architecture and its size: a named size, any dimension given overriding it."""

    arch: str = Field("decoder", description="decoder (causal LM, Llama) or encoder (MLM)")
    size: str = Field("small", description=f"named size: {', '.join(SIZES)}")
    layers: int | None = Field(None, ge=1, description="transformer layers (size's)")
    hidden_size: int | None = Field(None, ge=8, description="model width (size's)")
    heads: int | None = Field(None, ge=1, description="attention heads (size's)")
    ff_size: int | None = Field(None, ge=8, description="feed-forward width (size's)")
    context_length: int | None = Field(
        None, ge=8, description="tokens a training sequence; the model's window (size's)"
    )
    dropout: float | None = Field(
        None, ge=0, lt=1, description="dropout (attention for the decoder; size's)"
    )

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        if value not in ARCHS:
            raise ValueError(f"unknown architecture {value!r}: use decoder or encoder")
        return value

    @field_validator("size")
    @classmethod
    def _known_size(cls, value: str) -> str:
        if value not in SIZES:
            raise ValueError(f"unknown size {value!r}: use one of {', '.join(SIZES)}")
        return value

    @model_validator(mode="after")
    def _heads_divide(self) -> ScratchModelConfig:
        dims = self.dims()
        if dims.hidden_size % dims.heads:
            raise ValueError(
                f"hidden_size {dims.hidden_size} is not a multiple of heads {dims.heads}: "
                "change --hidden-size or --heads"
            )
        return self

    def dims(self) -> Dims:
        named = SIZES[self.size]
        given = {k: getattr(self, k) for k in Dims.__dataclass_fields__}
        return Dims(**{k: v if v is not None else getattr(named, k) for k, v in given.items()})


def _special_ids(tokenizer, arch: str) -> dict[str, int]:
    """The token ids a model config records, refusing a tokenizer that lacks what `arch` needs."""
    if tokenizer.eos_token_id is None:
        raise CtxlabError(
            "the tokenizer has no end-of-text token to separate packed texts: train one with "
            "`ctxlab tokenizer train`"
        )
    if arch == "encoder" and tokenizer.mask_token_id is None:
        raise CtxlabError(
            "the tokenizer has no mask token, which MLM needs: train one with "
            "`ctxlab tokenizer train` (it adds <mask>)"
        )
    eos = int(tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
    return {"eos_token_id": eos, "pad_token_id": int(pad), "bos_token_id": int(bos)}


def llama_config(d: Dims, **extra: Any):
    """A `LlamaConfig` of these dimensions (full multi-head attention, no KV cache in training);
    `extra` sets the vocabulary and special tokens."""
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=d.hidden_size,
        intermediate_size=d.ff_size,
        num_hidden_layers=d.layers,
        num_attention_heads=d.heads,
        num_key_value_heads=d.heads,
        max_position_embeddings=d.context_length,
        attention_dropout=d.dropout,
        use_cache=False,
        **extra,
    )


def build_model(config: ScratchModelConfig, tokenizer) -> Any:
    """A randomly initialised model of `config`'s architecture and size over `tokenizer`'s
    vocabulary (seed it before calling for a reproducible initialisation)."""
    d = config.dims()
    ids = _special_ids(tokenizer, config.arch)
    vocab = len(tokenizer)
    if config.arch == "decoder":
        from transformers import LlamaForCausalLM

        return LlamaForCausalLM(llama_config(d, vocab_size=vocab, tie_word_embeddings=True, **ids))
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    return ModernBertForMaskedLM(
        ModernBertConfig(
            vocab_size=vocab,
            hidden_size=d.hidden_size,
            intermediate_size=d.ff_size,
            num_hidden_layers=d.layers,
            num_attention_heads=d.heads,
            max_position_embeddings=d.context_length,
            attention_dropout=d.dropout,
            mlp_dropout=d.dropout,
            embedding_dropout=d.dropout,
            sparse_prediction=True,
            cls_token_id=ids["bos_token_id"],
            sep_token_id=ids["eos_token_id"],
            tie_word_embeddings=True,
            **ids,
        )
    )


def arch_of(model_dir: Path) -> str:
    """decoder or encoder: what the model directory's config.json is."""
    from transformers import (
        MODEL_FOR_CAUSAL_LM_MAPPING,
        MODEL_FOR_MASKED_LM_MAPPING,
        AutoConfig,
    )

    try:
        config = AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise CtxlabError(
            f"{model_dir}: not a model directory transformers reads ({err})"
        ) from None
    if type(config) in MODEL_FOR_CAUSAL_LM_MAPPING:
        return "decoder"
    if type(config) in MODEL_FOR_MASKED_LM_MAPPING:
        return "encoder"
    kind = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type")
    raise CtxlabError(
        f"{model_dir} holds a {kind!r} model, neither a causal LM nor a masked LM: pass a "
        "`ctxlab pretrain` run's final/ or best/"
    )


def dims_of(model) -> Dims:
    """The dimensions a built or loaded model has (an `--init-from` model keeps its own)."""
    c = model.config
    return Dims(
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.intermediate_size,
        c.max_position_embeddings,
        float(c.attention_dropout),
    )

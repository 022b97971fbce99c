"""RoPE scaling: evaluate a model past the window it was trained on (`--rope-scaling yarn:2`).

Long-context studies routinely stretch a RoPE model's positions instead of retraining it:
`linear` interpolates positions, `dynamic` rescales the base (NTK) once a sequence passes the
trained window, `yarn` interpolates the low frequencies and keeps the high ones. Transformers
implements all three; this module only writes the setting into the model's config before the
weights load, and says what window the scaled model then has (trained window x factor), which
is what ctxlab's length checks use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctxlab.errors import CtxlabError

KINDS = ("linear", "dynamic", "yarn")
DEFAULT_FACTOR = 2.0


@dataclass(frozen=True)
class RopeScaling:
    kind: str
    factor: float

    @property
    def label(self) -> str:
        return f"{self.kind} x{self.factor:g}"


def parse_rope_scaling(text: str) -> RopeScaling:
    """`yarn`, `yarn:2`, `linear:4`, `dynamic:1.5` -> the kind and the factor (> 1)."""
    kind, _, factor_text = text.strip().partition(":")
    if kind not in KINDS:
        raise ValueError(f"RoPE scaling must be one of {', '.join(KINDS)}[:FACTOR], got {text!r}")
    try:
        factor = float(factor_text) if factor_text else DEFAULT_FACTOR
    except ValueError:
        raise ValueError(f"the factor of {text!r} must be a number, e.g. yarn:2") from None
    if factor <= 1:
        raise ValueError(f"the factor of {text!r} must be above 1 to lengthen the window")
    return RopeScaling(kind, factor)


def apply_rope_scaling(config: Any, scaling: RopeScaling, spec: str) -> int:
    """Write `scaling` into a transformers config (in place) and return the scaled window."""
    params = getattr(config, "rope_parameters", None)
    if not isinstance(params, dict) or "rope_theta" not in params:
        kind = getattr(config, "model_type", "this architecture")
        raise CtxlabError(
            f"model {spec!r} ({kind}) has no RoPE position embeddings to scale: drop "
            "--rope-scaling, or pass a RoPE model (Llama, Qwen, Mistral, ...)"
        )
    if params.get("rope_type", "default") != "default":
        raise CtxlabError(
            f"model {spec!r} already uses {params['rope_type']} RoPE scaling: drop --rope-scaling"
        )
    trained = int(config.max_position_embeddings)
    window = int(trained * scaling.factor)
    config.rope_parameters = {
        **params,
        "rope_type": scaling.kind,
        "factor": scaling.factor,
        "original_max_position_embeddings": trained,
    }
    if scaling.kind != "dynamic":  # dynamic NTK rescales past max_position_embeddings itself
        config.max_position_embeddings = window
    return window

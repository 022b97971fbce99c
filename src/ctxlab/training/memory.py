"""Whether a training run needs activation (gradient) checkpointing, decided before it starts.

Checkpointing keeps only each layer's input and recomputes the rest in the backward pass: ~30%
more compute for a fraction of the activation memory. So it is worth it only when the
activations would not fit. `--gradient-checkpointing` / `--no-gradient-checkpointing` decide
outright; unset, `decide_checkpointing` compares an estimate of the run's peak with the memory
budget (`--memory-budget`, else what the device has free) and turns it on only when the estimate
exceeds it. The choice and its reason go to the log and to summary.json.

The estimate counts, per token and decoder layer, the tensors a Llama-style layer keeps for
backward (norm inputs and outputs, q/k/v, the attention output, the MLP's four
intermediate-width tensors): `12 * hidden + 4 * intermediate` elements, at 2 bytes under bf16
autocast and 4 in fp32. It errs high (some of those are views), which only makes the switch
turn on a little early.
"""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1024**3
HEADROOM = 0.9  # share of the budget a run may plan to fill; the rest absorbs what is not counted


@dataclass(frozen=True)
class MemoryPlan:
    """The estimate behind a checkpointing decision, in bytes."""

    fixed: int  # weights, gradients and AdamW states of the trainable parameters
    activations: int  # kept for backward without checkpointing
    checkpointed: int  # kept with checkpointing: each layer's input plus one layer recomputed


@dataclass(frozen=True)
class Checkpointing:
    enabled: bool
    reason: str

    def summary(self) -> dict:
        """The keys summary.json records."""
        return {
            "gradient_checkpointing": self.enabled,
            "gradient_checkpointing_reason": self.reason,
        }


def estimate_memory(
    *,
    weights: int,
    trainable: int,
    batch_size: int,
    seq_len: int,
    hidden: int,
    intermediate: int,
    layers: int,
    bf16: bool,
) -> MemoryPlan:
    """Peak-memory estimate of one training step (see the module docstring); `weights` is the
    bytes of all parameters, `trainable` the count of those trained (fp32 on CPU and GPU)."""
    act = 2 if bf16 else 4
    tokens = batch_size * seq_len
    per_layer = tokens * (12 * hidden + 4 * intermediate) * act
    fixed = weights + trainable * 4 * 3  # + an fp32 gradient and two Adam moments each
    return MemoryPlan(fixed, per_layer * layers, tokens * hidden * act * layers + per_layer)


def decide_checkpointing(
    asked: bool | None, plan: MemoryPlan, budget: int, budget_source: str
) -> Checkpointing:
    """`asked` True/False decides; None turns checkpointing on when the estimated peak without it
    exceeds `HEADROOM` of `budget` (bytes; `budget_source` says where it came from)."""
    if asked is not None:
        return Checkpointing(asked, "on (asked)" if asked else "off (asked)")
    need, room = plan.fixed + plan.activations, HEADROOM * budget
    gib = (
        f"{need / GiB:.2f} GiB estimated without it, {room / GiB:.2f} GiB usable of {budget_source}"
    )
    if need <= room:
        return Checkpointing(False, f"off: {gib}")
    return Checkpointing(
        True, f"on: {gib}; {(plan.fixed + plan.checkpointed) / GiB:.2f} GiB with it"
    )


def memory_budget(budget_gb: float | None, cuda: bool) -> tuple[int, str]:
    """The budget in bytes and where it came from: `budget_gb` when given, else the free memory
    of this process's GPU (CUDA) or the machine's available memory."""
    if budget_gb is not None:
        return int(budget_gb * GiB), f"the {budget_gb:g} GiB budget"
    if cuda:
        import torch

        free, _ = torch.cuda.mem_get_info()
        return int(free), "the GPU's free memory"
    import psutil

    return int(psutil.virtual_memory().available), "the available memory"


def plan_for(model, batch_size: int, seq_len: int, bf16: bool) -> MemoryPlan:
    """`estimate_memory` for a transformers model (or a PEFT model around one)."""
    config = model.config
    params = list(model.parameters())
    hidden = config.hidden_size
    return estimate_memory(
        weights=sum(p.numel() * p.element_size() for p in params),
        trainable=sum(p.numel() for p in params if p.requires_grad),
        batch_size=batch_size,
        seq_len=seq_len,
        hidden=hidden,
        intermediate=getattr(config, "intermediate_size", None) or 4 * hidden,
        layers=config.num_hidden_layers,
        bf16=bf16,
    )


def resolve_checkpointing(settings, model, seq_len: int, cuda: bool):
    """`settings` (a `TrainConfig` or `PretrainSettings`) with `gradient_checkpointing` decided
    for `model` at its longest batch (`settings.batch_size` x `seq_len`), and the decision."""
    asked = settings.gradient_checkpointing
    if asked is None:
        budget, source = memory_budget(settings.memory_budget_gb, cuda)
        plan = plan_for(model, settings.batch_size, seq_len, settings.use_bf16(cuda))
        choice = decide_checkpointing(None, plan, budget, source)
    else:
        choice = decide_checkpointing(asked, MemoryPlan(0, 0, 0), 0, "")
    return settings.model_copy(update={"gradient_checkpointing": choice.enabled}), choice

"""Gradient checkpointing: an explicit setting wins; unset, the memory estimate decides."""

from __future__ import annotations

import pytest

from ctxlab.training import TrainConfig
from ctxlab.training.memory import GiB, MemoryPlan, decide_checkpointing, estimate_memory

# The built-in model (SmolLM2-135M: 30 layers, hidden 576, MLP 1536) with LoRA r16 on q,k,v,o.
SMOL = dict(weights=135_000_000 * 4, trainable=3_000_000, hidden=576, intermediate=1536, layers=30)


def test_estimate_counts_weights_optimizer_and_activations():
    plan = estimate_memory(**SMOL, batch_size=4, seq_len=1024, bf16=True)
    assert plan.fixed == 540_000_000 + 3_000_000 * 12
    per_layer = 4 * 1024 * (12 * 576 + 4 * 1536) * 2
    assert plan.activations == 30 * per_layer
    assert plan.checkpointed == 4 * 1024 * 576 * 2 * 30 + per_layer < plan.activations
    fp32 = estimate_memory(**SMOL, batch_size=4, seq_len=1024, bf16=False)
    assert fp32.activations == 2 * plan.activations


@pytest.mark.parametrize("asked", [True, False])
def test_an_explicit_setting_decides_whatever_the_budget(asked):
    huge = MemoryPlan(100 * GiB, 100 * GiB, GiB)
    choice = decide_checkpointing(asked, huge, GiB, "the 1 GiB budget")
    assert choice.enabled is asked


def test_unset_turns_on_only_when_the_estimate_exceeds_the_budget():
    plan = estimate_memory(**SMOL, batch_size=4, seq_len=1024, bf16=True)  # ~3.4 GiB
    roomy = decide_checkpointing(None, plan, 16 * GiB, "the 16 GiB budget")
    assert not roomy.enabled and roomy.reason.startswith("off: ")
    tight = decide_checkpointing(None, plan, 2 * GiB, "the 2 GiB budget")
    assert (
        tight.enabled and tight.reason.startswith("on: ") and "of the 2 GiB budget" in tight.reason
    )
    # Headroom: an estimate just under the whole budget still turns it on.
    need = plan.fixed + plan.activations
    assert decide_checkpointing(None, plan, int(need / 0.95), "x").enabled


def test_config_leaves_checkpointing_undecided_and_takes_a_budget():
    cfg = TrainConfig()
    assert cfg.gradient_checkpointing is None and cfg.memory_budget_gb is None
    assert TrainConfig(memory_budget_gb=8, gradient_checkpointing=True).memory_budget_gb == 8
    with pytest.raises(ValueError, match="memory_budget_gb"):
        TrainConfig(memory_budget_gb=0)


def test_flags_set_the_budget_and_force_checkpointing_either_way():
    import argparse

    from ctxlab.cli.flags import add_flags

    parser = argparse.ArgumentParser()
    keys = add_flags(parser, TrainConfig, "training.")
    dest = {key: dest for dest, key in keys.items()}
    args = vars(parser.parse_args(["--memory-budget", "6", "--no-gradient-checkpointing"]))
    assert args[dest["training.memory_budget_gb"]] == "6"
    assert args[dest["training.gradient_checkpointing"]] is False
    assert vars(parser.parse_args([]))[dest["training.gradient_checkpointing"]] is None

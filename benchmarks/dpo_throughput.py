"""DPO throughput and peak memory of ctxlab's DPO round (`training/dpo.py`, TRL's `DPOTrainer`)
against a plain DPO loss loop, on the same pairs.

The pairs are PrOntoQA proofs as the logic-oak preset's DPO round sees them: the gold proof
chosen over the same proof with its middle step deleted, under the rendered task prompt. Both
sides train a fresh LoRA adapter (`lora_r16_a32_qkvo`) on the built-in model with the preset's
loss (sigmoid DPO + the chosen proofs' NLL, beta 0.1), batch size, bf16 autocast and fused
AdamW; the reference is the model with the adapter disabled, as TRL does for a fresh adapter.
The plain loop is: policy forward on [chosen; rejected], reference forward without gradients,
the vocabulary projection and the loss at the completion positions only, backward, optimizer
step. Tokens counted: the non-padding tokens of both sequences of each pair. See `_bench.py`
for the alternation.

    python benchmarks/dpo_throughput.py [--pairs 16] [--steps 8] [--batch-size 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import torch
import torch.nn.functional as F
from _bench import StepTimer, main, plain_step
from transformers.utils import logging as hf_logging

from ctxlab.prompts import render_prompt
from ctxlab.training.dpo import DPOSettings, dpo_train, pair_records
from ctxlab.training.pairs import Pair

PEFT = "lora_r16_a32_qkvo"


def _settings(args: argparse.Namespace) -> DPOSettings:
    return DPOSettings(
        beta=0.1,
        loss_type=["sigmoid", "sft"],
        learning_rate=5e-4,
        max_steps=args.steps,
        batch_size=args.batch_size,
        max_length=512,
        logging_steps=args.steps,
        bf16="auto",
        measure_pair_loss=False,
    )


def _pairs(tokenizer, n: int) -> list[Pair]:
    from ctxlab.tasks.base import get_task_class

    task_class = get_task_class("prontoqa")
    task = task_class(task_class.config_class(hops=[3], num_samples=n, seed=0))
    pairs = []
    for example in task.generate():
        lines = example.target.splitlines()
        rejected = "\n".join(lines[: len(lines) // 2] + lines[len(lines) // 2 + 1 :])
        prompt = render_prompt(tokenizer, *task.prompt(example))
        pairs.append(Pair(example.id, prompt, example.target, rejected, 1.0, 0.0))
    return pairs


def _tokenizer():
    from ctxlab.models import load_tokenizer

    hf_logging.disable_progress_bar()
    return load_tokenizer("smollm2-135m")[0]


def ctxlab_side(args: argparse.Namespace) -> list[float]:
    pairs = _pairs(_tokenizer(), args.pairs)
    out = tempfile.mkdtemp(prefix="ctxlab-dpo-bench-")
    timer = StepTimer()
    try:
        dpo_train(
            _settings(args), "smollm2-135m", pairs, f"{out}/run", peft=PEFT, callbacks=[timer]
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return timer.rates


def _batch(records: list[dict], pad_id: int, max_length: int) -> dict[str, torch.Tensor]:
    """[chosen rows; rejected rows], right-padded, with the mask of completion tokens."""
    rows, completion = [], []
    for side in ("chosen_ids", "rejected_ids"):
        for r in records:
            ids = (r["prompt_ids"] + r[side])[:max_length]
            rows.append(ids)
            completion.append(([0] * len(r["prompt_ids"]) + [1] * len(r[side]))[:max_length])
    longest = max(map(len, rows))
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    comp = torch.zeros_like(ids)
    for i, (row, c) in enumerate(zip(rows, completion, strict=True)):
        ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
        comp[i, : len(row)] = torch.tensor(c)
    return {"input_ids": ids, "attention_mask": mask, "completion_mask": comp}


def _logps(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row sums of the completion tokens' log-probabilities, and the per-token values: the
    transformer body on every token, the vocabulary projection on completion positions only."""
    causal_lm = model.get_base_model()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    hidden = causal_lm.model(**inputs, use_cache=False).last_hidden_state[:, :-1]
    mask = batch["completion_mask"][:, 1:].bool()
    logits = causal_lm.lm_head(hidden[mask]).float()
    targets = batch["input_ids"][:, 1:][mask]
    picked = logits.gather(-1, targets[:, None]).squeeze(-1) - logits.logsumexp(-1)
    per_row = picked.new_zeros(mask.shape).masked_scatter(mask, picked)
    return per_row.sum(1), picked


def plain_side(args: argparse.Namespace) -> list[float]:
    """The DPO + NLL loss by hand, on the same pairs and model/adapter/reference handling."""
    from peft import get_peft_model

    from ctxlab.models import load_model
    from ctxlab.training import TrainConfig, parse_preset
    from ctxlab.training.peft_presets import quiet_peft

    settings = _settings(args)
    cuda = torch.cuda.is_available()
    use_bf16 = TrainConfig(bf16=settings.bf16).use_bf16(cuda)
    loaded = load_model(dtype="bfloat16" if cuda and use_bf16 else "float32", device="cpu")
    tokenizer = loaded.tokenizer
    records = pair_records(tokenizer, _pairs(tokenizer, args.pairs), settings.max_length)
    torch.manual_seed(0)
    with quiet_peft():
        model = get_peft_model(loaded.model, parse_preset(PEFT).lora_config())
    device = "cuda" if cuda else "cpu"
    model.to(device).train()
    for module in model.modules():  # as DPOTrainer's `disable_dropout` (on by default) does
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, fused=True)
    size, rates = settings.batch_size, []
    for step in range(settings.max_steps):
        chunk = records[(step * size) % len(records) :][:size]
        batch = {
            k: v.to(device)
            for k, v in _batch(chunk, tokenizer.pad_token_id, settings.max_length).items()
        }
        start = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=use_bf16):
            logps, per_token = _logps(model, batch)
            with torch.no_grad(), model.disable_adapter():
                ref_logps, _ = _logps(model, batch)
            chosen, rejected = (logps - ref_logps).chunk(2)
            dpo = -F.logsigmoid(settings.beta * (chosen - rejected)).mean()
            chosen_rows = batch["completion_mask"][: len(chunk), 1:].sum()
            nll = -per_token[: int(chosen_rows)].mean()  # the chosen rows' tokens come first
            loss = dpo + nll
        plain_step(loss, optimizer, batch, start, step, rates)
    return rates


def headline(args: argparse.Namespace) -> str:
    records = pair_records(_tokenizer(), _pairs(_tokenizer(), args.pairs), 512)
    lengths = [len(r["prompt_ids"]) + len(r["chosen_ids"]) for r in records]
    return (
        f"{len(records)} PrOntoQA proof pairs (prompt + chosen {min(lengths)}-{max(lengths)} "
        f"tokens), DPO sigmoid + NLL, batch {args.batch_size} pairs, LoRA r16 qkvo, "
        f"{args.steps} steps"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2)
    main(parser, {"ctxlab": ctxlab_side, "plain": plain_side}, [("ctxlab", "plain")], headline)

"""Training throughput and peak memory of `ctxlab train` against a bare PyTorch loop.

Both train the built-in model with the same LoRA preset, sequence length, batch size, bf16
autocast, target-only logits and fused AdamW (`Trainer`'s default optimizer); the bare loop is
forward, loss, backward, optimizer step and nothing else (no clipping, scheduler, logging or
checkpoints). Each side runs in its own process, alternating for `--rounds` rounds (`_bench.py`).
Prints tokens/s and peak memory of both, their ratios (goals: >= 0.95 and <= 1.3) and the
share of padding tokens in the trainer's length-grouped batches (goal < 10%).

    python benchmarks/train_throughput.py [--length 1024] [--steps 8] [--batch-size 4] [--rounds 2]
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

from ctxlab.api import generate_data
from ctxlab.tasks.niah import NiahConfig, NiahTask
from ctxlab.training import TrainConfig, parse_preset, train
from ctxlab.training.data import IGNORE_INDEX, PadCollator, build_dataset, grouped_padding_share
from ctxlab.training.peft_presets import quiet_peft


def _setup(args: argparse.Namespace):
    hf_logging.disable_progress_bar()
    examples = generate_data(
        variants=args.variant,
        lengths=args.length,
        num_samples=args.steps * args.batch_size,
        progress=False,
    )
    config = TrainConfig(
        peft="lora_r16_a32_qkvo",
        max_steps=args.steps,
        batch_size=args.batch_size,
        logging_steps=args.steps,
        save_steps=10 * args.steps,
        max_seq_length=args.length,
    )
    return examples, NiahTask(NiahConfig()), config


def ctxlab_side(args: argparse.Namespace) -> list[float]:
    examples, task, config = _setup(args)
    out = tempfile.mkdtemp(prefix="ctxlab-train-bench-")
    timer = StepTimer()
    try:
        train(config, "smollm2-135m", examples, None, task, f"{out}/run", callbacks=[timer])
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return timer.rates


def bare_side(args: argparse.Namespace) -> list[float]:
    """Forward, loss on the target positions, backward, AdamW step: nothing else."""
    from peft import get_peft_model

    from ctxlab.models import load_model

    examples, task, config = _setup(args)
    cuda = torch.cuda.is_available()
    use_bf16 = config.use_bf16(cuda)
    loaded = load_model(dtype="bfloat16" if cuda and use_bf16 else "float32", device="cpu")
    torch.manual_seed(config.seed)
    with quiet_peft():
        model = get_peft_model(loaded.model, parse_preset(config.peft).lora_config())
    device = "cuda" if cuda else "cpu"
    model.to(device).train()
    dataset = build_dataset(loaded.tokenizer, task, examples, "sft", config.max_seq_length)
    collate = PadCollator(loaded.tokenizer.pad_token_id)
    order = sorted(range(len(dataset)), key=lambda i: len(dataset[i]["input_ids"]))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, fused=True)
    rates = []
    for step in range(config.max_steps):
        idx = order[(step * config.batch_size) % len(order) :][: config.batch_size]
        batch = {k: v.to(device) for k, v in collate([dataset[i] for i in idx]).items()}
        start = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=use_bf16):
            labels = batch.pop("labels")
            shifted = labels[:, 1:]
            keep = shifted.ne(IGNORE_INDEX).any(0).nonzero().squeeze(-1)
            logits = model(**batch, logits_to_keep=keep, use_cache=False).logits
            loss = F.cross_entropy(
                logits.float().flatten(0, 1), shifted[:, keep].flatten(), ignore_index=IGNORE_INDEX
            )
        plain_step(loss, optimizer, batch, start, step, rates)
    return rates


def headline(args: argparse.Namespace) -> str:
    from ctxlab.models import load_tokenizer

    examples, task, config = _setup(args)
    dataset = build_dataset(load_tokenizer("smollm2-135m")[0], task, examples, "sft", args.length)
    padding = grouped_padding_share(dataset, config.batch_size)
    return (
        f"{len(examples)} examples of {args.variant} at {args.length} tokens, batch "
        f"{args.batch_size}, LoRA r16 qkvo, bf16 autocast "
        f"{config.use_bf16(torch.cuda.is_available())}, {args.steps} steps; padding share of "
        f"length-grouped batches {100 * padding:.1f}% (goal < 10%)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--variant", default="niah_single_2")
    main(parser, {"ctxlab": ctxlab_side, "bare": bare_side}, [("ctxlab", "bare")], headline)

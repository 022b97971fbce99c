"""Training throughput of `ctxlab train` against a bare PyTorch loop, same run.

Both train the built-in model with the same LoRA preset, batches, sequence length, bf16
autocast and target-only logits; the bare loop is forward, loss, backward, AdamW step and
nothing else. The two alternate for `--rounds` rounds so that load from other processes on the
machine hits both alike; each reports the median tokens/s of its steps (each round's first step
excluded as warm-up). Prints both, their ratio (goal >= 0.85) and the share of padding tokens in
the trainer's length-grouped batches (goal < 10%).

    python benchmarks/train_throughput.py [--length 1024] [--steps 8] [--batch-size 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from peft import get_peft_model
from transformers import TrainerCallback
from transformers.utils import logging as hf_logging

from ctxlab.api import generate_data
from ctxlab.models import load_model
from ctxlab.tasks.niah import NiahConfig, NiahTask
from ctxlab.training import TrainConfig, parse_preset, train
from ctxlab.training.data import IGNORE_INDEX, PadCollator, build_dataset, grouped_padding_share


class StepTimer(TrainerCallback):
    """Wall time and real (non-pad) tokens of each optimizer step."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, int]] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.start, self.seen = time.perf_counter(), state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(
            (time.perf_counter() - self.start, state.num_input_tokens_seen - self.seen)
        )


class BareLoop:
    """Forward, loss on the target positions, backward, AdamW step: nothing else."""

    def __init__(self, examples, task, config: TrainConfig, use_bf16: bool) -> None:
        loaded = load_model(dtype="float32", device="cpu")
        self.model = get_peft_model(loaded.model, parse_preset(config.peft).lora_config())
        self.model.train()
        self.dataset = build_dataset(loaded.tokenizer, task, examples, "sft", config.max_seq_length)
        self.collate = PadCollator(loaded.tokenizer.pad_token_id)
        self.config, self.use_bf16 = config, use_bf16

    def run(self, steps: int) -> list[float]:
        """Tokens/s of each step after the first."""
        model, dataset, collate, config = self.model, self.dataset, self.collate, self.config
        order = sorted(range(len(dataset)), key=lambda i: len(dataset[i]["input_ids"]))
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate
        )
        rates = []
        for step in range(steps):
            idx = order[(step * config.batch_size) % len(order) :][: config.batch_size]
            batch = collate([dataset[i] for i in idx])
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.use_bf16):
                labels = batch.pop("labels")
                shifted = labels[:, 1:]
                keep = shifted.ne(IGNORE_INDEX).any(0).nonzero().squeeze(-1)
                logits = model(**batch, logits_to_keep=keep, use_cache=False).logits
                loss = F.cross_entropy(
                    logits.float().flatten(0, 1),
                    shifted[:, keep].flatten(),
                    ignore_index=IGNORE_INDEX,
                )
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if step > 0:
                rates.append(int(batch["attention_mask"].sum()) / (time.perf_counter() - start))
        return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--variant", default="niah_single_2")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    hf_logging.disable_progress_bar()
    examples = generate_data(
        variants=args.variant,
        lengths=args.length,
        num_samples=args.steps * args.batch_size,
        progress=False,
    )
    task = NiahTask(NiahConfig())
    config = TrainConfig(
        peft="lora_r16_a32_qkvo",
        max_steps=args.steps,
        batch_size=args.batch_size,
        logging_steps=args.steps,
        save_steps=10 * args.steps,
        max_seq_length=args.length,
    )
    use_bf16 = config.use_bf16(cuda=False)
    bare = BareLoop(examples, task, config, use_bf16)
    trainer_rates, bare_rates = [], []
    for _ in range(args.rounds):
        out = tempfile.mkdtemp(prefix="ctxlab-train-bench-")
        timer = StepTimer()
        try:
            train(config, "smollm2-135m", examples, None, task, f"{out}/run", callbacks=[timer])
        finally:
            shutil.rmtree(out, ignore_errors=True)
        trainer_rates += [tokens / seconds for seconds, tokens in timer.steps[1:]]
        bare_rates += bare.run(args.steps)
    trainer_tps = statistics.median(trainer_rates)
    bare_tps = statistics.median(bare_rates)
    padding = grouped_padding_share(bare.dataset, config.batch_size)
    print(
        f"{len(examples)} examples of {args.variant} at {args.length} tokens, batch "
        f"{args.batch_size}, LoRA r16 qkvo, bf16 autocast {use_bf16}, "
        f"{args.steps} steps x {args.rounds} rounds"
    )
    print(f"ctxlab train:      {trainer_tps:7.1f} tokens/s (median step)")
    print(f"bare PyTorch loop: {bare_tps:7.1f} tokens/s (median step)")
    print(f"ratio:             {trainer_tps / bare_tps:7.2f}  (goal >= 0.85)")
    print(f"padding share of length-grouped batches: {100 * padding:.1f}%  (goal < 10%)")


if __name__ == "__main__":
    main()

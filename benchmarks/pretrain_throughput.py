"""Pre-training throughput and peak memory of ctxlab's pretrain trainer (`training/pretrain.py`)
against a plain causal-LM loop and a plain MLM loop, on the same packed batches and model.

Each side builds the same corpus (ctxlab's generated prose, a BPE tokenizer trained on its train
split, packed into sequences of the model's context length) and the same from-scratch model
(`models/scratch.py`, seed 0): a Llama decoder for the causal side, a ModernBERT encoder for
the MLM side. The plain loops are forward (the model's own loss), backward, fused AdamW step
(`Trainer`'s default optimizer), nothing else; the MLM loop masks each batch with the same
`MaskingCollator` ctxlab trains with. bf16 autocast where the hardware has it. Tokens counted:
non-padding input tokens. See `_bench.py` for the alternation.

    python benchmarks/pretrain_throughput.py [--size tiny] [--steps 30] [--batch-size 16] \
        [--arch both] [--rounds 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from _bench import StepTimer, main, plain_step
from transformers import default_data_collator
from transformers.utils import logging as hf_logging

from ctxlab.models.scratch import ScratchModelConfig
from ctxlab.training import pretrain as pt
from ctxlab.training.config import PretrainSettings
from ctxlab.training.pretrain_data import MaskingCollator, read_texts, split_texts


def _settings(args: argparse.Namespace) -> PretrainSettings:
    return PretrainSettings(
        max_steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=3e-3,
        logging_steps=args.steps,
        eval_steps=10 * args.steps,
        save_steps=10 * args.steps,
        early_stopping_patience=None,
    )


def _setup(args: argparse.Namespace, arch: str):
    """(settings, model config, corpus, model): what both sides of `arch` start from."""
    hf_logging.disable_progress_bar()
    settings = _settings(args)
    config = ScratchModelConfig(arch=arch, size=args.size)
    splits = split_texts(read_texts([], None, args.prose_words), 0.05, 0.05, 0)
    tokenizer = pt.load_tokenizer(None, splits["train"], 2000, 2)
    corpus = pt.build_corpus(
        arch, tokenizer, splits, config.dims().context_length, settings.mlm_probability, 0
    )
    return settings, corpus, pt.make_model(config, tokenizer, settings.seed)


def _ctxlab(arch: str):
    def side(args: argparse.Namespace) -> list[float]:
        settings, corpus, model = _setup(args, arch)
        out = Path(tempfile.mkdtemp(prefix="ctxlab-pretrain-bench-"))
        timer = StepTimer()
        try:
            pt.pretrain(settings, arch, model, corpus, out, callbacks=[timer])
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return timer.rates

    return side


def _plain(arch: str):
    def side(args: argparse.Namespace) -> list[float]:
        """Forward with the model's own loss, backward, AdamW step: nothing else."""
        settings, corpus, model = _setup(args, arch)
        cuda = torch.cuda.is_available()
        device = "cuda" if cuda else "cpu"
        use_bf16 = settings.use_bf16(cuda)
        model.to(device).train()
        dataset = corpus.datasets["train"]
        collate = (
            default_data_collator
            if arch == "decoder"
            else MaskingCollator(corpus.tokenizer, settings.mlm_probability)
        )
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=settings.learning_rate,
            weight_decay=settings.weight_decay,
            fused=True,
        )
        rates, size = [], settings.batch_size
        for step in range(settings.max_steps):
            first = (step * size) % len(dataset)
            rows = [dataset[i % len(dataset)] for i in range(first, first + size)]
            batch = {k: v.to(device) for k, v in collate(rows).items()}
            start = time.perf_counter()
            with torch.autocast(device, dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(**batch).loss
            plain_step(loss, optimizer, batch, start, step, rates)
        return rates

    return side


def headline(args: argparse.Namespace) -> str:
    dims = ScratchModelConfig(size=args.size).dims()
    return (
        f"from-scratch {args.size} models ({dims.layers} layers, width {dims.hidden_size}, "
        f"{dims.context_length}-token packed sequences) on {args.prose_words:,} words of "
        f"generated prose, batch {args.batch_size}, {args.steps} steps"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="tiny", choices=["tiny", "small", "base"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--prose-words", type=int, default=60000)
    parser.add_argument("--arch", default="both", choices=["decoder", "encoder", "both"])
    known, _ = parser.parse_known_args()
    archs = ["decoder", "encoder"] if known.arch == "both" else [known.arch]
    names = {"decoder": ("ctxlab-causal", "plain-causal"), "encoder": ("ctxlab-mlm", "plain-mlm")}
    sides = {}
    for arch in archs:
        ours, plain = names[arch]
        sides.update({ours: _ctxlab(arch), plain: _plain(arch)})
    main(parser, sides, [names[a] for a in archs], headline)

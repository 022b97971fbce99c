"""Eval throughput of the ctxlab engine against the model's own forward pass, same run.

For each variant, prints prompt tokens/s of a whole `ctxlab eval` (generation + scoring, model
load excluded) with prompt lookup (the default) and without it, divided by (a) raw forward
tokens/s of the same model on the same prompts (batch 1, logits for the last position only: the
cost of reading each prompt once, a strict upper bound) and (b) a one-example-at-a-time
`model.generate` loop (greedy, same budget and end-of-turn stop).

    python benchmarks/eval_throughput.py [--length 2048] [--num-samples 16] [--batch-size 8]
        [--variant niah_multikey_3,niah_multivalue]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers.utils import logging as hf_logging

from ctxlab.api import build_config
from ctxlab.evaluation import make_task, run_eval
from ctxlab.generation import _eos_ids
from ctxlab.models import LoadedModel, load_model
from ctxlab.prompts import encode_prompt, render_prompt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--variant", default="niah_single_2", help="one or a comma list")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--skip-generate-loop", action="store_true")
    args = parser.parse_args()
    hf_logging.disable_progress_bar()
    loaded = None
    for variant in args.variant.split(","):
        loaded = measure(variant, args, loaded)


def measure(variant: str, args: argparse.Namespace, loaded: LoadedModel | None) -> LoadedModel:
    """One variant's numbers; returns the model, loaded on the first call."""

    def config_with(lookup: bool):
        return build_config(
            variants=variant,
            lengths=args.length,
            num_samples=args.num_samples,
            batch_size=args.batch_size,
            dtype=args.dtype,
            progress=False,
            updates={"eval.prompt_lookup": lookup},
        )

    config = config_with(True)
    loaded = loaded or load_model(config.model.name, config.model.dtype)
    model, tokenizer = loaded.model, loaded.tokenizer
    task = make_task(config)
    examples = task.generate(tokenizer, loaded.max_length)
    prompts = [
        encode_prompt(tokenizer, render_prompt(tokenizer, *task.prompt(e))) for e in examples
    ]
    total = sum(len(p) for p in prompts)
    print(
        f"\n{len(prompts)} prompts of {variant} at {args.length} tokens "
        f"({total} prompt tokens), dtype {loaded.dtype}, batch size {args.batch_size}, "
        f"{torch.get_num_threads()} threads"
    )

    with torch.inference_mode():
        model(torch.tensor([prompts[0][:256]]), logits_to_keep=1)  # warm-up
        start = time.perf_counter()
        for ids in prompts:
            model(torch.tensor([ids]), logits_to_keep=1)
        forward_s = time.perf_counter() - start
    forward_tps = total / forward_s
    print(f"raw forward (batch 1):       {forward_tps:8.0f} prompt tok/s  ({forward_s:.1f} s)")

    engine_tps = {}
    for lookup in (True, False):
        result = run_eval(config_with(lookup), task, examples, loaded)
        eval_s = result.summary["timing"]["eval_s"]
        engine_tps[lookup] = total / eval_s
        generated = result.summary["timing"]["generated_tokens"]
        label = "ctxlab engine, lookup:   " if lookup else "ctxlab engine, no lookup:"
        print(
            f"{label}    {engine_tps[lookup]:8.0f} prompt tok/s  ({eval_s:.1f} s, "
            f"{generated} tokens generated, score "
            f"{result.results['metrics']['string_match_all']:.1f})"
        )
    eval_tps = engine_tps[True]
    print(f"ratio eval / raw forward:    {eval_tps / forward_tps:8.2f}  (goal >= 0.70)")
    print(f"ratio lookup / no lookup:    {eval_tps / engine_tps[False]:8.2f}")

    if not args.skip_generate_loop:
        eos = list(_eos_ids(model, tokenizer))
        budget = task.max_new_tokens
        with torch.inference_mode():
            start = time.perf_counter()
            new_tokens = 0
            for ids in prompts:
                out = model.generate(
                    torch.tensor([ids]),
                    max_new_tokens=budget,
                    do_sample=False,
                    eos_token_id=eos,
                    pad_token_id=tokenizer.pad_token_id,
                )
                new_tokens += out.shape[1] - len(ids)
            loop_s = time.perf_counter() - start
        loop_tps = total / loop_s
        print(
            f"model.generate one by one:   {loop_tps:8.0f} prompt tok/s  ({loop_s:.1f} s, "
            f"{new_tokens} tokens generated)"
        )
        print(f"ratio eval / generate loop:  {eval_tps / loop_tps:8.2f}")
    return loaded


if __name__ == "__main__":
    main()

"""Generation time of lm-evaluation-harness against ctxlab's engine on the very same prompts.

lm-eval runs its own RULER tasks (HF backend, bf16, chat template, 2K tokens); its
`generate_until` is timed alone. The prompts it logged (chat template and answer prefix
applied) are then decoded by ctxlab's engine, with and without prompt lookup, as the same
strings, budget and end-of-turn stop. RULER's niah_single_1 ("repeat" haystack) and
niah_multikey_3 ("needle" haystack, UUIDs) need no download, so this runs offline.

    python benchmarks/lm_eval_side_by_side.py [--limit 16] [--batch-size 8]
        [--tasks niah_single_1,niah_multikey_3] [--length 2048]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from ctxlab.generation import generate  # noqa: E402
from ctxlab.lookup import PromptLookup  # noqa: E402
from ctxlab.models import builtin_cache_dir, load_model  # noqa: E402
from ctxlab.prompts import GenerationRequest, render_prompt  # noqa: E402


def context_of(sample: dict) -> tuple[str, int]:
    """The prompt string and token budget lm-eval generated from, out of a logged sample."""
    args = sample["arguments"]
    first = next(iter(args.values())) if isinstance(args, dict) else args[0]
    context, kwargs = (first["arg_0"], first["arg_1"]) if isinstance(first, dict) else first
    return context, int(kwargs.get("max_gen_toks", 128))


def run_lm_eval(args: argparse.Namespace, model_dir: str) -> tuple[float, dict]:
    """(seconds in lm-eval's generate_until, its logged samples by task)."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model_dir, dtype="bfloat16", batch_size=args.batch_size, device="cpu")
    spent = [0.0]
    generate_until = lm.generate_until

    def timed(requests, *rest, **kwargs):
        start = time.perf_counter()
        out = generate_until(requests, *rest, **kwargs)
        spent[0] += time.perf_counter() - start
        return out

    lm.generate_until = timed
    out = simple_evaluate(
        model=lm,
        tasks=args.tasks.split(","),
        task_manager=TaskManager(
            metadata={"pretrained": model_dir, "max_seq_lengths": [args.length]}
        ),
        apply_chat_template=True,
        limit=args.limit,
        log_samples=True,
    )
    return spent[0], out["samples"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=16, help="examples per task")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tasks", default="niah_single_1,niah_multikey_3")
    parser.add_argument("--length", type=int, default=2048)
    args = parser.parse_args()

    model_dir = str(builtin_cache_dir())
    lm_eval_s, samples = run_lm_eval(args, model_dir)
    loaded = load_model(dtype="bfloat16")
    tok = loaded.tokenizer
    requests, same = [], 0
    for task_samples in samples.values():
        for s in task_samples:
            context, budget = context_of(s)
            # as ctxlab renders it: the user turn, then lm-eval's prefix opens the answer
            user = [{"role": "user", "content": s["doc"]["input"]}]
            prefix = context.removeprefix(render_prompt(tok, user))
            same += render_prompt(tok, user, prefix) == context
            requests.append(GenerationRequest(user, prefix, max_new_tokens=budget))
    assert same == len(requests), "ctxlab would render lm-eval's prompts differently"
    print(
        f"{len(requests)} prompts ({args.tasks} at {args.length} tokens, chat template), "
        f"bf16, batch size {args.batch_size}, {torch.get_num_threads()} threads"
    )
    print(f"lm-eval generate_until (hf):  {lm_eval_s:8.1f} s")
    for lookup in (PromptLookup(), None):
        start = time.perf_counter()
        outs = generate(loaded.model, tok, requests, args.batch_size, progress=False, lookup=lookup)
        seconds = time.perf_counter() - start
        tokens = sum(o.generated_tokens for o in outs)
        steps = sum(o.decode_steps for o in outs)
        label = "ctxlab engine, lookup:   " if lookup else "ctxlab engine, no lookup:"
        print(
            f"{label}     {seconds:8.1f} s  ({tokens} tokens in {steps} decode passes; "
            f"lm-eval / ctxlab {lm_eval_s / seconds:.2f}x)"
        )


if __name__ == "__main__":
    main()

"""The openai backend against `ctxlab serve`, relative to the in-process engine, on the same
prompts, measured in the same run.

Both sides run the built-in model's greedy generation over the same NIAH examples; the served
side goes through the official OpenAI client over HTTP on the loopback address to a uvicorn
server in this process (which batches the concurrent requests). Printed: prompt tokens per
second of each, their ratio, and whether the predictions agree.

    python benchmarks/serve_throughput.py [--num-samples 16] [--length 1024] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    from cli_helpers import serving

    from ctxlab.backends import generate_with
    from ctxlab.backends.openai import OpenAIBackend
    from ctxlab.models import LoadedModel, load_model
    from ctxlab.tasks.niah import NiahConfig, NiahTask

    loaded = load_model("smollm2-135m")
    task = NiahTask(
        NiahConfig(variants=["niah_single_1"], lengths=[args.length], num_samples=args.num_samples)
    )
    examples = task.generate(loaded.tokenizer, loaded.max_length)
    requests = task.requests(examples, 32)
    print(
        f"{len(requests)} prompts of niah_single_1 at {args.length} tokens, {loaded.dtype}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    start = time.perf_counter()
    local = generate_with(loaded, requests, args.batch_size, progress=False)
    local_s = time.perf_counter() - start
    tokens = sum(g.prompt_tokens for g in local)

    with serving(loaded, "smollm2-135m", batch_size=args.batch_size) as (url, app):
        backend = OpenAIBackend("smollm2-135m", url, concurrency=args.concurrency)
        remote_loaded = LoadedModel(
            None, loaded.tokenizer, "served", None, loaded.max_length, 0, backend=backend
        )
        start = time.perf_counter()
        remote = generate_with(remote_loaded, requests, args.batch_size, progress=False)
        remote_s = time.perf_counter() - start
        batches = app.state.batcher.batches

    same = sum(a.text == b.text for a, b in zip(local, remote))
    print(f"in-process engine:        {tokens / local_s:7.0f} prompt tok/s  ({local_s:.1f} s)")
    print(
        f"openai -> ctxlab serve:   {tokens / remote_s:7.0f} prompt tok/s  ({remote_s:.1f} s, "
        f"server batches {batches})"
    )
    print(f"ratio served / in-process: {local_s / remote_s:.2f}")
    print(f"identical predictions:     {same} of {len(local)}")


if __name__ == "__main__":
    main()

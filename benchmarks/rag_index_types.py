"""Retrieval at scale: recall@k and query time of approximate FAISS indexes against the exact
flat index, in one run, on the lost-in-the-middle NQ pool (every distinct gold passage of the
file is a chunk; the first `--questions` questions are the queries).

The passages are embedded once (all-MiniLM-L6-v2, cached in the index directory) into the exact
index; each other index is built from the same vectors with `ctxlab.rag.index.make_faiss_index`
and searched with the same query vectors. Printed per index: build seconds, search
milliseconds per query (median of `--repeat` timed passes), recall@k of the gold passage, and
the share of the exact top-k it returns (its recall against Flat).

    python benchmarks/rag_index_types.py [--data FILE] [--questions 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from ctxlab.rag.embedder import Embedder
from ctxlab.rag.index import Chunk, build_index, make_faiss_index, set_search_parameters
from ctxlab.rag.records import load_qa_records

SPECS = [
    ("Flat", None, None),
    ("IVF64,Flat", 1, None),
    ("IVF64,Flat", 8, None),
    ("HNSW32", None, 16),
    ("HNSW32", None, 64),
    ("IVF64,PQ32", 8, None),
]
KS = (1, 5, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared/data/lost_in_the_middle"
    parser.add_argument("--data", default=str(default / "nq-open-oracle.jsonl.gz"))
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="runs/bench-index")
    args = parser.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    records, pool = load_qa_records(args.data)
    records = records[: args.questions]
    embedder = Embedder(None, 64, "auto", "auto")
    exact, _ = build_index(pool, embedder, args.out, {"built_by": "benchmark"}, False)
    vectors = exact.index.reconstruct_n(0, exact.index.ntotal)
    queries = embedder.encode([r.question for r in records], False, "questions")
    gold = [{Chunk(text, title).key for title, text in r.gold} for r in records]
    keys = [c.key for c in exact.chunks]
    reference = exact.index.search(queries, max(KS))[1]
    print(f"{len(pool)} passages, {len(records)} questions, dim {vectors.shape[1]}")
    print(
        "index | build s | search ms/query | "
        + " | ".join(f"recall@{k}" for k in KS)
        + " | share of exact top-20"
    )
    for spec, nprobe, ef in SPECS:
        start = time.perf_counter()
        index = make_faiss_index(vectors, spec, 100_000)
        set_search_parameters(index, nprobe, ef)
        build_s = time.perf_counter() - start
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ids = index.search(queries, max(KS))[1]
            times.append(time.perf_counter() - start)
        ms = 1000 * statistics.median(times) / len(records)
        recalls = [
            np.mean([any(keys[i] in g for i in row[:k] if i >= 0) for row, g in zip(ids, gold)])
            for k in KS
        ]
        overlap = np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, reference)])
        knobs = f" nprobe {nprobe}" if nprobe else f" efSearch {ef}" if ef else ""
        print(
            f"{spec}{knobs} | {build_s:.2f} | {ms:.3f} | "
            + " | ".join(f"{r:.3f}" for r in recalls)
            + f" | {overlap:.3f}"
        )


if __name__ == "__main__":
    main()

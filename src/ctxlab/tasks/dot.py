"""Text and code to Graphviz DOT: one graph per input, scored on validity and on structure.

Examples come from our seeded graph families (`ctxlab.dot.families`: state machines, flowcharts,
dependency graphs, org charts, networks, clustered architectures; each as a description in
several phrasings or, for some families, as code) or from a user's pair files/folders
(`ctxlab.dot.pairs`). Graphviz is the oracle (`ctxlab.dot.graphviz`): it decides validity and
its parse gives the structure compared (`ctxlab.dot.structure`), so a valid graph of the wrong
shape scores low. Each example's `meta.graph_key` names its graph's structure: splits are kept
disjoint by it (no graph in test that train or val holds, however it is phrased).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ctxlab.dot import graphviz
from ctxlab.dot.extract import extract_dot
from ctxlab.dot.structure import METRICS, Structure, canonical_key, compare, structure
from ctxlab.errors import CtxlabError
from ctxlab.tasks.base import (
    NAME_HELP,
    PRED_CLEANING_HELP,
    Example,
    PredCleaning,
    Task,
    TaskConfig,
    is_examples_file,
    read_jsonl,
    register,
)

Pool = Literal["all", "train", "val", "test"]
INSTRUCTIONS = {
    "spec": "Write the Graphviz DOT graph that this description specifies. Answer with the DOT "
    "code only.",
    "code": "Write the Graphviz DOT graph of this code. Answer with the DOT code only.",
}
POOL_SHARES = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}


class DotConfig(TaskConfig):
    """`num_samples` is per family. With `source`, pairs come from that file or folder instead.
    `pool` picks a structure-disjoint 80/10/10 share of the graphs (a recipe's splits set it)."""

    name: Literal["dot"] = Field("dot", description=NAME_HELP)
    families: list[str] = Field(
        ["fsm", "flowchart", "dependency", "tree", "network", "architecture"],
        description="graph families to generate: fsm, flowchart, dependency, tree, network, "
        "architecture",
    )
    max_nodes: int = Field(7, ge=3, le=30, description="most nodes of a generated graph")
    code_share: float = Field(
        0.3, ge=0, le=1, description="share of code inputs in families that have them"
    )
    variants_per_graph: int = Field(
        1, ge=1, le=8, description="inputs per generated graph, each phrased anew (augmentation)"
    )
    source: str | None = Field(
        None, description="a JSON/jsonl pair file or a folder of pair folders instead"
    )
    pool: Pool = Field(
        "all", description="graphs: all, or a structure-disjoint train/val/test share (splits)"
    )
    pool_seed: int = Field(0, description="seed of the train/val/test partition of graphs")
    strict: bool = Field(
        False, description="stop at the first pair whose DOT Graphviz rejects (else skip it)"
    )
    pred_cleaning: PredCleaning = Field("none", description=PRED_CLEANING_HELP)

    @field_validator("families", mode="before")
    @classmethod
    def _split_families(cls, value):
        if isinstance(value, str):
            value = [value]
        return [f.strip() for item in value for f in str(item).split(",") if f.strip()]

    @field_validator("families")
    @classmethod
    def _check_families(cls, value: list[str]) -> list[str]:
        from ctxlab.dot.families import FAMILIES

        unknown = [f for f in value if f not in FAMILIES]
        if unknown or not value:
            raise ValueError(f"unknown family {unknown[:1]}: choose from {', '.join(FAMILIES)}")
        return value


def reference_structure(dot: str) -> Structure:
    """The structure of a gold graph (which Graphviz must accept)."""
    checked = graphviz.parse(dot)
    if not checked.valid:
        raise CtxlabError(f"a reference graph is not valid DOT ({checked.error}): fix the data")
    return structure(checked.graph)


def graph_key(dot: str) -> str:
    return hashlib.sha1(canonical_key(reference_structure(dot)).encode()).hexdigest()[:16]


def make_input(kind: str, text: str) -> str:
    return f"{INSTRUCTIONS[kind]}\n\n{text.strip()}"


def in_pool(key: str, pool: Pool, seed: int) -> bool:
    """Whether a graph falls in a pool: by a seeded hash of its structure, so every phrasing of
    a graph lands in the same split."""
    if pool == "all":
        return True
    digest = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    low, high = POOL_SHARES[pool]
    return low <= int.from_bytes(digest[:8], "big") / 2**64 < high


@register
class DotTask(Task):
    name = "dot"
    config_class = DotConfig
    metrics = METRICS
    breakdown_keys = ("family", "input_kind")
    # Generated targets are 40-200 tokens of the built-in tokenizer; room for users' graphs.
    max_new_tokens = 384
    verifiable = True
    config: DotConfig

    def __init__(self, config: DotConfig):
        super().__init__(config)
        graphviz.dot_binary()  # every use of this task needs Graphviz: say so up front

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        cfg = self.config
        if cfg.source:
            return self._sample(self._from_pairs(cfg.source))
        return [example for family in cfg.families for example in self._family(family)]

    def _family(self, family: str) -> list[Example]:
        """`num_samples` graphs of a family in the pool, each in `variants_per_graph` phrasings.
        Graph i is kept when its structure falls in the pool, so a recipe's splits (each its
        own pool) share no graph however they are seeded."""
        cfg = self.config
        examples: list[Example] = []
        i = kept = 0
        while kept < cfg.num_samples:
            first = self.example(family, i)
            if in_pool(first.meta["graph_key"], cfg.pool, cfg.pool_seed):
                examples += [first] + [
                    self.example(family, i, v) for v in range(1, cfg.variants_per_graph)
                ]
                kept += 1
            i += 1
            if i > 100 * cfg.num_samples + 1000:
                raise CtxlabError(
                    f"only {kept} distinct {family} graphs fall in the {cfg.pool} pool after "
                    f"{i} draws: raise task.max_nodes or ask for fewer examples"
                )
        return examples

    def example(self, family: str, i: int, variant: int = 0) -> Example:
        """Example i of a family: depends only on (seed, family, i) and the phrasing variant."""
        from ctxlab.dot.families import make_pair

        cfg = self.config
        pair = make_pair(cfg.seed, family, i, variant, cfg.code_share, cfg.max_nodes)
        dot = pair.graph.to_dot()
        suffix = f"-v{variant}" if cfg.variants_per_graph > 1 else ""
        return Example(
            id=f"dot-{family}-{i:05d}{suffix}",
            task=self.name,
            input=make_input(pair.input_kind, pair.input),
            answers=[dot],
            target=dot,
            meta={
                "family": family,
                "input_kind": pair.input_kind,
                "phrasing": pair.phrasing,
                "graph_key": graph_key(dot),
            },
        )

    def _from_pairs(self, path: str) -> list[Example]:
        from ctxlab.dot.pairs import load_pairs

        examples = []
        for n, pair in enumerate(load_pairs(path, self.config.strict)):
            examples.append(
                Example(
                    id=f"dot-pair-{n:05d}",
                    task=self.name,
                    input=make_input(pair.input_kind, pair.input),
                    answers=[pair.dot],
                    target=pair.dot,
                    meta={
                        "family": pair.group,
                        "input_kind": pair.input_kind,
                        "origin": pair.origin,
                        "graph_key": graph_key(pair.dot),
                    },
                )
            )
        return examples

    def _sample(self, examples: list[Example]) -> list[Example]:
        """A pool's examples; a recipe's split draws `num_samples` of them with its seed."""
        cfg = self.config
        pooled = [e for e in examples if in_pool(e.meta["graph_key"], cfg.pool, cfg.pool_seed)]
        if cfg.pool == "all":
            return pooled
        if not pooled:
            raise CtxlabError(
                f"the {cfg.pool} pool of {cfg.source} is empty ({len(examples)} pairs in all): "
                "add pairs, or change task.pool_seed"
            )
        rng = random.Random(f"dot-pool:{cfg.seed}:{cfg.pool}")
        return rng.sample(pooled, min(cfg.num_samples, len(pooled)))

    def read_data(self, path: str) -> list[Example]:
        """An examples jsonl (from `ctxlab data dot`), or a pair file or folder."""
        if Path(path).is_file() and path.endswith(".jsonl") and is_examples_file(path):
            return self.own_examples(path, read_jsonl(path))
        return self._from_pairs(path)

    def leak_key(self, example: Example) -> str:
        return example.meta.get("graph_key") or graph_key(self.target(example))

    def clean_prediction(self, text: str) -> str:
        return extract_dot(text)

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        reference = reference_structure(self.target(example))
        checked = graphviz.parse(prediction) if prediction else None
        predicted = structure(checked.graph) if checked and checked.valid else None
        return compare(reference, predicted)

    def explain(self, prediction: str, example: Example) -> list[str]:
        """Graphviz's verdict on an invalid prediction, or its warnings on a valid one."""
        if not prediction:
            return ["no DOT graph in the answer"]
        checked = graphviz.parse(prediction)
        if not checked.valid:
            return [checked.error]
        return [f"warning: {w}" for w in checked.warnings]

    def verify(self, examples, predictions, *, timeout_ms=5000, strict=False, progress=True):
        """Score the gold graphs (each against itself) or given DOT with the task's metrics."""
        from ctxlab.dot.report import verify_graphs

        return verify_graphs(self, examples, predictions, progress)

    def verify_summary(self, results: dict, show: int) -> list[str]:
        from ctxlab.dot.report import graphs_summary

        return graphs_summary(results, show)

    def report_section(self, run_dir: Path, records: Sequence[dict]) -> list[str]:
        """Error classes of the invalid outputs and side-by-side renders (best and worst)."""
        from ctxlab.dot.report import dot_section

        return dot_section(self, run_dir, records)

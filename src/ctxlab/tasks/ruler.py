"""RULER's prepared data (the jsonl its `scripts/data/prepare.py` writes), scored as RULER does.

A line holds `index`, `input` (the whole prompt), `outputs` (the accepted strings), `length` (its
tokens under RULER's tokenizer), often `length_w_model_temp` and `token_position_answer`, and, in
newer RULER, `answer_prefix` (the start of the answer, cut off the prompt): it becomes the
assistant-turn prefix, as ctxlab's own NIAH examples use theirs. Prepare the data with
`--model_template_type base`: ctxlab wraps the prompt in the evaluated model's chat template
itself, so a prompt already wrapped in another model's template would be wrapped twice.

RULER's files do not name their task, so each line's task is read from its prompt: every RULER
template carries a fixed instruction (`TEMPLATES`); `ruler_task` names the task instead (a task
of your own, or to pin the generation budget). The task decides the metric as RULER's
`constants.py` does: `string_match_part` (any accepted string found) for QA, `string_match_all`
(the share of them found) for the rest. Scores go under one name, `score`, as RULER's summary
gives one score per task, so a file of mixed tasks still aggregates; each example's meta names
the metric that made it, its score is also kept under that name, and the breakdown is by task
(`variant`) and length.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.metrics import score_one
from ctxlab.tasks.base import NAME_HELP, Example, Task, TaskConfig, read_jsonl, register

RULER_FIELDS = ("index", "input", "outputs")
# The fixed instruction of each RULER template (scripts/data/synthetic/constants.py) -> task;
# QA first: its documents may hold any text.
TEMPLATES = (
    ("Answer the question based on the given documents", "qa"),
    ("Memorize and track the chain(s) of variable assignment", "vt"),
    ("Below is a numbered list of words. In these words, some appear more often", "cwe"),
    ("Read the following coded text and track the frequency of each coded word", "fwe"),
    ("special magic", "niah"),
)
# RULER's tokens_to_generate per task family (constants.py).
BUDGETS = {"niah": 128, "vt": 30, "cwe": 120, "fwe": 50, "qa": 32}
# The task names of RULER's synthetic.yaml, then the NIAH and QA families as a whole.
RULER_TASKS = (
    *(f"niah_single_{i}" for i in (1, 2, 3)),
    *(f"niah_multikey_{i}" for i in (1, 2, 3)),
    "niah_multivalue",
    "niah_multiquery",
    "vt",
    "cwe",
    "fwe",
    "qa_1",
    "qa_2",
    "niah",
    "qa",
)
EXPECTED = (
    "each line needs index, input and outputs (a non-empty list of strings), as RULER's "
    "prepare.py writes them"
)


def family(task: str) -> str:
    """`niah_multikey_2` -> `niah`, `qa_1` -> `qa`; `vt`, `cwe`, `fwe` are their own."""
    return task.split("_")[0]


def metric_of(task: str) -> str:
    return "string_match_part" if family(task) == "qa" else "string_match_all"


def detect_task(prompt: str) -> str | None:
    """The RULER task family whose template instruction the prompt carries, if any."""
    return next((task for marker, task in TEMPLATES if marker in prompt), None)


def is_ruler_file(path: str) -> bool:
    """True when the file's first record is a RULER line (index, input, outputs)."""
    try:
        _, first = next(json_lines(path, "data"))
    except (CtxlabError, StopIteration):
        return False
    return isinstance(first, dict) and set(RULER_FIELDS) <= set(first)


def refuse_ruler_file(path: str) -> None:
    """For the tasks whose own files look alike (niah, qa): point RULER's data at this task."""
    if is_ruler_file(path):
        raise CtxlabError(
            f"{path} is RULER's prepared data (index, input, outputs), not ctxlab examples: "
            "pass --task ruler"
        )


class RulerConfig(TaskConfig):
    """`source` (or `--data`) is a RULER prepared jsonl; all its lines unless `num_samples` is
    set (then the first that many)."""

    name: Literal["ruler"] = Field("ruler", description=NAME_HELP)
    source: str | None = Field(
        None, description="a jsonl written by RULER's prepare.py (its validation.jsonl)"
    )
    ruler_task: str | None = Field(
        None,
        description="the RULER task of the file (niah_single_1, vt, cwe, fwe, qa_1, ...; "
        "default: read from each prompt); sets the metric and RULER's generation budget",
    )

    @field_validator("ruler_task")
    @classmethod
    def _known_task(cls, value: str | None) -> str | None:
        if value is not None and value not in RULER_TASKS:
            raise ValueError(f"unknown RULER task {value!r}: choose from {', '.join(RULER_TASKS)}")
        return value


@register
class RulerTask(Task):
    name = "ruler"
    config_class = RulerConfig
    metrics = ("score",)
    breakdown_keys = ("variant", "length")
    config: RulerConfig

    @property
    def max_new_tokens(self) -> int:  # type: ignore[override]
        """RULER's budget for the named task; NIAH's 128, the largest, when detected per line."""
        task = self.config.ruler_task
        return BUDGETS[family(task)] if task else BUDGETS["niah"]

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        if not self.config.source:
            raise CtxlabError(
                "the ruler task reads RULER's prepared data: pass --data FILE or --source FILE "
                "(a validation.jsonl written by RULER's prepare.py)"
            )
        return self.convert(self.config.source)

    def read_data(self, path: str) -> list[Example]:
        """A RULER prepared jsonl (converted on the fly), or an examples jsonl of this task."""
        if is_ruler_file(path):
            return self.convert(path)
        return self.own_examples(path, read_jsonl(path))

    def convert(self, path: str) -> list[Example]:
        """The examples of a RULER file; a line that is not RULER's names file:line and why."""
        cap = self.config.num_samples if "num_samples" in self.config.model_fields_set else None
        examples: list[Example] = []
        for number, record in json_lines(path, "RULER data", f": {EXPECTED}", noun="lines"):
            if cap is not None and len(examples) >= cap:
                break
            examples.append(self._example(record, f"{path}:{number}"))
        return examples

    def _example(self, record: Any, where: str) -> Example:
        missing = [k for k in RULER_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise CtxlabError(f"{where} lacks the fields {missing}: {EXPECTED}")
        outputs, prompt = record["outputs"], record["input"]
        if not (isinstance(outputs, list) and outputs and all(isinstance(o, str) for o in outputs)):
            raise CtxlabError(f"{where}: 'outputs' must be a non-empty list of strings: {EXPECTED}")
        if not isinstance(prompt, str):
            raise CtxlabError(f"{where}: 'input' must be the prompt text: {EXPECTED}")
        task = self.config.ruler_task or detect_task(prompt)
        if task is None:
            raise CtxlabError(
                f"{where}: the prompt carries no RULER template's instruction "
                f"({', '.join(BUDGETS)}): name the task with --ruler-task NAME"
            )
        kept = ("length", "length_w_model_temp", "token_position_answer")
        return Example(
            id=f"ruler-{task}-{record['index']}",
            task=self.name,
            input=prompt,
            answers=list(outputs),
            answer_prefix=str(record.get("answer_prefix") or ""),
            meta={
                "variant": task,
                "metric": metric_of(task),
                "index": record["index"],
                **{k: record[k] for k in kept if k in record},
            },
        )

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        """The example's RULER metric, as `score` and under its own name."""
        metric = example.meta.get("metric") or metric_of(detect_task(example.input) or "niah")
        value = score_one(metric, prediction, example.answers)
        return {"score": value, metric: value}

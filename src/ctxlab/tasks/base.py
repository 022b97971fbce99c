"""What a task is: data plus a prompt plus a scoring rule, registered by name.

Tasks hold no model code. A task generates or loads `Example`s, renders one as chat messages
(with an optional assistant-turn prefix), gives its training target, and scores a prediction.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ctxlab.errors import CtxlabError


@dataclass
class Example:
    """One JSON line. `input` is the full user-turn text; `answers` the accepted strings."""

    id: str
    task: str
    input: str
    answers: list[str]
    answer_prefix: str = ""
    target: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        record = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(record, ensure_ascii=False)


class TaskConfig(BaseModel):
    """Settings every task shares; each task subclasses it with its own fields."""

    model_config = ConfigDict(extra="forbid")

    name: str = "niah"
    data: str | None = None
    num_samples: int = Field(20, ge=1)
    seed: int = 0
    pred_cleaning: str = "ruler"


class Task:
    """Base class: subclasses set the class attributes and implement `generate` and `score`."""

    name: ClassVar[str]
    config_class: ClassVar[type[TaskConfig]] = TaskConfig
    metrics: ClassVar[tuple[str, ...]]
    breakdown_keys: ClassVar[tuple[str, ...]] = ()
    max_new_tokens: ClassVar[int] = 128
    stop: ClassVar[tuple[str, ...]] = ()
    # Command-line flags of this task's config fields: flag -> argparse keyword arguments, with
    # `dest` the field name. `ctxlab data`/`eval` add them; values go to `task.<dest>`.
    cli_flags: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, config: TaskConfig):
        self.config = config

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        raise NotImplementedError

    def prompt(self, example: Example) -> tuple[list[dict], str]:
        """Chat messages and the assistant-turn prefix the model continues from."""
        return [{"role": "user", "content": example.input}], example.answer_prefix

    def target(self, example: Example) -> str:
        """What training teaches the model to write after the prompt."""
        return example.target if example.target is not None else ", ".join(example.answers)

    def clean_prediction(self, text: str) -> str:
        from ctxlab.cleaning import PRED_CLEANERS

        return PRED_CLEANERS[self.config.pred_cleaning](text)

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        raise NotImplementedError


TASKS: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    TASKS[cls.name] = cls
    return cls


def get_task_class(name: str) -> type[Task]:
    import ctxlab.tasks  # noqa: F401  (registers the built-in tasks)

    if name not in TASKS:
        raise CtxlabError(f"unknown task {name!r}: choose one of {', '.join(sorted(TASKS))}")
    return TASKS[name]


def answer_list(raw: dict) -> list[str]:
    """A record's accepted answers as a non-empty list of strings (a lone string is promoted);
    KeyError when the record has none, TypeError when they are not strings."""
    answers = raw["answers"]
    answers = [answers] if isinstance(answers, str) else answers
    strings = isinstance(answers, list) and all(isinstance(a, str) and a for a in answers)
    if not (strings and answers):
        raise TypeError(f"'answers' must be a non-empty list of strings, got {answers!r}")
    return list(answers)


def write_jsonl(path: str | Path, examples: Iterable[Example]) -> Path:
    """Write atomically: a crash leaves no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for example in examples:
            f.write(example.to_json() + "\n")
    tmp.replace(path)
    return path


def json_lines(
    path: Path, what: str, hint: str = "", noun: str = "records"
) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-empty line of a jsonl(.gz) file; a line that is
    not JSON (followed by `hint`), or a file without any line, fails naming the file (and line)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    empty = True
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                raise CtxlabError(f"{path}:{number} is not valid JSON ({err.msg}){hint}") from None
            empty = False
            yield number, raw
    if empty:
        raise CtxlabError(f"{what} file {path} holds no {noun}")


def read_jsonl(path: str | Path) -> list[Example]:
    """Read an examples file; a corrupt or incomplete line names the file, line and fix."""
    path = Path(path)
    if not path.is_file():
        raise CtxlabError(f"data file {path} does not exist: pass a .jsonl file from `ctxlab data`")
    examples = []
    hint = ": fix or delete that line, or regenerate the file with `ctxlab data`"
    for number, record in json_lines(path, "data", hint, noun="examples"):
        missing = (
            [k for k in ("id", "task", "input", "answers") if k not in record]
            if isinstance(record, dict)
            else ["id", "task", "input", "answers"]
        )
        if missing:
            raise CtxlabError(
                f"{path}:{number} lacks the fields {missing}: each line needs "
                "id, task, input and answers (see `ctxlab data`)"
            )
        answers = record["answers"]
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise CtxlabError(
                f"{path}:{number}: 'answers' must be a list of strings, got {answers!r}"
            )
        known = {k: record[k] for k in Example.__dataclass_fields__ if k in record}
        examples.append(Example(**known))
    return examples

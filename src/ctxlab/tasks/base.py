"""What a task is: data, a prompt, a training target and a scoring rule, found by name.

Tasks hold no model code. `Task` declares every hook a caller uses, each with a default, so no
caller probes a task with getattr or branches on its name. A task's settings are the fields of
its `config_class`: a field's `description` is its flag's help, and `json_schema_extra=
{"aliases": [...]}` names flags other than `--field-name` (on a bool field an alias `--no-x`
sets it False).

Tasks are found, not listed: every module of this package is imported (a task module registers
its class with `@register`), and another package adds tasks through the `ctxlab.tasks` entry
point group, whose entries are loaded only when asked for. The entry's name is the task's name;
its value is a `Task` subclass or a module that registers one:

    [project.entry-points."ctxlab.tasks"]
    echo = "echo_pkg:EchoTask"
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ctxlab.errors import CtxlabError
from ctxlab.io import json_lines
from ctxlab.prompts import GenerationRequest

ENTRY_POINT_GROUP = "ctxlab.tasks"
PredCleaning = Literal["ruler", "flag", "none"]
# Descriptions of fields that subclasses redeclare with their own defaults.
NAME_HELP = "the task's registered name"
PRED_CLEANING_HELP = (
    "cleaning of a completion before scoring: ruler (strip, control characters to newlines), "
    "flag (first line only) or none"
)


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

    name: str = Field("niah", description=NAME_HELP)
    data: str | None = Field(
        None, description="a jsonl file of examples (from `ctxlab data`) instead of generating them"
    )
    num_samples: int = Field(20, ge=1, description="examples per setting of the sweep")
    seed: int = Field(0, description="seed of the examples: the same seed, the same examples")
    pred_cleaning: PredCleaning = Field("ruler", description=PRED_CLEANING_HELP)


class Task:
    """Base class: subclasses set `name`, `config_class` and `metrics` (the first is the headline
    one) and implement `generate` and `score`; every other hook has a default."""

    name: ClassVar[str]
    config_class: ClassVar[type[TaskConfig]] = TaskConfig
    metrics: ClassVar[tuple[str, ...]]
    breakdown_keys: ClassVar[tuple[str, ...]] = ()
    # Generation defaults; a subclass may derive them from its config as properties (multidoc).
    max_new_tokens: ClassVar[int] = 128
    stop: ClassVar[tuple[str, ...]] = ()
    # Whether `step_verdicts` judges the steps of a prediction (solver-checked proofs).
    has_step_verdicts: ClassVar[bool] = False
    # A solver checks this task's answers (`verify`, `ctxlab verify --task NAME`).
    verifiable: ClassVar[bool] = False

    def __init__(self, config: TaskConfig):
        self.config = config

    def generate(self, tokenizer=None, max_length: int | None = None) -> list[Example]:
        raise NotImplementedError

    def read_data(self, path: str) -> list[Example]:
        """The examples of a data file (`--data`): an examples jsonl by default; a task may also
        read its own source format."""
        return self.own_examples(path, read_jsonl(path))

    def own_examples(self, path: str, examples: list[Example]) -> list[Example]:
        """The examples read from `path`, refused when any belongs to another task."""
        other = sorted({e.task for e in examples if e.task != self.name})
        if other:
            raise CtxlabError(
                f"{path} holds {other[0]!r} examples but the task is {self.name!r}: "
                f"pass --task {other[0]}"
            )
        return examples

    def prompt(self, example: Example) -> tuple[list[dict], str]:
        """Chat messages and the assistant-turn prefix the model continues from."""
        return [{"role": "user", "content": example.input}], example.answer_prefix

    def requests(
        self, examples: Sequence[Example], max_new_tokens: int | None = None
    ) -> list[GenerationRequest]:
        """One generation request per example: its prompt, the task's stop strings, and the
        task's token budget unless `max_new_tokens` is given."""
        budget = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        return [GenerationRequest(*self.prompt(e), self.stop, budget) for e in examples]

    def target(self, example: Example) -> str:
        """What training teaches the model to write after the prompt."""
        return example.target if example.target is not None else ", ".join(example.answers)

    def scratchpad_target(self, example: Example) -> str:
        """What `--method scratchpad` teaches: the steps to the answer, then the answer."""
        raise CtxlabError(
            f"task {self.name!r} defines no scratchpad target: use --method sft for it"
        )

    def clean_prediction(self, text: str) -> str:
        from ctxlab.cleaning import PRED_CLEANERS

        return PRED_CLEANERS[self.config.pred_cleaning](text)

    def score(self, prediction: str, example: Example) -> dict[str, float]:
        raise NotImplementedError

    def score_batch(
        self, examples: Sequence[Example], texts: Sequence[str]
    ) -> list[tuple[str, dict[str, float]]]:
        """(cleaned prediction, scores) of each example's raw completion."""
        if len(examples) != len(texts):
            raise ValueError(f"{len(examples)} examples but {len(texts)} completions")
        scored = []
        for example, text in zip(examples, texts):
            prediction = self.clean_prediction(text)
            scored.append((prediction, self.score(prediction, example)))
        return scored

    def step_verdicts(self, prediction: str, example: Example) -> list[tuple[str, bool]]:
        """Each step of a prediction and whether it is valid (tasks with `has_step_verdicts`)."""
        raise CtxlabError(
            f"task {self.name!r} gives no per-step verdicts: step-level pairs need a task "
            "whose predictions are checked step by step (prontoqa)"
        )

    def verify(
        self,
        examples: list[Example],
        predictions: dict[str, str] | None,
        *,
        timeout_ms: int = 5000,
        strict: bool = False,
        progress: bool = True,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Check the gold answers (or `predictions` by example id) with the task's solver:
        (results: metrics, intervals and what failed; one verdict a problem). Tasks with
        `verifiable` implement it."""
        raise CtxlabError(f"task {self.name!r} has no solver to check its answers with")

    def verify_summary(self, results: dict[str, Any], show: int) -> list[str]:
        """The lines `ctxlab verify` prints about `verify`'s results (up to `show` failures)."""
        return [", ".join(f"{k} {v:.2f}" for k, v in results["metrics"].items())]

    def explain(self, prediction: str, example: Example) -> list[str]:
        """Why a prediction was judged wrong, for reports; empty when the task gives no reasons
        (or finds none)."""
        return []

    def leak_key(self, example: Example) -> str:
        """What must not appear in both the training and the test data: the prompt by default;
        a task whose inputs rephrase one answer (dot: the graph's structure) names that."""
        return example.input

    def report_section(self, run_dir: Path, records: Sequence[dict]) -> list[str]:
        """Extra Markdown for an eval run's report from its prediction records (dot: renders
        and error classes); empty by default."""
        return []


TASKS: dict[str, type[Task]] = {}
_scanned = False
_entries: dict[str, EntryPoint] | None = None
_loaded: set[str] = set()  # entry points loaded, i.e. the tasks they registered


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: make a task findable by its `name`."""
    taken = TASKS.get(cls.name)
    if taken is not None and taken is not cls:
        raise CtxlabError(
            f"task name {cls.name!r} is taken by {taken.__module__}.{taken.__qualname__}: "
            f"rename {cls.__module__}.{cls.__qualname__}"
        )
    TASKS[cls.name] = cls
    return cls


def _scan() -> None:
    """Import every module of this package once (task modules register themselves)."""
    global _scanned
    if _scanned:
        return
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__package__}.{module.name}")
    _scanned = True


def _entry_points() -> dict[str, EntryPoint]:
    global _entries
    if _entries is None:
        _entries = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return _entries


def _load(entry: EntryPoint) -> None:
    """Load one entry point, which must register a task of its own name."""
    where = f"task entry point {entry.name!r} ({entry.value}"
    where += f", from {entry.dist.name})" if entry.dist is not None else ")"
    try:
        value = entry.load()
    except Exception as err:
        raise CtxlabError(
            f"{where} fails to load ({type(err).__name__}: {err}): fix or uninstall that package"
        ) from None
    if isinstance(value, type) and issubclass(value, Task):
        register(value)
    if entry.name not in TASKS:
        raise CtxlabError(
            f"{where} registers no task named {entry.name!r}: point it at a Task subclass "
            "with that name, or at a module that registers one"
        )
    _loaded.add(entry.name)


def task_names() -> list[str]:
    """The names of all tasks, built in and installed, without loading installed ones."""
    _scan()
    return sorted(set(TASKS) | set(_entry_points()))


def all_tasks() -> dict[str, type[Task]]:
    """Every task by name, loading the installed ones."""
    _scan()
    for name, entry in _entry_points().items():
        if name not in _loaded:
            _load(entry)
    return {name: TASKS[name] for name in sorted(TASKS)}


def get_task_class(name: str) -> type[Task]:
    _scan()
    if name not in TASKS and name in _entry_points():
        _load(_entry_points()[name])
    if name not in TASKS:
        raise CtxlabError(f"unknown task {name!r}: choose one of {', '.join(task_names())}")
    return TASKS[name]


def reset_discovery() -> None:
    """Forget the entry points read so far and the tasks they registered, so the next lookup
    reads the installed packages again (for tests, or after installing a task package)."""
    global _entries
    for name in _loaded:
        TASKS.pop(name, None)
    _loaded.clear()
    _entries = None


def answer_list(raw: dict) -> list[str]:
    """A record's accepted answers as a non-empty list of strings (a lone string is promoted);
    KeyError when the record has none, TypeError when they are not strings."""
    answers = raw["answers"]
    answers = [answers] if isinstance(answers, str) else answers
    strings = isinstance(answers, list) and all(isinstance(a, str) and a for a in answers)
    if not (strings and answers):
        raise TypeError(f"'answers' must be a non-empty list of strings, got {answers!r}")
    return list(answers)


def is_examples_file(path: str | Path) -> bool:
    """True when the file's first record is a ctxlab example (id, task, input, answers)."""
    path = Path(path)
    if not path.is_file() or path.suffix == ".gz":
        return True  # read_jsonl reports a missing or compressed file itself
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(first, dict) and {"id", "task", "input", "answers"} <= set(first)
    return True


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

"""The task contract: every registered task, built in or installed, honours the hooks on `Task`.

The contract test is parametrized over the discovered task names, so a new task file is covered
without editing this one (a task that needs a data file gets its settings in `SETTINGS`).
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from ctxlab.errors import CtxlabError
from ctxlab.io import write_jsonl
from ctxlab.prompts import GenerationRequest
from ctxlab.tasks.base import (
    Example,
    Task,
    all_tasks,
    get_task_class,
    read_jsonl,
    register,
    reset_discovery,
    task_names,
)
from ctxlab.tasks.multidoc import MultidocConfig, MultidocTask, question_request, render_prompt

BEST = 100.0  # every metric is a percentage

# Small settings per task; a value naming a fixture is that fixture's path (data from the shared
# folder, skipped when it is missing). A task not listed runs with its config's defaults.
SETTINGS = {
    "niah": {"variants": ["niah_single_1", "niah_multivalue"], "lengths": [512]},
    "kv": {"num_keys": [5], "gold_positions": "0,4"},
    "qa": {"source": "oracle", "lengths": [512]},
    "multidoc": {"source": "oracle", "num_docs": [3], "gold_positions": "0,2"},
    "prontoqa": {"hops": [1, 3]},
    "folio": {"source": "folio_validation"},
    "ruler": {"source": "ruler_prepared"},
}
FILE_FIXTURES = ("oracle", "folio_validation", "ruler_prepared")


@pytest.fixture(scope="session")
def folio_validation(shared_data) -> Path:
    path = shared_data / "folio/folio-validation.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is missing (shared FOLIO data)")
    return path


@pytest.fixture(scope="session")
def ruler_prepared(tmp_path_factory) -> Path:
    """Two lines as RULER's prepare.py writes them: a needle and a QA question."""
    needle = (
        "A special magic number is hidden within the following text.\nOne of the special magic "
        "numbers for red-cup is: 7654321.\nWhat is the special magic number for red-cup "
        "mentioned in the provided text?"
    )
    qa = "Answer the question based on the given documents.\n\nDocument 1:\nIt is Oslo.\n\nQ?"
    rows = [
        {"index": 0, "input": needle, "outputs": ["7654321"], "length": 40, "answer_prefix": ""},
        {"index": 1, "input": qa, "outputs": ["Oslo", "Norway"], "length": 30},
    ]
    path = tmp_path_factory.mktemp("ruler") / "validation.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make(name: str, request, **extra) -> Task:
    """Task `name` with its small settings (fixture names resolved) and 2 samples."""
    settings = {"num_samples": 2, **SETTINGS.get(name, {}), **extra}
    if settings.get("source") in FILE_FIXTURES:
        settings["source"] = str(request.getfixturevalue(settings["source"]))
    cls = get_task_class(name)
    return cls(cls.config_class(name=name, **settings))


@pytest.mark.parametrize("name", task_names())
def test_task_contract(name, request, tokenizer, tmp_path):
    tok, max_length = tokenizer
    task = make(name, request)
    examples = task.generate(tok, max_length)
    assert examples and all(e.task == name for e in examples)
    assert len({e.id for e in examples}) == len(examples)

    path = write_jsonl(tmp_path / f"{name}.jsonl", examples)
    assert read_jsonl(path) == examples
    assert task.read_data(str(path)) == examples

    for example in examples:
        messages, prefix = task.prompt(example)
        assert messages and all(set(m) == {"role", "content"} for m in messages)
        assert isinstance(prefix, str)

    requests = task.requests(examples)
    assert all(isinstance(r, GenerationRequest) for r in requests)
    assert [(r.messages, r.assistant_prefix) for r in requests] == [
        task.prompt(e) for e in examples
    ]
    assert all(r.stop == task.stop and r.max_new_tokens == task.max_new_tokens for r in requests)
    assert {r.max_new_tokens for r in task.requests(examples, max_new_tokens=7)} == {7}

    top = task.metrics[0]
    gold = task.score_batch(examples, [task.target(e) for e in examples])
    empty = task.score_batch(examples, [""] * len(examples))
    for (prediction, scores), (_, nothing) in zip(gold, empty):
        assert isinstance(prediction, str) and set(task.metrics) <= set(scores)
        assert scores[top] == BEST and nothing[top] < BEST

    example = examples[0]
    assert task.explain(task.target(example), example) == []
    if task.has_step_verdicts:
        verdicts = task.step_verdicts(task.target(example), example)
        assert verdicts and all(isinstance(s, str) and ok for s, ok in verdicts)
        assert task.explain("", example)  # a wrong prediction has reasons
    else:
        with pytest.raises(CtxlabError, match=f"task {name!r} gives no per-step verdicts"):
            task.step_verdicts(task.target(example), example)
    try:
        assert task.scratchpad_target(example)
    except CtxlabError as err:
        assert "--method sft" in str(err)


@pytest.mark.parametrize("name", task_names())
def test_config_fields_describe_their_flags(name):
    cls = get_task_class(name)
    assert not hasattr(cls, "cli_flags")  # flags come from the config's fields
    for field_name, info in cls.config_class.model_fields.items():
        assert info.description, f"{cls.config_class.__name__}.{field_name} has no description"
        aliases = (info.json_schema_extra or {}).get("aliases", [])
        assert all(re.fullmatch(r"--[a-z][a-z0-9-]*", a) for a in aliases), aliases


def test_flag_aliases_where_the_field_name_differs():
    def aliases(name: str, field_name: str) -> list[str]:
        info = get_task_class(name).config_class.model_fields[field_name]
        return (info.json_schema_extra or {})["aliases"]

    assert aliases("niah", "variants") == ["--variant"]
    assert aliases("niah", "lengths") == aliases("qa", "lengths") == ["--context-length"]
    assert aliases("qa", "add_distractors") == ["--no-distractors"]


@pytest.mark.parametrize("name", task_names())
def test_read_data_refuses_another_tasks_examples(name, tmp_path):
    cls = get_task_class(name)
    task = cls(cls.config_class(name=name))
    other = Example(id="x-0", task="someone_else", input="Q?", answers=["A"])
    path = write_jsonl(tmp_path / "other.jsonl", [other])
    message = f"{path} holds 'someone_else' examples but the task is {name!r}: "
    with pytest.raises(CtxlabError, match=re.escape(message + "pass --task someone_else")):
        task.read_data(str(path))


def test_default_hooks_refuse_or_stay_silent():
    cls = get_task_class("kv")
    task = cls(cls.config_class(num_samples=1, num_keys=[5], gold_positions="0"))
    example = task.generate()[0]
    with pytest.raises(
        CtxlabError,
        match=re.escape("task 'kv' defines no scratchpad target: use --method sft for it"),
    ):
        task.scratchpad_target(example)
    assert not task.has_step_verdicts
    with pytest.raises(CtxlabError, match="task 'kv' gives no per-step verdicts"):
        task.step_verdicts("anything", example)
    assert task.explain("wrong", example) == []
    with pytest.raises(ValueError, match="1 examples but 2 completions"):
        task.score_batch([example], ["a", "b"])


def test_prontoqa_explains_with_the_proof_checker():
    from ctxlab.solvers.proofs import check_proof

    task = get_task_class("prontoqa")(get_task_class("prontoqa").config_class(num_samples=1))
    example = task.generate()[0]
    label = example.answers[0]
    other = "FALSE" if label == "TRUE" else "TRUE"
    wrong = example.target.replace(f"Conclusion: {label}", f"Conclusion: {other}")
    assert task.explain(wrong, example) == check_proof(wrong, example).errors
    assert task.explain(wrong, example) == [f"label {other}, gold {label}"]
    assert task.explain("no proof", example)[0] == "no proof steps"


def test_multidoc_and_rag_ask_the_same_request():
    from ctxlab.rag.index import Chunk, Hit
    from ctxlab.rag.pipeline import MAX_NEW_TOKENS, STOP, request

    documents = [("Paris", "Paris is the capital of France."), ("Rome", "Rome is in Italy.")]
    example = Example(
        id="m-0", task="multidoc", input=render_prompt("capital?", documents), answers=["Paris"]
    )
    for scratchpad in (False, True):
        task = MultidocTask(MultidocConfig(last_answer_only=scratchpad))
        asked = question_request("capital?", documents, scratchpad=scratchpad)
        assert task.requests([example]) == [asked]
        hits = [Hit(i, i, 1.0, Chunk(text, title)) for i, (title, text) in enumerate(documents)]
        assert request("capital?", hits, scratchpad=scratchpad) == asked
    assert (STOP, MAX_NEW_TOKENS) == (("\n",), 100)


# --- discovery ----------------------------------------------------------------------------

ECHO_MODULE = '''
"""A third-party task: repeat a word."""

from typing import Literal

from pydantic import Field

from ctxlab.tasks.base import Example, Task, TaskConfig, register


class EchoConfig(TaskConfig):
    name: Literal["echo_test"] = Field("echo_test", description="the task's name")
    word: str = Field("hello", description="the word to repeat")


@register
class EchoTask(Task):
    name = "echo_test"
    config_class = EchoConfig
    metrics = ("exact",)

    def generate(self, tokenizer=None, max_length=None):
        word = self.config.word
        return [
            Example(id=f"echo-{i}", task=self.name, input=f"Say {word}.", answers=[word])
            for i in range(self.config.num_samples)
        ]

    def score(self, prediction, example):
        return {"exact": 100.0 if prediction == example.answers[0] else 0.0}
'''


def install(root: Path, package: str, modules: dict[str, str], entries: dict[str, str]) -> None:
    """A package installed into `root` as pip would: its modules and a dist-info folder that
    declares `entries` in the `ctxlab.tasks` entry point group."""
    for name, text in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(text), encoding="utf-8")
    info = root / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[ctxlab.tasks]\n{lines}", encoding="utf-8")


@pytest.fixture
def installed(tmp_path):
    """Put `tmp_path` on sys.path for one test; afterwards forget what was found there."""
    modules_before = set(sys.modules)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))
        reset_discovery()
        yield tmp_path
    reset_discovery()
    for name in set(sys.modules) - modules_before:
        if name.startswith(("echo_pkg", "broken_pkg")):
            del sys.modules[name]


def test_entry_point_task_is_found_without_editing_ctxlab(tmp_path):
    install(tmp_path, "echo_pkg", {"echo_pkg": ECHO_MODULE}, {"echo_test": "echo_pkg:EchoTask"})
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))
        reset_discovery()
        try:
            assert "echo_test" in task_names()
            assert "echo_pkg" not in sys.modules  # listed, not loaded
            cls = get_task_class("echo_test")
            assert (cls.__module__, cls.__name__) == ("echo_pkg", "EchoTask")
            assert all_tasks()["echo_test"] is cls and get_task_class("echo_test") is cls
            task = cls(cls.config_class(num_samples=2, word="bee"))
            examples = task.generate()
            assert task.requests(examples)[0].messages[0]["content"] == "Say bee."
            assert task.score_batch(examples, [" bee\n", "wasp"]) == [
                ("bee", {"exact": 100.0}),
                ("wasp", {"exact": 0.0}),
            ]
        finally:
            reset_discovery()
            sys.modules.pop("echo_pkg", None)
    # The discovery cache is reset: other tests see only what is installed.
    assert "echo_test" not in task_names()
    with pytest.raises(CtxlabError, match="unknown task 'echo_test': choose one of .*niah"):
        get_task_class("echo_test")


def test_broken_entry_points_fail_in_one_line_naming_them(installed):
    modules = {
        "broken_pkg": "raise ImportError('needs a missing library')\n",
        "broken_pkg_other": "from ctxlab.tasks.base import Task\nVALUE = 3\n",
    }
    entries = {"broken_test": "broken_pkg:Task", "wrong_test": "broken_pkg_other:VALUE"}
    install(installed, "broken_pkg", modules, entries)
    assert get_task_class("niah").name == "niah"  # installed entries load only when asked for
    assert {"broken_test", "wrong_test"} <= set(task_names())
    with pytest.raises(CtxlabError) as err:
        get_task_class("broken_test")
    assert str(err.value) == (
        "task entry point 'broken_test' (broken_pkg:Task, from broken_pkg) fails to load "
        "(ImportError: needs a missing library): fix or uninstall that package"
    )
    with pytest.raises(CtxlabError, match=r"'wrong_test' \(broken_pkg_other:VALUE.*registers no"):
        get_task_class("wrong_test")
    with pytest.raises(CtxlabError, match="task entry point"):
        all_tasks()


def test_a_task_name_is_registered_once():
    class Impostor(Task):
        name = "niah"

    with pytest.raises(
        CtxlabError, match="task name 'niah' is taken by ctxlab.tasks.niah.NiahTask"
    ):
        register(Impostor)
    assert get_task_class("niah").__name__ == "NiahTask"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--task", "kv", "--num-keys", "10,20", "--gold-positions", "0,9"],
            {"num_keys": [10, 20]},
        ),
        (
            ["--task", "multidoc", "--num-docs", "5,10", "--gold-positions", "0,4"],
            {"num_docs": [5, 10]},
        ),
        (["--task", "prontoqa", "--hops", "1-3"], {"hops": [1, 2, 3]}),
        (["--lengths", "512,1024", "--depths", "0,50"], {"lengths": [512, 1024]}),
    ],
)
def test_comma_list_flags_reach_the_task_config(argv, expected):
    """Flags come in as strings: every task's list fields must take them as the CLI gives them."""
    import argparse

    from ctxlab.cli.common import preset_task, task_flags
    from ctxlab.cli.flags import updates
    from ctxlab.recipes import preset_config

    parser = argparse.ArgumentParser()
    parser.add_argument("--task")
    keys = task_flags(parser, preset_task(argv))
    args = parser.parse_args(argv)
    given = updates(args, keys) | ({"task.name": args.task} if args.task else {})
    task = preset_config(None, (), "eval", given).task
    assert {k: getattr(task, k) for k in expected} == expected

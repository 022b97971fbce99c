"""RULER's prepared data (lines as its prepare.py writes them, by hand here): the ruler task reads
them with the task's metric, answer prefix and meta, and scores as RULER's string_match_all and
string_match_part do."""

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from ctxlab.api import build_config
from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.io import write_jsonl
from ctxlab.stats import breakdown, summarize
from ctxlab.tasks.qa import TEMPLATE as QA_TEMPLATE
from ctxlab.tasks.ruler import detect_task, is_ruler_file

SINGLE = (
    "A special magic number is hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the number afterwards.\nThe grass is green. The sky is blue.\n"
    "One of the special magic numbers for shiny-kettle is: 1234567.\nThe sun is yellow.\n"
    "What is the special magic number for shiny-kettle mentioned in the provided text?"
)
MULTI = (
    "Some special magic numbers are hidden within the following text. Make sure to memorize it. "
    "I will quiz you about the numbers afterwards.\nOne of the special magic numbers for "
    "brave-lamp is: 2345678.\nHere we go.\nOne of the special magic numbers for brave-lamp is: "
    "3456789.\nWhat are all the special magic numbers for brave-lamp mentioned in the provided "
    "text?"
)
QA = QA_TEMPLATE.format(
    context="Document 1:\nThe quill beetle lives in Paris.\n\nDocument 2:\nMoss grows slowly.",
    query="where does the quill beetle live?",
)
VT = (
    "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"
    "VAR ABCDE = 12345\nVAR FGHIJ = VAR ABCDE\n"
    "Question: Find all variables that are assigned the value 12345 in the text above."
)


def line(index: int, prompt: str, outputs: list[str], length: int, prefix: str | None) -> dict:
    row = {"index": index, "input": prompt, "outputs": outputs, "length": length}
    row["length_w_model_temp"] = length + 12
    if prefix is not None:
        row["answer_prefix"] = prefix
    return row


NIAH_LINES = [
    line(
        0,
        SINGLE,
        ["1234567"],
        96,
        " The special magic number for shiny-kettle mentioned in the provided text is",
    ),
    line(
        1,
        MULTI,
        ["2345678", "3456789"],
        128,
        " The special magic numbers for brave-lamp mentioned in the provided text are",
    ),
]
QA_LINES = [line(0, QA, ["Paris", "the city of Paris"], 64, " Answer:")]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ruler(**options):
    return make_task(build_config(task="ruler", **options))


def test_lines_become_examples_with_their_metric_prefix_and_meta(tmp_path: Path):
    niah = write(tmp_path / "niah.jsonl", NIAH_LINES)
    qa = write(tmp_path / "qa.jsonl", QA_LINES)
    single, multi = ruler().read_data(str(niah))
    (question,) = ruler().read_data(str(qa))
    assert (single.id, single.task, single.input, single.answers) == (
        "ruler-niah-0",
        "ruler",
        SINGLE,
        ["1234567"],
    )
    assert single.answer_prefix == NIAH_LINES[0]["answer_prefix"]
    assert single.meta == {
        "variant": "niah",
        "metric": "string_match_all",
        "index": 0,
        "length": 96,
        "length_w_model_temp": 108,
    }
    assert multi.id == "ruler-niah-1" and multi.meta["length"] == 128
    assert question.meta["variant"] == "qa" and question.meta["metric"] == "string_match_part"
    assert ruler().prompt(question) == ([{"role": "user", "content": QA}], " Answer:")
    assert ruler(data=str(niah)).max_new_tokens == 128


def test_scores_follow_rulers_metrics(tmp_path: Path):
    task = ruler()
    examples = task.read_data(str(write(tmp_path / "niah.jsonl", NIAH_LINES)))
    examples += task.read_data(str(write(tmp_path / "qa.jsonl", QA_LINES)))
    predictions = [" 1234567.", "2345678 and 9999999", "It lives in paris."]
    scored = task.score_batch(examples, predictions)
    assert [s for _, s in scored] == [
        {"score": 100.0, "string_match_all": 100.0},
        {"score": 50.0, "string_match_all": 50.0},  # one of two values found
        {"score": 100.0, "string_match_part": 100.0},  # one accepted answer is enough
    ]
    assert scored[0][0] == "1234567."  # RULER's cleaning: stripped
    assert task.score("London", examples[2]) == {"score": 0.0, "string_match_part": 0.0}
    records = [{"meta": e.meta, "scores": s} for e, (_, s) in zip(examples, scored)]
    assert summarize(records, task.metrics)["metrics"] == {"score": pytest.approx(250 / 3)}
    rows = breakdown(records, task.breakdown_keys, task.metrics)
    assert [(r["variant"], r["length"], r["score"]) for r in rows] == [
        ("niah", 96, 100.0),
        ("niah", 128, 50.0),
        ("qa", 64, 100.0),
    ]


def test_ruler_task_names_the_task_and_its_budget(tmp_path: Path):
    path = write(tmp_path / "niah.jsonl", NIAH_LINES)
    task = ruler(ruler_task="qa_1")
    assert task.max_new_tokens == 32
    examples = task.read_data(str(path))
    assert [e.meta["metric"] for e in examples] == ["string_match_part"] * 2
    assert examples[0].id == "ruler-qa_1-0"
    assert ruler(ruler_task="vt").max_new_tokens == 30
    unknown = "config key 'task.ruler_task' value error, unknown RULER task 'needle': choose from"
    with pytest.raises(CtxlabError, match=re.escape(unknown)):
        ruler(ruler_task="needle")


def test_every_template_is_detected():
    assert [detect_task(p) for p in (SINGLE, MULTI, QA, VT, "Say hello.")] == [
        "niah",
        "niah",
        "qa",
        "vt",
        None,
    ]


def test_source_data_round_trip_and_older_files_without_prefix(tmp_path: Path):
    rows = [line(5, SINGLE, ["1234567"], 96, None), line(9, VT, ["ABCDE", "FGHIJ"], 40, None)]
    path = write(tmp_path / "old.jsonl", rows)
    examples = ruler(source=str(path)).generate()
    assert [(e.id, e.answer_prefix) for e in examples] == [("ruler-niah-5", ""), ("ruler-vt-9", "")]
    assert len(ruler(source=str(path), num_samples=1).generate()) == 1
    converted = write_jsonl(tmp_path / "examples.jsonl", examples)
    assert not is_ruler_file(str(converted)) and is_ruler_file(str(path))
    assert ruler().read_data(str(converted)) == examples


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"index": 0, "input": "Say hello.", "outputs": ["hello"]}, "--ruler-task NAME"),
        ({"index": 0, "input": SINGLE, "outputs": []}, "'outputs' must be a non-empty list"),
        ({"index": 0, "input": SINGLE, "outputs": "1234567"}, "'outputs' must be a non-empty"),
    ],
)
def test_bad_lines_name_file_line_and_fix(tmp_path: Path, row, message):
    path = write(tmp_path / "bad.jsonl", [NIAH_LINES[0], row])
    with pytest.raises(CtxlabError, match=re.escape(f"{path}:2") + ".*" + re.escape(message)):
        ruler().read_data(str(path))
    missing = write(tmp_path / "missing.jsonl", [NIAH_LINES[0], {"index": 3, "input": SINGLE}])
    with pytest.raises(CtxlabError, match=re.escape(f"{missing}:2 lacks the fields ['outputs']")):
        ruler(source=str(missing)).generate()
    with pytest.raises(
        CtxlabError, match="the ruler task reads RULER's prepared data: pass --data"
    ):
        ruler().generate()


def test_eval_run_on_ruler_files(tmp_path: Path, tiny_model_dir: Path):
    """`ctxlab eval --task ruler --data FILE` end to end on the tiny random model: the run's
    results hold `score` broken down by RULER task and length, and its report is written."""
    data = write(tmp_path / "mixed.jsonl", NIAH_LINES + [{**QA_LINES[0], "index": 7}])
    runs = tmp_path / "runs"
    argv = ["eval", "--task", "ruler", "--data", str(data), "--model", str(tiny_model_dir)]
    argv += ["--max-new-tokens", "4", "--runs-dir", str(runs), "--no-progress"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(argv) == 0
    assert "ruler: score" in out.getvalue()
    run = runs / "eval" / "latest"
    results = json.loads((run / "results.json").read_text())
    assert set(results["metrics"]) == {"score"} and results["breakdown_keys"] == [
        "variant",
        "length",
    ]
    assert [(r["variant"], r["length"]) for r in results["breakdown"]] == [
        ("niah", 96),
        ("niah", 128),
        ("qa", 64),
    ]
    predictions = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    assert [p["meta"]["metric"] for p in predictions] == ["string_match_all"] * 2 + [
        "string_match_part"
    ]
    assert (run / "report.md").is_file()


def test_niah_and_qa_point_a_ruler_file_at_the_ruler_task(tmp_path: Path):
    data = write(tmp_path / "niah.jsonl", NIAH_LINES)
    for name in ("niah", "qa"):
        with pytest.raises(CtxlabError, match="RULER's prepared data .* pass --task ruler"):
            make_task(build_config(task=name)).read_data(str(data))

"""multidoc: the paper's metric and prompts, the context builder, question pools, scratchpads."""

import gzip
import json
from pathlib import Path

import pytest

from ctxlab.api import build_config
from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.metrics import best_subspan_em, best_subspan_hit, normalize_answer
from ctxlab.tasks.multidoc import final_answer, format_document, render_prompt
from ctxlab.tasks.multidoc_data import evidence_sentence, load_records, partition
from ctxlab.training.data import training_target


def _task(**options):
    return make_task(build_config(task="multidoc", **options))


def _records_file(oracle: Path, path: Path, n: int = 40) -> Path:
    """The first n oracle records, as a small records file."""
    with gzip.open(oracle, "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


# --- metric parity with lost-in-the-middle (metrics.py + evaluate_qa_responses.py) ---------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Beatles!", "beatles"),
        ("A tale of an apple", "tale of apple"),
        ("U.S.A.", "usa"),
        ("Théâtre, the end", "théâtre end"),
        ("  Answer:\tthe\n\nthe ", "answer"),
        ("another", "another"),  # articles only as whole words
    ],
)
def test_normalize_answer_is_squad(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("prediction", "answers", "hit"),
    [
        ("Wilhelm Conrad Röntgen won it.", ["Wilhelm Conrad Röntgen"], 1.0),
        ("wilhelm conrad röntgen", ["Wilhelm Conrad Röntgen"], 1.0),  # case
        ("It was the Beatles.", ["Beatles", "The Fab Four"], 1.0),  # any answer
        ("Röntgen", ["Wilhelm Conrad Röntgen"], 0.0),  # answer must be inside the prediction
        ("I think\nWilhelm Conrad Röntgen", ["Wilhelm Conrad Röntgen"], 0.0),  # first line only
        ("  Paris  \nLondon", ["paris"], 1.0),
        ("\nParis", ["Paris"], 0.0),  # an empty first line scores 0, as in the paper
        ("in 1,901", ["1901"], 1.0),  # punctuation dropped on both sides
        ("18 April", ["April 18"], 0.0),
    ],
)
def test_best_subspan_em_matches_the_paper(prediction, answers, hit):
    assert best_subspan_hit(prediction, answers) == hit
    assert best_subspan_em(prediction, answers) == 100.0 * hit


def test_best_subspan_em_mean_in_percent():
    assert best_subspan_em(["Paris", "Rome", "the Paris"], [["paris"], ["paris"], ["Paris"]]) == (
        pytest.approx(200 / 3)
    )
    with pytest.raises(ValueError):
        best_subspan_em(["a"], [[]])


# --- prompts: the paper's test_prompting.py strings -------------------------------------

DOCS = [("first doc", "first doc text"), ("second doc", "second doc text")]
INSTRUCTION = (
    "Write a high-quality answer for the given question using only the provided search "
    "results (some of which might be irrelevant)."
)
RESULTS = (
    "Document [1](Title: first doc) first doc text\nDocument [2](Title: second doc) second doc text"
)


def test_prompts_are_the_papers():
    q = "test question"
    assert render_prompt(q, DOCS) == f"{INSTRUCTION}\n\n{RESULTS}\n\nQuestion: {q}\nAnswer:"
    assert render_prompt(q, DOCS, "qa_with_query_aware_contextualization") == (
        f"{INSTRUCTION}\n\nQuestion: {q}\n\n{RESULTS}\n\nQuestion: {q}\nAnswer:"
    )
    assert render_prompt(q, DOCS, "closedbook") == f"Question: {q}\nAnswer:"
    with pytest.raises(CtxlabError, match="no documents"):
        render_prompt(q, [])


# --- the builder -----------------------------------------------------------------------


def test_builder_places_gold_and_never_leaks_answers(oracle):
    task = _task(source=str(oracle), num_docs="10", gold_positions="0,4,9", num_samples=12)
    examples = task.generate()
    assert len(examples) == 36
    assert sorted({e.meta["gold_position"] for e in examples}) == [0, 4, 9]
    by_question: dict[str, list] = {}
    for e in examples:
        lines = [ln for ln in e.input.split("\n") if ln.startswith("Document [")]
        assert len(lines) == 10 == e.meta["num_docs"]
        gold = e.meta["gold_position"]
        assert lines[gold].startswith(f"Document [{gold + 1}](Title: {e.meta['gold_title']}) ")
        answers = [normalize_answer(a) for a in e.answers if normalize_answer(a)]
        for k, line in enumerate(lines):
            if k != gold:
                assert not any(a in normalize_answer(line) for a in answers), (e.id, k)
        by_question.setdefault(e.id[-5:], []).append((gold, lines))
    # the same question and distractors at each position: only the gold moves
    for versions in by_question.values():
        others = [
            [ln.split(")", 1)[1] for k, ln in enumerate(lines) if k != g] for g, lines in versions
        ]
        assert others[0] == others[1] == others[2]
    # stable: example i depends only on (seed, i)
    again = _task(source=str(oracle), num_docs="10", gold_positions="0,4,9", num_samples=3)
    assert [e.input for e in again.generate()[:3]] == [e.input for e in examples[:3]]


def test_eval_splits_and_position_modes(oracle):
    common = {"source": str(oracle), "num_docs": "5", "num_samples": 10}
    gold_only = _task(eval_split="val_pos", **common).generate()
    assert len(gold_only) == 10 and all(e.input.count("Document [") == 1 for e in gold_only)
    closed = _task(eval_split="closedbook", **common).generate()
    assert all(e.input.startswith("Question: ") and "Document" not in e.input for e in closed)
    balanced = _task(gold_positions="balanced", **common).generate()
    assert [e.meta["gold_position"] for e in balanced] == [0, 1, 2, 3, 4] * 2
    assert len({e.id[-5:] for e in balanced}) == 10  # one question each
    every = _task(gold_positions="all", **common).generate()
    assert len(every) == 50
    with pytest.raises(CtxlabError, match="does not fit in 5 documents"):
        _task(gold_positions="0,5", **common)


def test_pools_are_disjoint_by_question(oracle):
    records = load_records(oracle)
    pools = {p: set(partition(records, p, 0, 0.3, 0.05)) for p in ("train", "val", "test")}
    assert sum(map(len, pools.values())) == len(records)
    assert not (pools["train"] & pools["test"]) and not (pools["val"] & pools["test"])
    assert len(pools["test"]) == pytest.approx(0.3 * len(records), abs=2)
    train = _task(source=str(oracle), pool="train", num_samples=30).generate()
    test = _task(source=str(oracle), pool="test", num_samples=30, seed=7).generate()
    questions = {e.input.rsplit("Question: ", 1)[1] for e in train}
    assert not questions & {e.input.rsplit("Question: ", 1)[1] for e in test}
    # training pools show all documents with the gold cycling through the positions
    assert sorted({e.meta["gold_position"] for e in train}) == list(range(10))


def test_hard_distractors_are_nearest_neighbours(tmp_path, monkeypatch, oracle):
    monkeypatch.setenv("CTXLAB_CACHE", str(tmp_path / "cache"))
    source = _records_file(oracle, tmp_path / "small.jsonl", 12)
    hard = _task(
        source=str(source), num_docs="4", gold_positions="0", distractors="hard", num_samples=2
    )
    examples = hard.generate()
    assert list((tmp_path / "cache" / "multidoc").glob("*.npy"))  # embeddings cached
    from ctxlab.tasks.multidoc_data import embed

    first = examples[0]
    question = first.input.rsplit("Question: ", 1)[1].split("\n")[0]
    lines = [ln for ln in first.input.split("\n") if ln.startswith("Document [")]
    records = load_records(source)
    record = next(r for r in records if r.question == question)
    pool = [r.gold_doc for r in records if r.gold_doc.text != record.gold_doc.text]
    scores = embed([d.title + " " + d.text for d in pool], None) @ embed([question], None)[0]
    nearest = [pool[k] for k in sorted(range(len(pool)), key=lambda k: -scores[k])]
    allowed = [
        d
        for d in nearest
        if not any(
            normalize_answer(a) in normalize_answer(d.title + " " + d.text) for a in record.answers
        )
    ]
    # the gold first (position 0), then the three nearest passages without an answer, in order
    assert lines[1:] == [format_document(k, d.title, d.text) for k, d in enumerate(allowed[:3], 2)]


# --- training targets and scoring --------------------------------------------------------


def test_evidence_sentence_and_final_answer():
    text = "Paris is big. The Eiffel Tower was built in 1889 by Gustave Eiffel. It is tall."
    assert evidence_sentence(text, ("Gustave Eiffel",)) == (
        "The Eiffel Tower was built in 1889 by Gustave Eiffel.",
        "Gustave Eiffel",
    )
    assert evidence_sentence(text, ("London",)) is None
    assert final_answer('Document [2](Title: t)\nQuote: "x"\nAnswer: Paris\nmore') == "Paris\nmore"
    assert final_answer("Document [1](Title: Paris) Paris is big.") == ""


def test_scratchpad_target_and_last_answer_only(oracle):
    task = _task(
        source=str(oracle), num_docs="10", gold_positions="4", num_samples=2, last_answer_only=True
    )
    example = task.generate()[0]
    target = training_target(task, example, "scratchpad")
    lines = target.split("\n")
    assert lines[0] == f"Document [5](Title: {example.meta['gold_title']})"
    assert (
        lines[1] == f'Quote: "{example.meta["evidence"]}"'
        and example.meta["evidence"] in example.input
    )
    assert lines[-1] == f"Answer: {example.target}"
    assert training_target(task, example, "sft") == example.target
    assert task.score(target, example)["best_subspan_em"] == 100.0
    assert task.stop == ()  # a scratchpad needs its lines
    plain = _task(source=str(oracle), num_docs="10", gold_positions="4", num_samples=2)
    assert plain.score(target, example)["best_subspan_em"] == 0.0  # first line names the doc
    assert plain.stop == ("\n",)


# --- bad input -------------------------------------------------------------------------


def test_records_without_answers_fail_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"question": "q", "ctxs": [{"title": "t", "text": "x", "isgold": True}]}) + "\n",
        encoding="utf-8",
    )
    runs = tmp_path / "runs"
    code = main(["eval", "--task", "multidoc", "--data", str(bad), "--runs-dir", str(runs)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "has no 'answers'" in err and "bad.jsonl:1" in err
    assert not runs.exists()


def test_too_few_distractors_and_missing_file(tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text(
        json.dumps({"question": "q?", "answers": ["x"], "passage": "x marks it"}) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(CtxlabError, match="distractors"):
        _task(source=str(one), num_docs="3", gold_positions="0", num_samples=1).generate()
    with pytest.raises(CtxlabError, match="does not exist"):
        _task(source=str(tmp_path / "nope.jsonl")).generate()


def test_prebuilt_file_keeps_its_documents(tmp_path):
    line = {
        "question": "who wrote it",
        "answers": ["Ann"],
        "ctxs": [
            {"title": "A", "text": "nothing here", "isgold": False},
            {"title": "B", "text": "Ann wrote it.", "isgold": True},
            {"title": "C", "text": "nor here", "isgold": False},
        ],
    }
    path = tmp_path / "prebuilt.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    [example] = _task(source=str(path), num_samples=1).generate()
    assert example.meta["gold_position"] == 1 and example.meta["num_docs"] == 3
    assert "Document [2](Title: B) Ann wrote it." in example.input
    [gold] = _task(source=str(path), num_samples=1, eval_split="val_pos").generate()
    assert gold.input.count("Document [") == 1 and gold.meta["gold_position"] == 0


# --- end to end on the built-in model ------------------------------------------------------


def test_eval_breakdown_by_gold_position(builtin, tmp_path, oracle):
    from ctxlab.recipes.eval import evaluate_config

    config = build_config(
        task="multidoc",
        data=str(_records_file(oracle, tmp_path / "small.jsonl", 20)),
        num_docs="3",
        gold_positions="0,2",
        num_samples=2,
        runs_dir=str(tmp_path / "runs"),
        progress=False,
    )
    result = evaluate_config(config, builtin)
    rows = result.results["breakdown"]
    assert [(r["gold_position"], r["n"]) for r in rows] == [(0, 2), (2, 2)]
    assert all(0 <= r["best_subspan_em"] <= 100 for r in rows)
    for record in result.predictions:
        assert record["scores"]["best_subspan_em"] == best_subspan_em(
            record["prediction"], record["answers"]
        )


# --- ctxlab run splits and curves ----------------------------------------------------------


def test_run_splits_use_disjoint_question_pools(oracle):
    from types import SimpleNamespace

    from ctxlab.recipes import preset_config
    from ctxlab.recipes.common import make_splits

    config = preset_config(
        "multidoc-sft",
        [f"task.source={oracle}", "splits.train=20", "splits.val=4", "splits.test=5"],
    )
    task = make_task(config)
    data = make_splits(config.splits, task, SimpleNamespace(tokenizer=None, max_length=None))
    questions = {
        split: {e.input.rsplit("Question: ", 1)[1] for e in examples}
        for split, examples in data.items()
    }
    assert len(data["train"]) == 20 and len(data["test"]) == 15  # 5 per gold position 0, 4, 9
    assert not questions["test"] & (questions["train"] | questions["val"])
    assert sorted({e.meta["gold_position"] for e in data["train"]}) == list(range(10))
    with pytest.raises(CtxlabError, match="needs --eval-only"):
        from ctxlab.recipes import run_config

        run_config(preset_config("multidoc-sft", ["load_checkpoint=somewhere"]))


def _fake_run(path: Path, rows: list[dict], overall: float) -> Path:
    path.mkdir(parents=True)
    results = {"task": "multidoc", "model": "m", "num_evaluated": sum(r["n"] for r in rows)}
    results |= {"metrics": {"best_subspan_em": overall}, "breakdown": rows}
    (path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return path


def test_curves_lines_and_flat_references(tmp_path, capsys):
    def row(k, p, n, score):
        return {"num_docs": k, "gold_position": p, "n": n, "best_subspan_em": score}

    _fake_run(tmp_path / "zs" / "eval", [row(10, 0, 2, 50.0), row(10, 9, 2, 100.0)], 75.0)
    mixed = _fake_run(
        tmp_path / "docs", [row(5, 0, 1, 100.0), row(5, 3, 3, 0.0), row(20, 7, 2, 50.0)], 40.0
    )
    gold = _fake_run(tmp_path / "gold", [row(1, 0, 4, 90.0)], 90.0)
    out = tmp_path / "curves"
    code = main(
        ["curves", "-o", str(out), "--run", f"zero-shot={tmp_path / 'zs'}"]
        + ["--run", f"docs={mixed}", "--run", f"gold only={gold}"]
    )
    assert code == 0 and (out / "gold_position.png").is_file() and (out / "num_docs.png").is_file()
    positions = json.loads((out / "gold_position.json").read_text())
    lines = {line["label"]: line for line in positions["lines"]}
    assert lines["zero-shot"]["points"] == [[0, 50.0, 2], [9, 100.0, 2]]
    assert lines["docs"]["points"] == [[0, 100.0, 1], [3, 0.0, 3], [7, 50.0, 2]]
    assert lines["gold only"]["flat"] == 90.0
    docs = json.loads((out / "num_docs.json").read_text())
    assert {line["label"]: line.get("points") for line in docs["lines"]}["docs"] == [
        [5, 25.0, 4],
        [20, 50.0, 2],
    ]
    assert "| zero-shot | 50.0 | — | — | 100.0 |" in (out / "curves.md").read_text()
    assert main(["curves", "-o", str(out), "--run", f"x={tmp_path / 'nowhere'}"]) == 2
    assert "holds no results.json" in capsys.readouterr().err

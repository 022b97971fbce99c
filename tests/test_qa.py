"""QA with distractors: real lost-in-the-middle records, gold placement, no leaked answers."""

from __future__ import annotations

import json

import pytest

from ctxlab.errors import CtxlabError
from ctxlab.prompts import count_prompt_tokens
from ctxlab.tasks.qa import QAConfig, QATask, load_records


@pytest.fixture(scope="module")
def oracle_examples(tokenizer, oracle):
    tok, max_length = tokenizer
    task = QATask(
        QAConfig(source=str(oracle), lengths=[1024], depths=[0, 50, 100], num_samples=12, seed=3)
    )
    return task, task.generate(tok, max_length)


def test_oracle_examples_fit_and_place_gold(oracle_examples, tokenizer):
    tok, _ = tokenizer
    task, examples = oracle_examples
    assert len(examples) == 12
    for example in examples:
        tokens = count_prompt_tokens(
            tok, [{"role": "user", "content": example.input}], example.answer_prefix
        )
        assert tokens + 32 <= 1024
        assert example.meta["num_docs"] >= 3
        docs = example.input.split("Document ")[1:]
        gold_doc = docs[example.meta["gold_position"]]
        others = [d for i, d in enumerate(docs) if i != example.meta["gold_position"]]
        gold_record = task.records[task._order[int(example.id.rsplit("-", 1)[1])]]
        assert gold_record["text"] in gold_doc
        for doc in others:
            assert not any(a.lower() in doc.lower() for a in example.answers)
    depth_100 = [e for e in examples if e.meta["depth"] == 100]
    assert all(e.meta["gold_position"] == e.meta["num_docs"] - 1 for e in depth_100)
    assert all(e.meta["gold_position"] == 0 for e in examples if e.meta["depth"] == 0)


def test_deterministic_and_stable_prefix(tokenizer, oracle):
    tok, max_length = tokenizer

    def make(n):
        return QATask(QAConfig(source=str(oracle), lengths=[512], num_samples=n, seed=5)).generate(
            tok, max_length
        )

    small, large = make(3), make(6)
    assert [e.to_json() for e in small] == [e.to_json() for e in large[:3]]


def test_flat_records_and_scoring(tmp_path, tokenizer):
    tok, max_length = tokenizer
    source = tmp_path / "qa.jsonl"
    records = [
        {
            "question": f"What is item {i}?",
            "answers": [f"answer{i}"],
            "passage": f"Item {i} is answer{i}. " + "Filler sentence here. " * 20,
        }
        for i in range(10)
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    task = QATask(QAConfig(source=str(source), lengths=[512], num_samples=4))
    examples = task.generate(tok, max_length)
    assert all(e.answers[0] in e.input for e in examples)
    assert task.score(
        "It is ANSWER3.", examples[0] if examples[0].answers == ["answer3"] else examples[0]
    ) in ({"string_match_part": 0.0}, {"string_match_part": 100.0})
    assert task.score(f"the {examples[0].answers[0].upper()}", examples[0]) == {
        "string_match_part": 100.0
    }
    assert task.score("nothing", examples[0]) == {"string_match_part": 0.0}


def test_bad_record_names_line(tmp_path):
    source = tmp_path / "bad.jsonl"
    source.write_text(
        '{"question": "q", "answers": ["a"], "passage": "p"}\n{"question": "q"}\n', encoding="utf-8"
    )
    with pytest.raises(CtxlabError, match=r"bad.jsonl:2"):
        load_records(source)
    with pytest.raises(CtxlabError, match="does not exist"):
        load_records(tmp_path / "missing.jsonl")

"""PrOntoQA-style data and the proof checker: the generator is seeded and stable, every gold proof
of 500 problems passes, mutated proofs fail with the right reason, real formats load."""

import contextlib
import io
import json
import random
import re
from pathlib import Path

import pytest

from ctxlab.api import build_config
from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task, run_eval
from ctxlab.io import write_jsonl
from ctxlab.solvers.proofs import check_proof, parse_label
from ctxlab.solvers.statements import Fact, Rule, closure, parse_statement
from ctxlab.tasks.logic_sources import split_indices
from ctxlab.tasks.ontology import invent_word

PERFECT = {"accuracy": 100.0, "step_validity": 100.0, "trace_validity": 100.0}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def prontoqa(**options):
    return make_task(build_config(task="prontoqa", **options))


@pytest.fixture(scope="module")
def problems():
    """500 generated problems: 100 for each of 1-5 hops, two distractor groups each."""
    return prontoqa(hops="1-5", num_samples=100, seed=7).generate()


def test_generation_is_seeded_and_stable_as_n_grows():
    small = prontoqa(hops="2,4", num_samples=3, seed=1).generate()
    large = prontoqa(hops="2,4", num_samples=6, seed=1).generate()
    again = prontoqa(hops="2,4", num_samples=3, seed=1).generate()
    other = prontoqa(hops="2,4", num_samples=3, seed=2).generate()
    assert [e.to_json() for e in small] == [e.to_json() for e in again]
    by_id = {e.id: e.to_json() for e in large}
    assert all(by_id[e.id] == e.to_json() for e in small)
    assert [e.input for e in small] != [e.input for e in other]
    assert [e.meta["hops"] for e in small] == [2, 2, 2, 4, 4, 4]


def test_invented_words_are_deterministic_per_seed():
    def words(seed: int) -> list[str]:
        rng, taken = random.Random(seed), set()
        return [invent_word(rng, taken) for _ in range(30)]

    assert words(3) == words(3) != words(4)
    assert len(set(words(3))) == 30
    assert all(re.fullmatch(r"[a-z]+", w) for w in words(3))


def test_example_fields_and_prompt(problems):
    example = problems[250]
    meta = example.meta
    assert meta["hops"] == 3 and meta["label"] in ("TRUE", "FALSE")
    assert example.answers == [meta["label"]]
    assert all(f"[{i}] {p}" in example.input for i, p in enumerate(meta["premises"], 1))
    assert f"Conclusion to evaluate: {meta['query']}" in example.input
    assert "TRUE, FALSE, or UNKNOWN" in example.input
    lines = example.target.splitlines()
    assert len(lines) == 4 and lines[-1] == f"Conclusion: {meta['label']}"
    assert re.fullmatch(r"Thought: .+\. Action: MODUS_PONENS \[\d+, \d+\]", lines[0])
    assert re.fullmatch(r"Thought: .+\. Action: MODUS_PONENS \[\d+, s2\]", lines[2])
    task = prontoqa()
    assert task.metrics == ("accuracy", "step_validity", "trace_validity")
    assert task.breakdown_keys == ("hops",)
    assert task.clean_prediction("  " + example.target + "\n") == example.target


def test_labels_and_negated_queries_are_balanced(problems):
    labels = [e.meta["label"] for e in problems]
    negated = [" is not " in e.meta["query"] for e in problems]
    assert 200 < labels.count("TRUE") < 300
    assert 200 < sum(negated) < 300


def test_every_gold_proof_of_500_problems_is_accepted_and_premises_agree(problems):
    task = prontoqa()
    assert len(problems) == 500
    for example in problems:
        assert task.score(example.target, example) == PERFECT, example.id
        assert len(example.target.splitlines()) == example.meta["hops"] + 1
        facts = closure([parse_statement(p) for p in example.meta["premises"]])
        assert not any((e, p, not neg) in facts for e, p, neg in facts), example.id


def _unused_rule(example) -> str:
    cited = set(re.findall(r"\[(\d+),", example.target))
    for number, premise in enumerate(example.meta["premises"], 1):
        if isinstance(parse_statement(premise), Rule) and str(number) not in cited:
            return str(number)
    raise AssertionError(f"{example.id} has no distractor rule")


def test_mutated_proofs_are_rejected(problems):
    kinds: dict[str, set[str]] = {
        "delete": set(),
        "tollens": set(),
        "invented": set(),
        "swap": set(),
    }
    for example in problems:
        lines = example.target.splitlines()
        steps, conclusion = lines[:-1], lines[-1]
        k = random.Random(example.id).randrange(len(steps))
        mutants = {
            "tollens": steps[:k] + [steps[k].replace("MODUS_PONENS", "MODUS_TOLLENS")],
            "invented": steps[:k] + [steps[k].replace("MODUS_PONENS", "MODUS_PONIES")],
            "swap": steps[:k]
            + [re.sub(r"\[\d+,", f"[{_unused_rule(example)},", steps[k])]
            + steps[k + 1 :],
        }
        mutants["tollens"] += steps[k + 1 :]
        mutants["invented"] += steps[k + 1 :]
        if len(steps) >= 3:
            middle = len(steps) // 2
            mutants["delete"] = steps[:middle] + steps[middle + 1 :]
        for name, mutant in mutants.items():
            check = check_proof("\n".join(mutant + [conclusion]), example)
            assert not check.trace_valid, (name, example.id)
            assert check.step_validity < 100.0
            kinds[name].update(s.kind for s in check.steps if not s.valid)
    assert kinds["tollens"] == {"wrong_rule"}
    assert kinds["invented"] == {"unknown_rule"}
    assert kinds["swap"] == {"wrong_premise"}
    assert "wrong_premise" in kinds["delete"]


def _chain_example():
    """A hand-written 3-hop problem; premises 1-4 form the chain, 5 is a distractor."""
    premises = [
        "Max is a blorpus.",
        "Every blorpus is a znix.",
        "Each znix is a quorbus.",
        "Quorbuses are not cold.",
        "Every frimpus is cold.",
    ]
    meta = {"premises": premises, "query": "Max is cold.", "label": "FALSE", "hops": 3}
    return {"meta": meta, "answers": ["FALSE"]}


def test_reasons_for_failed_steps():
    example = _chain_example()
    skipped = "Thought: Max is a quorbus. Action: MODUS_PONENS [3, 1]\nConclusion: FALSE"
    check = check_proof(skipped, example)
    assert [s.kind for s in check.steps] == ["skipped_hop"]
    garbled = "Thought: the sky. Action: MODUS_PONENS [2, 1]\nThought: Max is a znix.\n"
    check = check_proof(garbled + "Conclusion: FALSE", example)
    assert [s.kind for s in check.steps] == ["unparseable", "unparseable"]
    future = "Thought: Max is a znix. Action: MODUS_PONENS [2, s1]\nConclusion: FALSE"
    assert check_proof(future, example).steps[0].kind == "wrong_premise"
    outside = "Thought: Max is a znix. Action: MODUS_PONENS [2, 9]\nConclusion: FALSE"
    assert "numbered 1-5" in check_proof(outside, example).steps[0].reason


def test_valid_steps_with_wrong_label_and_sokrates_syntax():
    example = _chain_example()
    steps = [
        'Thought: Max is a znix. Action: <Option type="MODUS_PONENS" args="[2, 1]" />',
        "Step 2: Thought: Max is a quorbus.",
        "Action: MODUS_PONENS [3, s1]",
        "Thought: So Max is not cold. Action: MODUS_PONENS [s2, 4]",
    ]
    good = check_proof("\n".join(steps + ['<Option type="CONCLUDE" args="[1]" />']), example)
    assert good.scores() == PERFECT and good.label == "FALSE"
    wrong = check_proof("\n".join(steps + ["Conclusion: TRUE"]), example)
    assert wrong.scores() == {"accuracy": 0.0, "step_validity": 100.0, "trace_validity": 0.0}
    short = check_proof("\n".join(steps[:3] + ["Conclusion: FALSE"]), example)
    assert short.scores()["step_validity"] == 100.0 and not short.trace_valid
    assert short.errors == ["no valid step derives the queried fact or its negation"]
    assert check_proof("", example).scores() == {
        "accuracy": 0.0,
        "step_validity": 0.0,
        "trace_validity": 0.0,
    }


def test_label_parsing():
    assert parse_label("blah\nConclusion: **false**") == "FALSE"
    assert parse_label("It is true. No wait, it is Uncertain") == "UNKNOWN"
    assert parse_label("Conclusion: TRUE\nThe answer may be false") == "TRUE"
    assert parse_label("no label here") is None


def test_statement_grammar():
    assert parse_statement("Jompuses are not wumpuses.") == Rule("jompus", "wumpus", True)
    assert parse_statement("Each dorix is a lempus.") == Rule("dorix", "lempus", False)
    assert parse_statement("No tumpus is shy.") == Rule("tumpus", "shy", True)
    assert parse_statement("True or false: Sally is not nervous.") == Fact("Sally", "nervous", True)
    assert parse_statement("Sally likes cats.") is None


PRONTOQA_JSON = {
    "example1": {
        "in_context_example0": {"question": "ignored"},
        "test_example": {
            "question": "Every blorpus is a znix. Each znix is cold. Glimpuses are not cold. "
            "Max is a blorpus.",
            "query": "True or false: Max is not cold.",
            "chain_of_thought": [
                "Max is a blorpus.",
                "Every blorpus is a znix.",
                "Max is a znix.",
                "Each znix is cold.",
                "Max is cold.",
            ],
            "answer": "False",
        },
    }
}
LOGIPT = {
    "id": "lg-1",
    "conversations": [
        {
            "from": "human",
            "value": "Task: ...\nContext:\nEvery blorpus is a znix. "
            "Each znix is cold. Max is a blorpus.\n\nReasoning:",
        },
        {
            "from": "gpt",
            "value": "Reasoning:\nObtain a new implied fact: Znix('Max', True)\n"
            "Obtain a new implied fact: Cold('Max', True)\nFinish implied with rule1",
        },
        {"from": "human", "value": "Is the following comment true or false? Max is cold.\n"},
        {"from": "gpt", "value": "The correct option is: A) True"},
    ],
}


def test_real_formats_load_with_checkable_proofs(tmp_path: Path):
    task = prontoqa()
    pq = tmp_path / "prontoqa.json"
    pq.write_text(json.dumps(PRONTOQA_JSON), encoding="utf-8")
    lg = tmp_path / "logipt.jsonl"
    lg.write_text(json.dumps(LOGIPT) + "\n", encoding="utf-8")
    for path, label in ((pq, "FALSE"), (lg, "TRUE")):
        (example,) = task.read_data(str(path))
        assert example.answers == [label] and example.meta["hops"] == 2
        assert example.target.splitlines()[-1] == f"Conclusion: {label}"
        assert task.score(example.target, example) == PERFECT
    (from_source,) = prontoqa(source=str(pq)).generate()
    assert from_source.target == task.read_data(str(pq))[0].target
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"question": "x"}]), encoding="utf-8")
    with pytest.raises(CtxlabError, match="chain_of_thought"):
        task.read_data(str(bad))


def test_seeded_90_10_split():
    train, test = split_indices(50, "train", 3), split_indices(50, "test", 3)
    assert len(train) == 45 and len(test) == 5
    assert sorted(train + test) == list(range(50))
    assert split_indices(50, "test", 3) == test != split_indices(50, "test", 4)
    assert split_indices(50, "all", 3) == list(range(50))


def test_eval_scores_each_prediction_with_the_checker(builtin):
    config = build_config(
        task="prontoqa", hops="1,2", num_samples=1, max_new_tokens=6, batch_size=2, progress=False
    )
    task = make_task(config)
    examples = task.generate()
    result = run_eval(config, task, examples, builtin)
    assert [row["hops"] for row in result.results["breakdown"]] == [1, 2]
    for record, example in zip(result.predictions, examples):
        assert record["scores"] == task.score(record["prediction"], example)
        assert record["generated_tokens"] <= 6
    assert set(result.results["metrics"]) == set(task.metrics)


def test_cli_data_and_verify(tmp_path: Path):
    data = tmp_path / "p.jsonl"
    code, out, _ = run_cli(
        ["data", "prontoqa", "--hops", "1-3", "--num-samples", "2", "-o", str(data)]
    )
    assert code == 0 and "wrote 6 examples" in out
    runs = tmp_path / "runs"
    code, out, _ = run_cli(
        ["verify", "--task", "prontoqa", "--data", str(data), "--runs-dir", str(runs)]
    )
    assert code == 0 and "0 rejected" in out
    results = json.loads((runs / "verify" / "latest" / "results.json").read_text())
    assert results["metrics"] == PERFECT and results["num_checked"] == 6
    examples = prontoqa().read_data(str(data))
    preds = tmp_path / "preds.jsonl"
    lines = [{"id": e.id, "prediction": e.target.replace("TRUE", "FALSE")} for e in examples]
    lines[0]["prediction"] = "Conclusion: " + examples[0].answers[0]
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    code, out, _ = run_cli(
        [
            "verify",
            "--task",
            "prontoqa",
            "--data",
            str(data),
            "--predictions",
            str(preds),
            "--runs-dir",
            str(runs),
            "--name",
            "mine",
        ]
    )
    assert code == 0
    results = json.loads((runs / "mine" / "latest" / "results.json").read_text())
    true_count = sum(e.answers == ["TRUE"] for e in examples[1:])
    expected_acc = 100.0 * (1 + (5 - true_count)) / 6
    assert results["metrics"]["accuracy"] == pytest.approx(expected_acc)
    assert results["metrics"]["step_validity"] == pytest.approx(500 / 6)


def test_cli_bad_data_exits_2_without_run_dir(tmp_path: Path):
    folio_like = tmp_path / "folio.jsonl"
    folio_like.write_text(json.dumps({"premises": ["a"], "label": "True"}) + "\n")
    niah = tmp_path / "niah.jsonl"
    write_jsonl(niah, prontoqa(hops="1", num_samples=1).generate())
    niah.write_text(niah.read_text().replace('"task": "prontoqa"', '"task": "niah"'))
    runs = tmp_path / "runs"
    for path, message in ((folio_like, "chain_of_thought"), (niah, "holds 'niah' examples")):
        code, out, err = run_cli(
            ["verify", "--task", "prontoqa", "--data", str(path), "--runs-dir", str(runs)]
        )
        assert code == 2 and message in err and err.count("\n") == 1
        assert not runs.exists()

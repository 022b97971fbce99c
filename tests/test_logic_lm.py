"""Logic-LM's ProntoQA and FOLIO files (their `data/<set>/dev.json` layout, records written here by
hand): ProntoQA becomes prontoqa examples whose gold proofs the checker accepts, FOLIO becomes
folio examples for label accuracy, and verify refuses FOLIO without FOL in one line."""

import contextlib
import io
import json
from pathlib import Path

import pytest

from ctxlab.api import build_config
from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task

PERFECT = {"accuracy": 100.0, "step_validity": 100.0, "trace_validity": 100.0}
TRUE_FALSE = ["A) True", "B) False"]
LEAD = "Is the following statement true or false? "


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def record(name: str, context: list[str], statement: str, answer: str, chain: list[str]) -> dict:
    return {
        "id": f"ProntoQA_{name}",
        "context": " ".join(context),
        "question": LEAD + statement,
        "options": TRUE_FALSE,
        "answer": answer,
        "explanation": chain,
    }


ANN_CONTEXT = [
    "Every kolpus is a varpus.",
    "Varpuses are nelpuses.",
    "Nelpuses are not sweet.",
    "Trumpuses are sweet.",
    "Ann is a kolpus.",
]
ANN_CHAIN = [
    "Ann is a kolpus.",
    "Every kolpus is a varpus.",
    "Ann is a varpus.",
    "Varpuses are nelpuses.",
    "Ann is a nelpus.",
    "Nelpuses are not sweet.",
    "Ann is not sweet.",
]
# 1, 3 and 5 hops; a FALSE answer to a plain query whose chain ends in its negation; a TRUE
# answer to a negated query; a FALSE answer to a negated query; distractor rules throughout.
RECORDS = [
    record(
        "1",
        ["Shalpuses are bright.", "Each drimpus is cold.", "Tom is a shalpus."],
        "Tom is bright.",
        "A",
        ["Tom is a shalpus.", "Shalpuses are bright.", "Tom is bright."],
    ),
    record("2", ANN_CONTEXT, "Ann is sweet.", "B", ANN_CHAIN),
    record("3", ANN_CONTEXT, "Ann is not sweet.", "A", ANN_CHAIN),
    record(
        "4",
        [
            "Each gompus is a lirpus.",
            "Zorpuses are not small.",
            "Every lirpus is a morpus.",
            "Morpuses are small.",
            "Each morpus is a quipus.",
            "Every zorpus is a tarpus.",
            "Quipuses are sarpuses.",
            "Sarpuses are not fruity.",
            "Dimpuses are fruity.",
            "Max is a gompus.",
        ],
        "Max is fruity.",
        "B",
        [
            "Max is a gompus.",
            "Each gompus is a lirpus.",
            "Max is a lirpus.",
            "Every lirpus is a morpus.",
            "Max is a morpus.",
            "Each morpus is a quipus.",
            "Max is a quipus.",
            "Quipuses are sarpuses.",
            "Max is a sarpus.",
            "Sarpuses are not fruity.",
            "Max is not fruity.",
        ],
    ),
    record(
        "5",
        [
            "Lumpuses are not red.",
            "Jempuses are red.",
            "Each hopus is a jempus.",
            "Sue is a hopus.",
        ],
        "Sue is not red.",
        "B",
        ["Sue is a hopus.", "Each hopus is a jempus.", "Sue is a jempus.", "Jempuses are red."]
        + ["Sue is red."],
    ),
]


@pytest.fixture
def prontoqa_file(tmp_path: Path) -> Path:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(RECORDS, indent=2), encoding="utf-8")
    return path


def test_records_become_checkable_prontoqa_examples(prontoqa_file: Path, tmp_path: Path):
    task = make_task(build_config(task="prontoqa"))
    examples = task.read_data(str(prontoqa_file))
    assert [e.id for e in examples] == [f"prontoqa-ProntoQA_{i}" for i in range(1, 6)]
    assert [e.answers[0] for e in examples] == ["TRUE", "FALSE", "TRUE", "FALSE", "FALSE"]
    assert [e.meta["hops"] for e in examples] == [1, 3, 3, 5, 2]
    assert examples[0].meta["premises"] == [
        "Shalpuses are bright.",
        "Each drimpus is cold.",
        "Tom is a shalpus.",
    ]
    assert examples[2].meta["query"] == "Ann is not sweet."
    assert "[3] Tom is a shalpus.\n\nConclusion to evaluate: Tom is bright." in examples[0].input
    assert (
        examples[0].target
        == "Thought: Tom is bright. Action: MODUS_PONENS [1, 3]\nConclusion: TRUE"
    )
    assert examples[1].target == (
        "Thought: Ann is a varpus. Action: MODUS_PONENS [1, 5]\n"
        "Thought: Ann is a nelpus. Action: MODUS_PONENS [2, s1]\n"
        "Thought: Ann is not sweet. Action: MODUS_PONENS [3, s2]\n"
        "Conclusion: FALSE"
    )
    assert all(task.score(e.target, e) == PERFECT for e in examples)
    lines = tmp_path / "dev.jsonl"  # the same records one a line
    lines.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    as_lines = task.read_data(str(lines))
    assert [(e.id, e.input, e.target) for e in as_lines] == [
        (e.id, e.input, e.target) for e in examples
    ]


def test_cli_converts_and_verifies_every_gold_proof(prontoqa_file: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    code, stdout, err = run_cli(
        ["data", "prontoqa", "--source", str(prontoqa_file), "-o", str(out)]
    )
    assert code == 0 and "wrote 5 examples" in stdout
    assert f"{prontoqa_file}: Logic-LM ProntoQA, 5 examples" in err
    assert len(out.read_text().splitlines()) == 5
    runs = tmp_path / "runs"
    argv = ["verify", "--task", "prontoqa", "--data", str(prontoqa_file), "--runs-dir", str(runs)]
    code, stdout, _ = run_cli(argv)
    assert code == 0 and "on 5 proofs, 0 rejected" in stdout
    results = json.loads((runs / "verify" / "latest" / "results.json").read_text())
    assert results["metrics"] == PERFECT and results["num_rejected"] == 0


def test_unknown_files_get_the_list_of_formats(tmp_path: Path):
    runs = tmp_path / "runs"
    other = tmp_path / "nli.json"
    other.write_text(json.dumps([{"premise": "A dog runs.", "hypothesis": "It moves."}]))
    folio = tmp_path / "folio_dev.json"
    folio.write_text(json.dumps(FOLIO[:1]))
    errors = []
    for path, message in (
        (other, f"{other} is not a PrOntoQA file: expected PrOntoQA JSON"),
        (folio, "Logic-LM record 1 has no 'explanation' list"),
    ):
        argv = ["verify", "--task", "prontoqa", "--data", str(path), "--runs-dir", str(runs)]
        code, _, err = run_cli(argv)
        assert code == 2 and message in err and err.count("\n") == 1
        assert not runs.exists()
        errors.append(err)
    for name in ("PrOntoQA JSON", "LoGiPT conversations", "Logic-LM ProntoQA", "ctxlab examples"):
        assert name in errors[0]
    assert "--task folio" in errors[1]


FOLIO_LEAD = (
    "Based on the above information, is the following statement true, false, or uncertain? "
)
FOLIO_OPTIONS = ["A) True", "B) False", "C) Uncertain"]
FOLIO_CONTEXT = (
    "All quill beetles eat moss. Anything that eats moss lives in the forest. "
    "Pip is a quill beetle."
)
FOLIO = [
    {
        "id": f"FOLIO_dev_{i}",
        "context": FOLIO_CONTEXT,
        "question": FOLIO_LEAD + statement,
        "options": FOLIO_OPTIONS,
        "answer": answer,
    }
    for i, (statement, answer) in enumerate(
        [
            ("Pip lives in the forest.", "A"),
            ("Pip does not eat moss.", "B"),
            ("Pip can fly.", "C"),
        ]
    )
]


@pytest.fixture
def folio_file(tmp_path: Path) -> Path:
    path = tmp_path / "folio_dev.json"
    path.write_text(json.dumps(FOLIO, indent=2), encoding="utf-8")
    return path


def test_folio_records_read_with_their_labels(folio_file: Path):
    task = make_task(build_config(task="folio"))
    examples = task.read_data(str(folio_file))
    assert [e.answers for e in examples] == [["TRUE"], ["FALSE"], ["UNKNOWN"]]
    assert [e.id for e in examples] == [
        "folio-FOLIO_dev_0",
        "folio-FOLIO_dev_1",
        "folio-FOLIO_dev_2",
    ]
    first = examples[0]
    assert first.meta["premises"] == [
        "All quill beetles eat moss.",
        "Anything that eats moss lives in the forest.",
        "Pip is a quill beetle.",
    ]
    assert first.meta["query"] == "Pip lives in the forest."
    assert first.meta["premises_fol"] is None and first.meta["conclusion_fol"] is None
    assert task.score("Conclusion: TRUE", first) == {"accuracy": 100.0}
    assert task.score("Conclusion: UNKNOWN", first) == {"accuracy": 0.0}
    (source,) = make_task(
        build_config(task="folio", source=str(folio_file), num_samples=1)
    ).generate()
    assert source == first


def test_folio_answer_without_its_option_is_refused(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([FOLIO[0], {**FOLIO[1], "answer": "D"}]), encoding="utf-8")
    with pytest.raises(CtxlabError, match=r"Logic-LM record 2: answer 'D' names no True, False"):
        make_task(build_config(task="folio")).read_data(str(path))
    no_options = {k: v for k, v in FOLIO[1].items() if k != "options"}
    path.write_text(json.dumps([FOLIO[0], no_options]), encoding="utf-8")
    with pytest.raises(CtxlabError, match=r"record 2 lacks \['options'\]: expected FOLIO jsonl"):
        make_task(build_config(task="folio")).read_data(str(path))


def test_verify_refuses_folio_without_fol_in_one_line(folio_file: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    argv = ["verify", "--task", "folio", "--data", str(folio_file), "--runs-dir", str(runs)]
    code, _, err = run_cli(argv)
    assert code == 2 and err.count("\n") == 1
    assert "folio-FOLIO_dev_0 has no gold FOL" in err
    assert "FOL translations (premises-FOL and conclusion-FOL)" in err
    assert "ctxlab eval --task folio" in err
    assert not runs.exists()


@pytest.mark.integration
def test_eval_scores_logic_lm_folio_labels(folio_file: Path, tmp_path: Path):
    """The built-in model on 2 problems, 8 tokens each: the run completes with label scores."""
    runs = tmp_path / "runs"
    argv = ["eval", "--task", "folio", "--data", str(folio_file), "--num-samples", "2"]
    code, stdout, _ = run_cli(argv + ["--max-new-tokens", "8", "--runs-dir", str(runs)])
    assert code == 0 and "folio: accuracy" in stdout
    results = json.loads((runs / "eval" / "latest" / "results.json").read_text())
    assert results["num_evaluated"] == 2 and set(results["metrics"]) == {"accuracy"}
    assert {row["label"] for row in results["breakdown"]} == {"TRUE", "FALSE"}

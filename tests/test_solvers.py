"""The FOL verifier (FOLIO syntax onto z3), the folio task, and `ctxlab verify --task folio`:
labels by entailment, parse errors that name formula and position, and FOLIO v0.0 validation
agreement with the gold labels."""

import contextlib
import io
import json
from pathlib import Path

import pytest

from ctxlab.api import build_config
from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.solvers.fol import FolParseError, fol_label, parse_formula


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_precedence_and_quantifier_scope():
    assert parse_formula("A(a) ∧ B(a) ∨ C(a) → D(a)") == (
        "implies",
        ("or", ("and", ("atom", "A", ("a",)), ("atom", "B", ("a",))), ("atom", "C", ("a",))),
        ("atom", "D", ("a",)),
    )
    assert parse_formula("¬P ⊕ Q ↔ R") == (
        "iff",
        ("xor", ("not", ("atom", "P", ())), ("atom", "Q", ())),
        ("atom", "R", ()),
    )
    tree = parse_formula("∀x ∃y (Likes(x, y)) → Happy(x)")
    assert tree[0] == "forall" and tree[2][0] == "exists" and tree[2][2][0] == "implies"
    assert parse_formula("In(x, k-12andhighereducation).")[2] == ("x", "k-12andhighereducation")
    assert parse_formula("Grade(c++) ∧ Stocks’(kO)")[1] == ("atom", "Grade", ("c++",))


@pytest.mark.parametrize(
    "formula, position, problem",
    [
        ("(P(a) ∧ Q(a)", 0, "'(' never closed"),
        ("P(a) ∧ Q(a))", 11, "')' never opened"),
        ("P(a) ∧ $Q(a)", 7, "unexpected character '$'"),
        ("∀x (P(x), Q(x))", 8, "expected ')', found ','"),
        ("P(a) ∧", 6, "expected a formula"),
    ],
)
def test_parse_errors_name_formula_and_position(formula, position, problem):
    with pytest.raises(FolParseError) as info:
        parse_formula(formula)
    assert info.value.position == position
    message = str(info.value)
    assert repr(formula) in message and f"position {position}" in message and problem in message
    assert isinstance(info.value, CtxlabError)


SOCRATES = ["∀x (Human(x) → Mortal(x))", "Human(socrates)"]


@pytest.mark.parametrize(
    "premises, conclusion, label",
    [
        (SOCRATES, "Mortal(socrates)", "TRUE"),
        (SOCRATES, "¬Mortal(socrates)", "FALSE"),
        (SOCRATES, "Mortal(plato)", "UNKNOWN"),
        (["∀x (Cat(x) ⊕ Dog(x))", "Cat(tom)"], "Dog(tom)", "FALSE"),
        (["∃x (Cat(x) ∧ Black(x))", "∀x (Cat(x) → Pet(x))"], "∃y (Pet(y) ∧ Black(y))", "TRUE"),
        (["Rain ↔ Wet", "¬Wet"], "Rain", "FALSE"),
        (["Owns(ann, rex)", "∀x ∀y (Owns(x, y) → Cares(x, y))"], "Cares(ann, rex)", "TRUE"),
        (["Tall(ann)"], "Tall(bob)", "UNKNOWN"),  # no unique names: ann may be bob, or not
    ],
)
def test_labels_by_entailment(premises, conclusion, label):
    verdict = fol_label(premises, conclusion)
    assert (verdict.label, verdict.status) == (label, "ok")


def test_parse_error_verdict_does_not_raise():
    verdict = fol_label(["P(a))"], "P(a)")
    assert verdict.label is None and verdict.status == "parse_error"
    assert "'P(a))'" in verdict.error and "position 4" in verdict.error


def test_folio_loading_normalizes_labels(folio_dir):
    task = make_task(build_config(task="folio"))
    examples = task.read_data(str(folio_dir / "folio-validation.jsonl"))
    assert len(examples) == 204
    assert {e.answers[0] for e in examples} == {"TRUE", "FALSE", "UNKNOWN"}
    train = make_task(build_config(task="folio", split="test", seed=0))
    held_out = train.read_data(str(folio_dir / "folio-train.jsonl"))
    assert len(held_out) == 100 and "UNKNOWN" in {e.answers[0] for e in held_out}
    first = examples[0]
    assert first.meta["premises_fol"][0] == "∀x (TalentShows(x) → Engaged(x))"
    assert "[1] If people perform in school talent shows often" in first.input
    assert first.input.rstrip().endswith("Reasoning:")
    assert task.score("Thought: ...\nConclusion: Uncertain", first) == {"accuracy": 100.0}
    assert task.score("Conclusion: TRUE", first) == {"accuracy": 0.0}


def test_verify_folio_validation_agrees_with_gold(folio_dir, tmp_path: Path):
    runs = tmp_path / "runs"
    code, out, _ = run_cli(
        [
            "verify",
            "--task",
            "folio",
            "--data",
            str(folio_dir / "folio-validation.jsonl"),
            "--runs-dir",
            str(runs),
        ]
    )
    assert code == 0
    results = json.loads((runs / "verify" / "latest" / "results.json").read_text())
    assert results["num_checked"] == 204
    assert results["metrics"]["label_agreement"] >= 90.0
    assert results["num_parse_errors"] == 5
    assert results["num_agree"] == 204 - len(results["disagreements"])
    assert f"{results['num_agree']}/204 agree" in out
    parse_errors = [d for d in results["disagreements"] if d["status"] == "parse_error"]
    assert all("position" in d["error"] for d in parse_errors)
    verdicts = (runs / "verify" / "latest" / "verdicts.jsonl").read_text().splitlines()
    assert len(verdicts) == 204


def _folio_line(premises, conclusion, label="True", **extra) -> str:
    record = {
        "premises": ["(text)"] * len(premises),
        "premises-FOL": premises,
        "conclusion": "(text)",
        "conclusion-FOL": conclusion,
        "label": label,
        **extra,
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


def test_verify_predictions_against_the_solver(tmp_path: Path):
    data = tmp_path / "mini.jsonl"
    data.write_text(
        _folio_line(SOCRATES, "Mortal(socrates)", "True", example_id=1)
        + _folio_line(SOCRATES, "Mortal(plato)", "Unknown", example_id=2)
        + _folio_line(SOCRATES, "¬Mortal(socrates)", "True", example_id=3),
        encoding="utf-8",
    )
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        json.dumps({"id": "folio-1", "prediction": "Conclusion: TRUE"})
        + "\n"
        + json.dumps({"id": "folio-2", "prediction": "I think it is false."})
        + "\n"
        + json.dumps({"id": "folio-3", "prediction": "Conclusion: FALSE"})
        + "\n"
    )
    runs = tmp_path / "runs"
    code, out, _ = run_cli(
        ["verify", "--task", "folio", "--data", str(data), "--runs-dir", str(runs)]
    )
    assert code == 0 and "2/3 agree" in out and "folio-3: gold TRUE, solver FALSE" in out
    code, out, _ = run_cli(
        [
            "verify",
            "--task",
            "folio",
            "--data",
            str(data),
            "--predictions",
            str(preds),
            "--runs-dir",
            str(runs),
            "--name",
            "model",
        ]
    )
    results = json.loads((runs / "model" / "latest" / "results.json").read_text())
    assert results["compared"] == "predicted vs solver"
    assert results["metrics"]["label_agreement"] == pytest.approx(200 / 3)
    assert results["metrics"]["accuracy"] == pytest.approx(100 / 3)


@pytest.mark.parametrize(
    "content, extra, message",
    [
        (_folio_line(["P(a))"], "P(a)"), [], "cannot parse FOL formula 'P(a))' at position 4"),
        (
            _folio_line(["P(a)"], "P(a)") + _folio_line(["∀x P(x) ∧"], "P(a)"),
            ["--strict"],
            "'∀x P(x) ∧' at position 9",
        ),
        (json.dumps({"premises": ["x"], "label": "True"}) + "\n", [], "premises-FOL"),
        (_folio_line(["P(a)"], "P(a)", "Maybe"), [], "'Maybe' is not True, False"),
    ],
)
def test_verify_bad_input_exits_2_without_run_dir(tmp_path: Path, content, extra, message):
    data = tmp_path / "bad.jsonl"
    data.write_text(content, encoding="utf-8")
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        ["verify", "--task", "folio", "--data", str(data), "--runs-dir", str(runs), *extra]
    )
    assert code == 2 and message in err and err.count("\n") == 1
    assert not runs.exists()


def test_verify_needs_gold_fol(tmp_path: Path):
    data = tmp_path / "train_like.jsonl"
    record = json.loads(_folio_line(["P(a)"], "P(a)"))
    del record["conclusion-FOL"]
    data.write_text(json.dumps(record) + "\n", encoding="utf-8")
    code, _, err = run_cli(
        ["verify", "--task", "folio", "--data", str(data), "--runs-dir", str(tmp_path / "r")]
    )
    assert code == 2 and "no gold FOL" in err and not (tmp_path / "r").exists()


def test_only_tasks_with_a_solver_verify(tmp_path: Path):
    from ctxlab.recipes.verify import verifiable_tasks
    from ctxlab.tasks.base import get_task_class

    assert verifiable_tasks() == ["dot", "folio", "prontoqa"]
    niah = get_task_class("niah")
    with pytest.raises(CtxlabError, match="has no solver"):
        niah(niah.config_class()).verify([], None)
    code, _, err = run_cli(["verify", "--task", "niah", "--data", "x", "--runs-dir", str(tmp_path)])
    assert code == 2 and "invalid choice: 'niah'" in err and not any(tmp_path.iterdir())

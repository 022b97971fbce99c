"""The dot task end to end: generated data, users' pair files and folders, structure-disjoint
splits, `ctxlab verify --task dot`, an eval report with renders, and a missing Graphviz."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from ctxlab.cli.main import main
from ctxlab.dot.graphviz import parse
from ctxlab.errors import CtxlabError
from ctxlab.recipes.common import check_leaks
from ctxlab.tasks.base import read_jsonl
from ctxlab.tasks.dot import DotConfig, DotTask

pytestmark = pytest.mark.usefixtures("graphviz")

MERMAID = "graph TD\n  A[Start] --> B{Valid?}\n  B -->|yes| C[Save]"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_data_is_deterministic_and_every_target_is_valid(tmp_path):
    argv = ["data", "dot", "--num-samples", "200", "--seed", "1", "-o"]
    assert run_cli([*argv, str(tmp_path / "a.jsonl")])[0] == 0
    assert run_cli([*argv, str(tmp_path / "b.jsonl")])[0] == 0
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()
    examples = read_jsonl(tmp_path / "a.jsonl")
    assert len(examples) == 6 * 200
    kinds = {(e.meta["family"], e.meta["input_kind"]) for e in examples}
    assert {k for k, _ in kinds} == {
        "fsm",
        "flowchart",
        "dependency",
        "tree",
        "network",
        "architecture",
    }
    assert ("fsm", "code") in kinds and ("dependency", "code") in kinds
    for example in examples:
        checked = parse(example.target)
        assert checked.valid and not checked.warnings, (example.id, checked.error)
        assert example.target not in example.input  # the prompt never shows the answer
    other = tmp_path / "c.jsonl"
    assert run_cli(["data", "dot", "--num-samples", "5", "--seed", "2", "-o", str(other)])[0] == 0
    assert {e.target for e in read_jsonl(other)} != {e.target for e in examples[:30]}


def test_every_phrasing_of_a_graph_shares_its_key_and_a_split_refuses_it():
    task = DotTask(DotConfig(families=["fsm"], num_samples=3, variants_per_graph=2))
    examples = task.generate()
    by_graph = {}
    for e in examples:
        by_graph.setdefault(e.id.rsplit("-v", 1)[0], []).append(e)
    for pair in by_graph.values():
        assert len({e.meta["graph_key"] for e in pair}) == 1
    train, test = examples[0::2], examples[1::2]  # v0 in train, v1 (the same graphs) in test
    with pytest.raises(CtxlabError, match="dot leak key also appears in train/val"):
        check_leaks({"train": train, "test": test}, task)
    check_leaks({"train": examples[:2], "test": examples[2:]}, task)


def write_pairs(root: Path) -> tuple[Path, Path]:
    """A JSON pair file (one Mermaid "DOT" among them) and a folder of pair folders."""
    pairs = [
        {
            "input_text": "A light goes from Red to Green on timer.",
            "output_dot": 'digraph { "Red" -> "Green" [label="timer"]; }',
        },
        {"input_code": "deps = {'app': ['lib']}", "dot": 'digraph { "app" -> "lib"; }'},
        {"description": "A flowchart.", "output_dot": MERMAID},
        {"input_text": "Two hosts are linked.", "dot": 'graph { "a" -- "b"; }'},
    ]
    file = root / "pairs.json"
    file.write_text(json.dumps(pairs), encoding="utf-8")
    folder = root / "scraped"
    for where, files in {
        "fsm/cat/one": {
            "code.py": "class Cat: ...",
            "description.txt": "A cat.",
            "diagram.dot": "digraph { sleep -> eat; }",
        },
        "two": {"description.txt": "A to B.", "diagram.dot": "digraph { A -> B; }"},
        "deep/a/b/c": {"code.js": "x()", "diagram.dot": "digraph { x -> y -> z; }"},
    }.items():
        (folder / where).mkdir(parents=True)
        for name, text in files.items():
            (folder / where / name).write_text(text, encoding="utf-8")
    return file, folder


def test_pair_files_and_folders_load_and_skip_invalid_dot(tmp_path, capsys):
    file, folder = write_pairs(tmp_path)
    task = DotTask(DotConfig())
    examples = task.read_data(str(file))
    assert len(examples) == 3
    assert [e.meta["input_kind"] for e in examples] == ["spec", "code", "spec"]
    err = capsys.readouterr().err
    assert f"skipped {file}[2]: Graphviz rejects its DOT" in err and "1 of 4 pairs skipped" in err

    found = task.read_data(str(folder))
    assert len(found) == 3
    cat = next(e for e in found if "sleep" in e.target)
    assert cat.meta["input_kind"] == "code" and "class Cat" in cat.input  # code preferred
    assert {e.meta["family"] for e in found} == {"fsm", "deep", "scraped"}

    with pytest.raises(CtxlabError, match=r"pairs\.json\[2\]: Graphviz rejects its DOT"):
        DotTask(DotConfig(strict=True)).read_data(str(file))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"prompt": "x", "dot": "digraph {}"}]), encoding="utf-8")
    with pytest.raises(CtxlabError, match=r"bad\.json\[0\] lacks an input field \(input_text"):
        task.read_data(str(bad))


def test_strict_eval_exits_2_without_a_run_directory(tmp_path, tiny_model_dir):
    file, _ = write_pairs(tmp_path)
    runs = tmp_path / "runs"
    code, _, err = run_cli(
        [
            "eval",
            "--task",
            "dot",
            "--data",
            str(file),
            "--strict",
            "--model",
            str(tiny_model_dir),
            "--runs-dir",
            str(runs),
        ]
    )
    assert code == 2 and "Graphviz rejects its DOT" in err and "--strict" in err
    assert not runs.exists() or not any(runs.rglob("config.yaml"))


def test_source_pools_are_disjoint_by_structure(tmp_path):
    rows = [
        {"input_text": f"Phrasing {k} of graph {g}.", "dot": f"digraph {{ n{g} -> m{g}; }}"}
        for g in range(30)
        for k in range(2)
    ]
    file = tmp_path / "pairs.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pools = {
        pool: DotTask(DotConfig(source=str(file), pool=pool, num_samples=100)).generate()
        for pool in ("train", "val", "test")
    }
    keys = {pool: {e.meta["graph_key"] for e in ex} for pool, ex in pools.items()}
    assert sum(len(ex) for ex in pools.values()) == 60  # every pair in exactly one pool
    assert not (keys["train"] & keys["test"]) and not (keys["val"] & keys["test"])
    assert len(pools["train"]) > len(pools["test"]) > 0


def test_verify_scores_gold_and_predictions(tmp_path):
    data = tmp_path / "dot.jsonl"
    assert run_cli(["data", "dot", "--num-samples", "2", "-o", str(data)])[0] == 0
    code, out, _ = run_cli(
        ["verify", "--task", "dot", "--data", str(data), "--runs-dir", str(tmp_path / "runs")]
    )
    assert code == 0 and "valid 100.0" in out and "exact 100.0" in out
    examples = read_jsonl(data)
    preds = tmp_path / "preds.jsonl"
    lines = [{"id": e.id, "prediction": f"Here:\n```dot\n{e.target}\n```"} for e in examples]
    lines[0]["prediction"] = MERMAID  # no (di)graph { ... } in it at all
    lines[1]["prediction"] = "digraph { a -> ; }"
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    code, out, _ = run_cli(
        [
            "verify",
            "--task",
            "dot",
            "--data",
            str(data),
            "--predictions",
            str(preds),
            "--runs-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 0 and f"invalid {examples[0].id}: no DOT graph in the answer" in out
    assert f"invalid {examples[1].id}: Error: <stdin>: syntax error in line 1" in out
    valid = 100 * (len(examples) - 2) / len(examples)
    assert f"valid {valid:.1f}" in out
    run = sorted((tmp_path / "runs" / "verify").glob("2*"))[-1]
    assert run_cli(["report", str(run)])[0] == 0
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "## Rejected graphs (2)" in report


def test_eval_report_has_error_classes_and_renders(tmp_path, tiny_model_dir):
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        [
            "eval",
            "--task",
            "dot",
            "--families",
            "fsm,network",
            "--num-samples",
            "2",
            "--model",
            str(tiny_model_dir),
            "--max-new-tokens",
            "8",
            "--runs-dir",
            str(runs),
            "--name",
            "dot",
        ]
    )
    assert code == 0, err
    run = runs / "dot" / "latest"
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "## Invalid outputs: 4 of 4" in report  # a random model writes no valid DOT
    assert "| no DOT graph in the answer |" in report or "| syntax error |" in report
    renders = sorted((run / "renders").glob("*.png"))
    assert len(renders) == 4 and all(p.stat().st_size > 1000 for p in renders)
    assert "## Breakdown" in report and "| fsm | spec |" in report or "| fsm | code |" in report
    assert "graph_f1" in out


def test_without_graphviz_a_dot_command_exits_2_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    output = tmp_path / "d.jsonl"
    code, _, err = run_cli(["data", "dot", "-o", str(output)])
    assert code == 2 and "Graphviz's `dot` program is not on PATH" in err
    assert "install" in err and not output.exists()


def test_dot_quick_recipe_end_to_end_on_a_tiny_model(tmp_path, tiny_model_dir):
    """The preset's recipe at tiny size: structure-disjoint splits, both sides scored, report."""
    from ctxlab.recipes import preset_config, run_config

    sets = [
        f"model.name={tiny_model_dir}",
        f"run.runs_dir={tmp_path / 'runs'}",
        "task.families=fsm,tree",
        "splits.train=3",
        "splits.val=1",
        "splits.test=2",
        "eval.max_new_tokens=8",
        "training.epochs=1",
        "training.eval_steps=2",
        "training.save_steps=2",
    ]
    summary = run_config(preset_config("dot-quick", sets, "finetune"))
    run = summary.run_dir
    splits = {s: read_jsonl(run / "data" / f"{s}.jsonl") for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 2, 4]
    seen = {e.meta["graph_key"] for s in ("train", "val") for e in splits[s]}
    assert not seen & {e.meta["graph_key"] for e in splits["test"]}
    comparison = json.loads((run / "comparison.json").read_text())
    assert comparison["metric"] == "graph_f1" and comparison["tests"]["valid"]["n"] == 4
    assert "graph_f1 by family, input_kind" in (run / "report.md").read_text()
    assert sorted((run / "tuned" / "renders").glob("*.png"))


def test_strict_run_on_a_pair_file_exits_2_without_a_run_directory(tmp_path, tiny_model_dir):
    file, _ = write_pairs(tmp_path)
    runs = tmp_path / "runs"
    code, _, err = run_cli(
        [
            "run",
            "dot-quick",
            "--runs-dir",
            str(runs),
            "--set",
            f"model.name={tiny_model_dir}",
            "--set",
            f"task.source={file}",
            "--set",
            "task.strict=true",
        ]
    )
    assert code == 2 and f"{file}[2]: Graphviz rejects its DOT" in err
    assert not runs.exists() or not any(runs.rglob("config.yaml"))

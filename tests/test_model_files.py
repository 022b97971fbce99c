"""Model files that are not what they claim, and RoPE scaling past the trained window: one clear
line and exit 2 for every bad file, nothing written; a scaled window that the length checks use.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.models import load_model, load_tokenizer


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _copy(model_dir: Path, to: Path, skip: tuple[str, ...] = ()) -> Path:
    shutil.copytree(model_dir, to, ignore=shutil.ignore_patterns(*skip))
    return to


def _refused(argv: list[str], runs: Path, *words: str) -> None:
    code, out, err = run_cli([*argv, "--runs-dir", str(runs)])
    assert code == 2, (out, err)
    line = err.strip()
    assert len(line.splitlines()) == 1 and line.startswith("ctxlab: error:"), err
    assert all(w in line for w in words), line
    assert not runs.exists()


def test_a_text_file_named_gguf(tmp_path):
    fake = tmp_path / "x.gguf"
    fake.write_text("not a model\n", encoding="utf-8")
    _refused(["eval", "--model", str(fake)], tmp_path / "runs", "x.gguf", "GGUF magic bytes")
    code, _, err = run_cli(["data", "niah", "--model", str(fake), "-o", str(tmp_path / "a.jsonl")])
    assert code == 2 and "not a GGUF file" in err and not (tmp_path / "a.jsonl").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_safetensors_file(tmp_path, tiny_model_dir, damage):
    model = _copy(tiny_model_dir, tmp_path / "model")
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(b"\x00garbage" * 10 if damage == "garbage" else data[: len(data) // 2])
    _refused(["eval", "--model", str(model)], tmp_path / "runs", "model.safetensors", "corrupt")
    with pytest.raises(CtxlabError, match="truncated"):
        load_model(str(model))


def test_a_model_without_tokenizer_files(tmp_path, tiny_model_dir):
    model = _copy(tiny_model_dir, tmp_path / "model", skip=("tokenizer*", "special_tokens*"))
    _refused(["eval", "--model", str(model)], tmp_path / "runs", "no tokenizer files")
    code, _, err = run_cli(["data", "niah", "--model", str(model), "-o", str(tmp_path / "a")])
    assert code == 2 and "no tokenizer files" in err


def test_an_architecture_transformers_does_not_know(tmp_path, tiny_model_dir):
    model = _copy(tiny_model_dir, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "no_such_arch"}))
    _refused(["eval", "--model", str(model)], tmp_path / "runs", "'no_such_arch'", "does not know")


def test_rope_scaling_stretches_the_window(tiny_model_dir):
    plain = load_model(str(tiny_model_dir), dtype="float32")
    scaled = load_model(str(tiny_model_dir), dtype="float32", rope_scaling="yarn:2")
    assert (plain.max_length, scaled.max_length) == (2048, 4096)
    params = scaled.model.config.rope_parameters
    assert params["rope_type"] == "yarn" and params["factor"] == 2.0
    assert params["original_max_position_embeddings"] == 2048 and scaled.rope_scaling == "yarn x2"
    dynamic = load_model(str(tiny_model_dir), dtype="float32", rope_scaling="dynamic:3")
    assert dynamic.max_length == 6144 and dynamic.model.config.max_position_embeddings == 2048
    assert load_tokenizer(str(tiny_model_dir), rope_scaling="linear:4")[1] == 8192


def test_lengths_past_the_trained_window_need_scaling(tmp_path, tiny_model_dir):
    argv = ["data", "niah", "--model", str(tiny_model_dir), "--context-length", "3000"]
    argv += ["--num-samples", "1", "-o", str(tmp_path / "long.jsonl")]
    code, _, err = run_cli(argv)
    assert code == 2 and "exceeds the model's window of 2048" in err
    assert run_cli([*argv, "--rope-scaling", "yarn:2"])[0] == 0
    example = json.loads((tmp_path / "long.jsonl").read_text())
    assert 2700 <= example["meta"]["size"] <= 3000


def test_rope_scaling_is_recorded_and_refused_where_it_cannot_apply(tmp_path, tiny_model_dir):
    runs = tmp_path / "runs"
    argv = ["eval", "--model", str(tiny_model_dir), "--lengths", "256", "--num-samples", "2"]
    argv += ["--max-new-tokens", "4", "--no-progress", "--rope-scaling", "linear:2"]
    code, out, err = run_cli([*argv, "--runs-dir", str(runs)])
    assert code == 0, err
    results = json.loads((runs / "eval" / "latest" / "results.json").read_text())
    assert results["rope_scaling"] == "linear x2"
    report = (runs / "eval" / "latest" / "report.md").read_text()
    assert "RoPE scaling: **linear x2** (window 4096 tokens)" in report
    _refused([*argv[:-2], "--rope-scaling", "cubic"], tmp_path / "r2", "model.rope_scaling")
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64)).save_pretrained(gpt2)
    with pytest.raises(CtxlabError, match="no RoPE position embeddings"):
        from transformers import AutoConfig

        from ctxlab.models.rope import apply_rope_scaling, parse_rope_scaling

        apply_rope_scaling(AutoConfig.from_pretrained(gpt2), parse_rope_scaling("yarn"), "gpt2")


@pytest.mark.integration
def test_kv_140_keys_past_the_window_with_yarn(tmp_path):
    """The lost-in-the-middle 140-key setting (~10K prompt tokens) on the built-in model (8,192
    trained): refused as it stands, evaluated with `--rope-scaling yarn:2`."""
    argv = ["eval", "--task", "kv", "--num-keys", "140", "--gold-positions", "0"]
    argv += ["--num-samples", "1", "--no-progress"]
    code, _, err = run_cli([*argv, "--runs-dir", str(tmp_path / "plain")])
    assert code == 2 and "beyond smollm2-135m's window of 8192" in err
    code, _, err = run_cli([*argv, "--rope-scaling", "yarn:2", "--runs-dir", str(tmp_path / "r")])
    assert code == 0, err
    results = json.loads((tmp_path / "r" / "eval" / "latest" / "results.json").read_text())
    predictions = (tmp_path / "r" / "eval" / "latest" / "predictions.jsonl").read_text()
    assert results["rope_scaling"] == "yarn x2" and results["num_evaluated"] == 1
    assert 9500 < json.loads(predictions)["prompt_tokens"] < 16384

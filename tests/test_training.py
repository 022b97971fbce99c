"""Fine-tuning: presets, records and masking, golden losses, early stopping, resume, export, CLI.

Runs are tiny (8 niah_single_1 examples of ~125 tokens, batch 2, <= 5 steps) and share one
module-scoped reference run. Golden numbers are fp32 (bf16=False) so they do not depend on
whether a CPU has native bf16.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ctxlab.errors import CtxlabError
from ctxlab.training import TrainConfig, build_record, niah_scratchpad, parse_preset, train
from ctxlab.training.callbacks import StopAtStep
from ctxlab.training.data import IGNORE_INDEX, PadCollator
from ctxlab.training.peft_presets import check_preset_runnable

# Losses of steps 1-5 of REFERENCE on the built-in model (fp32, seed 0), measured on this
# 2-core CPU and reproduced bit-for-bit by repeated runs (1 and 2 threads).
GOLDEN = [0.46431267, 0.20651393, 0.07399600, 0.04289731, 0.02244157]
REFERENCE = dict(
    peft="lora_r16_a32_qkvo",
    max_steps=5,
    batch_size=2,
    learning_rate=5e-4,
    logging_steps=1,
    save_steps=2,
    bf16=False,
    seed=0,
)


def _losses(train_dir: Path) -> dict[int, float]:
    lines = (train_dir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines) if "loss" in r}


@pytest.fixture(scope="module")
def niah():
    from ctxlab.api import generate_data
    from ctxlab.tasks.base import get_task_class
    from ctxlab.tasks.niah import NiahConfig

    train_ex = generate_data(variants="niah_single_1", lengths=256, num_samples=8, seed=0)
    val_ex = generate_data(variants="niah_single_1", lengths=256, num_samples=2, seed=1)
    return get_task_class("niah")(NiahConfig()), train_ex, val_ex


@pytest.fixture(scope="module")
def reference(niah, tmp_path_factory):
    """The golden 5-step LoRA run, also the uninterrupted run for the resume test."""
    task, train_ex, _ = niah
    out = tmp_path_factory.mktemp("train") / "reference"
    return train(TrainConfig(**REFERENCE), "smollm2-135m", train_ex, None, task, out)


# --- presets -------------------------------------------------------------------------------


def test_named_presets_build_lora_configs():
    cfg = parse_preset("lora_r8_a16_qv").lora_config()
    assert (cfg.r, cfg.lora_alpha, set(cfg.target_modules)) == (8, 16, {"q_proj", "v_proj"})
    assert cfg.task_type == "CAUSAL_LM" and cfg.bias == "none"
    cfg = parse_preset("lora_r16_a32_qkvo").lora_config()
    assert (cfg.r, cfg.lora_alpha) == (16, 32)
    assert set(cfg.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    cfg = parse_preset("lora_r64_a128_all").lora_config()
    assert (cfg.r, cfg.lora_alpha, len(cfg.target_modules)) == (64, 128, 7)
    assert {"gate_proj", "up_proj", "down_proj"} <= set(cfg.target_modules)
    assert parse_preset("lora_r4_a8_qv").r == 4  # the pattern parses generally
    assert parse_preset("lora_r8_a16_qv").bnb_config() is None
    for name in ("none", "full"):
        assert parse_preset(name).is_full and parse_preset(name).lora_config() is None


def test_qlora_preset_builds_4bit_nf4_config():
    preset = parse_preset("qlora_r16_a32_qkvo")
    assert preset.quantized and preset.lora_config().r == 16
    bnb = preset.bnb_config()
    assert bnb.load_in_4bit and not bnb.load_in_8bit
    assert bnb.bnb_4bit_quant_type == "nf4"
    assert bnb.bnb_4bit_use_double_quant is True
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["lora_r8_qv", "lora_r8_a16_xyz", "dora_r8_a16_qv", "lora"])
def test_bad_preset_names_are_refused(name):
    with pytest.raises(CtxlabError, match="unknown PEFT preset"):
        parse_preset(name)
    with pytest.raises(ValueError, match="peft"):
        TrainConfig(peft=name)


def test_qlora_without_cuda_errors_before_loading(niah, tmp_path, monkeypatch):
    import ctxlab.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(ctxlab.models, "load_model", refuse)
    with pytest.raises(CtxlabError, match="needs a CUDA GPU"):
        check_preset_runnable(parse_preset("qlora_r8_a16_qv"))
    task, train_ex, _ = niah
    with pytest.raises(CtxlabError, match="qlora_r8_a16_qv.*CUDA"):
        train(TrainConfig(peft="qlora_r8_a16_qv"), "smollm2-135m", train_ex, None, task, tmp_path)
    assert not any(tmp_path.iterdir())


def test_missing_tensorboard_is_a_clear_error(niah, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    task, train_ex, _ = niah
    with pytest.raises(CtxlabError, match="pip install tensorboard"):
        train(TrainConfig(report_to="tensorboard"), "smollm2-135m", train_ex, None, task, tmp_path)


# --- records -------------------------------------------------------------------------------


def test_labels_mask_exactly_the_prompt(niah, tokenizer):
    from ctxlab.prompts import encode_prompt, render_prompt

    tok, _ = tokenizer
    task, train_ex, _ = niah
    example = train_ex[0]
    record = build_record(tok, task, example, "sft", 2048)
    prompt_ids = encode_prompt(tok, render_prompt(tok, *task.prompt(example)))
    n = len(prompt_ids)
    assert record["input_ids"][:n] == prompt_ids and record["prompt_tokens"] == n
    assert record["labels"][:n] == [IGNORE_INDEX] * n
    assert record["labels"][n:] == record["input_ids"][n:]
    assert IGNORE_INDEX not in record["labels"][n:]
    assert record["labels"][-1] == tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.decode(record["input_ids"][n:-1]) == " " + example.answers[0]

    cut = build_record(tok, task, example, "sft", 40)  # left truncation of the prompt
    assert cut["truncated"] and len(cut["input_ids"]) == 40
    assert cut["input_ids"] == record["input_ids"][-40:]
    assert cut["labels"][-len(record["input_ids"]) + n :] == record["labels"][n:]

    batch = PadCollator(tok.pad_token_id)([record, cut])
    assert batch["input_ids"].shape == (2, len(record["input_ids"]))
    assert batch["attention_mask"][1].sum() == 40
    assert (batch["labels"][1, 40:] == IGNORE_INDEX).all()


def test_niah_scratchpad_copies_the_needles(tokenizer):
    from ctxlab.api import generate_data

    example = generate_data(variants="niah_multivalue", lengths=512, num_samples=1)[0]
    pad = niah_scratchpad(example)
    lines = pad.splitlines()
    assert lines[-1] == "Answer: " + ", ".join(example.answers)
    assert len(lines) == len(example.answers) + 1
    for line, answer in zip(lines, example.answers):
        assert line.startswith("One of the special magic") and line.endswith(f" is: {answer}.")
        assert line in example.input


# --- training ------------------------------------------------------------------------------


@pytest.mark.integration
def test_golden_losses(reference):
    losses = _losses(reference.out_dir)
    assert sorted(losses) == [1, 2, 3, 4, 5]
    for step, golden in enumerate(GOLDEN, 1):
        assert losses[step] == pytest.approx(golden, rel=1e-3), (step, losses)
    summary = json.loads((reference.out_dir / "summary.json").read_text())
    assert summary["steps"] == 5 and summary["stopped_early"] is False
    assert summary["final_train_loss"] == pytest.approx(GOLDEN[-1], rel=1e-3)
    assert summary["tokens_per_s"] > 0 and summary["padding_share"] < 0.1
    lines = [json.loads(x) for x in (reference.out_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(x["tokens_per_s"] > 0 and x["grad_norm"] > 0 for x in lines if "loss" in x)
    assert (reference.final_dir / "adapter_model.safetensors").is_file()
    assert (reference.final_dir / "tokenizer.json").is_file()
    assert {"checkpoint-4", "checkpoint-5"} <= {p.name for p in reference.out_dir.iterdir()}
    info = json.loads((reference.out_dir / "ctxlab_train.json").read_text())
    assert info["base_model"] == "smollm2-135m" and info["peft"] == "lora_r16_a32_qkvo"


@pytest.mark.integration
def test_resume_reaches_the_uninterrupted_loss(niah, reference, tmp_path):
    """Stopped after step 3 (last checkpoint: 2), resumed to step 5: the same losses at steps
    3-5 as the uninterrupted reference run, to a relative 1e-4."""
    task, train_ex, _ = niah
    out = tmp_path / "run"
    cfg = TrainConfig(**REFERENCE)
    first = train(cfg, "smollm2-135m", train_ex, None, task, out, callbacks=[StopAtStep(3)])
    assert first.summary["steps"] == 3
    assert not (out / "checkpoint-3").exists() and (out / "checkpoint-2").is_dir()
    with pytest.raises(CtxlabError, match="--resume"):
        train(cfg, "smollm2-135m", train_ex, None, task, out)
    resumed = train(
        cfg.model_copy(update={"resume": True}), "smollm2-135m", train_ex, None, task, out
    )
    assert resumed.summary["resumed_from"] == "checkpoint-2" and resumed.summary["steps"] == 5
    losses, expected = _losses(out), _losses(reference.out_dir)
    assert sorted(losses) == [1, 2, 3, 4, 5]  # steps 3 and later were logged once, not twice
    for step in (3, 4, 5):
        assert losses[step] == pytest.approx(expected[step], rel=1e-4)


@pytest.mark.integration
def test_early_stopping_stops_a_stalled_run(niah, tmp_path):
    """lr 0: validation loss never improves, so patience 1 stops at the second evaluation."""
    task, train_ex, val_ex = niah
    cfg = TrainConfig(
        max_steps=5,
        batch_size=2,
        learning_rate=0.0,
        eval_steps=1,
        save_steps=1,
        logging_steps=1,
        early_stopping_patience=1,
        bf16=False,
    )
    result = train(cfg, "smollm2-135m", train_ex, val_ex, task, tmp_path / "run")
    summary = result.summary
    assert summary["stopped_early"] is True and summary["steps"] == 2 < cfg.max_steps
    assert summary["best_val_loss"] is not None and math.isfinite(summary["best_val_loss"])
    assert (result.best_dir / "adapter_model.safetensors").is_file()
    assert (result.final_dir / "adapter_model.safetensors").is_file()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "eval_loss" in x] == [1, 2]


@pytest.mark.integration
def test_best_by_task_metric_keeps_the_best_scoring_checkpoint(niah, tmp_path):
    """best_metric task_metric: each evaluation generates the validation answers and scores
    them; best/ is the checkpoint with the highest score (the first one, on ties)."""
    from ctxlab.tasks.niah import NiahTask

    class ShortAnswerNiah(NiahTask):
        max_new_tokens = 24  # a 7-digit single needle fits; keeps three evaluations quick

    _, train_ex, val_ex = niah
    task = ShortAnswerNiah(niah[0].config)
    cfg = TrainConfig(
        max_steps=3,
        batch_size=2,
        eval_steps=1,
        save_steps=1,
        logging_steps=1,
        best_metric="task_metric",
        bf16=False,
    )
    result = train(cfg, "smollm2-135m", train_ex, val_ex, task, tmp_path / "run")
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    scores = {x["step"]: x["eval_string_match_all"] for x in lines if "eval_loss" in x}
    assert sorted(scores) == [1, 2, 3]
    assert all(v in (0.0, 50.0, 100.0) for v in scores.values())  # 2 single-needle examples
    best_step = max(scores, key=lambda step: (scores[step], -step))
    assert result.summary["best_task_metric"] == scores[best_step]
    assert result.summary["best_checkpoint"] == f"checkpoint-{best_step}"
    assert result.summary["best_val_loss"] is None
    assert (result.best_dir / "adapter_model.safetensors").is_file()
    with pytest.raises(CtxlabError, match="--val-data"):
        train(cfg, "smollm2-135m", train_ex, None, task, tmp_path / "other")


def test_early_stopping_needs_validation_data(niah, tmp_path):
    task, train_ex, _ = niah
    with pytest.raises(CtxlabError, match="--val-data"):
        train(
            TrainConfig(early_stopping_patience=2), "smollm2-135m", train_ex, None, task, tmp_path
        )


@pytest.mark.integration
def test_export_merge_matches_base_plus_adapter(reference, niah, tmp_path):
    from peft import PeftModel

    from ctxlab.generation import GenerationRequest, generate
    from ctxlab.models import load_model
    from ctxlab.training import export

    task, train_ex, _ = niah
    out = export(reference.out_dir, tmp_path / "merged", merge=True)
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not list(tmp_path.glob(".merged*"))  # no temporary left behind
    merged = load_model(str(out), dtype="float32", device="cpu")
    base = load_model("smollm2-135m", dtype="float32", device="cpu")
    adapted = PeftModel.from_pretrained(base.model, str(reference.final_dir)).eval()
    requests = [GenerationRequest(*task.prompt(e), max_new_tokens=12) for e in train_ex[:2]]
    ids = torch.tensor(
        [build_record(merged.tokenizer, task, train_ex[0], "sft", 2048)["input_ids"]]
    )
    with torch.no_grad():
        diff = (merged.model(ids).logits - adapted(input_ids=ids).logits).abs().max().item()
    assert diff < 1e-3
    got = [g.text for g in generate(merged.model, merged.tokenizer, requests, progress=False)]
    want = [g.text for g in generate(adapted, base.tokenizer, requests, progress=False)]
    assert got == want
    with pytest.raises(CtxlabError, match="not empty"):
        export(reference.out_dir, out)


# --- command line --------------------------------------------------------------------------


@pytest.mark.integration
def test_cli_train_and_errors(niah, tmp_path, capsys):
    from ctxlab.cli import main
    from ctxlab.io import write_jsonl

    _, train_ex, _ = niah
    data = write_jsonl(tmp_path / "train.jsonl", train_ex[:4])
    out = tmp_path / "train"
    base = ["train", "--data", str(data), "-o", str(out)]
    assert main([*base, "--peft", "lora_r8_qv"]) == 2
    assert "unknown PEFT preset" in capsys.readouterr().err
    assert main([*base, "--learning-rate", "-1"]) == 2
    assert "--learning-rate" in capsys.readouterr().err
    assert main([*base, "--peft", "qlora_r8_a16_qv"]) == 2 or torch.cuda.is_available()
    assert not out.exists()
    flags = ["--max-steps", "1", "--batch-size", "2", "--peft", "lora_r8_a16_qv", "--bf16", "auto"]
    assert main([*base, *flags, "--method", "scratchpad"]) == 0
    assert "trained 1 steps" in capsys.readouterr().out
    assert (out / "final" / "adapter_config.json").is_file()
    assert main(["export", str(out), "--no-merge", "-o", str(tmp_path / "adapter")]) == 0
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert main(["export", str(tmp_path / "nothing"), "-o", str(tmp_path / "x")]) == 2

"""The scratch recipe (`ctxlab run scratch-niah`): the shipped preset end to end on a tiny size
(tokenizer trained on train-seed text, random decoder, baseline/train/tuned, the comparison and
its report with validation accuracy against training tokens), the digit-splitting tokenizer, the
tokens-seen curve against a hand count, and bad settings."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from ctxlab.errors import CtxlabError
from ctxlab.recipes import preset_config, run_config
from ctxlab.reporting.comparison import metric_by_tokens
from ctxlab.training.tokenizer import train_tokenizer

TINY = [
    "splits.train=8",
    "splits.val=2",
    "splits.test=4",
    "task.depths=[0,100]",
    "architecture.layers=1",
    "architecture.hidden_size=32",
    "architecture.heads=2",
    "architecture.ff_size=64",
    "tokenizer.texts=20",
    "eval.batch_size=4",
    "eval.max_new_tokens=8",
    "eval.progress=false",
    "training.max_steps=4",
    "training.batch_size=2",
    "training.eval_steps=2",
    "training.save_steps=4",
    "training.logging_steps=1",
]


@pytest.fixture(scope="module")
def scratch_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("scratch")
    config = preset_config("scratch-niah", [*TINY, f"run.runs_dir={root}"])
    return config, run_config(config)


def test_preset_runs_from_random_weights_to_a_report(scratch_run):
    config, summary = scratch_run
    assert config.recipe == "scratch" and config.run.name == "scratch-niah"
    run = summary.run_dir
    init = json.loads((run / "init" / "config.json").read_text())
    vocab = len(AutoTokenizer.from_pretrained(run / "init"))
    assert init["num_hidden_layers"] == 1 and init["vocab_size"] == vocab
    assert 256 < vocab <= config.tokenizer.vocab_size == 2048  # bytes + merges, at most asked
    train = {json.loads(x)["input"] for x in (run / "data/train.jsonl").open()}
    assert not any(json.loads(x)["input"] in train for x in (run / "data/test.jsonl").open())
    for part in ("baseline", "tuned"):
        results = json.loads((run / part / "results.json").read_text())
        assert results["num_evaluated"] == 4 and "string_match_all" in results["metrics"]
        assert results["model"].startswith("scratch decoder") or part == "baseline"
    comparison = json.loads((run / "comparison.json").read_text())
    assert comparison["metric"] == "string_match_all" and comparison["num_train"] == 8
    trained = json.loads((run / "train" / "summary.json").read_text())
    assert trained["peft"] == "none" and trained["steps"] == 4
    report = (run / "report.md").read_text()
    assert "## Validation string_match_all against training tokens" in report
    assert (run / "metric_by_tokens.png").is_file() and (run / "learning_curve.png").is_file()


def test_split_digits_gives_one_token_a_digit():
    texts = ["One of the special magic numbers for x is: 1234567."] * 50
    tokenizer = train_tokenizer(texts, 300, split_digits=True)
    pieces = [tokenizer.decode([i]) for i in tokenizer(" 1234567")["input_ids"]]
    assert pieces == [" ", "1", "2", "3", "4", "5", "6", "7"]
    assert tokenizer.decode(tokenizer("is: 1234567.")["input_ids"]) == "is: 1234567."


def test_metric_by_tokens_sums_the_training_lines_up_to_each_evaluation():
    log = [
        {"step": 1, "loss": 2.0, "tokens": 100},
        {"step": 2, "loss": 1.5, "tokens": 120},
        {"step": 2, "eval_loss": 1.4, "eval_string_match_all": 0.25},
        {"step": 3, "loss": 1.0, "tokens": 90},
        {"step": 4, "loss": 0.5, "tokens": 110},
        {"step": 4, "eval_loss": 0.4, "eval_string_match_all": 1.0},
        {"step": 4, "train_runtime": 3.0},
    ]
    assert metric_by_tokens(log, "string_match_all") == [(2, 220, 0.25), (4, 420, 1.0)]
    assert metric_by_tokens(log[:2], "string_match_all") == []


@pytest.mark.parametrize(
    ("override", "wording"),
    [
        ("architecture.arch=encoder", "an encoder cannot write: set architecture.arch to decoder"),
        ("training.peft=lora_r8_a16_qv", "set training.peft to none"),
        ("architecture.context_length=128", "exceeds architecture.context_length 128"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, override, wording):
    config = preset_config("scratch-niah", [override, f"run.runs_dir={tmp_path}"])
    with pytest.raises(CtxlabError, match=wording):
        run_config(config)
    assert not any(tmp_path.iterdir())

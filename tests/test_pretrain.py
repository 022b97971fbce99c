"""Pre-training from scratch: data splits and packing, the unigram baseline, decoder and encoder
runs end to end, early stopping, resume after a crash, continued training, the result used by
`ctxlab eval` and `ctxlab export`, and bad input (one line, exit 2, nothing written).

Runs are tiny (2 layers of width 32, a 600-token BPE trained on ~8K words of generated prose,
context 512 so a NIAH prompt fits the decoder's window, <= 40 steps) and fp32 (bf16 false), so
losses do not depend on whether the CPU has native bf16. Torch runs one thread here: a model
this small is dispatch-bound, and on the shared 2-core machine one thread ran a step ~10x faster
than two.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from ctxlab.cli import main
from ctxlab.config import validate_config
from ctxlab.errors import CtxlabError
from ctxlab.recipes.pretrain import PretrainConfig, run_pretrain
from ctxlab.tasks.prose import prose_text
from ctxlab.training.pretrain_data import Text, pack, read_texts, split_texts
from ctxlab.training.pretrain_eval import SequenceScores, summarize
from ctxlab.training.tokenizer import train_tokenizer

TINY = {
    "tokenizer": {"vocab_size": 600},
    "model": {"size": "tiny", "hidden_size": 32, "heads": 2, "ff_size": 64, "context_length": 512},
    "training": {
        "max_steps": 40,
        "batch_size": 4,
        "learning_rate": 0.01,
        "warmup_ratio": 0.0,
        "eval_steps": 10,
        "save_steps": 10,
        "save_total_limit": 3,
        "logging_steps": 1,
        "early_stopping_patience": None,
        "bf16": False,
    },
    "eval": {"progress": False},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def tiny_config(runs: Path, name: str, paths: list[str], **training) -> PretrainConfig:
    raw = json.loads(json.dumps(TINY))
    raw["training"].update(training)
    raw["data"] = {"paths": paths}
    raw["run"] = {"runs_dir": str(runs), "name": name}
    return validate_config(raw, PretrainConfig)


def losses(run_dir: Path, key: str = "loss") -> dict[int, float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r[key] for r in map(json.loads, lines) if key in r}


@pytest.fixture(scope="module")
def prose(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prose") / "prose.txt"
    path.write_text(prose_text(8000, seed=5), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def decoder(prose, runs):
    """The 40-step decoder run: the end-to-end check, the uninterrupted run the resume test
    compares with, and the model `ctxlab eval` and `--init-from` take."""
    return run_pretrain(tiny_config(runs, "decoder", [str(prose)]))


@pytest.fixture(scope="module")
def encoder(prose, runs):
    """An encoder through `ctxlab run` and the shipped preset, on the preset's generated prose,
    with a tokenizer from `ctxlab tokenizer train`."""
    tokenizer = runs / "tokenizer"
    code, _, err = run_cli(
        ["tokenizer", "train", str(prose), "--vocab-size", "600", "-o", str(tokenizer)]
    )
    assert code == 0, err
    code, out, err = run_cli(
        ["run", "pretrain-tiny", "--arch", "encoder", "--max-steps", "8", "--no-progress"]
        + ["--runs-dir", str(runs), "--name", "encoder", "--tokenizer", str(tokenizer)]
        + ["--set=data.prose_words=8000"]
        + ["--set=model.hidden_size=32", "--set=model.heads=2", "--set=model.ff_size=64"]
        + [
            "--set=training.eval_steps=4",
            "--set=training.save_steps=4",
            "--set=training.bf16=false",
        ]
    )
    assert code == 0, err
    return runs / "encoder" / "latest", out


# --- data and baseline, no model -----------------------------------------------------------


def test_splits_are_seeded_disjoint_and_keep_documents_together():
    texts = [Text(f"paragraph {i}", f"doc{i // 4}") for i in range(40)]
    splits = split_texts(texts, 0.1, 0.1, seed=3)
    assert {k: len(v) for k, v in splits.items()} == {"train": 32, "val": 4, "test": 4}
    assert not set(splits["train"]) & (set(splits["val"]) | set(splits["test"]))
    assert split_texts(texts, 0.1, 0.1, seed=3) == splits != split_texts(texts, 0.1, 0.1, 4)
    by_doc = split_texts(texts, 0.1, 0.1, seed=3, split_by="document")
    for split in by_doc.values():  # whole documents of 4 paragraphs each
        docs = {int(t.split()[1]) // 4 for t in split}
        assert len(split) == 4 * len(docs)
    with pytest.raises(CtxlabError, match="only 2 documents .* --split-by paragraph"):
        split_texts(texts[:8], 0.1, 0.1, 0, "document")


def test_packing_fills_sequences_and_pads_only_the_last():
    tok = train_tokenizer([prose_text(2000, seed=1)], 400)
    texts = prose_text(1500, seed=2).split("\n\n")
    packed = pack(tok, texts, 64)
    stream = [i for t in texts for i in [*tok(t, add_special_tokens=False)["input_ids"], 1]]
    assert tok.eos_token_id == 1 and packed.tokens == len(stream)
    assert packed.input_ids.view(-1)[: len(stream)].tolist() == stream
    assert packed.attention_mask[:-1].all() and 0 < packed.padding_share < 1 / len(packed.input_ids)


def test_unigram_gain_and_perplexity_from_sequence_sums():
    s = SequenceScores(model=[10.0, 20.0], baseline=[30.0, 40.0], counts=[10, 10])
    part = summarize("decoder", "test", s)
    assert part["metrics"]["test_perplexity"] == pytest.approx(math.exp(1.5))
    assert part["metrics"]["test_unigram_perplexity"] == pytest.approx(math.exp(3.5))
    assert part["gain"]["value"] == pytest.approx(2.0) and part["gain"]["tokens"] == 20
    acc = summarize("encoder", "val", SequenceScores([3, 1], [1, 1], [4, 4]))
    assert acc["metrics"] == {"val_masked_accuracy": 50.0, "val_unigram_masked_accuracy": 25.0}
    assert acc["gain"]["value"] == pytest.approx(25.0)


def test_nq_passages_by_text_field(shared_data):
    path = shared_data / "lost_in_the_middle/nq-open-oracle.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    passages = read_texts([str(path)])  # each line's ctxs -> text, duplicates kept once
    questions = read_texts([str(path)], text_field="question")
    assert 2000 < len(passages) < 2655 < len(questions) + 1
    assert passages[0].text.startswith("The first Nobel Prize in Physics was awarded in 1901")
    assert questions[0].text == "who got the first nobel prize in physics"
    with pytest.raises(CtxlabError, match=r"nq-open-oracle.jsonl.gz:1 .* 'body' field"):
        read_texts([str(path)], text_field="body")


# --- runs ----------------------------------------------------------------------------------


def test_decoder_end_to_end(decoder):
    run = decoder.run_dir
    art = json.loads((run / "results.json").read_text())
    assert art["kind"] == "pretrain" and art["arch"] == "decoder"
    for name in ("test_perplexity", "test_unigram_perplexity", "val_perplexity"):
        low, high = art["intervals"][name]["low"], art["intervals"][name]["high"]
        assert math.isfinite(art["metrics"][name]) and low <= art["metrics"][name] <= high
    assert art["metrics"]["test_perplexity"] < art["metrics"]["test_unigram_perplexity"]
    assert art["gains"][0]["value"] > 0 and art["gains"][0]["unit"] == "nats per token"
    assert art["padding_share"] < 0.02 and art["parameters"] > 30000
    t = art["training"]
    assert t["steps"] == 40 and not t["stopped_early"] and t["tokens_seen"] > 0
    assert t["tokens_per_s"] > 0 and t["best_checkpoint"] == "checkpoint-40"
    val = losses(run, "eval_loss")
    assert sorted(val) == [10, 20, 30, 40] and val[40] < val[10]
    for part in ("final", "best"):
        assert (run / part / "model.safetensors").is_file()
        assert (run / part / "tokenizer.json").is_file()
    assert {"checkpoint-20", "checkpoint-30", "checkpoint-40"} <= {p.name for p in run.iterdir()}
    report = (run / "report.md").read_text()
    assert "unigram baseline" in report and f"{art['metrics']['test_unigram_perplexity']:.2f}" in (
        report
    )
    assert (run / "learning_curve.png").is_file() and "test perplexity" in decoder.headline


def test_final_decoder_evaluates_exports_and_fine_tunes(decoder, tmp_path):
    final = decoder.run_dir / "final"
    code, out, err = run_cli(
        ["eval", "--model", str(final), "--variant", "niah_single_1", "--lengths", "400"]
        + ["--num-samples", "2", "--max-new-tokens", "8", "--no-progress"]
        + ["--runs-dir", str(tmp_path), "--name", "scratch-eval"]
    )
    assert code == 0, err
    assert "string_match_all" in out and "on 2 examples" in out
    code, out, err = run_cli(["export", str(decoder.run_dir), "-o", str(tmp_path / "exported")])
    assert code == 0, err
    assert (tmp_path / "exported" / "model.safetensors").is_file()
    data = tmp_path / "niah.jsonl"  # and fine-tuned like any model: LoRA on its q/k/v/o
    code, _, err = run_cli(
        ["data", "niah", "--variant", "niah_single_1", "--num-samples", "2"]
        + ["--context-length", "400", "--model", str(final), "-o", str(data)]
    )
    assert code == 0, err
    code, out, err = run_cli(
        ["train", "--data", str(data), "--model", str(final), "--max-steps", "1"]
        + ["--batch-size", "2", "--max-seq-length", "512", "-o", str(tmp_path / "lora")]
    )
    assert code == 0, err
    assert (tmp_path / "lora" / "final" / "adapter_model.safetensors").is_file()


def test_encoder_end_to_end_and_refused_by_eval(encoder, tmp_path):
    from transformers import AutoModelForMaskedLM

    run, out = encoder
    art = json.loads((run / "results.json").read_text())
    assert art["arch"] == "encoder" and "test masked accuracy" in out
    base = art["metrics"]["test_unigram_masked_accuracy"]
    assert 0 < base < 50 and 0 <= art["metrics"]["test_masked_accuracy"] <= 100
    assert art["dimensions"]["class"] == "ModernBertForMaskedLM"
    assert art["tokenizer"] == {"source": str(run.parents[1] / "tokenizer"), "vocab_size": 600}
    assert "most frequent token" in (run / "report.md").read_text()
    model = AutoModelForMaskedLM.from_pretrained(run / "final")
    assert model.config.hidden_size == 32
    code, _, err = run_cli(["export", str(run), "-o", str(tmp_path / "exported")])
    assert code == 0, err
    exported = AutoModelForMaskedLM.from_pretrained(tmp_path / "exported")
    assert torch.equal(
        exported.model.embeddings.tok_embeddings.weight,
        model.model.embeddings.tok_embeddings.weight,
    )
    tmp_path = tmp_path / "runs"
    code, _, err = run_cli(
        ["eval", "--model", str(run / "final"), "--runs-dir", str(tmp_path), "--num-samples", "1"]
    )
    assert code == 2 and "encoder, which cannot generate text" in err
    assert len(err.strip().splitlines()) == 1 and not tmp_path.exists()


class Crash(TrainerCallback):
    """Fail at a step, as a killed job would (after the step's checkpoint, if any)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise RuntimeError("simulated crash")


def test_resume_after_a_crash_gives_the_uninterrupted_losses(decoder, prose, runs):
    """Crashed at step 35 (last checkpoint 30): the unfinished run is kept; --resume continues
    it into a new run with the losses of the uninterrupted run at steps 31-40."""
    config = tiny_config(runs, "crashing", [str(prose)])
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_pretrain(config, callbacks=[Crash(35)])
    (kept,) = (runs / "crashing").glob(".incomplete-*")
    assert (kept / "checkpoint-30").is_dir() and not (kept / "results.json").exists()
    resumed = run_pretrain(
        config.model_copy(update={"training": config.training.model_copy(update={"resume": True})})
    )
    art = json.loads((resumed.run_dir / "results.json").read_text())
    assert (
        art["training"]["resumed_from"].endswith("checkpoint-30") and art["training"]["steps"] == 40
    )
    mine, expected = losses(resumed.run_dir), losses(decoder.run_dir)
    assert sorted(mine) == list(range(1, 41))  # steps 31-35 logged once, not twice
    for step in range(31, 41):
        assert mine[step] == pytest.approx(expected[step], rel=1e-4)
    assert art["metrics"]["test_perplexity"] == pytest.approx(
        json.loads((decoder.run_dir / "results.json").read_text())["metrics"]["test_perplexity"],
        rel=1e-4,
    )
    other = tiny_config(runs, "crashing", [str(prose)], resume=True)
    other = other.model_copy(update={"model": other.model.model_copy(update={"layers": 3})})
    with pytest.raises(CtxlabError, match="other model settings"):
        run_pretrain(other)


def test_early_stopping_stops_a_stalled_run(prose, runs):
    """lr 0: validation loss never improves, so patience 1 stops at the second evaluation."""
    config = tiny_config(
        runs,
        "stalled",
        [str(prose)],
        learning_rate=0.0,
        max_steps=20,
        eval_steps=2,
        save_steps=2,
        early_stopping_patience=1,
    )
    summary = run_pretrain(config)
    t = summary.artifact["training"]
    assert t["stopped_early"] and t["steps"] == 4 and "early stopped after" in summary.headline
    assert "Early stopped after" in (summary.run_dir / "report.md").read_text()
    assert sorted(losses(summary.run_dir, "eval_loss")) == [2, 4]


def test_init_from_continues_with_a_new_learning_rate(decoder, prose, runs):
    config = tiny_config(
        runs,
        "continued",
        [str(prose)],
        init_from=str(decoder.run_dir),
        learning_rate=1e-3,
        max_steps=4,
    )
    summary = run_pretrain(config)
    t = summary.artifact["training"]
    assert t["init_from"].endswith("final") and t["learning_rate"] == 1e-3
    assert losses(summary.run_dir)[1] < losses(decoder.run_dir)[1] - 1.0  # not from scratch
    with pytest.raises(CtxlabError, match="architecture decoder, not encoder: pass --arch decoder"):
        bad = config.model_copy(
            update={"model": config.model.model_copy(update={"arch": "encoder"})}
        )
        run_pretrain(bad)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--vocab-size", "100"], "below the 256 bytes and 6 special tokens"),
        (["--arch", "decodr"], "unknown architecture 'decodr': use decoder or encoder"),
        (["--size", "huge"], "unknown size 'huge'"),
        (["--hidden-size", "30", "--heads", "4"], "not a multiple of heads 4"),
        (["--resume"], "no run under"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(prose, tmp_path, argv, message):
    code, _, err = run_cli(["pretrain", str(prose), "--runs-dir", str(tmp_path / "r"), *argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*"))


def test_empty_text_file_is_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    code, _, err = run_cli(["pretrain", str(empty), "--runs-dir", str(tmp_path / "r")])
    assert code == 2 and f"no text to pre-train on in {empty}: the files are empty" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_help_lists_the_generated_flags():
    code, out, _ = run_cli(["pretrain", "--help"])
    assert code == 0 and "--arch ARCH" in out and "--mlm-probability" in out
    code, out, _ = run_cli(["run", "pretrain-tiny", "--help"])
    assert code == 0 and "--resume" in out and "--init-from" in out

"""SentenceLM on tiny sizes: batched predictions equal batch-1 predictions (the seed read the
padded tail for batch > 1), the loss falls on a tiny overfit (ce through a briefly trained tiny
codec, and mse), both objectives' targets, generation's EOS-cosine stop, checkpoints and
best_model/, the codec ceiling, metric parity (string_match_all differs from string_match_part
on a multi-reference case) and a codec/model dimension mismatch as one line."""

from __future__ import annotations

import pytest
import torch

from ctxlab.errors import CtxlabError
from ctxlab.metrics import string_match_all, string_match_part
from ctxlab.models.scratch import Dims
from ctxlab.sentence.charcodec import TinyCodec
from ctxlab.sentence.codec_train import CodecTrainConfig, codec_corpus, make_codec, train_codec
from ctxlab.sentence.data import all_texts, collate, sentence_examples
from ctxlab.sentence.evaluate import (
    codec_ceiling,
    mean_loss,
    predict,
    records,
    results,
    seed_examples,
)
from ctxlab.sentence.model import SentenceLM, generate
from ctxlab.sentence.split import EOS_SENTENCE
from ctxlab.sentence.store import precompute
from ctxlab.sentence.train import SentenceTraining, train_sentence_lm
from ctxlab.tasks.niah import NiahConfig, NiahTask

pytestmark = pytest.mark.usefixtures("one_thread")

DIMS = Dims(1, 32, 2, 64, 64, 0.0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny codec trained 150 steps on codec-seed NIAH sentences, 8 examples, their store."""
    torch.manual_seed(0)
    config = CodecTrainConfig(kind="tiny", examples=10, steps=150, batch_size=32, progress=False)
    codec = make_codec(config)
    train_codec(codec, codec_corpus(config), config)
    examples = NiahTask(
        NiahConfig(lengths=[512], length_unit="chars", num_samples=4, depths=[0, 50, 100], seed=7)
    ).generate()
    examples += NiahTask(
        NiahConfig(
            variants=["niah_single_2"],
            lengths=[512, 600],
            length_unit="chars",
            num_samples=2,
            needle_type_v="words",
            seed=7,
        )
    ).generate()
    items = sentence_examples(examples)
    store, _ = precompute(codec, all_texts(items), tmp_path_factory.mktemp("store"))
    return codec, items, store


def test_batched_predictions_equal_batch_one(setup):
    codec, items, store = setup
    assert len({len(i.prompt) for i in items}) > 1  # rows of unequal length get padded
    torch.manual_seed(1)
    model = SentenceLM(codec.dim, DIMS).eval()
    batch = collate(items, store)
    together = model.last(batch.vectors, batch.mask)
    alone = torch.cat([model.last(*_one(store, item)) for item in items])
    assert torch.allclose(together, alone, atol=1e-5)
    assert predict(model, codec, store, items, 8, 20) == predict(model, codec, store, items, 1, 20)


def _one(store, item):
    b = collate([item], store)
    return b.vectors, b.mask


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_loss_falls_on_a_tiny_overfit(setup, loss, tmp_path):
    codec, items, store = setup
    torch.manual_seed(2)
    model = SentenceLM(codec.dim, DIMS)
    before = mean_loss(model, codec, store, items, "answer", loss, 4)
    settings = SentenceTraining(
        loss=loss,
        max_steps=40,
        batch_size=4,
        learning_rate=3e-3,
        eval_steps=20,
        save_steps=20,
        logging_steps=20,
        progress=False,
    )
    summary = train_sentence_lm(model, codec, store, items, items[:2], settings, tmp_path)
    after = mean_loss(model, codec, store, items, "answer", loss, 4)
    if loss == "mse":
        assert after < 0.8 * before, (before, after)
    else:  # the untrained codec's floor is high: the true answer vectors' own loss
        answers = [i.answer for i in items]
        floor = codec.loss(store.get(answers), codec.targets(answers)).item()
        assert after < min(before - 0.15, floor), (before, after, floor)
    assert summary["steps"] == 40 and summary["best_step"] in (20, 40)
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == [
        "best_model",
        "checkpoint_step_20",
        "checkpoint_step_40",
        "training_history.json",
    ]
    loaded = SentenceLM.load(tmp_path / "checkpoint_step_40", codec)
    batch = collate(items[:2], store)
    assert torch.allclose(
        loaded.last(batch.vectors, batch.mask), model.eval().last(batch.vectors, batch.mask)
    )


def test_objective_all_targets_every_next_sentence_and_eos(setup):
    _, items, store = setup
    batch = collate(items[:1], store, "all")
    prompt = items[0].prompt
    assert batch.vectors.shape[1] == len(prompt) + 1
    assert batch.target_texts == [*prompt[1:], items[0].answer, EOS_SENTENCE]
    assert batch.positions[1].tolist() == list(range(len(prompt) + 1))
    answer = collate(items[:1], store, "answer")
    assert answer.target_texts == [items[0].answer] and answer.positions[1].tolist() == [
        len(prompt) - 1
    ]


def test_generation_stops_at_the_eos_sentence(setup):
    codec, items, store = setup
    model = SentenceLM(codec.dim, DIMS).eval()
    prompt = store.get(items[0].prompt)
    eos = store.get([EOS_SENTENCE])[0]
    with torch.no_grad():  # make every prediction the EOS vector: nothing is generated
        model.reverse_proj.weight.zero_()
        model.reverse_proj.bias.copy_(eos)
    assert generate(model, codec, prompt, eos, max_sentences=3) == []
    with torch.no_grad():
        model.reverse_proj.bias.copy_(-eos)
    assert len(generate(model, codec, prompt, eos, max_sentences=3, max_tokens=8)) == 3


def test_results_break_down_by_value_type_and_depth(setup):
    codec, items, store = setup
    predictions = [
        f"The value for x is: {i.answers[0]}." if k % 2 else "no" for k, i in enumerate(items)
    ]
    rows = records(items, predictions, "niah")
    out = results(rows, "niah")
    assert out["metric"] == "string_match_all" and out["metrics"]["string_match_all"] == 50.0
    assert {r["value_type"] for r in out["by_value_type"]} == {"numbers", "words"}
    assert {"low", "high"} <= set(out["intervals"]["string_match_all"])
    seed = seed_examples(items, rows)
    assert set(seed[0]) >= {"key", "expected_value", "prediction", "correct"}
    assert seed[1]["correct"] is True and seed[0]["correct"] is False
    assert seed[0]["key"] in items[0].prompt[-1] and " " not in seed[0]["key"]


def test_the_codec_ceiling_scores_the_answer_sentences_own_vectors(setup):
    codec, items, store = setup
    decoded = codec.decode(codec.encode([i.answer for i in items]), 128)
    wanted = [r["scores"]["string_match_all"] for r in records(items, decoded, "niah")]
    ceiling = codec_ceiling(codec, store, items, "niah", batch_size=3)
    assert ceiling["metrics"]["string_match_all"] == pytest.approx(sum(wanted) / len(wanted))
    assert {r["value_type"]: r["n"] for r in ceiling["by_value_type"]} == {"numbers": 4, "words": 4}


def test_string_match_all_differs_from_part_on_several_references():
    preds, refs = ["values 1234567 and nothing else"], [["1234567", "7654321"]]
    assert string_match_all(preds, refs) == 50.0
    assert string_match_part(preds, refs) == 100.0


def test_dimension_mismatch_is_one_line(setup, tmp_path):
    codec, items, store = setup
    model = SentenceLM(32, DIMS)
    batch = collate(items[:1], store)
    with pytest.raises(CtxlabError, match="reads 32-d vectors, got 16-d"):
        model(batch.vectors, batch.mask)
    model.save(tmp_path / "m", codec)
    with pytest.raises(CtxlabError, match="expects 32-d vectors but the tiny codec gives 16-d"):
        SentenceLM.load(tmp_path / "m", TinyCodec())

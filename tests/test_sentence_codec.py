"""Sentence codecs: the interface on the tiny codec (shapes, no grad on encode, logits
differentiable in the vectors, greedy and beam decode, save/load round trip, the card), bad
input (another kind's card, an empty list, a dimension mismatch: one line each), codec training
that lowers the loss and keeps evaluation answers out of its corpus, the minilm codec's frozen
MiniLM vectors, and the sonar codec's request building against both fairseq2 API generations
(no weights needed), with the real pipelines run only where sonar-space and its weights exist."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from ctxlab.errors import CtxlabError
from ctxlab.sentence import sonar
from ctxlab.sentence.charcodec import TinyCodec, char_ids, text_of
from ctxlab.sentence.codec import CARD, check_dim, load_codec
from ctxlab.sentence.codec_train import CodecTrainConfig, codec_corpus, make_codec, train_codec

pytestmark = pytest.mark.usefixtures("one_thread")

SENTENCES = ["The value for calm-river is: 4821937.", "End of sequence.", "Sky is blue."]


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return TinyCodec()


def test_tiny_codec_follows_the_interface(tiny):
    vectors = tiny.encode(SENTENCES)
    assert vectors.shape == (3, tiny.dim) and vectors.dtype == torch.float32
    assert not vectors.requires_grad
    targets = tiny.targets(SENTENCES)
    assert targets.shape == (3, len(SENTENCES[0]) + 1) and targets[2, 13:].eq(tiny.pad_id).all()
    wanted = vectors.clone().requires_grad_(True)
    tiny.loss(wanted, targets).backward()
    assert wanted.grad is not None and wanted.grad.abs().sum() > 0
    assert not any(p.grad is not None for p in tiny.net.parameters())  # the decoder is frozen
    greedy, beam = tiny.decode(vectors, 12), tiny.decode(vectors, 12, beam=3)
    assert len(greedy) == len(beam) == 3 and all(len(t) <= 12 for t in greedy)


def test_characters_run_last_first_so_a_value_keeps_its_positions():
    needle = "One of the special magic numbers for calm-river is: 4821937."
    answer = "The value for calm-river is: 4821937."
    a, b = char_ids(needle, 160), char_ids(answer, 160)
    shared = len(" for calm-river is: 4821937.")
    assert a[:shared] == b[:shared] and a[shared] != b[shared]
    assert text_of(a) == needle and text_of(b) == answer
    assert text_of(char_ids(needle, 10)) == needle[-10:]  # a cut keeps the tail, the value


def test_save_load_round_trip_and_card(tiny, tmp_path):
    tiny.training = {"steps": 0}
    tiny.save(tmp_path / "codec")
    card = json.loads((tmp_path / "codec" / CARD).read_text())
    assert card["kind"] == "tiny" and card["dim"] == 16 and card["substitute_for_sonar"] is True
    assert "substitute for SONAR" in card["description"]
    loaded = load_codec(tmp_path / "codec", "tiny")
    assert torch.equal(loaded.encode(SENTENCES), tiny.encode(SENTENCES))
    assert loaded.training == {"steps": 0}


def test_a_card_of_another_kind_is_refused_naming_both(tiny, tmp_path):
    tiny.save(tmp_path / "codec")
    with pytest.raises(CtxlabError) as err:
        load_codec(tmp_path / "codec", "autoencoder")
    message = str(err.value)
    assert "'tiny' codec, not 'autoencoder'" in message and "set the codec kind to tiny" in message
    assert "\n" not in message
    with pytest.raises(CtxlabError, match="holds no codec.json"):
        load_codec(tmp_path)


def test_a_gru_codec_of_an_earlier_ctxlab_is_refused_with_the_fix(tiny, tmp_path):
    tiny.save(tmp_path / "codec")
    card = json.loads((tmp_path / "codec" / CARD).read_text())
    card["settings"] = {"dim": 16, "embed": 64, "hidden": 384, "layers": 1, "max_chars": 96}
    (tmp_path / "codec" / CARD).write_text(json.dumps(card))
    with pytest.raises(CtxlabError, match="character-GRU codec.*ctxlab codec train"):
        load_codec(tmp_path / "codec", "tiny")


def test_empty_sentence_list_and_dimension_mismatch_are_one_line(tiny):
    with pytest.raises(CtxlabError, match="the list is empty"):
        tiny.encode([])
    with pytest.raises(CtxlabError, match="not one string"):
        tiny.targets("one string")
    with pytest.raises(CtxlabError, match="expects 32-d vectors but the tiny codec gives 16-d"):
        check_dim(tiny, 32, "the sentence LM")


def test_codec_training_lowers_the_loss_and_leaves_answers_out():
    config = CodecTrainConfig(kind="tiny", examples=6, steps=40, batch_size=16, progress=False)
    corpus = codec_corpus(config)
    answer = next(s for s in corpus if s.startswith("The value for")).split(": ")[1][:-1]
    assert not any(answer in s for s in codec_corpus(config, forbidden=[answer]))
    codec = make_codec(config)
    before = codec.loss(codec.encode(corpus), codec.targets(corpus)).item()
    record = train_codec(codec, corpus, config)
    after = codec.loss(codec.encode(corpus), codec.targets(corpus)).item()
    assert after < before - 0.5
    assert record["steps"] == 40 and "seed 5000" in record["corpus"]
    assert not any(p.requires_grad for p in codec.net.parameters())  # frozen again


def test_minilm_codec_encodes_with_frozen_minilm():
    codec = make_codec(CodecTrainConfig(kind="minilm", hidden=32))
    vectors = codec.encode(SENTENCES[:2])
    assert vectors.shape == (2, 384)
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(2), atol=1e-4)
    assert "minilm codec, 384-d (a substitute for SONAR)" == codec.describe()
    with pytest.raises(CtxlabError, match="384-d"):
        make_codec(CodecTrainConfig(kind="minilm", dim=64))


@pytest.mark.parametrize(
    ("version", "generation"), [("0.4.6", "0.4"), ("0.5.0", "0.5"), ("0.8.1", "0.5")]
)
def test_fairseq2_generation(version, generation):
    assert sonar.fairseq2_generation(version) == generation


def test_teacher_forcing_shifts_and_pads():
    rows = [torch.tensor([3, 7, 11, 12, 3]), torch.tensor([3, 7, 20, 3])]
    inputs, targets, lengths = sonar.teacher_forcing(rows, pad_idx=1)
    assert inputs.tolist() == [[3, 7, 11, 12], [3, 7, 20, 1]]
    assert targets.tolist() == [[7, 11, 12, 3], [7, 20, 3, 1]]
    assert lengths == [4, 3]
    with pytest.raises(CtxlabError, match="at least one"):
        sonar.teacher_forcing([], 1)


def test_loss_inputs_rebuilt_from_targets_match_teacher_forcing():
    rows = [torch.tensor([3, 7, 11, 12, 3]), torch.tensor([3, 7, 20, 3])]
    inputs, targets, lengths = sonar.teacher_forcing(rows, pad_idx=1)
    rebuilt, rebuilt_lengths = sonar.inputs_from_targets(targets, prefix=3, pad_idx=1)
    assert torch.equal(rebuilt, inputs) and rebuilt_lengths == lengths


def test_decoder_arguments_of_the_tuple_api():
    vectors, inputs = torch.randn(2, 1024), torch.zeros(2, 4, dtype=torch.long)
    args = sonar.decoder_arguments(vectors, inputs, [4, 3], "0.4")
    assert args.encoder_output.shape == (2, 1, 1024) and args.encoder_lens == [1, 1]
    assert args.layout == "padding_mask" and args.project_takes_layout
    assert args.project_returns == "output.logits"
    seqs = args.seqs_layout()
    assert seqs["seq_lens"].tolist() == [4, 3] and seqs["batch_seq_len"] == 4
    assert args.encoder_layout()["batch_seq_len"] == 1


def test_decoder_arguments_of_the_batch_layout_api():
    vectors, inputs = torch.randn(3, 1024), torch.zeros(3, 5, dtype=torch.long)
    args = sonar.decoder_arguments(vectors, inputs, [5, 2, 4], "0.5")
    assert args.layout == "batch_layout" and not args.project_takes_layout
    assert args.project_returns == "logits"
    assert args.seqs_layout() == {"shape": (3, 5), "seq_lens": [5, 2, 4]}
    assert args.encoder_layout() == {"shape": (3, 1), "seq_lens": [1, 1, 1]}
    with pytest.raises(CtxlabError, match="one \\[n, dim\\] vector a sentence"):
        sonar.decoder_arguments(torch.randn(2, 1024), inputs, [5, 2, 4], "0.5")


def _sonar_missing() -> str | None:
    try:
        sonar.check_available()
    except CtxlabError as err:
        return str(err)
    return None


def test_sonar_codec_without_the_package_or_weights_says_how_to_get_them():
    reason = _sonar_missing()
    if reason is None:
        pytest.skip("sonar-space and SONAR weights are installed here")
    assert "requirements-sonar.txt" in reason or "never downloads" in reason
    with pytest.raises(CtxlabError):
        sonar.SonarCodec()


@pytest.mark.skipif(
    importlib.util.find_spec("sonar") is None or _sonar_missing() is not None,
    reason=f"needs sonar-space and cached SONAR weights: {_sonar_missing()}",
)
def test_real_sonar_pipelines_round_trip():
    codec = sonar.SonarCodec()
    vectors = codec.encode(SENTENCES[:2])
    assert vectors.shape == (2, 1024)
    targets = codec.targets(SENTENCES[:2])
    wanted = vectors.clone().requires_grad_(True)
    codec.loss(wanted, targets).backward()
    assert wanted.grad.abs().sum() > 0
    assert codec.decode(vectors, 64)[1].lower().startswith("end of sequence")

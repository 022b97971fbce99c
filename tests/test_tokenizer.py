"""`ctxlab tokenizer train`: a byte-level BPE on generated prose that round-trips any text, loads
with AutoTokenizer with its special tokens and chat template; bad input is one line, exit 2."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from ctxlab.cli import main
from ctxlab.errors import CtxlabError
from ctxlab.tasks.prose import prose_text
from ctxlab.training.tokenizer import split_texts, train_tokenizer


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def prose(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prose") / "prose.txt"
    path.write_text(prose_text(20000, seed=3), encoding="utf-8")
    return path


def test_train_round_trip_and_chat_template(prose, tmp_path):
    from transformers import AutoTokenizer

    out = tmp_path / "tok"
    code, stdout, err = run_cli(
        ["tokenizer", "train", str(prose), "--vocab-size", "600", "-o", str(out)]
    )
    assert code == 0, err
    assert "round trip exact" in stdout
    summary = json.loads((out / "tokenizer_summary.json").read_text())
    assert summary["vocab_size"] == 600 and summary["held_out_texts"] >= 1
    assert summary["round_trip"] and 2.0 < summary["chars_per_token"] < 6.0
    tok = AutoTokenizer.from_pretrained(out)
    for text in ("Ünïcødé — tabs\tand  spaces\n", "x" * 50, prose_text(300, seed=99)):
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert (tok.pad_token, tok.eos_token, tok.mask_token) == ("<pad>", "<|endoftext|>", "<mask>")
    # the end-of-turn token is one token, as training targets need (training.data.end_of_turn_id)
    assert len(tok("<|im_end|>", add_special_tokens=False)["input_ids"]) == 1


def test_held_out_share_is_seeded_and_disjoint():
    texts = [f"text {i}" for i in range(50)]
    train, held = split_texts(texts, 0.1, seed=1)
    assert (
        len(held) == 5
        and not set(train) & set(held)
        and split_texts(texts, 0.1, 1) == (train, held)
    )


def test_bad_input_one_line_nothing_written(prose, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    for argv, message in (
        ([str(empty), "--vocab-size", "600"], "no text to train a tokenizer on"),
        ([str(prose), "--vocab-size", "100"], "below the 256 bytes and 6 special tokens"),
        ([str(tmp_path / "missing.txt")], "does not exist"),
    ):
        out = tmp_path / "tok"
        code, _, err = run_cli(["tokenizer", "train", *argv, "-o", str(out)])
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists() and not list(tmp_path.glob(".tok*"))
    with pytest.raises(CtxlabError, match="at least 262"):
        train_tokenizer(["some text"], 261)

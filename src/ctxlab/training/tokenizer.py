"""Train a byte-level BPE tokenizer for a from-scratch model (`ctxlab tokenizer train`).

Mini LLM writes its BPE by hand; here Hugging Face `tokenizers` trains it (byte-level, so every
string round-trips) and `PreTrainedTokenizerFast` saves it as a plain tokenizer directory that
every ctxlab command and `AutoTokenizer` load. It carries the special tokens a chat decoder and
an MLM encoder need, and a ChatML chat template, so `ctxlab eval` can prompt a model trained
from nothing exactly as it prompts the built-in one. The texts are the paragraphs of the given
files (text, markdown, jsonl passages, folders, as `ctxlab rag index` reads them); a seeded share
is held out to measure compression (characters per token) against the built-in tokenizer.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ctxlab.errors import CtxlabError

BYTES = 256  # the byte-level alphabet every vocabulary starts with
SPECIAL = {
    "pad_token": "<pad>",
    "eos_token": "<|endoftext|>",
    "bos_token": "<|im_start|>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}
END_OF_TURN = "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TokenizerSummary:
    vocab_size: int
    train_texts: int
    held_out_texts: int
    train_chars: int
    train_s: float
    chars_per_token: float
    builtin_chars_per_token: float | None
    round_trip: bool


def special_tokens() -> list[str]:
    return [*SPECIAL.values(), END_OF_TURN]


def split_texts(texts: list[str], held_out: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out): a seeded share of the texts is kept out of training."""
    order = list(range(len(texts)))
    random.Random(f"tokenizer:{seed}").shuffle(order)
    cut = max(1, round(len(texts) * held_out)) if held_out > 0 and len(texts) > 1 else 0
    return [texts[i] for i in sorted(order[cut:])], [texts[i] for i in sorted(order[:cut])]


def train_tokenizer(
    texts: list[str], vocab_size: int, min_frequency: int = 2, split_digits: bool = False
):
    """A `PreTrainedTokenizerFast` trained on `texts` (byte-level BPE, ctxlab's special tokens and
    chat template). `split_digits` makes every digit its own token, so a number is copied digit
    by digit with ten embeddings to learn instead of one per merged digit group."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    least = BYTES + len(special_tokens())
    if vocab_size < least:
        raise CtxlabError(
            f"vocabulary size {vocab_size} is below the {BYTES} bytes and "
            f"{len(special_tokens())} special tokens a byte-level BPE needs: use at least {least}"
        )
    if not any(t.strip() for t in texts):
        raise CtxlabError("no text to train a tokenizer on: the files are empty")
    core = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if split_digits
        else byte_level
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens(),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL)
    tokenizer.add_special_tokens({"additional_special_tokens": [END_OF_TURN]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def chars_per_token(tokenizer, texts: list[str]) -> float:
    tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return sum(len(t) for t in texts) / max(tokens, 1)


def train_and_save(
    paths: list[str],
    vocab_size: int,
    out: str | Path,
    held_out: float = 0.1,
    min_frequency: int = 2,
    seed: int = 0,
    compare_builtin: bool = True,
) -> TokenizerSummary:
    """Read the texts, train, measure on the held-out share, and write `out` atomically (a
    temporary sibling renamed into place: no half-written tokenizer directory)."""
    from ctxlab.rag.documents import load_chunks
    from ctxlab.rag.splitters import SplitterConfig

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CtxlabError(f"{out} already holds files: pass a new output directory")
    texts = [c.text for c in load_chunks(paths, SplitterConfig("paragraph"))]
    train, held = split_texts(texts, held_out, seed)
    start = time.perf_counter()
    tokenizer = train_tokenizer(train, vocab_size, min_frequency)
    train_s = time.perf_counter() - start
    measured = held or train
    builtin = None
    if compare_builtin:
        from ctxlab.models import load_tokenizer

        builtin = chars_per_token(load_tokenizer()[0], measured)
    summary = TokenizerSummary(
        vocab_size=len(tokenizer),
        train_texts=len(train),
        held_out_texts=len(held),
        train_chars=sum(len(t) for t in train),
        train_s=round(train_s, 2),
        chars_per_token=round(chars_per_token(tokenizer, measured), 3),
        builtin_chars_per_token=round(builtin, 3) if builtin is not None else None,
        round_trip=all(tokenizer.decode(tokenizer(t)["input_ids"]) == t for t in measured),
    )
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tokenizer.save_pretrained(tmp)
        (tmp / "tokenizer_summary.json").write_text(
            json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8"
        )
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary

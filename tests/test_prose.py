"""Tests for the original essay-like haystack generator (ctxlab.tasks.prose)."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from ctxlab.tasks.prose import prose_sentences, prose_text

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _words(sentences: list[str]) -> int:
    return sum(len(s.split()) for s in sentences)


def test_deterministic_per_seed() -> None:
    assert prose_sentences(3000, seed=5) == prose_sentences(3000, seed=5)
    assert prose_text(3000, seed=5) == prose_text(3000, seed=5)
    assert prose_sentences(3000, seed=5) != prose_sentences(3000, seed=6)


@pytest.mark.parametrize("seed", [0, 1, 123])
def test_prefix_stable(seed: int) -> None:
    long = prose_sentences(8000, seed=seed)
    for n in (1, 17, 250, 1000, 4321):
        short = prose_sentences(n, seed=seed)
        assert short == long[: len(short)]


@pytest.mark.parametrize("n", [1, 10, 99, 1000, 5000])
def test_word_count_reaches_request_and_stops(n: int) -> None:
    sentences = prose_sentences(n, seed=2)
    assert _words(sentences) >= n
    assert _words(sentences[:-1]) < n  # stops at the first sentence reaching it


def test_zero_words_is_empty() -> None:
    assert prose_sentences(0) == []
    assert prose_text(0) == ""


def test_sentence_shape() -> None:
    sentences = prose_sentences(20_000, seed=3)
    lengths = [len(s.split()) for s in sentences]
    for s in sentences:
        assert s[-1] in ".?!"
        assert s == s.strip() and "\n" not in s and "  " not in s
        assert s[0].isupper()
    assert min(lengths) >= 6 and max(lengths) <= 35
    assert len(set(lengths)) >= 15  # varied lengths
    assert any(s.endswith("?") for s in sentences)


@pytest.mark.parametrize("seed", [0, 7])
def test_distinct_sentences(seed: int) -> None:
    sentences = prose_sentences(20_000, seed=seed)
    counts = Counter(sentences)
    assert len(counts) / len(sentences) > 0.9
    assert counts.most_common(1)[0][1] <= 4
    # not one repeated frame either: many different first words and topics
    assert len({s.split()[0] for s in sentences}) >= 40


def test_no_needle_like_content() -> None:
    text = prose_text(50_000, seed=11)
    assert "special magic" not in text.lower()
    assert "magic" not in text.lower()
    assert not re.search(r"\d{7}", text)
    assert not re.search(r"\d{5}", text)  # only small numbers and years
    assert not _UUID.search(text)
    assert '"' not in text


def test_prose_text_paragraphs() -> None:
    sentences = prose_sentences(5000, seed=4)
    text = prose_text(5000, seed=4)
    paragraphs = text.split("\n\n")
    assert len(paragraphs) > 10
    assert " ".join(paragraphs).split() == " ".join(sentences).split()
    for para in paragraphs:
        assert para == para.strip() and "\n" not in para
    # all but the (possibly truncated) last paragraph hold 3-7 sentences
    for para in paragraphs[:-1]:
        assert 3 <= len(re.findall(r"[.?!](?= |$)", para)) <= 7


def test_speed() -> None:
    start = time.perf_counter()
    sentences = prose_sentences(200_000, seed=1)
    elapsed = time.perf_counter() - start
    assert _words(sentences) >= 200_000
    assert elapsed < 1.0

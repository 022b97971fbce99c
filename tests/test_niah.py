"""NIAH data generation: determinism, RULER's length rule, wording, value formats, placement."""

import re
import time

import pytest

from ctxlab.api import build_config, generate_data
from ctxlab.errors import CtxlabError
from ctxlab.evaluation import make_task
from ctxlab.prompts import count_prompt_tokens
from ctxlab.tasks.niah import _word_list

BUDGET = 128  # RULER's tokens_to_generate
NUMBER = re.compile(r"\d{7}")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NEEDLE = re.compile(r"One of the special magic (\w+) for (\S+) is: (\S+)\.")


def gen(tokenizer, **options):
    """Generate examples for the given options with the built-in tokenizer (no file I/O)."""
    tok, max_length = tokenizer
    return make_task(build_config(**options)).generate(tok, max_length)


def prompt_tokens(tok, example) -> int:
    return count_prompt_tokens(
        tok, [{"role": "user", "content": example.input}], example.answer_prefix
    )


def context_of(example) -> str:
    """The haystack with its needles: between the instruction line and the question line."""
    lines = example.input.split("\n")
    return "\n".join(lines[1:-1])


def needles_of(example) -> list[tuple[str, str]]:
    return [(k, v) for _, k, v in NEEDLE.findall(example.input)]


def test_generate_data_is_deterministic(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    options = dict(variants="niah_multikey_3", num_samples=50, lengths=1024, seed=7)
    first = generate_data(output=a, **options)
    generate_data(output=b, **options)
    assert len(first) == 50
    assert a.read_bytes() == b.read_bytes()
    assert len(a.read_text(encoding="utf-8").splitlines()) == 50
    other = generate_data(**{**options, "seed": 8, "num_samples": 2})
    assert other[0].input != first[0].input


def test_token_lengths_follow_ruler_rule(tokenizer):
    tok, _ = tokenizer
    examples = gen(tokenizer, variants="niah_multikey_3", num_samples=50, lengths=1024, seed=7)
    assert len(examples) == 50
    for ex in examples:
        total = prompt_tokens(tok, ex) + BUDGET
        assert 0.9 * 1024 <= total <= 1024, (ex.id, total)
        for answer in ex.answers:
            assert answer in ex.input


@pytest.mark.parametrize(
    "variant", ["niah_single_1", "niah_single_2", "niah_multikey_1", "niah_multiquery"]
)
def test_every_variant_fits_and_contains_answers(tokenizer, variant):
    tok, _ = tokenizer
    for ex in gen(tokenizer, variants=variant, num_samples=5, lengths=[512, 2048], seed=3):
        total = prompt_tokens(tok, ex) + BUDGET
        length = ex.meta["length"]
        assert 0.9 * length <= total <= length, (ex.id, total)
        assert ex.answers and all(a in ex.input for a in ex.answers)


@pytest.mark.parametrize("variant", ["niah_single_2", "niah_multikey_2", "niah_multikey_3"])
def test_prefix_stable_when_num_samples_grows(tokenizer, variant):
    small = gen(tokenizer, variants=variant, num_samples=3, lengths=512, seed=5)
    large = gen(tokenizer, variants=variant, num_samples=7, lengths=512, seed=5)
    assert len(small) == 3 and len(large) == 7
    assert small == large[:3]


def test_singular_wording(tokenizer):
    ex = gen(tokenizer, variants="niah_single_1", num_samples=1, lengths=512)[0]
    ((key, value),) = needles_of(ex)
    assert ex.input.startswith("A special magic number is hidden within the following text.")
    assert "I will quiz you about the number afterwards." in ex.input
    assert ex.input.endswith(
        f"What is the special magic number for {key} mentioned in the provided text?"
    )
    assert (
        ex.answer_prefix == f" The special magic number for {key} mentioned in the provided text is"
    )
    assert ex.answers == [value]


def test_plural_wording_multivalue(tokenizer):
    ex = gen(tokenizer, variants="niah_multivalue", num_samples=1, lengths=512)[0]
    needles = needles_of(ex)
    keys = {k for k, _ in needles}
    assert len(needles) == 4 and len(keys) == 1
    (key,) = keys
    assert ex.input.startswith("Some special magic numbers are hidden within the following text.")
    assert "I will quiz you about the numbers afterwards." in ex.input
    assert ex.input.endswith(
        f"What are all the special magic numbers for {key} mentioned in the provided text?"
    )
    assert ex.answer_prefix == (
        f" The special magic numbers for {key} mentioned in the provided text are"
    )
    assert sorted(ex.answers) == sorted(v for _, v in needles)
    assert len(set(ex.answers)) == 4


def test_numbers_are_seven_digits(tokenizer):
    for ex in gen(tokenizer, variants="niah_single_1,niah_single_2", num_samples=10, lengths=512):
        assert len(ex.answers) == 1
        assert NUMBER.fullmatch(ex.answers[0]), ex.answers


def test_uuids_are_uuid4(tokenizer):
    examples = gen(tokenizer, variants="niah_single_3,niah_multikey_3", num_samples=5, lengths=512)
    for ex in examples:
        assert UUID4.fullmatch(ex.answers[0]), ex.answers
    for ex in examples:
        if ex.meta["variant"] == "niah_multikey_3":
            for key, value in needles_of(ex):
                assert UUID4.fullmatch(key) and UUID4.fullmatch(value)


def test_words_are_adjective_hyphen_noun(tokenizer):
    adjectives, nouns = set(_word_list("adjectivelist.txt")), set(_word_list("nounlist.txt"))

    def is_adj_noun(word: str) -> bool:
        parts = word.split("-")
        return any(
            "-".join(parts[:i]) in adjectives and "-".join(parts[i:]) in nouns
            for i in range(1, len(parts))
        )

    examples = gen(
        tokenizer, variants="niah_single_1", needle_type_v="words", num_samples=10, lengths=512
    )
    for ex in examples:
        ((key, value),) = needles_of(ex)
        assert "-" in value and is_adj_noun(value), value
        assert "-" in key and is_adj_noun(key), key
        assert ex.answers == [value]
        assert ex.meta["needle_type_v"] == "words"
        assert "special magic word " in ex.input or "special magic words" in ex.input


def test_multikey_1_has_four_needles_one_query(tokenizer):
    for ex in gen(tokenizer, variants="niah_multikey_1", num_samples=5, lengths=1024):
        needles = needles_of(ex)
        assert len(needles) == 4 and ex.meta["num_needles"] == 4
        assert len({k for k, _ in needles}) == 4
        question = ex.input.rsplit("\n", 1)[1]
        asked = [k for k, _ in needles if k in question]
        assert len(asked) == 1
        assert ex.answers == [dict(needles)[asked[0]]]


def test_multiquery_has_four_answers(tokenizer):
    for ex in gen(tokenizer, variants="niah_multiquery", num_samples=5, lengths=1024):
        needles = dict(needles_of(ex))
        assert len(needles) == 4
        assert len(ex.answers) == 4
        question = ex.input.rsplit("\n", 1)[1]
        assert question.startswith("What are all the special magic numbers for ")
        assert all(k in question for k in needles)
        assert ", and " in question
        assert sorted(ex.answers) == sorted(needles.values())


@pytest.mark.parametrize("variant", ["niah_multikey_2", "niah_multikey_3"])
def test_needle_haystack_has_one_queried_key(tokenizer, variant):
    for ex in gen(tokenizer, variants=variant, num_samples=3, lengths=1024):
        needles = needles_of(ex)
        assert len(needles) > 5  # the haystack is made of distractor needles
        question = ex.input.rsplit("\n", 1)[1]
        queried = [(k, v) for k, v in needles if k in question]
        assert queried == [(queried[0][0], ex.answers[0])]


@pytest.mark.parametrize("variant", ["niah_single_1", "niah_single_2", "niah_single_3"])
def test_depth_zero_and_hundred(tokenizer, variant):
    first = gen(tokenizer, variants=variant, depths=[0], num_samples=3, lengths=512)
    last = gen(tokenizer, variants=variant, depths=[100], num_samples=3, lengths=512)
    for ex in first:
        ((key, value),) = needles_of(ex)
        needle = f"One of the special magic {ex.meta['needle_type_v']} for {key} is: {value}."
        assert context_of(ex).startswith(needle), ex.id
        assert ex.meta["depth"] == 0
    for ex in last:
        ((key, value),) = needles_of(ex)
        needle = f"One of the special magic {ex.meta['needle_type_v']} for {key} is: {value}."
        assert context_of(ex).endswith(needle), ex.id
        assert ex.meta["depth"] == 100


def test_depths_spread_round_robin(tokenizer):
    examples = gen(
        tokenizer, variants="niah_single_1", depths=[0, 50, 100], num_samples=6, lengths=512
    )
    assert [e.meta["depth"] for e in examples] == [0, 50, 100, 0, 50, 100]


@pytest.mark.parametrize("variant", ["niah_single_1", "niah_single_2", "niah_multikey_2"])
def test_char_lengths(variant):
    task = make_task(
        build_config(variants=variant, lengths=[1500, 3000], length_unit="chars", num_samples=4)
    )
    examples = task.generate(None, None)  # characters need no tokenizer
    assert len(examples) == 8
    for ex in examples:
        length = ex.meta["length"]
        assert len(ex.input) <= length, (ex.id, len(ex.input))
        assert len(ex.input) >= 0.9 * length, (ex.id, len(ex.input))
        assert ex.meta["length_unit"] == "chars"
        assert all(a in ex.input for a in ex.answers)


SENTENCES = [
    "Quiet herons fold their maps beside the copper canal.",
    "Every lantern in Velmora hums a different tune at dusk.",
    "The baker counts cinnamon stars before sunrise.",
    "Moss grows politely on the northern side of the observatory.",
]


def test_haystack_file_uses_user_text(tokenizer, tmp_path):
    path = tmp_path / "hay.txt"
    path.write_text("\n\n".join(" ".join(SENTENCES) for _ in range(100)), encoding="utf-8")
    tok, _ = tokenizer
    examples = gen(
        tokenizer, variants="niah_single_2", haystack_file=str(path), num_samples=3, lengths=1024
    )
    for ex in examples:
        context = context_of(ex)
        for sentence in SENTENCES:
            assert sentence in context
        ((key, value),) = needles_of(ex)
        rest = context.replace(f"One of the special magic numbers for {key} is: {value}.", "")
        leftover = rest
        for sentence in SENTENCES:
            leftover = leftover.replace(sentence, "")
        assert leftover.strip() == "", leftover[:200]  # nothing but the user's sentences
        assert "drummers" not in context  # not the built-in prose
        assert 0.9 * 1024 <= prompt_tokens(tok, ex) + BUDGET <= 1024


def test_short_haystack_file_raises(tokenizer, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text(" ".join(SENTENCES), encoding="utf-8")
    with pytest.raises(CtxlabError, match="too short"):
        gen(
            tokenizer,
            variants="niah_single_2",
            haystack_file=str(path),
            num_samples=1,
            lengths=1024,
        )


def test_missing_haystack_file_raises(tokenizer, tmp_path):
    with pytest.raises(CtxlabError, match="does not exist"):
        gen(
            tokenizer,
            variants="niah_single_2",
            haystack_file=str(tmp_path / "nope.txt"),
            num_samples=1,
            lengths=512,
        )


def test_length_beyond_window_raises(tokenizer):
    _, max_length = tokenizer
    with pytest.raises(CtxlabError, match="exceeds the model's window"):
        gen(tokenizer, variants="niah_single_1", num_samples=1, lengths=max_length + 1)


def test_length_too_small_raises(tokenizer):
    with pytest.raises(CtxlabError, match="too small"):
        gen(tokenizer, variants="niah_single_1", num_samples=1, lengths=150)


@pytest.mark.integration
def test_generation_speed(tokenizer):
    start = time.perf_counter()
    examples = gen(tokenizer, variants="niah_single_2", num_samples=500, lengths=4096)
    elapsed = time.perf_counter() - start
    assert len(examples) == 500
    assert elapsed < 30, f"500 examples at 4096 tokens took {elapsed:.1f} s"

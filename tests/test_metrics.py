"""Metrics match RULER's definitions; the cleaning functions do what their docstrings say."""

import random

import pytest

from ctxlab.cleaning import clean_data_ruler, clean_pred_flag, clean_pred_ruler
from ctxlab.metrics import score_one, string_match_all, string_match_part


# RULER's reference formulas (scripts/eval/synthetic/constants.py), written out as the oracle.
def ruler_string_match_all(preds, refs):
    return (
        sum(
            sum(1.0 if r.lower() in pred.lower() else 0.0 for r in ref) / len(ref)
            for pred, ref in zip(preds, refs)
        )
        / len(preds)
        * 100
    )


def ruler_string_match_part(preds, refs):
    return (
        sum(
            max(1.0 if r.lower() in pred.lower() else 0.0 for r in ref)
            for pred, ref in zip(preds, refs)
        )
        / len(preds)
        * 100
    )


@pytest.mark.parametrize("metric", [string_match_all, string_match_part])
def test_case_insensitive(metric):
    assert metric(["The answer is ALPHA-Beta."], [["alpha-beta"]]) == 100.0
    assert metric(["the answer is alpha-beta"], [["ALPHA-BETA"]]) == 100.0
    assert metric(["nothing here"], [["alpha"]]) == 0.0


def test_partial_credit_several_references():
    pred = "The numbers are 1111111 and 3333333."
    refs = ["1111111", "2222222", "3333333", "4444444"]
    assert string_match_all([pred], [refs]) == pytest.approx(50.0)
    assert string_match_part([pred], [refs]) == pytest.approx(100.0)
    assert string_match_all([pred], [refs[:1]]) == 100.0
    assert string_match_part(["none"], [refs]) == 0.0


def test_averaged_over_samples_in_percent():
    preds = ["a b c d", "a", "zzz"]
    refs = [["a", "b", "c", "d"], ["a", "b"], ["a"]]
    # per sample: all = 1, 0.5, 0; part = 1, 1, 0
    assert string_match_all(preds, refs) == pytest.approx(100 * 1.5 / 3)
    assert string_match_part(preds, refs) == pytest.approx(100 * 2 / 3)
    assert 0.0 <= string_match_all(preds, refs) <= 100.0


def test_score_one_is_single_sample_metric():
    assert score_one("string_match_all", "x 12 y", ["12", "34"]) == pytest.approx(50.0)
    assert score_one("string_match_part", "x 12 y", ["12", "34"]) == pytest.approx(100.0)


@pytest.mark.parametrize("metric", [string_match_all, string_match_part])
@pytest.mark.parametrize(
    "preds, refs",
    [
        ([], []),
        (["a"], []),
        (["a", "b"], [["a"]]),
        (["a"], [[]]),
    ],
)
def test_bad_input_raises(metric, preds, refs):
    with pytest.raises(ValueError):
        metric(preds, refs)


def _random_case(rng: random.Random):
    alphabet = "abAB12 -"
    n = rng.randint(1, 6)
    preds = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(n)]
    refs = [
        ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3))) for _ in range(k)]
        for k in (rng.randint(1, 4) for _ in range(n))
    ]
    return preds, refs


def test_parity_with_ruler_on_random_cases():
    rng = random.Random(1234)
    for _ in range(500):
        preds, refs = _random_case(rng)
        assert string_match_all(preds, refs) == pytest.approx(ruler_string_match_all(preds, refs))
        assert string_match_part(preds, refs) == pytest.approx(ruler_string_match_part(preds, refs))


def test_clean_pred_flag_keeps_first_line():
    assert clean_pred_flag("\n\n  1234567\nsome chatter\nmore") == "1234567"
    assert clean_pred_flag("one line ") == "one line"
    assert clean_pred_flag("") == ""


def test_clean_pred_ruler_converts_control_chars():
    assert clean_pred_ruler("  a\x00b\tc\x1fd  ") == "a\nb\nc\nd"
    assert clean_pred_ruler("\x01 answer 42 \x02") == "answer 42"
    # printable text and its inner newlines are kept
    assert clean_pred_ruler("line one\nline two") == "line one\nline two"


def test_clean_data_ruler_squeezes_and_strips_control_chars():
    text = "  Hello  \t world\x07!\r\n\n\n\n\nNext\x00\x01 para\x7f.  \n"
    out = clean_data_ruler(text)
    assert out == "Hello world !\n\nNext para ."
    assert not any(ord(c) < 32 and c != "\n" for c in out)
    assert "\x7f" not in out
    assert "\n\n\n" not in out and "  " not in out
    assert clean_data_ruler("a\n\nb") == "a\n\nb"

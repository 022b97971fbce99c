"""Intervals and paired tests against hand-computed cases (`ctxlab.stats`)."""

import math
import statistics

import pytest

from ctxlab.stats import interval, paired_test, verdict


def test_exact_binomial_intervals_match_clopper_pearson():
    # 0/10: upper bound 1 - 0.025 ** (1/10); 10/10 mirrors it; 5/10 from the beta quantiles.
    none = interval([0.0] * 10)
    assert none.method == "exact binomial"
    assert none.low == 0.0 and none.high == pytest.approx(100 * (1 - 0.025**0.1), abs=1e-6)
    every = interval([100.0] * 10)
    assert every.low == pytest.approx(100 * 0.025**0.1, abs=1e-6) and every.high == 100.0
    half = interval([100.0] * 5 + [0.0] * 5)
    assert (half.low, half.high) == pytest.approx((18.7086, 81.2914), abs=1e-3)


def test_bootstrap_interval_for_graded_scores():
    values = [0.0, 25.0, 50.0, 75.0, 100.0] * 20  # step validity-like scores, n = 100
    first, again = interval(values, seed=3), interval(values, seed=3)
    assert first == again and first.method == "bootstrap"  # seeded: reproducible
    mean = statistics.fmean(values)
    half_width = 1.96 * statistics.pstdev(values) / math.sqrt(len(values))
    assert first.low < mean < first.high
    assert first.high - first.low == pytest.approx(2 * half_width, rel=0.15)
    assert interval([40.0] * 7) == interval([40.0] * 7)
    assert (interval([40.0] * 7).low, interval([40.0] * 7).high) == (40.0, 40.0)


def test_sign_test_matches_the_hand_computed_p_value():
    # 16 better, 9 worse, 5 ties: p = 2 * P(X >= 16 | Bin(25, 1/2)) = 2 * 3850756 / 2**25
    before = [50.0] * 30
    after = [75.0] * 16 + [25.0] * 9 + [50.0] * 5
    test = paired_test(before, after)
    assert test.method == "exact sign test"
    assert (test.improved, test.worsened, test.n) == (16, 9, 30)
    assert test.p_value == pytest.approx(2 * 3850756 / 2**25, abs=1e-9)
    assert not test.significant and "not significant at 0.05" in verdict(test.to_dict())


def test_mcnemar_on_right_wrong_scores():
    # 10 discordant pairs all in one direction: p = 2 / 2**10; concordant pairs do not count.
    before = [0.0] * 10 + [100.0] * 20 + [0.0] * 10
    after = [100.0] * 10 + [100.0] * 20 + [0.0] * 10
    test = paired_test(before, after)
    assert test.method == "exact McNemar"
    assert test.p_value == pytest.approx(2 / 2**10)
    assert test.delta == pytest.approx(25.0) and test.significant
    assert test.delta_interval.low <= 25.0 <= test.delta_interval.high
    assert verdict(test.to_dict()).startswith("significant at 0.05 (p = 0.00195")


def test_no_change_and_bad_pairs():
    same = paired_test([100.0, 0.0], [100.0, 0.0])
    assert same.p_value == 1.0 and same.delta == 0.0
    with pytest.raises(ValueError):
        paired_test([1.0], [1.0, 2.0])


def test_results_are_plain_python_numbers():
    """They go into JSON artifacts: no numpy scalars."""
    test = paired_test([0.0, 100.0, 0.0], [100.0, 100.0, 100.0]).to_dict()
    assert all(type(v) in (int, float, bool, str, dict) for v in test.values())
    assert type(test["significant"]) is bool and type(test["p_value"]) is float
    bounds = interval([0.0, 50.0, 100.0]).to_dict()
    assert all(type(bounds[k]) is float for k in ("low", "high"))

"""The report's statistics against hand-computed values, t tables, Cohen's power tables, and the scipy /
statsmodels functions the code does not use (ttest_ind, ttest_rel, mannwhitneyu, multipletests,
TTestIndPower)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as st

from se_variants.runner import stats

# two-sided 95 % critical values of Student's t (printed tables)
T975 = {2: 4.302652729749464, 4: 2.7764451051977987}


def test_summary_mean_sample_std_and_t_interval():
    s = stats.summarize([1, 2, 3, 4, 5])
    assert (s.n, s.mean) == (5, 3.0)
    assert s.std == pytest.approx(math.sqrt(2.5))  # ddof = 1
    half = T975[4] * math.sqrt(2.5) / math.sqrt(5)  # = 1.963243
    assert (s.ci_low, s.ci_high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert half == pytest.approx(1.963243, abs=1e-6)
    s3 = stats.summarize([90.0, 92.0, 94.0])
    assert s3.ci_high - s3.mean == pytest.approx(T975[2] * 2 / math.sqrt(3))  # 4.968275
    assert stats.summarize([7.0]) == stats.Summary(1, 7.0, None, None, None)
    assert stats.summarize([]) == stats.Summary(0, None, None, None, None)


def test_welch_by_hand_and_against_scipy():
    a, b = [90.0, 92.0, 94.0], [88.0, 89.0, 90.0]
    c = stats.welch(a, b)
    # by hand: Δ = 3, s_a² = 4, s_b² = 1, SE = √(4/3 + 1/3) = √(5/3), ν = (5/3)² / ((4/3)²/2 + (1/3)²/2) = 50/17
    assert c.delta == pytest.approx(3.0)
    assert c.se == pytest.approx(math.sqrt(5 / 3))
    assert c.t == pytest.approx(3 / math.sqrt(5 / 3)) and c.t == pytest.approx(2.323790, abs=1e-6)
    assert c.df == pytest.approx(50 / 17)
    ref = st.ttest_ind(a, b, equal_var=False)
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low, rel=1e-10), pytest.approx(ci.high, rel=1e-10))
    assert c.test == "welch" and c.note is None and (c.n_a, c.n_b) == (3, 3)
    # effect sizes by hand: pooled s = √((8 + 2) / 4); every a beats or ties every b: P = (8 + 0.5) / 9
    assert c.cohens_d == pytest.approx(3 / math.sqrt(2.5))
    assert c.prob_improvement == pytest.approx(8.5 / 9)


def test_welch_unequal_sizes_against_scipy():
    rng = np.random.default_rng(0)
    for na, nb in ((3, 7), (5, 4), (10, 3)):
        a, b = rng.normal(70, 2, na), rng.normal(69, 0.5, nb)
        c = stats.welch(a, b)
        ref = st.ttest_ind(a, b, equal_var=False)
        assert c.t == pytest.approx(ref.statistic, rel=1e-10) and c.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert c.df == pytest.approx(ref.df, rel=1e-10)


def test_fewer_than_three_seeds_no_p_value():
    c = stats.welch([90.0, 91.0], [88.0, 89.0, 90.0])
    assert c.p_value is None and c.note == stats.INSUFFICIENT == "insufficient seeds (n < 3)"
    assert c.ci_low is not None and c.delta == pytest.approx(1.5)  # the (wide) interval is still exact
    one = stats.welch([90.0], [88.0, 89.0, 90.0])
    assert one.p_value is None and one.ci_low is None and one.note == stats.INSUFFICIENT
    empty = stats.welch([], [1.0, 2.0, 3.0])
    assert empty.delta is None and empty.p_value is None


def test_no_variation_is_not_a_test():
    c = stats.welch([90.0] * 3, [89.0] * 3)
    assert c.p_value is None and c.ci_low is None and c.note == stats.NO_VARIATION
    assert "no seed-to-seed variation on either side" in c.note
    # identical values on both sides: Δ = 0 but SE = 0 too, so t = 0/0 (scipy: nan), not p = 1 with [0, 0]
    same = stats.welch([90.0] * 3, [90.0] * 3)
    assert (same.p_value, same.ci_low, same.ci_high, same.t) == (None, None, None, None)
    assert same.note == stats.NO_VARIATION and same.delta == 0.0
    assert math.isnan(st.ttest_ind_from_stats(90.0, 0.0, 3, 90.0, 0.0, 3, equal_var=False).pvalue)


def test_constant_arms_with_rounded_values_are_not_significant():
    """136/270 and 139/270 in %: three equal copies have a variance of ~1e-28 when the mean is rounded, which
    gave t ~ 1e14 and p < 0.001; equal values have no variation."""
    a, b = [139 / 270 * 100] * 3, [136 / 270 * 100] * 3
    assert stats.summarize(a).std == 0.0
    c = stats.welch(a, b)
    assert c.p_value is None and c.ci_low is None and c.note == stats.NO_VARIATION
    assert stats.cohens_d(a, b) is None


def test_one_arm_without_variation_is_tested_normally():
    a, b = [98.0, 98.0, 98.0], [97.0, 97.5, 98.5]
    c = stats.welch(a, b)
    with warnings.catch_warnings():  # scipy warns that the values of a are "nearly identical"
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = st.ttest_ind(a, b, equal_var=False)
    assert c.note is None and c.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert c.df == pytest.approx(2.0)  # ν = n_b − 1 when s_a = 0
    ci = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low, rel=1e-10), pytest.approx(ci.high, rel=1e-10))
    flat = 139 / 270 * 100  # three copies have a variance of ~1e-28 when the mean is rounded: taken as 0
    ref = st.ttest_ind_from_stats(flat, 0.0, 3, np.mean(b), np.std(b, ddof=1), 3, equal_var=False)
    assert stats.welch([flat] * 3, b).p_value == pytest.approx(ref.pvalue, rel=1e-10)


def test_too_few_seeds_is_the_reason_before_no_variation():
    two = stats.welch([90.0, 90.0], [89.0, 89.0])
    assert two.note == stats.INSUFFICIENT and two.p_value is None and two.ci_low is None
    pairs = stats.paired({0: 91.0, 1: 92.0}, {0: 90.0, 1: 91.0})  # 2 pairs, both d = 1
    assert pairs.note == stats.INSUFFICIENT_PAIRED == "insufficient paired seeds (n < 3)"
    assert pairs.p_value is None and pairs.ci_low is None and pairs.delta == pytest.approx(1.0)
    three = stats.paired({0: 91.0, 1: 92.0, 2: 95.0}, {0: 90.0, 1: 91.0, 2: 94.0})
    assert three.note == stats.NO_PAIRED_VARIATION and three.p_value is None and three.ci_low is None


def test_paired_differences_equal_up_to_rounding_do_not_vary():
    ks = (401, 404, 408)  # k/450 − (k − 5)/450 in % is 1.1111111111111143 or 1.1111111111111 by rounding
    a, b = ({s: (k - shift) / 450 * 100 for s, k in enumerate(ks)} for shift in (0, 5))
    c = stats.paired(a, b)
    assert c.note == stats.NO_PAIRED_VARIATION and c.p_value is None
    assert c.delta == pytest.approx(100 / 90)


def test_paired_without_shared_seeds():
    c = stats.paired({0: 1.0, 1: 2.0, 2: 3.0}, {3: 1.0, 4: 2.0, 5: 3.0})
    assert c.delta is None and c.p_value is None
    assert c.note == stats.NO_SHARED_SEEDS == "no seeds shared with the baseline"


def test_paired_by_hand_and_against_scipy():
    a = {0: 91.0, 1: 93.0, 2: 94.0, 3: 92.0, 7: 99.0}
    b = {0: 90.0, 1: 91.0, 2: 91.0, 3: 90.0, 5: 50.0}  # seeds 5 and 7 have no partner
    c = stats.paired(a, b)
    # d = [1, 2, 3, 2]: mean 2, s_d = √(2/3), SE = s_d / 2, t = 2 / SE = 4.898979, df = 3
    assert c.delta == pytest.approx(2.0) and c.df == 3 and (c.n_a, c.n_b) == (4, 4)
    assert c.t == pytest.approx(2 / (math.sqrt(2 / 3) / 2)) and c.t == pytest.approx(4.898979, abs=1e-6)
    ref = st.ttest_rel([91, 93, 94, 92], [90, 91, 91, 90])
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    short = stats.paired({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.0, 1: 1.5})
    assert short.p_value is None and short.note == "insufficient paired seeds (n < 3)"
    assert stats.paired({0: 1.0}, {1: 1.0}).delta is None


def test_holm_by_hand_and_against_statsmodels(monkeypatch):
    import gc

    from statsmodels.stats.multitest import multipletests

    # statsmodels' Holm runs a full garbage collection at every call (most of a second in a test process that
    # holds torch, Lightning and Hydra); the values it returns do not depend on it
    monkeypatch.setattr(gc, "collect", lambda generation=2: 0)

    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([None, 0.01, 0.04]) == [None, pytest.approx(0.02), pytest.approx(0.04)]  # m = 2
    assert stats.holm([0.6, 0.7]) == [1.0, 1.0]
    assert stats.holm([]) == [] and stats.holm([None]) == [None]
    rng = np.random.default_rng(1)
    for m in (1, 2, 5, 17):
        p = rng.uniform(0, 0.2, m)
        assert stats.holm(list(p)) == pytest.approx(list(multipletests(p, method="holm")[1]), rel=1e-12)


def test_prob_improvement_is_mann_whitney_u_over_pairs():
    a, b = [1.0, 2.0, 3.0], [2.0, 2.0]
    assert stats.prob_improvement(a, b) == pytest.approx(0.5)  # (0 + 1 + 2) / 6
    rng = np.random.default_rng(2)
    x, y = rng.normal(0, 1, 6).round(1), rng.normal(0.5, 1, 5).round(1)
    u = st.mannwhitneyu(x, y).statistic
    assert stats.prob_improvement(list(x), list(y)) == pytest.approx(u / 30)
    assert stats.prob_improvement([], [1.0]) is None


def test_cohens_d_pooled():
    assert stats.cohens_d([90.0, 92.0, 94.0], [88.0, 89.0, 90.0]) == pytest.approx(3 / math.sqrt(10 / 4))
    assert stats.cohens_d([1.0], [1.0]) is None and stats.cohens_d([1.0, 1.0], [1.0]) is None


def test_seeds_needed_matches_cohens_table_and_statsmodels():
    from statsmodels.stats.power import TTestIndPower

    # Cohen (1988), Table 2.4.1: two-sided α = .05, power .80 → 64 and 26 per group for d = .5 and .8; for d = .2
    # the table's normal approximation gives 393, the exact noncentral t (G*Power, statsmodels) 393.4 → 394
    assert [stats.seeds_needed(d) for d in (0.2, 0.5, 0.8)] == [394, 64, 26]
    for d, alpha in ((1.0, 0.05), (2.0, 0.05), (1.5, 0.01), (0.9, 0.1), (-1.2, 0.05)):
        ref = TTestIndPower().solve_power(effect_size=abs(d), alpha=alpha, power=0.8)
        assert stats.seeds_needed(d, alpha) == max(stats.MIN_SEEDS, math.ceil(ref))
    assert stats.seeds_needed(10.0) == stats.MIN_SEEDS
    assert stats.seeds_needed(0.0) is None and stats.seeds_needed(0.01, max_n=100) is None
    with pytest.raises(ValueError, match="alpha"):
        stats.seeds_needed(1.0, alpha=1.5)


def test_detectable_effect_inverts_seeds_needed_and_matches_cohens_table_and_statsmodels():
    """The minimum detectable effect: the d a two-sided t-test with n per arm detects with 80 % power."""
    from statsmodels.stats.power import TTestIndPower

    # Cohen (1988), Table 2.4.1 (α = .05, power .80): 64 per group detect d = .5, 26 detect d = .8
    assert stats.detectable_effect(64) == pytest.approx(0.5, abs=0.005)
    assert stats.detectable_effect(26) == pytest.approx(0.8, abs=0.01)
    for n, alpha in ((3, 0.05), (5, 0.05), (10, 0.01), (20, 0.1)):
        ref = TTestIndPower().solve_power(nobs1=n, alpha=alpha, power=0.8)
        assert stats.detectable_effect(n, alpha) == pytest.approx(ref, rel=1e-4)
    # Holm's first step over 17 variants with 3 seeds: scipy's noncentral t returns nan in the wrong tail there
    # (statsmodels then solves to 5.36, whose power is 0.60); a simulation of the t statistic checks the power
    rng = np.random.default_rng(0)
    for n, alpha in ((3, 0.05 / 17), (2, 0.05 / 17)):
        d = stats.detectable_effect(n, alpha)
        df, draws = 2 * n - 2, 400_000
        t = (rng.standard_normal(draws) + d * math.sqrt(n / 2)) / np.sqrt(rng.chisquare(df, draws) / df)
        assert (np.abs(t) > st.t.ppf(1 - alpha / 2, df)).mean() == pytest.approx(0.8, abs=0.004), (n, d)
    for n in (3, 4, 7, 17):  # the inverse of seeds_needed: n seeds detect d, and no fewer do
        d = stats.detectable_effect(n)
        assert stats.seeds_needed(d * 1.0001) == n and stats.seeds_needed(d * 0.999) > n
    assert stats.detectable_effect(1) is None
    with pytest.raises(ValueError, match="power"):
        stats.detectable_effect(3, power=1.0)


def test_bad_confidence_is_refused():
    with pytest.raises(ValueError, match="confidence"):
        stats.summarize([1.0, 2.0], confidence=95)

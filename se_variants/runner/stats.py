"""Statistics for comparing variants over a few seeds: t-intervals, Welch's and the paired t-test, Holm's
step-down adjustment, two effect sizes and a seed planner. Pure functions of numbers; no I/O.

Why these and not others, at the sample sizes of ablations (2-10 seeds per variant):

* t-intervals and t-tests are exact for normal data and close to nominal for mild departures; a percentile
  bootstrap 95 % interval covers only about 76 % at n = 3 and 84 % at n = 5, so it is never used here.
* Exact rank or permutation tests cannot reach p < 0.05 with 3 seeds per arm (smallest two-sided p: 0.10).
* Welch's test does not assume that a variant and its baseline have the same seed-to-seed variance.
* Holm's step-down adjustment controls the family-wise error rate over all variants compared with one
  baseline, for any dependence between the tests, and is uniformly more powerful than Bonferroni.

Units are the caller's (the report passes accuracies in %). A result that cannot be computed is ``None``,
with the reason in ``note``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


__all__ = ["MIN_SEEDS", "INSUFFICIENT", "INSUFFICIENT_PAIRED", "NO_VARIATION", "NO_PAIRED_VARIATION",
           "NO_SHARED_SEEDS", "Summary", "Comparison", "Reproduction", "summarize", "welch", "paired", "holm",
           "prob_improvement", "cohens_d", "seeds_needed", "detectable_effect", "reproduction"]

#: fewest seeds per arm for a p-value: below it the std is a guess and no normality check is possible
MIN_SEEDS = 3
#: what the report shows instead of a p-value when either arm has fewer than MIN_SEEDS seeds
INSUFFICIENT = f"insufficient seeds (n < {MIN_SEEDS})"
#: the same for a paired comparison: fewer than MIN_SEEDS seeds shared by the variant and the baseline
INSUFFICIENT_PAIRED = f"insufficient paired seeds (n < {MIN_SEEDS})"
#: Welch's test when neither arm varies: SE = 0, so t is 0/0 or ±∞
NO_VARIATION = "no seed-to-seed variation on either side: a t-test is undefined"
#: the paired test when every pair differs by the same amount: s_d = 0
NO_PAIRED_VARIATION = "every shared seed differs from the baseline by the same amount: a t-test is undefined"
#: the paired test when the arms have no seed in common
NO_SHARED_SEEDS = "no seeds shared with the baseline"
#: values that differ by at most this many units in the last place of their size are taken as equal (the
#: rounding of an accuracy k / N · 100; 3 ulp at most for the differences of two such numbers)
_ROUNDING_ULPS = 8


@dataclass(frozen=True)
class Summary:
    """n, mean, sample std (ddof = 1) and the t-interval of the mean of one variant's per-seed values."""

    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Comparison:
    """A variant (a) against its baseline (b).

    ``delta`` = mean(a) − mean(b) (paired: the mean of the per-seed differences); ``ci_low``/``ci_high``: its
    confidence interval; ``p_value``: two-sided; ``df``: degrees of freedom of the t distribution used;
    ``n_a``/``n_b``: values used (paired: both are the number of pairs); ``note``: why a field is None.
    """

    test: str
    n_a: int
    n_b: int
    delta: float | None
    se: float | None = None
    df: float | None = None
    t: float | None = None
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    prob_improvement: float | None = None
    cohens_d: float | None = None
    note: str | None = None


def _mean(x: Sequence[float]) -> float:
    return math.fsum(x) / len(x)


def _var(x: Sequence[float], scale: float | None = None) -> float:
    """Sample variance, ddof = 1: Σ(x − x̄)² / (n − 1); exactly 0 when the values differ by no more than the
    float rounding of numbers of size ``scale`` (default: the largest |x|). Without that, three copies of
    50.370370... give a variance of 1e-28 (the mean is rounded), and two arms of constant seeds a "significant" t."""
    scale = max(abs(v) for v in x) if scale is None else scale
    if max(x) - min(x) <= _ROUNDING_ULPS * math.ulp(scale):
        return 0.0
    m = _mean(x)
    return math.fsum((v - m) ** 2 for v in x) / (len(x) - 1)


def _t_quantile(confidence: float, df: float) -> float:
    """t_{(1 + confidence) / 2, df}: the two-sided critical value."""
    from scipy import stats as _st  # (imported when first needed: it costs half a second)

    return float(_st.t.ppf(0.5 + confidence / 2, df))


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence!r}.")


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """n, mean x̄, sample std s = √(Σ(x − x̄)² / (n − 1)) and the t-interval x̄ ± t_{(1+c)/2, n−1} · s / √n.

    std and interval need n >= 2 (None below); with n = 1 only the mean is given.
    """
    _check_confidence(confidence)
    x = [float(v) for v in values]
    n = len(x)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = _mean(x)
    if n == 1:
        return Summary(1, mean, None, None, None)
    std = math.sqrt(_var(x))
    half = _t_quantile(confidence, n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def prob_improvement(a: Sequence[float], b: Sequence[float]) -> float | None:
    """P(X > Y) + ½ P(X = Y) for X a value of ``a`` and Y a value of ``b``, over all n_a · n_b pairs: the
    probability that a seed of the variant beats a seed of the baseline (McGraw & Wong's common-language effect
    size; Vargha-Delaney A = Mann-Whitney U / (n_a n_b)). 0.5: no tendency; None when an arm is empty."""
    if not a or not b:
        return None
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(x̄_a − x̄_b) / s_p with the pooled std s_p = √(((n_a − 1) s_a² + (n_b − 1) s_b²) / (n_a + n_b − 2)).

    None when s_p is not defined (n_a + n_b < 3) or 0. From a few seeds it is a rough estimate (biased upwards
    in size by about 3 / (4(n_a + n_b) − 9), Hedges 1981)."""
    na, nb = len(a), len(b)
    if na == 0 or nb == 0 or na + nb < 3:
        return None
    ss = math.fsum((len(x) - 1) * _var(x) for x in (a, b) if len(x) > 1)
    sp = math.sqrt(ss / (na + nb - 2))
    return (_mean(a) - _mean(b)) / sp if sp > 0 else None


def _finish(test: str, na: int, nb: int, delta: float, se: float, df: float, confidence: float, min_n: int,
            few: str, flat: str, **extra) -> Comparison:
    """t, p and the interval of ``delta`` with standard error ``se`` on ``df`` degrees of freedom.

    The reasons for a missing value, the first that applies: fewer than ``min_n`` values on a side -- no p, note
    ``few`` (the interval is still given when SE > 0); SE = 0 -- no t, p or interval (t would be 0/0 or ±∞), note
    ``flat``."""
    short = min(na, nb) < min_n
    if se == 0.0:
        return Comparison(test, na, nb, delta, se, df, **extra, note=few if short else flat)
    t = delta / se
    half = _t_quantile(confidence, df) * se
    from scipy import stats as _st

    p = None if short else float(2.0 * _st.t.sf(abs(t), df))
    return Comparison(test, na, nb, delta, se, df, t, p, delta - half, delta + half, **extra,
                      note=few if short else None)


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95, min_n: int = MIN_SEEDS) -> Comparison:
    """Welch's unequal-variance t-test of mean(a) = mean(b), two-sided, and the interval of the difference.

    Δ = x̄_a − x̄_b, SE = √(s_a²/n_a + s_b²/n_b), t = Δ / SE,
    ν = SE⁴ / ((s_a²/n_a)² / (n_a − 1) + (s_b²/n_b)² / (n_b − 1))   (Welch-Satterthwaite),
    p = 2 · P(T_ν > |t|), interval Δ ± t_{(1+c)/2, ν} · SE.

    The interval needs n >= 2 in both arms; the p-value needs ``min_n`` (3) -- below that ``note`` is
    :data:`INSUFFICIENT`. One arm without variation is fine (ν = n − 1 of the other); with no variation in
    either arm SE = 0 and the test is undefined, whatever Δ: no t, p or interval, ``note`` :data:`NO_VARIATION`.
    """
    _check_confidence(confidence)
    a, b = [float(v) for v in a], [float(v) for v in b]
    na, nb = len(a), len(b)
    few = f"insufficient seeds (n < {min_n})"
    effects = {"prob_improvement": prob_improvement(a, b), "cohens_d": cohens_d(a, b)}
    if na == 0 or nb == 0:
        return Comparison("welch", na, nb, None, **effects, note="no values in one arm")
    delta = _mean(a) - _mean(b)
    if na < 2 or nb < 2:
        return Comparison("welch", na, nb, delta, **effects, note=few)
    va, vb = _var(a) / na, _var(b) / nb
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1)) if se > 0 else float(na + nb - 2)
    return _finish("welch", na, nb, delta, se, df, confidence, min_n, few, NO_VARIATION, **effects)


def paired(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95,
           min_n: int = MIN_SEEDS) -> Comparison:
    """Paired t-test over the seeds both arms have: d_s = a_s − b_s, d̄ = mean, s_d = sample std,
    SE = s_d / √n, t = d̄ / SE on n − 1 degrees of freedom, p two-sided, interval d̄ ± t_{(1+c)/2, n−1} · SE.

    Args:
        a, b: seed → value. Seeds in only one arm are not used.

    Notes, the first that applies: no shared seed (:data:`NO_SHARED_SEEDS`); fewer than ``min_n`` pairs
    (:data:`INSUFFICIENT_PAIRED`; the interval from 2 pairs); the same d_s for every seed
    (:data:`NO_PAIRED_VARIATION`: s_d = 0, no test).

    Valid when the pairing was fixed before the results were seen (same seed) and the pairs are independent
    of each other; it gains power over :func:`welch` only when a seed fixes randomness both jobs share (data
    order, augmentation, a seed-dependent data split), so that a_s and b_s are positively correlated.
    """
    _check_confidence(confidence)
    seeds = sorted(set(a) & set(b))
    xs, ys = [float(a[s]) for s in seeds], [float(b[s]) for s in seeds]
    d = [x - y for x, y in zip(xs, ys)]
    n = len(d)
    few = f"insufficient paired seeds (n < {min_n})"
    effects = {"prob_improvement": prob_improvement(xs, ys), "cohens_d": cohens_d(xs, ys)}
    if n == 0:
        return Comparison("paired", 0, 0, None, **effects, note=NO_SHARED_SEEDS)
    delta = _mean(d)
    if n < 2:
        return Comparison("paired", n, n, delta, **effects, note=few)
    # the d_s inherit the rounding of values of the size of a_s and b_s, not of their own size
    se = math.sqrt(_var(d, scale=max(abs(v) for v in xs + ys)) / n)
    return _finish("paired", n, n, delta, se, n - 1, confidence, min_n, few, NO_PAIRED_VARIATION, **effects)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order; None entries stay None and do not
    count in the family.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m):
    p̃_(i) = min(1, max_{j <= i} (m − j + 1) · p_(j)). Rejecting p̃ < α controls the family-wise error rate at α.
    """
    idx = sorted((i for i, p in enumerate(p_values) if p is not None), key=lambda i: p_values[i])
    m = len(idx)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, (m - rank) * float(p_values[i]))
        out[i] = min(1.0, running)
    return out


def _power(n: int, d: float, alpha: float) -> float:
    """Power of the two-sided two-sample t-test (n per arm, equal variances) at standardized effect d:
    1 − F(t_c) + F(−t_c) for F the noncentral t (df = 2n − 2, noncentrality d · √(n/2)), t_c = t_{1−α/2, df}."""
    df = 2 * n - 2
    nc = abs(d) * math.sqrt(n / 2)
    from scipy import stats as _st

    crit = _st.t.ppf(1 - alpha / 2, df)
    wrong_tail = _st.nct.cdf(-crit, df, nc)  # rejecting on the wrong side: scipy returns nan where it underflows
    return float(_st.nct.sf(crit, df, nc) + (wrong_tail if math.isfinite(wrong_tail) else 0.0))


def seeds_needed(d: float, alpha: float = 0.05, power: float = 0.8, max_n: int = 1000) -> int | None:
    """Seeds per arm for a two-sided two-sample t-test at level ``alpha`` to detect a true difference of
    ``d`` standard deviations (Cohen's d) with probability ``power``; at least :data:`MIN_SEEDS`.

    None when more than ``max_n`` would be needed (or d = 0). A planning number for the *next* experiment:
    the power at an effect observed in the same data is not evidence about that effect.
    """
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1); got alpha={alpha!r}, power={power!r}.")
    if not math.isfinite(d) or d == 0.0:
        return None
    lo, hi = MIN_SEEDS, MIN_SEEDS
    while _power(hi, d, alpha) < power:  # power grows with n: double, then bisect
        if hi > max_n:
            return None
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if _power(mid, d, alpha) >= power:
            hi = mid
        else:
            lo = mid + 1
    return hi if hi <= max_n else None


def detectable_effect(n: int, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The minimum detectable effect of a two-sided two-sample t-test with ``n`` seeds per arm at level
    ``alpha``: the true difference, in standard deviations (Cohen's d), that it detects with probability
    ``power`` -- the inverse of :func:`seeds_needed`. None for n < 2 (no degrees of freedom).

    Multiply by a seed std to get it in the units of the values (pp for the report's accuracies). A planning
    number, like :func:`seeds_needed`: it says what a run of this size can show, not what it showed."""
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1); got alpha={alpha!r}, power={power!r}.")
    if n < 2:
        return None
    lo, hi = 0.0, 1.0
    while _power(n, hi, alpha) < power:  # power grows with d: double, then bisect to 1e-6
        lo, hi = hi, hi * 2
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _power(n, mid, alpha) >= power else (mid, hi)
    return hi


@dataclass(frozen=True)
class Reproduction:
    """Our runs of a variant (a) against published runs of it (b): both summaries, whether their mean lies in our
    t-interval, Welch's test of the two means and the ratio of the standard deviations (ours / theirs)."""

    ours: Summary
    theirs: Summary
    inside: bool | None  # b's mean within a's interval (None without an interval)
    delta: float | None  # mean(a) − mean(b)
    p_value: float | None  # Welch's two-sided p (None: see note)
    sd_ratio: float | None  # std(a) / std(b) (None when either is undefined or std(b) = 0)
    note: str | None = None


def reproduction(ours: Sequence[float], theirs: Sequence[float], confidence: float = 0.95,
                 min_n: int = MIN_SEEDS) -> Reproduction:
    """Does ``ours`` reproduce ``theirs``? Our mean's t-interval (:func:`summarize`) and whether their mean x̄_b
    lies in it; Welch's test of mean(a) = mean(b) (:func:`welch`, with its notes); s_a / s_b.

    Their mean inside our interval is what a reader checks first, but it ignores their own uncertainty; Welch's
    p takes both into account. Neither says the two are equal: a large p at few seeds is weak evidence."""
    a, b = summarize(ours, confidence), summarize(theirs, confidence)
    w = welch(ours, theirs, confidence, min_n)
    inside = None if a.ci_low is None or b.mean is None else bool(a.ci_low <= b.mean <= a.ci_high)
    ratio = a.std / b.std if a.std is not None and b.std else None
    return Reproduction(a, b, inside, w.delta, w.p_value, ratio, w.note)

"""examples/study/paired_stats.py on constructed data whose answers are known.

References: exact binomial sums written out by hand (and scipy.stats.binomtest when scipy is
importable); the ratio-estimator formula of examples/eval/stats.hpp; bootstrap coverage of a
planted difference over seeds (a property of a correct interval, not a stored number)."""
import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "study"))
import paired_stats as ps  # noqa: E402


def test_identical_predictions_give_zero_difference_and_zero_width():
    rng = random.Random(1)
    a = [rng.random() < 0.6 for _ in range(300)]
    a = [int(v) for v in a]
    e = ps.paired_difference(a, list(a), seed=3)
    assert (e.value, e.se, e.lo, e.hi, e.n) == (0.0, 0.0, 0.0, 0.0, 300)
    assert ps.mcnemar(a, a) == ps.McNemar(0, 0, 1.0)
    # windows: the same NLLs in both configurations
    nll = [rng.uniform(2, 4) for _ in range(40)]
    tok = [rng.randint(100, 256) for _ in range(40)]
    e = ps.paired_difference(nll, nll, weights=tok, seed=4)
    assert (e.value, e.se, e.lo, e.hi) == (0.0, 0.0, 0.0, 0.0)


def test_mcnemar_exact_known_tables():
    # b = 1, c = 9: P(X <= 1 | n = 10) = (1 + 10) / 1024, two-sided = 22 / 1024
    assert ps.mcnemar_exact_p(1, 9) == pytest.approx(22 / 1024, abs=1e-15)
    assert ps.mcnemar_exact_p(9, 1) == pytest.approx(22 / 1024, abs=1e-15)
    # b = 0, c = 5: 2 / 32
    assert ps.mcnemar_exact_p(0, 5) == pytest.approx(2 / 32, abs=1e-15)
    # balanced tables cap at 1
    assert ps.mcnemar_exact_p(5, 5) == 1.0 and ps.mcnemar_exact_p(0, 0) == 1.0
    # b = 3, c = 12: sum_{i<=3} C(15, i) = 1 + 15 + 105 + 455 = 576; p = 2 * 576 / 32768
    assert ps.mcnemar_exact_p(3, 12) == pytest.approx(1152 / 32768, abs=1e-15)
    # from right/wrong vectors: 4 docs A right B wrong, 1 doc A wrong B right, concordant rest
    a = [1, 1, 1, 1, 0, 1, 0, 1]
    b = [0, 0, 0, 0, 1, 1, 0, 1]
    assert ps.mcnemar(a, b) == ps.McNemar(4, 1, pytest.approx(2 * 6 / 32))


def test_mcnemar_matches_scipy_binomtest():
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(1, 9), (7, 20), (40, 61), (0, 3), (13, 13), (150, 110)]:
        ref = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
        assert ps.mcnemar_exact_p(b, c) == pytest.approx(ref, rel=1e-9)


def test_weighted_mean_se_matches_the_evaluator_formula():
    # unit weights: sample stdev / sqrt(n) (lm-eval mean_stderr, eval::stderr_of_mean)
    x = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    m, se = ps.weighted_mean_se(x)
    sd = math.sqrt(sum((v - 0.7) ** 2 for v in x) / 9)
    assert m == pytest.approx(0.7) and se == pytest.approx(sd / math.sqrt(10))
    # weights: n/(n-1) * sum w^2 (x - m)^2 / W^2, written out for 3 windows
    x, w = [2.0, 3.0, 4.0], [1.0, 2.0, 1.0]
    m = (2 + 6 + 4) / 4
    se = math.sqrt(3 / 2 * (1 * 1 + 4 * 0 + 1 * 1)) / 4
    assert ps.weighted_mean_se(x, w) == (pytest.approx(m), pytest.approx(se))


def test_paired_difference_value_and_se_are_the_per_document_ones():
    base = [1, 1, 0, 0, 1, 0, 1, 1, 0, 1]
    other = [1, 0, 0, 1, 1, 0, 0, 1, 0, 0]
    d = [o - b for b, o in zip(base, other)]
    e = ps.paired_difference(base, other, seed=1)
    assert e.value == pytest.approx(sum(d) / 10)
    assert e.se == pytest.approx(math.sqrt(sum((v - sum(d) / 10) ** 2 for v in d) / 9 / 10))
    assert e.lo <= e.value <= e.hi


def test_contrast_of_three_configurations():
    # (A + B)/2 - C on the same documents = mean of the per-document contrast
    rng = random.Random(5)
    s = [[int(rng.random() < p) for _ in range(200)] for p in (0.5, 0.6, 0.4)]
    e = ps.contrast(s, [0.5, 0.5, -1], seed=2)
    per = [0.5 * a + 0.5 * b - c for a, b, c in zip(*s)]
    assert e.value == pytest.approx(sum(per) / 200)
    assert e.se == pytest.approx(ps.weighted_mean_se(per)[1])


def test_bootstrap_is_seeded():
    rng = random.Random(9)
    a = [int(rng.random() < 0.5) for _ in range(100)]
    b = [int(rng.random() < 0.6) for _ in range(100)]
    assert ps.paired_difference(a, b, seed=11) == ps.paired_difference(a, b, seed=11)
    assert ps.seed_for("x", 1) == ps.seed_for("x", 1) != ps.seed_for("x", 2)


def _coverage(make, truth, trials, reps=1000):
    hit = 0
    for t in range(trials):
        base, other, w = make(random.Random(1000 + t))
        e = ps.paired_difference(base, other, weights=w, reps=reps, seed=t)
        hit += e.lo <= truth <= e.hi
    return hit / trials


def test_bootstrap_covers_a_planted_accuracy_difference_at_the_stated_rate():
    # documents: P(A right, B wrong) = 0.05, P(A wrong, B right) = 0.10 -> true difference +0.05
    n, trials = 400, 300

    def make(rng):
        base, other = [], []
        for _ in range(n):
            u = rng.random()
            if u < 0.05:
                base.append(1), other.append(0)
            elif u < 0.15:
                base.append(0), other.append(1)
            elif u < 0.60:
                base.append(1), other.append(1)
            else:
                base.append(0), other.append(0)
        return base, other, None

    cov = _coverage(make, 0.05, trials)
    # 95 % nominal; 300 trials: binomial s.d. 1.3 points, so 3.5 s.d. is [0.905, 0.995]
    assert 0.905 <= cov <= 0.995, cov


def test_bootstrap_covers_a_planted_perplexity_difference():
    # 40 windows of unequal length; per-window NLL difference ~ N(0.1, 0.05^2) -> ratio mean 0.1
    trials = 200

    def make(rng):
        w = [rng.randint(128, 256) for _ in range(40)]
        base = [rng.uniform(2.5, 4.0) for _ in w]
        other = [b + rng.gauss(0.1, 0.05) for b in base]
        return base, other, w

    cov = _coverage(make, 0.1, trials, reps=1000)
    # percentile intervals with 40 units run slightly narrow; 200 trials: s.d. 1.5 points
    assert 0.88 <= cov <= 0.99, cov


def test_fast_and_generic_resampling_agree():
    # the three-category multinomial path and random.choices draw the same distribution
    rng = random.Random(7)
    x = [rng.choice([-1, 0, 0, 0, 1, 1]) for _ in range(300)]
    fast = ps._draws(x, [1.0] * 300, 4000, random.Random(1))
    x4 = x + [0.5]  # a fourth category forces the generic path; its effect on the mean is < 0.002
    slow = ps._draws(x4, [1.0] * 301, 4000, random.Random(2))
    m = lambda v: sum(v) / len(v)
    sd = lambda v: math.sqrt(sum((a - m(v)) ** 2 for a in v) / (len(v) - 1))
    assert m(fast) == pytest.approx(m(slow), abs=0.004)
    assert sd(fast) == pytest.approx(sd(slow), rel=0.08)
    assert sd(fast) == pytest.approx(ps.weighted_mean_se(x)[1], rel=0.08)


def test_stratified_average_of_tasks():
    rng = random.Random(3)
    strata = []
    for p, n in ((0.5, 100), (0.7, 300)):
        a = [int(rng.random() < p) for _ in range(n)]
        b = [v if rng.random() < 0.9 else 1 - v for v in a]
        strata.append(([a, b], None))
    e = ps.stratified(strata, [-1, 1], seed=1)
    one = [ps.paired_difference(s[0][0], s[0][1]) for s in strata]
    assert e.value == pytest.approx((one[0].value + one[1].value) / 2)
    assert e.se == pytest.approx(math.hypot(one[0].se, one[1].se) / 2)
    assert e.n == 400 and e.lo <= e.value <= e.hi


def test_sample_size_formula():
    # hand evaluation of Connor's formula: delta 0.05, discordance 0.2, alpha 0.05, power 0.8
    za, zb = 1.959963984540054, 0.8416212335729143
    n = (za * math.sqrt(0.2) + zb * math.sqrt(0.2 - 0.0025)) ** 2 / 0.0025
    assert ps.mcnemar_sample_size(0.05, 0.2) == math.ceil(n)
    assert ps.normal_quantile(0.975) == pytest.approx(za, abs=1e-9)
    d = ps.minimum_detectable(500, 0.2)
    assert ps.mcnemar_sample_size(d, 0.2) <= 500 < ps.mcnemar_sample_size(d * 0.99, 0.2)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        ps.paired_difference([1, 0], [1, 0, 1])
    with pytest.raises(ValueError):
        ps.contrast([[1, 0], [0, 1]], [1])
    with pytest.raises(ValueError):
        ps.paired_difference([1], [0], level=1.5)
    with pytest.raises(ValueError):
        ps.mcnemar([1, 0], [1])

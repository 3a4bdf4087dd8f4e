"""Paired comparisons of configurations scored on the same units (documents or text windows).

Every configuration of a study is evaluated on the same documents (`--limit N` takes the first N
of each file) and the same perplexity windows, so two configurations differ by the per-unit
differences alone and the document-to-document spread cancels out of the comparison.

A unit u carries a value x_u (1/0 for a correct/wrong answer; the mean NLL per token of a window)
and a weight w_u (1 for a document; the number of tokens a window scores). The estimate of a
configuration is the ratio mean  sum(w x) / sum(w);  for windows that is the corpus NLL per token,
i.e. ln(perplexity). A *contrast* of configurations j with coefficients a_j is the same ratio mean
of the per-unit contrast c_u = sum_j a_j x_ju  (a paired difference: a = (-1, +1)).

  weighted_mean_se   ratio mean and its standard error, se^2 = n/(n-1) sum w^2 (x - m)^2 / (sum w)^2
                     (the formula of examples/eval/stats.hpp; with unit weights the sample standard
                     deviation over sqrt(n), lm-eval's mean_stderr)
  contrast           paired estimate, standard error and a percentile bootstrap interval (units
                     resampled with replacement, seeded: the same inputs give the same interval)
  stratified         the mean over independent strata (tasks) of their contrasts; the bootstrap
                     resamples within each stratum
  mcnemar            exact McNemar test: the discordant pairs are Binomial(b + c, 1/2) under "no
                     difference"; two-sided p = min(1, 2 P(X <= min(b, c)))

Standard library only. Failure modes: ValueError for units of different length, a coefficient
list that does not match the configurations, non-positive total weight, or a level outside (0, 1).
"""
from __future__ import annotations

import bisect
import hashlib
import math
import random
from dataclasses import dataclass
from typing import Sequence

DEFAULT_REPS = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A paired estimate: value, standard error, bootstrap interval [lo, hi] at `level`, n units."""
    value: float
    se: float
    lo: float
    hi: float
    n: int
    level: float = DEFAULT_LEVEL

    def excludes(self, x: float = 0.0) -> bool:
        """True when the interval lies entirely above or below x."""
        return self.lo > x or self.hi < x

    def sign(self) -> int:
        """+1 / -1 when the interval lies above / below zero, else 0 (not resolved)."""
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0


@dataclass(frozen=True)
class McNemar:
    """Discordant pairs of two configurations A, B: b = A right and B wrong, c = A wrong and B right."""
    b: int
    c: int
    p: float  # exact two-sided p-value


def seed_for(*labels) -> int:
    """A seed from labels (stable across processes, unlike hash())."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, labels)).encode()).digest()[:8], "little")


def weighted_mean_se(x: Sequence[float], w: Sequence[float] | None = None) -> tuple[float, float]:
    """Ratio mean sum(w x)/sum(w) and its standard error (0 when n < 2)."""
    n = len(x)
    w = [1.0] * n if w is None else list(w)
    if len(w) != n:
        raise ValueError(f"weighted_mean_se: {n} values but {len(w)} weights")
    if n == 0:
        raise ValueError("weighted_mean_se: no units")
    W = math.fsum(w)
    if W <= 0:
        raise ValueError("weighted_mean_se: total weight must be positive")
    m = math.fsum(wi * xi for wi, xi in zip(w, x)) / W
    if n < 2:
        return m, 0.0
    ss = math.fsum(wi * wi * (xi - m) ** 2 for wi, xi in zip(w, x))
    return m, math.sqrt(n / (n - 1) * ss) / W


def _percentile(sorted_draws: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = q * (len(sorted_draws) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_draws) - 1)
    return sorted_draws[lo] + (sorted_draws[hi] - sorted_draws[lo]) * (pos - lo)


def _binomial_cdf(m: int, p: float) -> list[float]:
    """Cumulative Binomial(m, p) probabilities P(X <= k), k = 0..m (log-space pmf)."""
    if p <= 0:
        return [1.0] * (m + 1)
    if p >= 1:
        return [0.0] * m + [1.0]
    lp, lq = math.log(p), math.log1p(-p)
    acc, out = 0.0, []
    for k in range(m + 1):
        acc += math.exp(math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) + k * lp + (m - k) * lq)
        out.append(acc)
    out[-1] = max(out[-1], 1.0)
    return out


def _draws(x: Sequence[float], w: Sequence[float], reps: int, rng: random.Random) -> list[float]:
    """Bootstrap replicates of sum(w x)/sum(w), units resampled with replacement.

    Units with equal (x, w) are one category, so a resample is a multinomial draw of category
    counts. With at most three categories (a paired difference of two right/wrong vectors: -1, 0,
    +1) it is drawn exactly as conditional binomials from tabulated CDFs, O(reps log n); otherwise
    n units per replicate are drawn with random.choices."""
    n = len(x)
    cats: dict[tuple[float, float], int] = {}
    for xi, wi in zip(x, w):
        cats[(xi, wi)] = cats.get((xi, wi), 0) + 1
    keys = list(cats)
    if len(keys) == 1:
        return [keys[0][0]] * reps
    if len(keys) <= 3:
        counts = [cats[k] for k in keys]
        tables: dict[tuple[int, int], list[float]] = {}
        out = []
        for _ in range(reps):
            left, left_p = n, 1.0
            got = []
            for i, cnt in enumerate(counts[:-1]):
                p = (cnt / n) / left_p if left_p > 0 else 0.0
                key = (i, left)
                if key not in tables:
                    tables[key] = _binomial_cdf(left, min(1.0, p))
                k = min(bisect.bisect_left(tables[key], rng.random()), left)
                got.append(k)
                left -= k
                left_p -= cnt / n
            got.append(left)
            sw = sum(g * kw[1] for g, kw in zip(got, keys))
            out.append(sum(g * kw[0] * kw[1] for g, kw in zip(got, keys)) / sw if sw > 0 else 0.0)
        return out
    idx = range(n)
    xw = [xi * wi for xi, wi in zip(x, w)]
    out = []
    for _ in range(reps):
        pick = rng.choices(idx, k=n)
        sw = sum(w[i] for i in pick)
        out.append(sum(xw[i] for i in pick) / sw if sw > 0 else 0.0)
    return out


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _contrast_units(series: Sequence[Sequence[float]], coef: Sequence[float]) -> list[float]:
    if len(series) != len(coef):
        raise ValueError(f"contrast: {len(series)} configurations but {len(coef)} coefficients")
    if not series:
        raise ValueError("contrast: no configurations")
    n = len(series[0])
    if any(len(s) != n for s in series):
        raise ValueError("contrast: configurations were scored on different numbers of units")
    return [math.fsum(a * s[u] for a, s in zip(coef, series)) for u in range(n)]


def contrast(series: Sequence[Sequence[float]], coef: Sequence[float], weights: Sequence[float] | None = None,
             reps: int = DEFAULT_REPS, seed: int = 0, level: float = DEFAULT_LEVEL) -> Estimate:
    """Paired contrast sum_j coef_j * estimate_j over the same units (series[j][u] = x of unit u in
    configuration j), its standard error and percentile bootstrap interval."""
    return stratified([(series, weights)], coef, reps=reps, seed=seed, level=level)


def paired_difference(base: Sequence[float], other: Sequence[float], weights: Sequence[float] | None = None,
                      reps: int = DEFAULT_REPS, seed: int = 0, level: float = DEFAULT_LEVEL) -> Estimate:
    """other - base on the same units."""
    return contrast([base, other], [-1.0, 1.0], weights, reps=reps, seed=seed, level=level)


def stratified(strata: Sequence[tuple[Sequence[Sequence[float]], Sequence[float] | None]], coef: Sequence[float],
               reps: int = DEFAULT_REPS, seed: int = 0, level: float = DEFAULT_LEVEL) -> Estimate:
    """Mean over independent strata (e.g. tasks) of the paired contrast within each stratum.

    strata: (series, weights) per stratum, series[j][u] as in contrast(). se = sqrt(sum se_s^2)/S;
    the bootstrap resamples units within each stratum and averages the strata per replicate."""
    _check_level(level)
    if not strata:
        raise ValueError("stratified: no strata")
    rng = random.Random(seed)
    vals, ses, total_n, acc = [], [], 0, [0.0] * reps
    for series, weights in strata:
        x = _contrast_units(series, coef)
        w = [1.0] * len(x) if weights is None else [float(v) for v in weights]
        if len(w) != len(x):
            raise ValueError(f"contrast: {len(x)} units but {len(w)} weights")
        m, se = weighted_mean_se(x, w)
        vals.append(m)
        ses.append(se)
        total_n += len(x)
        for i, d in enumerate(_draws(x, w, reps, rng)):
            acc[i] += d
    k = len(strata)
    draws = sorted(a / k for a in acc)
    a = (1 - level) / 2
    return Estimate(math.fsum(vals) / k, math.sqrt(math.fsum(s * s for s in ses)) / k,
                    _percentile(draws, a), _percentile(draws, 1 - a), total_n, level)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b and c discordant pairs (1.0 when b + c = 0)."""
    if b < 0 or c < 0:
        raise ValueError("mcnemar: counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = math.fsum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def mcnemar(a_correct: Sequence[float], b_correct: Sequence[float]) -> McNemar:
    """McNemar test of two right/wrong vectors (truthy = right) over the same documents."""
    if len(a_correct) != len(b_correct):
        raise ValueError("mcnemar: the configurations were scored on different numbers of documents")
    b = sum(1 for x, y in zip(a_correct, b_correct) if x and not y)
    c = sum(1 for x, y in zip(a_correct, b_correct) if y and not x)
    return McNemar(b, c, mcnemar_exact_p(b, c))


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (bisection on math.erf; |error| < 1e-12)."""
    if not 0 < p < 1:
        raise ValueError("normal_quantile: p must be in (0, 1)")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mcnemar_sample_size(delta: float, discordance: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Documents needed to detect a paired accuracy difference `delta` with a two-sided McNemar
    test at level alpha and the given power, when a fraction `discordance` of documents is
    answered right by exactly one of the two configurations (normal approximation, Connor 1987):
        n = (z_{1-alpha/2} sqrt(p_d) + z_{power} sqrt(p_d - delta^2))^2 / delta^2."""
    if not 0 < abs(delta) <= discordance <= 1:
        raise ValueError("mcnemar_sample_size: need 0 < |delta| <= discordance <= 1")
    za, zb = normal_quantile(1 - alpha / 2), normal_quantile(power)
    return math.ceil((za * math.sqrt(discordance) + zb * math.sqrt(discordance - delta * delta)) ** 2 / delta ** 2)


def minimum_detectable(n: int, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest paired accuracy difference mcnemar_sample_size() resolves with n documents."""
    lo, hi = 1e-6, discordance
    for _ in range(100):
        mid = (lo + hi) / 2
        if mcnemar_sample_size(mid, discordance, alpha, power) > n:
            lo = mid
        else:
            hi = mid
    return hi

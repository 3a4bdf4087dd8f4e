"""Comparisons of study rows for the report: paired when the rows kept per-unit outputs.

A comparison is a contrast sum_j a_j m(row_j) of one metric m over rows of the same model and
profile (a difference from the dense model: a = (-1, +1)). When every row kept its per-unit
outputs for m on the same units (study_point.per_unit, see per_unit.py), the contrast is paired
(paired_stats.stratified: per-unit contrast, ratio-estimator s.e., seeded percentile bootstrap);
otherwise it falls back to the rows' own standard errors, s.e. = sqrt(sum a_j^2 se_j^2), with a
normal interval, and says so (`paired` False).

Metrics: a task name (its reported metric: acc_norm, acc, exact_match_strict, mean_cosine; a
perplexity task as ln perplexity = NLL per token, windows weighted by their tokens), "avg_acc"
(mean over the accuracy tasks; the bootstrap resamples within each task) and "lnppl" (the first
perplexity task).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import paired_stats as ps
import per_unit

PPL_PREFIX = "ppl:"
LEVEL = 0.95
Z = ps.normal_quantile(0.5 + LEVEL / 2)


@dataclass(frozen=True)
class Comparison:
    value: float
    se: float
    lo: float
    hi: float
    paired: bool
    n: int | None = None          # units (documents / windows, summed over tasks)
    mcnemar: ps.McNemar | None = None  # two right/wrong vectors of one task

    def sign(self) -> int:
        """+1 / -1 when resolved above / below zero: the interval excludes 0 and, for two right/wrong
        vectors, McNemar's exact p < 1 - LEVEL too (a percentile bootstrap is too narrow when only
        a handful of documents are discordant); 0 otherwise."""
        if self.mcnemar is not None and self.mcnemar.p >= 1 - LEVEL:
            return 0
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0

    @property
    def how(self) -> str:
        return "paired" if self.paired else "unpaired"


def acc_tasks(r: dict) -> list[str]:
    return [n for n, t in r["tasks"].items() if not n.startswith(PPL_PREFIX) and n != "agreement" and t["value"] is not None]


def metric_of(r: dict, which: str):
    """(value, s.e.) of a row's metric: "lnppl" (delta-method s.e.), "avg_acc", "ppl" (first
    perplexity task) or a task's reported metric; (None, None) when not measured."""
    if which == "lnppl":  # ln(perplexity) = mean NLL per token
        v, se = r.get("ppl"), r.get("ppl_se")
        return (math.log(v), (se / v if se is not None else None)) if v else (None, None)
    if which == "avg_acc":
        return r.get("avg_acc"), r.get("avg_acc_se")
    if which == "ppl":
        return r.get("ppl"), r.get("ppl_se")
    t = r["tasks"].get(which)
    return (t["value"], t["stderr"]) if t else (None, None)


def _point(r: dict, which: str):
    """(value, s.e.) on the scale comparisons use: perplexity tasks as ln(perplexity); the dense
    model's agreement with itself is 1."""
    if which.startswith(PPL_PREFIX):
        v, se = metric_of(r, which)
        return (math.log(v), (se / v if se is not None else None)) if v else (None, None)
    if which == "agreement" and r.get("gamma") is None and "agreement" not in r["tasks"]:
        return 1.0, 0.0
    return metric_of(r, which)


def _series(r: dict, task: str, like: dict | None = None):
    """(values, weights, ids hash) of one task for a row, or None. `like`: a block of another row
    to copy the units from (the dense row's agreement with itself: all ones)."""
    units = r.get("units") or {}
    t = r["tasks"].get(task)
    if task == "agreement" and r.get("gamma") is None and t is None and like is not None:
        n = like["n"]
        return [1.0] * n, None, like["ids_sha256"]
    if t is None or task not in units:
        return None
    key = "nll_per_token" if task.startswith(PPL_PREFIX) else "mean_cosine" if task == "agreement" else t["metric"]
    got = per_unit.values(units[task], key)
    if got is None:
        return None
    return got[0], got[1], units[task]["ids_sha256"]


def _ppl_task(rows):
    names = [n for n in rows[0]["tasks"] if n.startswith(PPL_PREFIX)]
    return names[0] if names and all(names[0] in r["tasks"] for r in rows) else None


def _strata(rows: list[dict], which: str):
    """Per-task unit series of every row, or None when any is missing or the units differ."""
    if which == "avg_acc":
        tasks = acc_tasks(rows[0])
        if not tasks or any(acc_tasks(r) != tasks for r in rows):
            return None
    elif which == "lnppl":
        t = _ppl_task(rows)
        if t is None:
            return None
        tasks = [t]
    else:
        tasks = [which]
    strata = []
    for t in tasks:
        like = next(((r.get("units") or {}).get(t) for r in rows if (r.get("units") or {}).get(t)), None)
        got = [_series(r, t, like) for r in rows]
        if any(g is None for g in got) or len({g[2] for g in got}) != 1:
            return None
        strata.append(([g[0] for g in got], got[0][1]))
    return strata


_memo: dict = {}  # comparisons of one report (make_all calls reset())


def reset() -> None:
    _memo.clear()


def compare(rows: list[dict], coef: list[float], which: str, label: str = "", reps: int = ps.DEFAULT_REPS) -> Comparison | None:
    """Contrast sum_j coef_j * which(rows_j); None when a row lacks the metric. The bootstrap seed
    comes from the metric, the coefficients and the rows' cache keys only, so the same comparison
    gives the same interval wherever the report shows it (`label` is for the reader of the code)."""
    keys = tuple(r["results"][0]["key"] if r.get("results") else f"row{id(r)}" for r in rows)
    memo_key = (which, tuple(coef), keys, reps)
    if memo_key in _memo:
        return _memo[memo_key]
    _memo[memo_key] = got = _compare(rows, coef, which, keys, reps)
    return got


def _compare(rows, coef, which, keys, reps) -> Comparison | None:
    strata = _strata(rows, which) if rows else None
    if strata:
        e = ps.stratified(strata, coef, reps=reps, seed=ps.seed_for(which, *coef, *keys), level=LEVEL)
        mc = None
        if len(rows) == 2 and sorted(coef) == [-1, 1] and which not in ("lnppl", "agreement") and len(strata) == 1:
            s = strata[0][0]
            if all(v in (0.0, 1.0) for v in s[0] + s[1]):
                a, b = (s[0], s[1]) if coef[0] < 0 else (s[1], s[0])
                mc = ps.mcnemar(a, b)
        return Comparison(e.value, e.se, e.lo, e.hi, True, e.n, mc)
    pts = [_point(r, which) for r in rows]
    if any(v is None for v, _ in pts):
        return None
    v = math.fsum(a * x for a, (x, _) in zip(coef, pts))
    se = math.sqrt(math.fsum((a * (s or 0)) ** 2 for a, (_, s) in zip(coef, pts)))
    return Comparison(v, se, v - Z * se, v + Z * se, False)


def vs_dense(base: dict | None, r: dict, which: str, label: str) -> Comparison | None:
    """r minus the dense baseline on `which`."""
    if base is None:
        return None
    return compare([base, r], [-1.0, 1.0], which, label)


METHOD_TEXT = (
    "**Statistics.** Every configuration is scored on the same documents (the first N of each task "
    "file) and the same perplexity windows as its dense baseline, so comparisons are *paired*: the "
    "difference of two configurations is the mean of the per-document differences (accuracy: right "
    "= 1, wrong = 0; perplexity: per-window NLL per token, windows weighted by the tokens they score, "
    "compared as ln perplexity), its standard error the ratio-estimator s.e. of those differences, and "
    f"its {100 * LEVEL:.0f} % interval a percentile bootstrap over documents (windows), "
    f"{ps.DEFAULT_REPS} resamples, seeded per comparison so a re-run reproduces it; an average "
    "over tasks resamples within each task. For one task and two configurations the exact McNemar "
    "test (binomial on the discordant documents) is given as p. A verdict counts a difference as "
    f"real when its interval excludes zero (and, where McNemar's p is given, p < {1 - LEVEL:.2f}: with "
    "few discordant documents the bootstrap interval is too narrow). Where a run kept no per-unit outputs (a result from a "
    "`lowrank eval` older than its per-window perplexity and BERT `--samples-out` lines) the "
    f"comparison is *unpaired*: ± {Z:.2f} combined standard errors of the two results, marked "
    "\"unpaired\". Figures: the error bar of a configuration is the interval of its difference "
    "from the dense model, drawn around its value (paired where marked in the tables, else ± 1 s.e.); "
    "the dense model's own bar is ± 1 s.e.")

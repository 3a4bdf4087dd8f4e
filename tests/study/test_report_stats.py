"""examples/study/report_stats.py: the report's comparisons of study rows, paired or not.

References: paired_stats on the same vectors (the report must hand the per-document values over
unchanged), hand-computed unpaired s.e. sums, and McNemar tables counted by hand."""
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "study"))
import paired_stats as ps  # noqa: E402
import report_stats as rs  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_comparisons():
    rs.reset()  # the rows of these tests reuse their keys with other data


def row(key, acc_bits, value=None, se=0.05, gamma=True, ids="docs-v1", ppl=None):
    """A study row as study_report.load() builds it, with per-unit outputs for arc_easy."""
    v = sum(c == "1" for c in acc_bits) / len(acc_bits) if value is None else value
    r = {"experiment": "x", "label": key, "gamma": {"layers": [1]} if gamma else None, "results": [{"key": key}],
         "tasks": {"arc_easy": {"metric": "acc_norm", "value": v, "stderr": se, "n": len(acc_bits)}},
         "units": {"arc_easy": {"unit": "document", "n": len(acc_bits), "ids_sha256": ids,
                                "metrics": {"acc_norm": acc_bits}}},
         "avg_acc": v, "avg_acc_se": se}
    if ppl:
        r["tasks"]["ppl:austen"] = {"metric": "perplexity", "value": ppl[0], "stderr": ppl[1], "n": 4}
        r["ppl"], r["ppl_se"] = ppl
    return r


def bits(v):
    return [1.0 if c == "1" else 0.0 for c in v]


def test_paired_difference_is_the_per_document_one():
    base, other = row("a", "1101101110" * 5), row("b", "1001100110" * 5)
    got = rs.vs_dense(base, other, "arc_easy", "t")
    ref = ps.paired_difference(bits("1101101110" * 5), bits("1001100110" * 5))
    assert got.paired and got.value == pytest.approx(ref.value) and got.se == pytest.approx(ref.se)
    # b = base right & other wrong: 2 per block of 10 -> 10; c = 0
    assert got.mcnemar == ps.McNemar(10, 0, pytest.approx(2 / 2 ** 10))
    assert got.sign() == -1
    # the average over a single accuracy task is that task's comparison
    avg = rs.vs_dense(base, other, "avg_acc", "t")
    assert avg.paired and avg.value == pytest.approx(ref.value) and avg.mcnemar == got.mcnemar


def test_identical_rows_compare_to_zero():
    a, b = row("a", "1101100"), row("b", "1101100")
    got = rs.vs_dense(a, b, "arc_easy", "t")
    assert (got.value, got.lo, got.hi, got.sign()) == (0.0, 0.0, 0.0, 0)


def test_different_documents_or_missing_units_fall_back_to_unpaired():
    a, b = row("a", "1101", se=0.3), row("b", "1001", se=0.4, ids="docs-v2")
    got = rs.vs_dense(a, b, "arc_easy", "t")
    assert not got.paired
    assert got.value == pytest.approx(0.5 - 0.75)
    assert got.se == pytest.approx(0.5)  # sqrt(0.3^2 + 0.4^2)
    assert got.lo == pytest.approx(got.value - rs.Z * 0.5) and got.hi == pytest.approx(got.value + rs.Z * 0.5)
    b2 = row("b", "1001", se=0.4)
    del b2["units"]["arc_easy"]
    assert not rs.vs_dense(a, b2, "arc_easy", "t").paired


def test_perplexity_is_compared_on_the_log_scale():
    a = row("a", "1", ppl=(30.0, 3.0))
    b = row("b", "1", ppl=(60.0, 6.0))
    got = rs.vs_dense(a, b, "lnppl", "t")  # no per-window outputs: unpaired, delta-method s.e.
    assert not got.paired
    assert got.value == pytest.approx(math.log(2.0))
    assert got.se == pytest.approx(math.hypot(0.1, 0.1))


def test_mcnemar_gates_a_sparse_bootstrap():
    # 4 of 500 documents discordant, all one way: the percentile interval excludes 0 but the exact
    # McNemar p = 2 / 16 = 0.125 does not resolve it
    base = "1" * 4 + "0" * 496
    other = "0" * 500
    got = rs.vs_dense(row("a", base), row("b", other), "arc_easy", "t")
    assert got.hi < 0 and got.mcnemar.p == pytest.approx(0.125)
    assert got.sign() == 0


def test_contrast_of_groups():
    # mean of two rows minus a third, paired: equals paired_stats.contrast on the bit vectors
    r1, r2, r3 = row("a", "1100110011" * 4), row("b", "1110111011" * 4), row("c", "0100010001" * 4)
    got = rs.compare([r1, r2, r3], [0.5, 0.5, -1.0], "arc_easy", "t")
    ref = ps.contrast([bits(r["units"]["arc_easy"]["metrics"]["acc_norm"]) for r in (r1, r2, r3)], [0.5, 0.5, -1.0])
    assert got.paired and got.value == pytest.approx(ref.value) and got.se == pytest.approx(ref.se)

"""examples/study/study_results.py: latencies of a study resumed on several machines.

A paper-scale study runs over many sittings, and a sitting may land on another CPU model. Constructed
output directories (index.json + one eval result per row, with known machines and latencies) check
that timing rounds from a minority CPU are left out of the medians, and that no latency ratio is ever
taken across two CPU models. Expected values are hand-computed medians and ratios."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "study"))
import study_results as sr  # noqa: E402

A, B = "AMD EPYC", "Intel(R) Xeon(R) Processor"


def result(cpu, latency, throughput):
    return {"schema": sr.SCHEMA, "schema_version": 1, "model": {"sha256": "0" * 64}, "gamma": None, "method": "dense",
            "tasks": {"ppl:austen": {"metrics": {"perplexity": {"value": 30.0, "stderr": 1.0}}, "samples": 4}},
            "efficiency": {"latency_ms": latency, "throughput_tok_s": throughput, "peak_rss_mb": 100.0, "energy_j": "unavailable"},
            "machine": {"cpu": cpu, "cores": 2, "threads": 2}, "software": {}, "wall_time_s": 1.0}


def write_study(out: Path, rows: list[tuple[dict, dict]]) -> None:
    """rows: (index row without results, eval result); each result gets its own file."""
    (out / "results").mkdir(parents=True)
    index_rows = []
    for i, (row, res) in enumerate(rows):
        f = f"results/r{i}.json"
        (out / f).write_text(json.dumps(res))
        index_rows.append({**row, "results": [{"kind": "eval", "file": f, "key": f"k{i}"}]})
    (out / "index.json").write_text(json.dumps({"rows": index_rows}))


def row(experiment, gamma_id, layers=None, rnd=None):
    r = {"experiment": experiment, "model": "m", "profile": "lat" if experiment == "timing" else "acc",
         "gamma": {"layers": layers} if layers else None, "gamma_id": gamma_id, "reduction": 0.0, "label": gamma_id}
    return {**r, "round": rnd} if rnd else r


def by_label(rows, experiment, label):
    return next(r for r in rows if r["experiment"] == experiment and r["label"] == label)


def test_timing_medians_use_only_the_cpu_with_most_rounds(tmp_path):
    write_study(tmp_path, [
        (row("baseline", "dense"), result(A, 300.0, 10.0)),
        (row("tradeoff", "g1", [3]), result(B, 150.0, 20.0)),
        # dense: three rounds on A, one on B (a sitting resumed elsewhere)
        (row("timing", "dense", rnd=1), result(A, 200.0, 10.0)),
        (row("timing", "dense", rnd=2), result(A, 220.0, 11.0)),
        (row("timing", "dense", rnd=3), result(A, 210.0, 12.0)),
        (row("timing", "dense", rnd=4), result(B, 100.0, 30.0)),
        # g1: two rounds on A
        (row("timing", "g1", [3], rnd=1), result(A, 180.0, 12.0)),
        (row("timing", "g1", [3], rnd=2), result(A, 190.0, 13.0)),
    ])
    _, _, rows = sr.load(tmp_path)
    base, g1 = by_label(rows, "baseline", "dense"), by_label(rows, "tradeoff", "g1")
    assert base["eff_t"]["latency_ms"] == 210.0 and base["eff_t"]["n"] == 3
    assert base["eff_t"]["cpu"] == A and base["eff_t"]["other_cpu_rounds"] == 1
    assert g1["eff_t"]["latency_ms"] == 185.0 and g1["eff_t"]["other_cpu_rounds"] == 0
    # both timed on A, although g1's own evaluation (and probe) ran on B
    assert sr.comparable(g1, base)
    assert sr.lat_rel(g1, base) == pytest.approx(185.0 / 210.0)
    assert sr.thr_rel(g1, base) == pytest.approx(12.5 / 11.0)


def test_no_ratio_across_cpu_models_without_timing(tmp_path):
    write_study(tmp_path, [
        (row("baseline", "dense"), result(A, 300.0, 10.0)),
        (row("position", "g1", [3]), result(B, 150.0, 20.0)),
        (row("position", "g2", [4]), result(A, 270.0, 11.0)),
    ])
    _, _, rows = sr.load(tmp_path)
    base, g1, g2 = (by_label(rows, e, l) for e, l in (("baseline", "dense"), ("position", "g1"), ("position", "g2")))
    assert not any(r.get("eff_t") for r in rows)
    assert not sr.comparable(g1, base) and sr.lat_rel(g1, base) is None and sr.thr_rel(g1, base) is None
    assert sr.comparable(g2, base) and sr.lat_rel(g2, base) == pytest.approx(0.9)
    assert sr.thr_rel(g2, base) == pytest.approx(1.1)
    # a timed reference against an untimed row: compared only when the row's probe ran on the timing CPU
    base["eff_t"] = {"latency_ms": 200.0, "throughput_tok_s": 10.0, "cpu": B}
    assert sr.lat_rel(g1, base) == pytest.approx(0.75) and sr.lat_rel(g2, base) is None

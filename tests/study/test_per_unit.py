"""examples/study/per_unit.py: per-document / per-window vectors from `lowrank eval` outputs.

The multiple-choice lines have the shape `lowrank eval --samples-out` writes today (checked on a
real SmolLM2 run, docs/eval.md); the per-window perplexity lines (`{"task", "window_index", "nll",
"tokens", "bytes"}`) and the BERT lines are the shapes tests/eval/cli_samples_test.py checks the CLI
writes. Expected values are counted by hand; the aggregate check is against the numbers the results
JSON would carry."""
import gzip
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "study"))
import per_unit  # noqa: E402
import report_stats as rs  # noqa: E402


def mc_lines():
    # gold, pred (argmax loglik), pred_norm: acc = 2/4 (docs 0, 3), acc_norm = 3/4 (docs 0, 1, 3)
    rows = [(0, 0, 0), (1, 0, 1), (2, 1, 0), (3, 3, 3)]
    return [{"task": "arc_easy", "doc_index": i, "id": f"q{i}", "gold": g, "pred": p, "pred_norm": pn,
             "loglik": [-1.0, -2.0, -3.0, -4.0], "requests": [["ctx", " a"]] * 4} for i, (g, p, pn) in enumerate(rows)]


def window_lines():
    return [{"task": "ppl:austen", "window_index": k, "nll": nll, "tokens": n, "bytes": 4 * n}
            for k, (nll, n) in enumerate([(600.0, 200), (700.0, 256), (512.0, 256)])]


def result(acc=0.5, acc_norm=0.75, nll=None):
    t = {"arc_easy": {"metrics": {"acc": {"value": acc, "stderr": 0.1}, "acc_norm": {"value": acc_norm, "stderr": 0.1}}}}
    if nll is not None:
        t["ppl:austen"] = {"metrics": {"nll_per_token": {"value": nll, "stderr": 0.01},
                                       "perplexity": {"value": math.exp(nll), "stderr": 1}}}
    return {"tasks": t}


def test_multiple_choice_bits_in_document_order():
    lines = list(reversed(mc_lines()))  # the order of the lines does not matter
    b = per_unit.build(lines, result())["arc_easy"]
    assert b["unit"] == "document" and b["n"] == 4
    assert b["metrics"] == {"acc": "1001", "acc_norm": "1101"}
    assert per_unit.values(b, "acc_norm") == ([1.0, 1.0, 0.0, 1.0], None)


def test_windows_give_per_token_nll_weighted_by_tokens():
    total = (600 + 700 + 512) / (200 + 256 + 256)
    b = per_unit.build(mc_lines() + window_lines(), result(nll=total))["ppl:austen"]
    assert b["unit"] == "window" and b["tokens"] == [200, 256, 256]
    assert b["metrics"]["nll_per_token"] == pytest.approx([3.0, 700 / 256, 2.0])


def test_aggregates_must_match():
    with pytest.raises(ValueError, match="acc_norm"):
        per_unit.build(mc_lines(), result(acc_norm=0.5))
    with pytest.raises(ValueError, match="nll_per_token"):
        per_unit.build(window_lines(), result(nll=3.0))


def test_gsm8k_from_the_results_outputs():
    res = {"tasks": {"gsm8k": {"metrics": {"exact_match_strict": {"value": 0.5, "stderr": 0.3}},
                               "outputs": [{"id": "a", "strict_ok": True, "flexible_ok": True},
                                           {"id": "b", "strict_ok": False, "flexible_ok": True}]}}}
    b = per_unit.build([], res)["gsm8k"]
    assert b["metrics"] == {"exact_match_strict": "10", "exact_match_flexible": "11"}


def test_compact_file_drops_requests_and_reads_back(tmp_path):
    p = tmp_path / "s.jsonl.gz"
    per_unit.write_compact(mc_lines(), p)
    back = per_unit.read_samples(p)
    assert [d["pred"] for d in back] == [0, 0, 1, 3] and all("requests" not in d for d in back)
    with gzip.open(p, "rt") as f:
        assert len(f.read().splitlines()) == 4
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task": "x"}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        per_unit.read_samples(bad)


def test_report_pairs_perplexity_when_windows_are_kept():
    rs.reset()

    def row(key, nll):
        toks = [200, 256, 256]
        lines = [{"task": "ppl:austen", "window_index": k, "nll": x * n, "tokens": n} for k, (x, n) in enumerate(zip(nll, toks))]
        mean = sum(x * n for x, n in zip(nll, toks)) / sum(toks)
        units = per_unit.build(lines, {"tasks": {"ppl:austen": {"metrics": {"nll_per_token": {"value": mean}}}}})
        return {"results": [{"key": key}], "gamma": None, "units": units, "ppl": math.exp(mean), "ppl_se": 1.0,
                "tasks": {"ppl:austen": {"metric": "perplexity", "value": math.exp(mean), "stderr": 1.0}}}

    a, b = row("ka", [3.0, 2.8, 2.0]), row("kb", [3.1, 2.9, 2.1])  # every window 0.1 nats worse
    got = rs.vs_dense(a, b, "lnppl", "t")
    assert got.paired and got.value == pytest.approx(0.1) and got.se == pytest.approx(0.0, abs=1e-12)
    assert got.lo == pytest.approx(0.1) and got.hi == pytest.approx(0.1)
    assert json.dumps(got.value)  # plain floats


def test_bert_lines():
    """SST-2 / MRPC evaluation rows give right/wrong bits, agreement one cosine per sentence."""
    lines = [{"task": "sst2", "doc_index": i, "id": str(i), "gold": g, "pred": p}
             for i, (g, p) in zip((1, 3, 5), [(1, 1), (0, 1), (1, 1)])]
    lines += [{"task": "agreement", "doc_index": i, "id": str(i), "cosine": c} for i, c in enumerate([0.5, 1.0, 0.9])]
    res = {"tasks": {"sst2": {"metrics": {"acc": {"value": 2 / 3, "stderr": 0.3}}},
                     "agreement": {"metrics": {"mean_cosine": {"value": 0.8, "stderr": 0.1}}}}}
    out = per_unit.build(lines, res)
    assert out["sst2"]["metrics"] == {"acc": "101"} and out["sst2"]["n"] == 3
    assert out["agreement"]["metrics"]["mean_cosine"] == [0.5, 1.0, 0.9]
    res["tasks"]["agreement"]["metrics"]["mean_cosine"]["value"] = 0.7
    with pytest.raises(ValueError, match="agreement.mean_cosine"):
        per_unit.build(lines, res)

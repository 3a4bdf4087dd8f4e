"""`lowrank eval --output-path/--log-samples/--kl-divergence-base` against lm-evaluation-harness's
own tooling and against transformers.

A tiny Llama (tests/interop/hf_fixtures.py) as GGUF, a factorised file of it and its export-hf
directory; a hand-written data directory (3 ARC-style documents, 2 LAMBADA documents, a short
held-out text). Checked:
  * the results / samples files are what lm_eval reads: scripts/check_lm_eval_output.py (lm_eval's
    EvalResults / SampleResult TypedDicts through pydantic, its filename/date utilities, make_table);
    per-document acc in the samples equals the results' acc;
  * the perplexity line parses with llama-perplexity's format and equals the results' perplexity;
  * --kl-divergence-base: KL of a model against itself is 0, top-1 agreement 1, PPL ratio 1; against
    the dense model, KL and top-1 agreement equal those transformers gives on the same window
    (the export vs the dense HF model, softmax in float64), to 1e-4 relative.
Skips visibly without torch/transformers, and the lm_eval part without lm_eval + pydantic.
"""
import glob
import json
import os
import re
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/test.sh installs it into its torch venv)")
pytest.importorskip("transformers", reason="transformers is not installed")
pytest.importorskip("gguf", reason="the gguf package is not installed")

import hf_fixtures as fx  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
        "of a wife. However little known the feelings or views of such a man may be on his first entering a "
        "neighbourhood, this truth is so well fixed in the minds of the surrounding families.")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, cli):
    d = tmp_path_factory.mktemp("eval-out")
    hf, gguf = str(d / "dense"), str(d / "tiny.gguf")
    fx.llama_hf(hf, "llama", seed=4)
    fx.gguf_from_hf(hf, gguf)
    data = d / "data"
    data.mkdir()
    arc = [{"id": "a%d" % i, "question": q, "choices": ch, "gold": g} for i, (q, ch, g) in enumerate([
        ("Which is a mammal?", ["dog", "trout", "sparrow", "frog"], 0),
        ("What do plants need to grow?", ["sunlight", "plastic", "noise"], 0),
        ("What is 2 + 2?", ["3", "4", "5", "22"], 1)])]
    lam = [{"id": "l0", "context": "The cat sat on the", "continuation": " mat"},
           {"id": "l1", "context": "She opened the door and walked into the", "continuation": " room"}]
    for name, rows in (("arc_easy", arc), ("lambada", lam)):
        with open(data / (name + ".jsonl"), "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
    (data / "austen.heldout.txt").write_text(TEXT)
    g = fx.gamma(str(d / "g.json"), [0, 1], {"q": 6, "o": 6, "gate": 8, "up": 8, "down": 8}, "svd")
    fact = str(d / "f.safetensors")
    cli("decompose", gguf, "--plan", g, "--out", fact, "--threads", 1, "--quiet")
    cli("export-hf", fact, "--out", str(d / "f-hf"), "--quiet")
    return {"dir": d, "hf": hf, "gguf": gguf, "data": str(data), "fact": fact, "export": str(d / "f-hf")}


def run_eval(cli, s, model, out, *extra):
    return cli("eval", model, "--data", s["data"], "--tasks", "ppl:austen,arc_easy,lambada", "--context", 32,
               "--stride", 16, "--ppl-windows", 1, "--no-efficiency", "--no-progress", "--threads", 1,
               "--output-path", out, *extra).stdout


def test_results_and_samples_read_by_lm_eval_tooling(cli, setup):
    pytest.importorskip("lm_eval", reason="lm_eval is not installed")
    pytest.importorskip("pydantic", reason="pydantic is not installed")
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import check_lm_eval_output
    out = str(setup["dir"] / "lm-out")
    stdout = run_eval(cli, setup, setup["fact"], out, "--log-samples", "--json", str(setup["dir"] / "ours.json"))
    doc = check_lm_eval_output.check(out)  # lm_eval's schema, filename utilities and make_table
    ours = json.load(open(setup["dir"] / "ours.json"))
    assert doc["results"]["arc_easy"]["acc,none"] == ours["tasks"]["arc_easy"]["metrics"]["acc"]["value"]
    assert doc["results"]["lambada_openai"]["acc,none"] == ours["tasks"]["lambada"]["metrics"]["acc"]["value"]
    assert doc["n-samples"]["arc_easy"] == {"original": 3, "effective": 3}
    samples = glob.glob(os.path.join(out, "*", "samples_arc_easy_*.jsonl"))
    assert len(samples) == 1
    rows = [json.loads(l) for l in open(samples[0])]
    assert [r["doc_id"] for r in rows] == [0, 1, 2]
    assert np.mean([r["acc"] for r in rows]) == pytest.approx(doc["results"]["arc_easy"]["acc,none"])
    for r in rows:  # lm_eval's acc rule on the logged log-likelihoods
        ll = [float(x[0]) for x in r["filtered_resps"]]
        assert r["acc"] == float(int(np.argmax(ll)) == int(r["target"]))
    # llama-perplexity's line, as third-party parsers read it
    m = re.search(r"^Final estimate: PPL = (\d+\.\d{4}) \+/- (\d+\.\d{5})$", stdout, re.M)
    assert m, stdout
    assert float(m.group(1)) == pytest.approx(ours["tasks"]["ppl:austen"]["metrics"]["perplexity"]["value"], abs=5e-5)


def test_kl_divergence_against_itself_and_against_transformers(cli, setup):
    from transformers import AutoModelForCausalLM
    out = str(setup["dir"] / "kl-self")
    stdout = run_eval(cli, setup, setup["gguf"], out, "--kl-divergence-base", setup["gguf"], "--json", out + ".json")
    m = json.load(open(out + ".json"))["tasks"]["ppl:austen"]["metrics"]
    assert m["kl_divergence"]["value"] == pytest.approx(0, abs=1e-9)
    assert m["top1_agreement"]["value"] == 1.0
    assert m["ppl_ratio"]["value"] == pytest.approx(1.0, abs=1e-9)
    assert re.search(r"^Mean    KLD: +\d+\.\d{6} ± +\d+\.\d{6}$", stdout, re.M), stdout
    assert re.search(r"^Same top p: +\d+\.\d{3} ± +\d+\.\d{3} %$", stdout, re.M), stdout
    # The factorised file against the dense GGUF, vs transformers: the export against the dense HF model.
    out = str(setup["dir"] / "kl")
    run_eval(cli, setup, setup["fact"], out, "--kl-divergence-base", setup["gguf"], "--json", out + ".json")
    res = json.load(open(out + ".json"))
    m = res["tasks"]["ppl:austen"]["metrics"]
    toks = json.loads(cli("tokenize", setup["gguf"], "--text", TEXT).stdout)["texts"][0]["ids"]
    ids = torch.tensor([[0] + toks[:31]])  # BOS (the document start) + the first window of 32 tokens
    with torch.no_grad():
        p = torch.log_softmax(AutoModelForCausalLM.from_pretrained(setup["hf"], dtype=torch.float32)(ids).logits[0].double(), -1)
        q = torch.log_softmax(AutoModelForCausalLM.from_pretrained(setup["export"], trust_remote_code=True,
                                                                   dtype=torch.float32)(ids).logits[0].double(), -1)
    p, q = p[:-1], q[:-1]  # positions predicting tokens 1..31
    kl = (p.exp() * (p - q)).sum(-1)
    assert res["tasks"]["ppl:austen"]["kl_divergence"]["tokens"] == 31
    assert kl.mean().item() > 1e-3  # the factorised model differs
    assert m["kl_divergence"]["value"] == pytest.approx(kl.mean().item(), rel=1e-4)
    assert m["top1_agreement"]["value"] == pytest.approx((p.argmax(-1) == q.argmax(-1)).double().mean().item())
    tgt = ids[0, 1:]
    ratio = torch.exp((p.gather(1, tgt[:, None]) - q.gather(1, tgt[:, None])).mean()).item()
    assert m["ppl_ratio"]["value"] == pytest.approx(ratio, rel=1e-4)

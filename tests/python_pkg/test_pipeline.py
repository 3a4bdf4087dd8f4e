"""lowrank.calibrate and lowrank.compress (python/lowrank/_pipeline.py: the bundled CLI in a child
process) on a tiny generated Llama GGUF (examples/study/make_tiny_assets.py, standard library).

References: the output files are read back here with independent readers (a few lines of
safetensors parsing below, the `gguf` package for the source weights) and the whitened
identity is checked in numpy; the compressed model must load and run in `lowrank eval`."""
import json
import math
import random
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import lowrank

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    sys.path.insert(0, str(ROOT / "examples" / "study"))
    try:
        import make_tiny_assets
    finally:
        sys.path.pop(0)
    make_tiny_assets.tiny_llama(d, layers=2)
    words = "the a good bad movie film great story plot time day night man woman river house tree".split()
    rnd = random.Random(7)
    (d / "calib.txt").write_text(" ".join(rnd.choice(words) for _ in range(2000)))
    return {"dir": d, "model": d / "tiny-llama" / "tiny-llama.gguf", "text": d / "calib.txt"}


def read_safetensors(path):
    """(metadata, {name: numpy array}) — a minimal reader written from the format spec."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dt = {"F64": np.float64, "F32": np.float32, "U64": np.uint64, "F16": np.float16}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt[h["dtype"]]).reshape(h["shape"])
    return meta, out


def test_calibrate_then_compress(tiny, cli, tmp_path):
    stats = tmp_path / "stats.safetensors"
    cal = lowrank.calibrate(tiny["model"], tiny["text"], out=stats, windows=6, context=48, seed=3)
    assert cal["out"] == str(stats)
    p = cal["stats"]
    assert (p["windows"], p["context"], p["seed"]) == (6, 48, 3)
    assert sorted(i["name"] for i in p["inputs"]) == sorted(
        f"model.layers.{l}.{k}" for l in range(2) for k in ("attn_in", "o_in", "mlp_in", "down_in"))
    _, st = read_safetensors(stats)
    g = st["model.layers.1.down_in.gram"]
    assert g.shape == (64, 64) and np.allclose(g, g.T) and np.linalg.eigvalsh(g).min() > -1e-8 * np.trace(g)
    assert int(st["model.layers.1.down_in.tokens"][0]) == 6 * 48

    out = tmp_path / "c.safetensors"
    s = lowrank.compress(tiny["model"], keep=0.5, method="svd-llm", calib=stats, out=out)
    assert s["out"] == str(out) and 0 < s["keep_achieved"] <= 0.5 and s["weights_factorised"] == 14
    man = s["manifest"]
    assert s["manifest_path"] == str(tmp_path / "c.manifest.json")
    assert man["compress"]["method"] == "svd-llm" and man["compress"]["calibration"]["windows"] == 6
    recs = {r["name"]: r for r in man["tensors"] if "rank" in r}
    assert len(recs) == 14
    # Uniform rule (written out): r = ⌊K·m·n/(m + n)⌋.
    for r in recs.values():
        m, n = r["shape"]
        assert r["rank"] == math.floor(0.5 * m * n / (m + n))

    # The compressed model loads and runs.
    ev = tmp_path / "eval.json"
    cli("eval", out, "--tasks", f"ppl:{tiny['text']}", "--ppl-windows", "2", "--context", "32", "--no-efficiency",
        "--no-progress", "--json", ev)
    res = json.loads(ev.read_text())
    assert res["model"]["kind"] == "factorized" and res["model"]["parameters"] == s["parameters"]["after"]


    # The factors in the file against the source weights and the Gram, in numpy: the output
    # error tr((W − uvᵀ) H (W − uvᵀ)ᵀ) equals the manifest's and the discarded σ² (whitened
    # identity; float32 factors). q/k rows are permuted between GGUF and HF layout, so the
    # check uses the weights whose layout is the same in both.
    gguf = pytest.importorskip("gguf")
    src = {t.name: np.asarray(t.data, dtype=np.float64) for t in gguf.GGUFReader(str(tiny["model"])).tensors}
    _, fac = read_safetensors(out)
    inp = {"ffn_down": "down_in", "ffn_up": "mlp_in", "ffn_gate": "mlp_in", "attn_v": "attn_in", "attn_output": "o_in"}
    for l in range(2):
        for role, si in inp.items():
            name = f"blk.{l}.{role}.weight"
            w = src[name]
            u = fac[f"blk.{l}.{role}.lowrank.u"].astype(np.float64)
            v = fac[f"blk.{l}.{role}.lowrank.v"].astype(np.float64)
            h = st[f"model.layers.{l}.{si}.gram"]
            d = w - u @ v.T
            err = float(np.trace(d @ h @ d.T))
            assert err == pytest.approx(recs[name]["output_error_energy"], rel=1e-4)
            assert err == pytest.approx(recs[name]["discarded_energy"], rel=1e-3)

def test_compress_with_calib_text_global_and_fold(tiny, tmp_path):
    out = tmp_path / "g.safetensors"
    s = lowrank.compress(tiny["model"], keep=0.6, method="svd-llm", alloc="global", calib_text=tiny["text"],
                         windows=4, context=32, out=out, keep_dense=r"blk\.0\.ffn_down")
    assert s["alloc"] == "global" and s["keep_achieved"] <= 0.6
    assert s["manifest"]["compress"]["allocation"]["solver"] in ("exact", "lagrangian")
    dense = [r for r in s["manifest"]["tensors"] if r["name"] == "blk.0.ffn_down.weight"]
    assert dense and "rank" not in dense[0]
    assert not list(tmp_path.glob(".lowrank-*"))   # no temporaries left (summary, statistics)
    folded = tmp_path / "f.gguf"
    f = lowrank.compress(tiny["model"], keep=0.5, method="plain", out=folded, fold=True)
    assert folded.exists() and f["manifest_path"] == str(tmp_path / "f.manifest.json")


def test_bad_input_raises_the_documented_errors(tiny, tmp_path):
    model, text = tiny["model"], tiny["text"]
    out = tmp_path / "o.safetensors"
    with pytest.raises(lowrank.InvalidArgumentError, match="keep"):
        lowrank.compress(model, keep=0, method="plain", out=out)
    with pytest.raises(lowrank.InvalidArgumentError, match="method"):
        lowrank.compress(model, keep=0.5, method=3, out=out)
    # The CLI's own usage errors come back with its message.
    with pytest.raises(lowrank.InvalidArgumentError, match="--method 'tucker' is not one of plain"):
        lowrank.compress(model, keep=0.5, method="tucker", out=out)
    with pytest.raises(lowrank.InvalidArgumentError, match="needs calibration statistics"):
        lowrank.compress(model, keep=0.5, method="svd-llm", out=out)
    with pytest.raises(lowrank.InfeasibleBudgetError, match="cannot be met"):
        lowrank.compress(model, keep=0.01, method="plain", out=out)
    with pytest.raises(lowrank.InvalidArgumentError, match="exceeds the model's context"):
        lowrank.calibrate(model, text, out=tmp_path / "s.safetensors", windows=2, context=100000)
    short = tmp_path / "short.txt"
    short.write_text("hi")
    with pytest.raises(lowrank.InvalidArgumentError, match="fewer than one window"):
        lowrank.calibrate(model, short, out=tmp_path / "s.safetensors", windows=2, context=64)
    assert not (tmp_path / "s.safetensors").exists()
    # Files.
    with pytest.raises(lowrank.FileError) as e:
        lowrank.compress(tmp_path / "missing.gguf", keep=0.5, method="plain", out=out)
    assert e.value.path == str(tmp_path / "missing.gguf") and isinstance(e.value, OSError)
    with pytest.raises(lowrank.FileError):
        lowrank.compress(model, keep=0.5, method="plain", out=tmp_path / "nodir" / "o.safetensors")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x01" * 8)
    with pytest.raises(lowrank.FileError, match="byte offset") as e:
        lowrank.compress(bad, keep=0.5, method="plain", out=out)
    assert e.value.path == str(bad) and e.value.offset is not None
    assert not out.exists()
    with pytest.raises(TypeError):
        lowrank.compress(model, keep=0.5, method="plain", out=None)


def test_cli_path_follows_lowrank_cli(tmp_path, monkeypatch):
    import os

    assert os.access(lowrank.cli_path(), os.X_OK)
    monkeypatch.setenv("LOWRANK_CLI", str(tmp_path / "nope"))
    with pytest.raises(lowrank.FileError, match="LOWRANK_CLI"):
        lowrank.cli_path()

"""bench/scale/make_llama2_7b.py on tiny shapes (the 7B defaults differ only in the numbers).

References: the safetensors format read back by hand (8-byte header length, JSON header, data
offsets) with numpy; numpy.linalg.svd for the spectra; bf16 rounding on hand-worked bit patterns;
Llama-2-7B's published parameter count (6,738,415,616) for the default configuration."""
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "scale"))
import make_llama2_7b as gen  # noqa: E402

TINY = ["--hidden-size", "64", "--intermediate-size", "172", "--num-attention-heads", "4",
        "--num-key-value-heads", "4", "--vocab-size", "300"]


def read_safetensors(path: Path) -> dict:
    """name -> float32 array, for BF16 tensors (bits << 16)."""
    b = path.read_bytes()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "BF16"
        lo, hi = e["data_offsets"]
        bits = np.frombuffer(b[8 + n + lo:8 + n + hi], dtype=np.uint16).astype(np.uint32) << 16
        out[name] = bits.view(np.float32).reshape(e["shape"])
    return out


def make(tmp_path, *args) -> Path:
    out = tmp_path / "m"
    subprocess.run([sys.executable, str(REPO / "bench" / "scale" / "make_llama2_7b.py"), "--out", str(out), *TINY, *args],
                   check=True, capture_output=True)
    return out


def load_all(d: Path) -> dict:
    idx = json.loads((d / "model.safetensors.index.json").read_text())
    t = {}
    for shard in sorted(set(idx["weight_map"].values())):
        part = read_safetensors(d / shard)
        assert all(idx["weight_map"][k] == shard for k in part)
        t.update(part)
    assert sorted(t) == sorted(idx["weight_map"])
    assert idx["metadata"]["total_size"] == sum(2 * v.size for v in t.values())
    return t


def test_default_config_is_llama2_7b():
    specs = gen.tensors(gen.LLAMA2_7B)
    assert sum(int(np.prod(s)) for _, s, _ in specs) == 6_738_415_616  # Llama-2-7B's parameter count
    c = gen.LLAMA2_7B
    assert (c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], c["num_attention_heads"], c["vocab_size"]) == \
        (32, 4096, 11008, 32, 32000)


def test_bf16_round_to_nearest_even():
    f = np.array([1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -8 + 2 ** -20, -2.5], dtype=np.float32)
    # 1+2^-8 is a tie between 1 and 1+2^-7: even (1.0, 0x3F80); 1+3·2^-8 ties up to 0x3F82; just above a tie rounds up
    assert gen.to_bf16(f).tolist() == [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC020]


def test_layout_shards_spectra_and_determinism(tmp_path):
    d = make(tmp_path, "--layers", "2", "--max-shard-gb", "0.00005")
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 2 and cfg["torch_dtype"] == "bfloat16" and cfg["model_type"] == "llama"
    assert (d / "tokenizer.model").read_bytes() == (REPO / "tests/runtime/fixtures/spm_tiny.model").read_bytes()
    shards = sorted(d.glob("model-*-of-*.safetensors"))
    assert len(shards) > 2 and all(f.name.endswith(f"-of-{len(shards):05d}.safetensors") for f in shards)
    t = load_all(d)
    assert len(t) == 3 + 9 * 2
    assert t["model.layers.0.mlp.down_proj.weight"].shape == (64, 172)
    # spectra: a power-law-like decay, all singular values distinct and well above zero
    for name in ("model.layers.1.mlp.gate_proj.weight", "model.layers.0.self_attn.q_proj.weight"):
        w = t[name].astype(np.float64)
        s = np.linalg.svd(w, compute_uv=False)
        assert s[0] / s[-1] > 5, (name, s[0] / s[-1])
        assert np.all(np.diff(s) < 0) and s[-1] > 1e-3 * s[0]
        assert 0.7 < (w ** 2).sum() / w.shape[0] < 1.4  # ‖W‖²_F ≈ out
    assert abs(float(np.mean(t["model.norm.weight"])) - 1) < 0.02
    # determinism: a tensor does not depend on --layers or the sharding
    d1 = make(tmp_path / "one", "--layers", "1")
    t1 = load_all(d1)
    for k, v in t1.items():
        assert np.array_equal(v, t[k]), k
    # a second call with the same arguments finds the stamp and writes nothing
    m = (d1 / "model-00001-of-00001.safetensors").stat().st_mtime_ns
    make(tmp_path / "one", "--layers", "1")
    assert (d1 / "model-00001-of-00001.safetensors").stat().st_mtime_ns == m


def test_bad_arguments(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "bench/scale/make_llama2_7b.py"), "--out", str(tmp_path / "x"),
                        "--layers", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and "--layers must be at least 1" in r.stderr

"""`--device cuda` of the lowrank CLI (svd, tucker, decompose).

Two kinds of test:

* The unavailable-device path, which runs everywhere: `--device cuda` on a machine without a
  usable GPU (or with a CLI built without CUDA) must exit non-zero with a message that says
  which (naming the CUDA call that reported no device), and leave no output behind.
  Reference: the contract in examples/cli/device.hpp.

* CPU-vs-GPU agreement, which needs a GPU and is skipped (with the reason, visible under
  `pytest -rs`) otherwise. The same CLI command is run with --device cpu and --device cuda on
  a random .npy / tiny model; the CPU result is the reference (itself checked against
  numpy/LAPACK and TensorLy by test_reference_agreement.py). Compared: singular values to 1e-4
  relative, subspaces by the sine of the largest principal angle, errors, reconstructions.
"""
import json
import struct

import numpy as np
import pytest


def _cuda_probe(cli, tmp_path_factory):
    """(available, reason): runs a 4×3 SVD on the GPU once per session."""
    d = tmp_path_factory.mktemp("cuda_probe")
    np.save(d / "a.npy", np.arange(12, dtype=np.float64).reshape(4, 3) + np.eye(4, 3))
    proc = cli("svd", d / "a.npy", "--rank", 1, "--device", "cuda", "--out", d / "o", check=False)
    if proc.returncode == 0:
        return True, ""
    return False, (proc.stderr.strip() or proc.stdout.strip())


@pytest.fixture(scope="session")
def cuda_status(cli, tmp_path_factory):
    return _cuda_probe(cli, tmp_path_factory)


@pytest.fixture
def gpu(cuda_status):
    available, reason = cuda_status
    if not available:
        pytest.skip(f"no usable CUDA device for the CLI: {reason}")


def built_with_cuda(cli):
    return "this build has CUDA support" in cli("svd", "--help").stdout


# ---------------------------------------------------------------------------------------------
# No device / no CUDA support: clear error, non-zero exit, nothing written
# ---------------------------------------------------------------------------------------------

def assert_clear_device_error(cli, proc, out, tmp_path):
    assert proc.returncode != 0, proc.stdout
    msg = proc.stderr + proc.stdout
    assert "--device cuda" in msg, msg
    if built_with_cuda(cli):
        # Built with CUDA, no device: the message names the CUDA call and its status.
        assert "no CUDA device" in msg, msg
        assert "cudaGetDeviceCount" in msg, msg
        assert proc.returncode == 1
    else:
        assert "built without CUDA support" in msg, msg
        assert proc.returncode == 2
    assert not out.exists(), "a failed run must not leave an output behind"
    leftovers = [p.name for p in tmp_path.iterdir() if "staging" in p.name or "tmp" in p.name]
    assert not leftovers, leftovers


@pytest.mark.parametrize("cmd", ["svd", "tucker"])
def test_device_cuda_without_a_gpu_is_a_clear_error(cli, tmp_path, cuda_status, cmd):
    if cuda_status[0]:
        pytest.skip("a CUDA device is present: the no-device error path cannot be exercised here")
    rng = np.random.default_rng(3)
    np.save(tmp_path / "x.npy", rng.standard_normal((6, 5, 4) if cmd == "tucker" else (6, 5)))
    out = tmp_path / "out"
    rank_args = ["--ranks", "2,2,2"] if cmd == "tucker" else ["--rank", 2]
    proc = cli(cmd, tmp_path / "x.npy", *rank_args, "--device", "cuda", "--out", out, check=False)
    assert_clear_device_error(cli, proc, out, tmp_path)
    # The same command on the CPU succeeds (the error is about the device, not the input).
    cli(cmd, tmp_path / "x.npy", *rank_args, "--device", "cpu", "--out", out)
    assert json.loads((out / "summary.json").read_text())["device"]["kind"] == "cpu"


def test_decompose_device_cuda_without_a_gpu_fails_before_writing(cli, tmp_path, cuda_status):
    if cuda_status[0]:
        pytest.skip("a CUDA device is present: the no-device error path cannot be exercised here")
    model = write_tiny_llama(tmp_path / "tiny")
    plan = write_plan(tmp_path / "g.json")
    out = tmp_path / "o.safetensors"
    proc = cli("decompose", model, "--plan", plan, "--device", "cuda", "--out", out, "--quiet", check=False)
    assert_clear_device_error(cli, proc, out, tmp_path)
    assert not (tmp_path / "o.manifest.json").exists()


def test_device_option_rejects_unknown_devices(cli, tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    proc = cli("svd", tmp_path / "a.npy", "--rank", 1, "--device", "tpu", "--out", tmp_path / "o", check=False)
    assert proc.returncode != 0 and "--device" in proc.stderr + proc.stdout
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# CPU vs GPU agreement (GPU only)
# ---------------------------------------------------------------------------------------------

def subspace_sine(a, b):
    """Sine of the largest principal angle between the column spaces of a and b."""
    qa, _ = np.linalg.qr(a.astype(np.float64))
    qb, _ = np.linalg.qr(b.astype(np.float64))
    c = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.sqrt(max(0.0, 1.0 - min(1.0, c.min()) ** 2)))


def planted_matrix(m, n, dtype, seed):
    """A random matrix with a geometrically decaying spectrum (gaps well above float eps)."""
    rng = np.random.default_rng(seed)
    k = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    s = 10.0 * 0.9 ** np.arange(k)
    return ((u * s) @ v.T).astype(dtype)


def run_both(cli, tmp_path, *args):
    outs = {}
    for dev in ("cpu", "cuda"):
        outs[dev] = tmp_path / f"out-{dev}"
        cli(*args, "--device", dev, "--out", outs[dev])
    return outs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["exact", "gram", "randomized"])
def test_svd_cpu_and_gpu_agree(cli, tmp_path, gpu, dtype, method):
    a = planted_matrix(300, 180, dtype, seed=5)
    np.save(tmp_path / "a.npy", a)
    r = 24
    outs = run_both(cli, tmp_path, "svd", tmp_path / "a.npy", "--rank", r, "--method", method, "--seed", 7)
    c, g = outs["cpu"], outs["cuda"]
    s_c, s_g = np.load(c / "s.npy"), np.load(g / "s.npy")
    assert s_g.dtype == dtype and s_g.shape == (r,)
    np.testing.assert_allclose(s_g, s_c, rtol=1e-4)
    assert subspace_sine(np.load(g / "u.npy"), np.load(c / "u.npy")) < 1e-3
    assert subspace_sine(np.load(g / "vt.npy").T, np.load(c / "vt.npy").T) < 1e-3
    sc, sg = (json.loads((d / "summary.json").read_text()) for d in (c, g))
    assert sg["rel_error"] == pytest.approx(sc["rel_error"], rel=1e-3)
    dev = sg["device"]
    assert dev["kind"] == "cuda" and dev["name"] and dev["driver_version"] and dev["runtime_version"]
    assert sc["device"]["kind"] == "cpu"


@pytest.mark.parametrize("method", ["hosvd", "sthosvd", "hooi"])
def test_tucker_cpu_and_gpu_agree(cli, tmp_path, gpu, method):
    rng = np.random.default_rng(9)
    dims, ranks = (20, 16, 12), (5, 4, 3)
    core = rng.standard_normal(ranks) * 10
    fs = [np.linalg.qr(rng.standard_normal((d, r)))[0] for d, r in zip(dims, ranks)]
    x = np.einsum("abc,ia,jb,kc->ijk", core, *fs) + 0.01 * rng.standard_normal(dims)
    np.save(tmp_path / "x.npy", x)
    outs = run_both(cli, tmp_path, "tucker", tmp_path / "x.npy", "--ranks", ",".join(map(str, ranks)),
                    "--method", method)
    c, g = outs["cpu"], outs["cuda"]
    for n in range(3):
        assert subspace_sine(np.load(g / f"factor_{n}.npy"), np.load(c / f"factor_{n}.npy")) < 1e-6
    # The core is unique up to the factors' rotations: compare its norm and the reconstruction.
    def recon(d):
        f = [np.load(d / f"factor_{n}.npy") for n in range(3)]
        return np.einsum("abc,ia,jb,kc->ijk", np.load(d / "core.npy"), *f)
    np.testing.assert_allclose(recon(g), recon(c), rtol=0, atol=1e-7 * np.linalg.norm(x))
    sc, sg = (json.loads((d / "summary.json").read_text()) for d in (c, g))
    assert sg["rel_error"] == pytest.approx(sc["rel_error"], rel=1e-4)
    assert sg["device"]["kind"] == "cuda"


def test_tiny_model_fixture_decomposes_on_the_cpu(cli, tmp_path):
    """Keeps the GPU decompose test honest where it is skipped: its model and plan are valid."""
    model = write_tiny_llama(tmp_path / "tiny")
    plan = write_plan(tmp_path / "g.json")
    out = tmp_path / "cpu.safetensors"
    cli("decompose", model, "--plan", plan, "--fold", "--device", "cpu", "--out", out, "--quiet")
    folded, original = read_safetensors(out), read_safetensors(model)
    assert folded.keys() == original.keys()
    changed = [n for n in original if not np.array_equal(folded[n], original[n])]
    assert len(changed) == 14  # 7 weights in each of layers 1 and 2
    man = json.loads((tmp_path / "cpu.manifest.json").read_text())
    assert man["device"]["kind"] == "cpu"


@pytest.mark.parametrize("method", ["svd", "tucker2"])
def test_decompose_cpu_and_gpu_agree(cli, tmp_path, gpu, method):
    model = write_tiny_llama(tmp_path / "tiny")
    plan = write_plan(tmp_path / "g.json")
    folded = {}
    for dev in ("cpu", "cuda"):
        out = tmp_path / f"{dev}.safetensors"
        cli("decompose", model, "--plan", plan, "--method", method, "--fold", "--device", dev, "--out", out,
            "--threads", 2, "--quiet")
        folded[dev] = read_safetensors(out)
        man = json.loads((tmp_path / f"{dev}.manifest.json").read_text())
        assert man["device"]["kind"] == dev
    assert folded["cpu"].keys() == folded["cuda"].keys()
    for name, w in folded["cpu"].items():
        # The rank-r reconstruction is unique (distinct singular values): compare it directly.
        np.testing.assert_allclose(folded["cuda"][name], w, rtol=0, atol=1e-4 * max(1.0, np.abs(w).max()),
                                   err_msg=name)


# ---------------------------------------------------------------------------------------------
# A tiny Llama-style model (safetensors + config.json) and a γ plan, written with numpy only
# ---------------------------------------------------------------------------------------------

H, I, L, NH, NKV, V = 16, 32, 3, 4, 2, 40


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e
        lo, hi = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + lo:8 + n + hi], dtype="<f4").reshape(e["shape"])
    return out


def write_tiny_llama(d):
    d.mkdir()
    rng = np.random.default_rng(11)
    t = {"model.embed_tokens.weight": rng.standard_normal((V, H))}
    for layer in range(L):
        p = f"model.layers.{layer}."
        t[p + "input_layernorm.weight"] = rng.standard_normal(H)
        t[p + "self_attn.q_proj.weight"] = rng.standard_normal((H, H))
        t[p + "self_attn.k_proj.weight"] = rng.standard_normal((NKV * H // NH, H))
        t[p + "self_attn.v_proj.weight"] = rng.standard_normal((NKV * H // NH, H))
        t[p + "self_attn.o_proj.weight"] = rng.standard_normal((H, H))
        t[p + "post_attention_layernorm.weight"] = rng.standard_normal(H)
        t[p + "mlp.gate_proj.weight"] = rng.standard_normal((I, H))
        t[p + "mlp.up_proj.weight"] = rng.standard_normal((I, H))
        t[p + "mlp.down_proj.weight"] = rng.standard_normal((H, I))
    t["model.norm.weight"] = rng.standard_normal(H)
    write_safetensors(d / "model.safetensors", t)
    (d / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": H, "intermediate_size": I,
        "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NKV, "vocab_size": V,
        "tie_word_embeddings": True, "torch_dtype": "float32"}))
    return d / "model.safetensors"  # a file input: --fold then writes one .safetensors file


def write_plan(path):
    ranks = {"q": 3, "k": 2, "v": 2, "o": 3, "gate": 4, "up": 4, "down": 4}
    path.write_text(json.dumps({"format": "lowrank.gamma", "version": 1, "model": "tiny", "method": "svd",
                                "indexing": 0, "layers": [1, 2], "tensors": list(ranks), "ranks": ranks}))
    return path

"""bench/scale/whole_model_vs_numpy.py: the whole-model timing against the obvious numpy script.

Reference: numpy's LAPACK gesdd (np.linalg.svd) on the same weights. On a tiny Llama in the HF
layout (bf16 safetensors from make_llama2_7b.py) at rank 4: both sides must write the same tensor
names, shapes and dtypes; the copied tensors byte for byte; every exact rank-r reconstruction u·vᵀ
equal within float32 rounding (the truncation is unique where σ_r > σ_{r+1}, true for these random
weights); ours' measured residuals equal numpy's Eckart-Young tails; the randomized side's errors
at or above the optimum. Timings are recorded, never asserted. Needs the CLI (LOWRANK_CLI), numpy,
scikit-learn."""
import json
import subprocess
import sys

import pytest

from scale_util import CLI, REPO, make_tiny_model_and_plan, requires_cli, safetensors_entries as tensors

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")

SCRIPT = REPO / "bench" / "scale" / "whole_model_vs_numpy.py"

pytestmark = requires_cli


def f32(entry):
    dtype, shape, raw = entry
    assert dtype == "F32"
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float64)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("whole")
    model, plan = make_tiny_model_and_plan(d)
    return {"dir": d, "model": model, "plan": plan}


def compare(tiny, method):
    work = tiny["dir"] / method
    out = work / "result.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "run", str(tiny["model"]), "--plan", str(tiny["plan"]),
                        "--svd-method", method, "--threads", "1", "--rounds", "2", "--lowrank", CLI,
                        "--workdir", str(work), "--json", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text()), tensors(work / "ours.safetensors"), tensors(work / "numpy.safetensors")


def test_exact_both_sides_write_the_same_model(tiny):
    res, ours, theirs = compare(tiny, "exact")
    assert res["weights"] > 0 and len(res["samples"]["ours"]) == len(res["samples"]["numpy"]) == 2
    assert sorted(ours) == sorted(theirs)
    factored = sorted(k[:-len(".lowrank.u")] for k in ours if k.endswith(".lowrank.u"))
    assert len(factored) == res["weights"]
    for name, entry in ours.items():
        assert entry[0] == theirs[name][0] and entry[1] == theirs[name][1], name
        if ".lowrank." not in name:
            assert entry[2] == theirs[name][2], f"{name}: copied tensor differs"
    for base in factored:
        mine = f32(ours[base + ".lowrank.u"]) @ f32(ours[base + ".lowrank.v"]).T
        ref = f32(theirs[base + ".lowrank.u"]) @ f32(theirs[base + ".lowrank.v"]).T
        assert np.linalg.norm(mine - ref) <= 1e-5 * np.linalg.norm(ref), base
    assert res["rel_error"]["max_abs_difference"] < 1e-5


def test_randomized_errors_at_or_above_the_optimum(tiny):
    exact, _, _ = compare(tiny, "exact")
    res, ours, theirs = compare(tiny, "randomized")
    assert sorted(ours) == sorted(theirs)
    # Both randomized sides are near the Eckart-Young optimum of the exact run, never below it.
    assert res["rel_error"]["ours_mean"] >= exact["rel_error"]["numpy_mean"] - 1e-6
    assert res["rel_error"]["numpy_mean"] >= exact["rel_error"]["numpy_mean"] - 1e-6
    assert res["rel_error"]["ours_mean"] <= 1.05 * exact["rel_error"]["numpy_mean"]


def test_bad_arguments_are_refused(tiny):
    r = subprocess.run([sys.executable, str(SCRIPT), "run", str(tiny["dir"] / "missing"), "--plan", str(tiny["plan"]),
                        "--lowrank", CLI], capture_output=True, text=True)
    assert r.returncode != 0 and "does not exist" in r.stderr
    r = subprocess.run([sys.executable, str(SCRIPT), "run", str(tiny["model"]), "--plan", str(tiny["plan"]),
                        "--rounds", "0", "--lowrank", CLI], capture_output=True, text=True)
    assert r.returncode != 0 and "--rounds" in r.stderr

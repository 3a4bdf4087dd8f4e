"""bench/scale/decompose_sharded.py: parts on workers, then `lowrank merge`.

Reference: the unsharded `lowrank decompose` of the same γ on the same model (a tiny Llama in the
HF layout, sharded bf16 safetensors from make_llama2_7b.py): the merged directory must hold the same
stored tensors byte for byte (every worker decomposes with one BLAS thread, so the factors are
bit-identical). Also: a run resumes from the parts already on disk (computes only the missing
ones), and the Ray executor (a local Ray instance, loopback only) gives the same bytes — skipped,
with the reason, where `ray` cannot be imported. Needs the CLI: LOWRANK_CLI (set by ctest)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scale_util import CLI, REPO, make_tiny_model_and_plan, requires_cli, safetensors_entries, safetensors_header

DRIVER = REPO / "bench" / "scale" / "decompose_sharded.py"

pytestmark = requires_cli


def stored(directory: Path) -> dict:
    """stored tensor name -> raw bytes, over every safetensors file of a directory (or one file)."""
    files = sorted(directory.glob("*.safetensors")) if directory.is_dir() else [directory]
    return {name: raw for f in files for name, (_, _, raw) in safetensors_entries(f).items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("sharded")
    model, plan = make_tiny_model_and_plan(d)
    whole = d / "whole.safetensors"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    subprocess.run([CLI, "decompose", str(model), "--plan", str(plan), "--threads", "1", "--quiet", "--out", str(whole)],
                   check=True, capture_output=True, env=env)
    manifest = json.loads((d / "whole.manifest.json").read_text())
    return {"dir": d, "model": model, "plan": plan, "whole": stored(whole), "manifest": manifest}


def drive(tiny, out: Path, *extra) -> dict:
    summary = out.with_suffix(".summary.json")
    # A local Ray instance writes an auth token under ~/.ray (Ray ≥ 2.5x enables token auth by
    # default), which later `ray start` clusters on this machine — the study's Ray test — would
    # pick up: keep it out of the user's home, and token auth off for this loopback instance.
    home = tiny["dir"] / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), RAY_AUTH_MODE="disabled")
    r = subprocess.run([sys.executable, str(DRIVER), str(tiny["model"]), "--plan", str(tiny["plan"]), "--out", str(out),
                        "--lowrank", CLI, "--threads", "1", "--max-memory", "64MB", "--json-out", str(summary), *extra],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(summary.read_text())


def test_local_parts_merge_to_the_unsharded_bytes_and_resume(tiny):
    out = tiny["dir"] / "local"
    s = drive(tiny, out, "--layers-per-part", "2", "--jobs", "2", "--keep-parts")
    assert s["parts"] == 3 and s["computed"] == ["1-2", "3-4", "5-5"]
    assert stored(out) == tiny["whole"]
    man = json.loads((out / "lowrank_manifest.json").read_text())
    assert [p["layers"] for p in man["merged_from"]] == [[1, 2], [3, 4], [5, 5]]
    # Each part hashed only the source shards holding its tensors; the merged manifest lists them all.
    whole_files = tiny["manifest"]["source"]["files"]
    assert len(whole_files) >= 2
    assert sorted((f["path"], f["sha256"]) for f in man["source"]["files"]) == sorted((f["path"], f["sha256"]) for f in whole_files)
    parts_dir = next((tiny["dir"] / "local.parts").iterdir())
    hashed = [len(json.loads(safetensors_header(p)["__metadata__"]["lowrank.manifest"])["source"]["files"])
              for p in sorted(parts_dir.glob("*.safetensors"))]
    assert min(hashed) < len(whole_files) and sum(hashed) >= len(whole_files), hashed
    # Resume: remove one part and the output; only that part is recomputed.
    parts = next((tiny["dir"] / "local.parts").iterdir())
    (parts / "part-3-4.safetensors").unlink()
    import shutil
    shutil.rmtree(out)
    s = drive(tiny, out, "--layers-per-part", "2")
    assert s["computed"] == ["3-4"] and s["cached"] == ["1-2", "5-5"]
    assert stored(out) == tiny["whole"]
    assert not (tiny["dir"] / "local.parts").exists()  # removed after the merge without --keep-parts


def test_bad_arguments_are_refused_before_any_work(tiny):
    for extra, what in ((["--max-memory", "12XB"], "--max-memory"), (["--parts", "0"], "at least 1")):
        r = subprocess.run([sys.executable, str(DRIVER), str(tiny["model"]), "--plan", str(tiny["plan"]),
                            "--out", str(tiny["dir"] / "bad"), "--lowrank", CLI, *extra], capture_output=True, text=True)
        assert r.returncode != 0 and what in r.stderr
        assert not (tiny["dir"] / "bad").exists() and not (tiny["dir"] / "bad.parts").exists()


def test_ray_executor_gives_the_same_bytes(tiny):
    ray = pytest.importorskip("ray", reason="ray cannot be imported here")
    del ray
    out = tiny["dir"] / "ray"
    s = drive(tiny, out, "--parts", "2", "--executor", "ray")
    assert s["parts"] == 2 and s["executor"].startswith("ray")
    assert stored(out) == tiny["whole"]
    assert not (tiny["dir"] / "home" / ".ray" / "auth_token").exists()

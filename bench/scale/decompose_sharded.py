#!/usr/bin/env python3
"""Sharded decomposition of a big model: one `lowrank decompose --layers I..J` task per layer
range, spread over workers (this machine's threads, or a Ray cluster), then `lowrank merge` on the
driver (docs/scale.md §3).

    decompose_sharded.py MODEL --plan GAMMA.json --out DIR --lowrank BIN
        [--layers-per-part K | --parts N] [--threads T] [--max-memory 2GB]
        [--svd-method exact|gram|randomized] [--method svd|tucker2|hooi]
        [--executor local|ray] [--jobs J] [--address ADDR] [--work WORKDIR] [--keep-parts]

Each task runs `lowrank decompose MODEL --plan GAMMA --layers I..J --threads T --max-memory M
--out PART` (its Ray resources: num_cpus = T, memory = M), with OMP/OPENBLAS threads pinned to T
as the study's points are. The parts are the record, like the study's cache: a task whose part
exists is not recomputed, so an interrupted run resumes; parts live under
WORKDIR/<sha256 of the plan, method, svd method and the source's path>/part-I-J.safetensors
(`lowrank decompose` writes them atomically: a part under its final name is complete), and a
worker refuses a `lowrank` binary whose sha256 is not the driver's (mixed builds). Once every
part exists the driver runs `lowrank merge` into DIR (atomic too) and, unless --keep-parts,
removes the parts. Standard library only for --executor local; Ray is optional.

Prints one line per part as it finishes and a JSON summary at the end (--json-out FILE too).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDY = HERE.parents[1] / "examples" / "study"
sys.path.insert(0, str(STUDY))
import study_exec  # noqa: E402  (executors, the binary check, the child's death signal)


def run_part(spec: dict) -> dict:
    """Worker side: computes one part unless it exists. Raises MixedBuildError for a foreign
    binary and PointError when `lowrank decompose` fails (its log names the cause)."""
    t0 = time.time()
    part = Path(spec["part"])
    if part.exists():
        return {"key": spec["key"], "status": "cached", "seconds": 0.0, "part": str(part)}
    if study_exec.file_sha256(spec["lowrank"]) != spec["lowrank_sha256"]:
        raise study_exec.MixedBuildError(f"{spec['lowrank']} on this worker is not the driver's build")
    log = part.with_name(part.name + ".log")
    with open(log, "w") as out:
        rc = subprocess.run([spec["lowrank"], *spec["argv"], "--out", str(part)], stdout=out, stderr=subprocess.STDOUT,
                            env=study_exec.point_env(spec), preexec_fn=study_exec._PREEXEC).returncode
    if rc != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise study_exec.PointError(f"part {spec['key']}: lowrank decompose exited {rc}:\n{tail}")
    return {"key": spec["key"], "status": "computed", "seconds": time.time() - t0, "part": str(part)}


def parse_bytes(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
    num = text.rstrip("KMGiB")
    if not num.isdigit() or text[len(num):] not in units or int(num) == 0:
        raise SystemExit(f"--max-memory {text}: expected a positive size (bytes, or with KB/MB/GB/KiB/MiB/GiB)")
    return int(num) * units[text[len(num):]]


def ranges(layers: int, per_part: int) -> list[tuple[int, int]]:
    return [(i, min(i + per_part - 1, layers)) for i in range(1, layers + 1, per_part)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--plan", required=True, help="gamma JSON (lowrank plan)")
    ap.add_argument("--out", required=True, help="the merged factorised directory to write")
    ap.add_argument("--lowrank", required=True, help="the lowrank CLI binary")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--layers-per-part", type=int, help="layers per part (default: layers / parts)")
    g.add_argument("--parts", type=int, default=4, help="number of parts (default 4)")
    ap.add_argument("--threads", type=int, default=1, help="threads of each part's decompose (its Ray num_cpus)")
    ap.add_argument("--max-memory", help="each part's --max-memory (its Ray memory resource)")
    ap.add_argument("--method")
    ap.add_argument("--svd-method")
    ap.add_argument("--executor", default="local", choices=["local", "ray"])
    ap.add_argument("--jobs", type=int, default=1, help="local executor: parts at once")
    ap.add_argument("--address", help="ray executor: the cluster (default RAY_ADDRESS, else a local instance)")
    ap.add_argument("--max-retries", type=int, default=3)
    ap.add_argument("--work", help="where parts go (default: OUT.parts beside OUT)")
    ap.add_argument("--keep-parts", action="store_true", help="keep the parts after merging")
    ap.add_argument("--json-out", help="also write the summary JSON here")
    a = ap.parse_args(argv)

    lowrank = str(Path(a.lowrank).resolve())
    model = str(Path(a.model).resolve())
    plan = str(Path(a.plan).resolve())
    out = Path(a.out).resolve()
    for p, what in ((lowrank, "--lowrank"), (model, "MODEL"), (plan, "--plan")):
        if not os.path.exists(p):
            raise SystemExit(f"{what} {p}: no such file or directory")
    if out.exists():
        raise SystemExit(f"--out {out} exists; remove it or choose another")
    if a.threads < 1 or (a.layers_per_part is not None and a.layers_per_part < 1) or a.parts < 1:
        raise SystemExit("--threads, --layers-per-part and --parts must be at least 1")
    mem = parse_bytes(a.max_memory) if a.max_memory else 0

    info = subprocess.run([lowrank, "inspect", "--json", model], capture_output=True, text=True)
    if info.returncode != 0:
        raise SystemExit(f"lowrank inspect {model} failed:\n{info.stderr or info.stdout}")
    layers = int(json.loads(info.stdout)["layers"])
    per_part = a.layers_per_part or -(-layers // min(a.parts, layers))
    plan_bytes = Path(plan).read_bytes()
    ident = hashlib.sha256(plan_bytes + json.dumps([a.method, a.svd_method, model]).encode()).hexdigest()[:16]
    work = Path(a.work).resolve() if a.work else out.with_name(out.name + ".parts")
    parts_dir = work / ident
    parts_dir.mkdir(parents=True, exist_ok=True)

    sha = study_exec.file_sha256(lowrank)
    base = ["decompose", model, "--plan", plan, "--threads", str(a.threads), "--quiet"]
    if a.method:
        base += ["--method", a.method]
    if a.svd_method:
        base += ["--svd-method", a.svd_method]
    if a.max_memory:
        base += ["--max-memory", a.max_memory]
    specs = [{"key": f"{i}-{j}", "lowrank": lowrank, "lowrank_sha256": sha, "argv": base + ["--layers", f"{i}..{j}"],
              "part": str(parts_dir / f"part-{i}-{j}.safetensors"), "cpus": a.threads, "gpus": 0, "memory": mem}
             for i, j in ranges(layers, per_part)]

    ex = study_exec.make_executor(a.executor, a.jobs, a.address, a.max_retries, fn=run_part,
                                  modules=[Path(__file__).resolve()])
    where = ex.describe()
    print(f"{len(specs)} parts of {per_part} layers ({layers} layers) on {where}; parts in {parts_dir}", flush=True)
    t0 = time.time()
    results, failed = {}, []
    try:
        for spec, res in ex.run(specs):
            if isinstance(res, Exception):
                failed.append(spec["key"])
                print(f"part {spec['key']}: FAILED: {res}", file=sys.stderr, flush=True)
            else:
                results[spec["key"]] = res
                print(f"part {spec['key']}: {res['status']} ({res['seconds']:.1f} s)", flush=True)
    finally:
        ex.close()
    if failed:
        print(f"{len(failed)} part(s) failed ({', '.join(failed)}); the others are kept: re-run to resume", file=sys.stderr)
        return 1
    parts_seconds = time.time() - t0
    t1 = time.time()
    merge = subprocess.run([lowrank, "merge", *[s["part"] for s in specs], "--out", str(out)], capture_output=True, text=True)
    if merge.returncode != 0:
        print(f"lowrank merge failed:\n{merge.stderr or merge.stdout}", file=sys.stderr)
        return 1
    summary = {"model": model, "plan": plan, "out": str(out), "layers": layers, "parts": len(specs),
               "layers_per_part": per_part, "threads_per_part": a.threads, "max_memory": a.max_memory,
               "executor": where, "computed": sorted(k for k, r in results.items() if r["status"] == "computed"),
               "cached": sorted(k for k, r in results.items() if r["status"] == "cached"),
               "parts_seconds": round(parts_seconds, 3), "merge_seconds": round(time.time() - t1, 3)}
    if not a.keep_parts:
        shutil.rmtree(parts_dir)
        if work.exists() and not any(work.iterdir()):
            work.rmdir()
    print(merge.stdout.strip())
    print(json.dumps(summary, indent=1))
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Running study points: one point = one `lowrank` command line, on this machine or on a Ray cluster.

The driver (lowrank_study.py) turns every point it still needs into a *spec*, plain data:

    {"key", "kind": "eval"|"decompose"|"calibrate"|"compress", "label", "cwd",
     "lowrank": BIN, "lowrank_sha256": sha256 of BIN as the driver sees it,
     "argv": the `lowrank` arguments, with {json_out} {samples_out} {out} where the run's
             (temporary) outputs go,
     "point": CACHE/points/KEY.json, "samples": CACHE/samples/KEY.jsonl.gz, "log": CACHE/logs/KEY.log,
     "work": CACHE/work (a directory per attempt of a decompose / calibrate / compress point),
     "gpus": 0|1, "cpus": threads,
     "study_point": the driver's fields of the eval result's `study_point` block,
     "decompose": {"gamma", "model_sha256"} (decompose points),
     "artifact": where a calibrate / compress point's file goes (CACHE/calib/KEY.stats.safetensors,
                 CACHE/compressed/KEY.safetensors),
     "calibrate" / "compress": what was asked (study_methods.py; compress: the linear budget,
                 checked against compress's manifest and summary)}

and an executor maps `run_point` over the specs. `run_point` is the only code that runs on a
worker; it

  1. returns at once when CACHE/points/KEY.json already exists (another worker, or another
     driver on the same cache, finished it) and so does its "artifact" if it has one: the cache
     is the only record of what is done;
  2. refuses to run a `lowrank` binary that is not the driver's build (sha256 of the file at the
     same path on the worker; MixedBuildError, never retried): one run never mixes builds;
  3. runs the command with every output under a name unique to this attempt
     (`KEY.json.partial.HOST.PID.RANDOM`, ...), so a retried, duplicated or orphaned attempt
     never writes where another one does;
  4. publishes the samples (or a calibrate / compress point's file), then the point, each by
     os.replace: a file under a final name is always complete, and the point file (the "done"
     mark) appears last;
  5. runs `lowrank` with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = the point's CPUs, the same on
     every executor, so results do not depend on where a point ran;
  6. returns only small metadata ({"key", "status": "computed"|"cached", "seconds", "host"}).

Workers never write indexes, reports or anything else shared: the driver does, after gathering.

Executors:
  local  the default; standard library only. jobs=1 runs the points one after another in the
         driver's process (the historical behaviour); jobs>1 runs that many at once from a
         ThreadPoolExecutor (threads suffice: the work is in subprocesses).
  ray    Ray Core tasks (`pip install ray`): one task per point, `num_cpus` = the study's
         threads, `num_gpus=1` when the point runs on a GPU (`--device cuda` in its argv), retried
         up to `max_retries` times when its worker or node dies (a `lowrank` error is a result,
         not retried). The code reaches the workers as py_modules; the cache, models, data and
         the binary must be at the same paths on every node (a shared filesystem).

A `lowrank` child dies with the worker that started it (Linux PR_SET_PDEATHSIG), so a killed
worker leaves no orphan computing; its temporary files stay (`*.partial.*`, a decompose work
directory), never under a final name.
"""
from __future__ import annotations

import concurrent.futures as _cf
import ctypes
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import per_unit


class MixedBuildError(RuntimeError):
    """A worker's `lowrank` binary is not the driver's build (refused, never retried)."""


class PointError(RuntimeError):
    """`lowrank` failed on this point (a result: reported, not retried)."""


# ----------------------------------------------------------------------------- worker side
_sha_memo: dict = {}


def file_sha256(path: str) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for this process."""
    st = os.stat(path)
    k = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if k not in _sha_memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _sha_memo[k] = h.hexdigest()
    return _sha_memo[k]


def _pdeathsig():
    """preexec_fn: the child gets SIGKILL when the thread that started it dies (Linux only).
    The prctl function is resolved before fork, so the child runs one foreign call and no
    Python-level allocation that could need a lock held by another thread."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    sig = int(signal.SIGKILL)
    return lambda: prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG = 1


_PREEXEC = _pdeathsig() if sys.platform.startswith("linux") else None


def point_env(spec: dict) -> dict:
    """The child's environment: BLAS threads pinned to the point's CPUs (Ray sets OMP_NUM_THREADS
    to a task's num_cpus; a bare shell leaves OpenBLAS at all cores), so a point computes the same
    floating-point sums on any executor and node."""
    n = str(spec.get("cpus", 1))
    return dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n)


def _publish_json(path: Path, obj: dict, tag: str) -> None:
    tmp = path.with_name(f"{path.name}.partial.{tag}")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def run_point(spec: dict) -> dict:
    """Computes one point (see the module docstring). Raises PointError when `lowrank` fails and
    MixedBuildError when the binary is not the driver's build; leaves nothing under a final name
    unless the point is complete."""
    t0 = time.time()
    final = Path(spec["point"])
    host = socket.gethostname()
    if final.exists() and Path(spec.get("artifact") or final).exists():  # a point whose file is gone is redone
        return {"key": spec["key"], "status": "cached", "seconds": 0.0, "host": host}
    if file_sha256(spec["lowrank"]) != spec["lowrank_sha256"]:
        raise MixedBuildError(f"{host}: {spec['lowrank']} is not the driver's lowrank build "
                              f"(sha256 {file_sha256(spec['lowrank'])[:16]}… != {spec['lowrank_sha256'][:16]}…); "
                              "refusing to mix builds in one study run")
    tag = f"{host}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    json_tmp = final.with_name(f"{final.name}.partial.{tag}")
    samples = Path(spec["samples"])
    samples_tmp = samples.with_name(f"{spec['key']}.jsonl.partial.{tag}")
    wdir = Path(spec["work"]) / f"{spec['key']}.{tag}" if spec["kind"] != "eval" else None
    out = wdir / {"decompose": "model.lowrank.safetensors", "calibrate": "stats.safetensors",
                  "compress": "model.safetensors"}[spec["kind"]] if wdir else None
    if spec["kind"] == "compress":  # compress's --json summary
        json_tmp = wdir / "summary.json"
    for p in (final.parent, samples.parent, Path(spec["log"]).parent):
        p.mkdir(parents=True, exist_ok=True)
    if wdir:
        wdir.mkdir(parents=True)
    argv = [a.replace("{json_out}", str(json_tmp)).replace("{samples_out}", str(samples_tmp))
            .replace("{out}", str(out)) for a in spec["argv"]]
    log = Path(spec["log"])
    log_tmp = log.with_name(f"{log.name}.partial.{tag}")
    try:
        with open(log_tmp, "w") as lf:
            lf.write("$ " + " ".join([spec["lowrank"], *argv]) + "\n")
            lf.flush()
            r = subprocess.run([spec["lowrank"], *argv], stdout=lf, stderr=subprocess.STDOUT,
                               cwd=spec.get("cwd"), env=point_env(spec), preexec_fn=_PREEXEC)
        os.replace(log_tmp, log)
        if r.returncode != 0:
            raise PointError(f"{spec['label']}: lowrank {argv[0]} exited {r.returncode}; see {log}")
        seconds = time.time() - t0
        if spec["kind"] == "decompose":
            man = json.loads((wdir / "model.lowrank.manifest.json").read_text())
            res = {"format": "lowrank.study.decompose", "gamma": spec["decompose"]["gamma"],
                   "model_sha256": spec["decompose"]["model_sha256"],
                   "command": "lowrank " + " ".join(spec["argv"]), "seconds": seconds, "manifest": man}
        elif spec["kind"] in ("calibrate", "compress"):
            res = {"format": f"lowrank.study.{spec['kind']}", spec["kind"]: spec[spec["kind"]],
                   "command": "lowrank " + " ".join(spec["argv"]), "seconds": seconds, "cli_sha256": spec["lowrank_sha256"],
                   "file": spec["artifact"], "bytes": out.stat().st_size}
            artifact = Path(spec["artifact"])
            artifact.parent.mkdir(parents=True, exist_ok=True)
            if spec["kind"] == "compress":
                summary = json.loads(json_tmp.read_text())
                man = json.loads((wdir / "model.manifest.json").read_text())
                check_compress(spec, summary, man)
                res.update(summary=summary, gamma_id=man["gamma_id"], manifest_compress=man["compress"])
                os.replace(wdir / "model.manifest.json", artifact.with_name(artifact.name.replace(".safetensors", ".manifest.json")))
            os.replace(out, artifact)
        else:
            res = json.loads(json_tmp.read_text())
            lines = per_unit.read_samples(samples_tmp)
            sp = dict(spec["study_point"])
            check_run(spec, res)
            sp["driver_seconds"] = seconds
            sp["per_unit"] = per_unit.build(lines, res)
            sp["cli_sha256"] = spec["lowrank_sha256"]
            res["study_point"] = sp
            if lines:  # the samples first: the point file is the mark that everything is there
                per_unit.write_compact(lines, samples)
        _publish_json(final, res, tag)
        return {"key": spec["key"], "status": "computed", "seconds": seconds, "host": host}
    finally:
        for p in (json_tmp, samples_tmp, log_tmp):
            p.unlink(missing_ok=True)
        if wdir:
            shutil.rmtree(wdir, ignore_errors=True)


def check_compress(spec: dict, summary: dict, manifest: dict) -> None:
    """`lowrank compress` spent the budget the driver asked for (study_methods.py): its manifest's
    compress.linear_budget is B, its summary's linear_parameters.before is design-space's linear
    count and parameters.before the model's total, and it kept at most B. PointError otherwise."""
    c, label = spec["compress"], spec["label"]
    comp = manifest.get("compress") or {}
    got = {"manifest compress.linear_budget": comp.get("linear_budget"),
           "summary linear_parameters.before": (summary.get("linear_parameters") or {}).get("before"),
           "summary parameters.before": (summary.get("parameters") or {}).get("before")}
    want = {"manifest compress.linear_budget": c["linear_budget"], "summary linear_parameters.before": c["linear_total"],
            "summary parameters.before": c["params_total"]}
    for k in got:
        if got[k] != want[k]:
            raise PointError(f"{label}: lowrank compress reports {k} = {got[k]!r}, the driver planned {want[k]!r}")
    after = (summary.get("linear_parameters") or {}).get("after")
    if not isinstance(after, int) or after > c["linear_budget"]:
        raise PointError(f"{label}: linear parameters after = {after!r} exceed the budget {c['linear_budget']}")


def check_run(spec: dict, res: dict) -> None:
    """The run evaluated the configuration the driver planned: its γ id (results `gamma.id`; no γ for
    the dense model) is `lowrank plan`'s, and the parameters it removed (model.parameters_dense −
    model.parameters, the runtime's count) are plan's before − after. PointError otherwise."""
    sp, label = spec["study_point"], spec["label"]
    rid = (res.get("gamma") or {}).get("id")
    if (rid or "dense") != sp["gamma_id"]:
        raise PointError(f"{label}: the run records γ id {rid!r}, `lowrank plan` gave {sp['gamma_id']!r}")
    m = res.get("model") or {}
    if not isinstance(m.get("parameters"), int) or not isinstance(m.get("parameters_dense"), int):
        raise PointError(f"{label}: the results have no model.parameters / parameters_dense (a `lowrank` too old for this driver)")
    saved, planned = m["parameters_dense"] - m["parameters"], sp["params_total"] - sp["params_after"]
    if saved != planned:
        raise PointError(f"{label}: the run removed {saved} parameters, the driver planned {planned} "
                         f"({'compress' if 'compress' in sp else 'design-space per_layer' if 'skip_layers' in sp else '`lowrank plan`'})")
    if sp.get("skip_layers") and res.get("skip_layers") != sp["skip_layers"]:
        raise PointError(f"{label}: the run records skip_layers {res.get('skip_layers')!r}, the driver asked for {sp['skip_layers']!r}")


# ----------------------------------------------------------------------------- executors
class LocalExecutor:
    """Points in this process: one after another (jobs=1), or `jobs` at once from threads.
    `fn` is the worker function mapped over the specs (default run_point; bench/scale's sharded
    decomposition maps its own, with the same contract: raise MixedBuildError to stop everything,
    any other exception is that spec's result)."""

    name = "local"

    def __init__(self, jobs: int = 1, fn=None):
        if jobs < 1:
            raise SystemExit(f"--jobs {jobs}: must be at least 1")
        self.jobs = jobs
        self.fn = fn or run_point

    def describe(self) -> str:
        return f"local, {self.jobs} at a time" if self.jobs > 1 else "local, serial"

    def run(self, specs: list[dict]):
        """Yields (spec, result dict | exception) as points finish."""
        if self.jobs == 1:
            for s in specs:
                try:
                    yield s, self.fn(s)
                except MixedBuildError:
                    raise
                except Exception as exc:  # a failed point is reported, the others still run
                    yield s, exc
            return
        with _cf.ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futs = {pool.submit(self.fn, s): s for s in specs}
            try:
                for f in _cf.as_completed(futs):
                    exc = f.exception()
                    if isinstance(exc, MixedBuildError):
                        raise exc
                    yield futs[f], exc if exc is not None else f.result()
            finally:
                for f in futs:
                    f.cancel()

    def close(self) -> None:
        pass


class RayExecutor:
    """One Ray Core task per point on the cluster at `address` (None: RAY_ADDRESS, else a Ray
    instance started for this run on this machine). `fn` (default run_point) is the task; the
    files in `modules` travel to the workers with study_exec.py and per_unit.py. A spec's "cpus",
    "gpus" and (when present) "memory" (bytes) are the task's Ray resources."""

    name = "ray"

    def __init__(self, address: str | None, max_retries: int = 3, fn=None, modules=()):
        try:
            import ray
        except ImportError as e:
            raise SystemExit(f"--executor ray: cannot import ray ({e}); pip install ray") from None
        self.ray = ray
        here = Path(__file__).resolve().parent
        env = {"py_modules": [str(here / "study_exec.py"), str(here / "per_unit.py"), *map(str, modules)]}
        kw = {"address": address} if address else {}
        ray.init(**kw, runtime_env=env, log_to_driver=False, logging_level="WARNING",
                 **({} if address else {"include_dashboard": False}))
        self.max_retries = max_retries
        self.remote = ray.remote(fn or run_point)

    def describe(self) -> str:
        res = self.ray.cluster_resources()
        return (f"ray, {len(self.ray.nodes())} node(s), {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs, "
                f"max_retries {self.max_retries}")

    def run(self, specs: list[dict]):
        ray = self.ray
        refs = {}
        for s in specs:
            opts = {"num_cpus": s.get("cpus", 1), "num_gpus": s.get("gpus", 0), "max_retries": self.max_retries,
                    "retry_exceptions": False, "name": f"lowrank-point-{s['key'][:12]}"}
            if s.get("memory"):
                opts["memory"] = int(s["memory"])
            refs[self.remote.options(**opts).remote(s)] = s
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    s = refs.pop(ref)
                    try:
                        yield s, ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # run_point raised: the cause travels with it
                        cause = e.cause if getattr(e, "cause", None) is not None else e
                        if isinstance(cause, MixedBuildError):
                            raise cause from None
                        yield s, cause
                    except ray.exceptions.RayError as e:  # worker/node died max_retries + 1 times, ...
                        yield s, e
        finally:
            for ref in refs:  # interrupted (or a mixed build): cancel what is still queued or running
                ray.cancel(ref, force=True)

    def close(self) -> None:
        self.ray.shutdown()


def make_executor(name: str, jobs: int = 1, address: str | None = None, max_retries: int = 3, fn=None, modules=()):
    if name == "local":
        if address:
            raise SystemExit("--address is for --executor ray")
        return LocalExecutor(jobs, fn)
    if name == "ray":
        if jobs != 1:
            raise SystemExit("--jobs is for --executor local (Ray runs as many points as the cluster's resources allow)")
        return RayExecutor(address, max_retries, fn, modules)
    raise SystemExit(f"--executor {name}: must be local or ray")

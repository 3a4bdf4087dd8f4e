#!/usr/bin/env python3
"""CI: the study on a local Ray cluster (`--executor ray`), with a killed worker and a killed driver.

Needs the tiny study that study_tiny_end_to_end ran with the local executor (its assets and its
cache, ctest fixture "tiny_study"); exits 77 (ctest: skipped, with the reason) when `ray` cannot
be imported. A two-node Ray cluster is started on this machine (`ray start --head
--node-ip-address=127.0.0.1` + `ray start --address`, one CPU each; Ray itself replaces a
loopback node address by the machine's own, see docs/scale.md), then:

 A. `--only rank,lord` (eval and decompose points; the lord method axis's calibrate and compress
    points) through a `lowrank` wrapper that SIGKILLs the
    Ray worker running it, once, in the middle of a point (the wrapper is that point's `lowrank`
    process): Ray retries the point, the study completes with no failure, every point exactly once;
 B. `--only lord` in a fresh cache, the driver SIGKILLed as soon as a first point is published;
    the re-run resumes from the cache (computes only the missing points) and completes.

Both runs' points equal the local executor's for the same keys (the reference: study_tiny_end_to_end's
cache), metrics and per-document outputs alike, wall-clock fields aside. Throughout, a watcher reads
every file that appears under a final name in the caches (points/*.json, samples/*.jsonl.gz):
each must be complete (parse in full). The cluster is stopped by killing the process groups this
script started (never `ray stop`, which would stop every Ray on the machine)."""
import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "examples" / "study" / "lowrank_study.py"
STUDY = REPO / "examples" / "study" / "studies" / "ci-tiny.json"
SKIP = 77

# Fields of a point that legitimately differ between two runs of the same command: wall-clock
# times and throughputs, the efficiency block, the host/driver timing, provenance of the run.
VOLATILE = {"seconds", "driver_seconds", "wall_seconds", "efficiency", "timing", "latency", "created", "started",
            "software", "command", "host", "threads_used", "tokens_per_second", "load_seconds", "run"}


def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in VOLATILE and not k.endswith(("_seconds", "_s", "_ms"))}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head and one worker node on this machine, each `ray start --block` in its own process group."""

    def __init__(self, work: Path):
        self.tmp = Path(tempfile.mkdtemp(prefix="lr-ray-", dir="/tmp"))  # short: Ray's unix socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        ray_bin = str(Path(sys.executable).with_name("ray"))
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--disable-usage-stats", "--block"]
        self.procs = []
        self.logs = work / "ray-logs"
        self.logs.mkdir(parents=True, exist_ok=True)

        def start(name, args):
            log = open(self.logs / f"{name}.log", "w")
            self.procs.append(subprocess.Popen([ray_bin, "start", *args, *common], stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

        start("head", ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.tmp}"])
        self.wait_nodes(1, 120)
        start("worker", [f"--address={self.address}"])
        self.wait_nodes(2, 120)

    def wait_nodes(self, n: int, timeout: float) -> None:
        code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR');"
                "print(sum(1 for x in ray.nodes() if x['Alive']))")
        t0 = time.time()
        while time.time() - t0 < timeout:
            for p in self.procs:
                if p.poll() is not None:
                    raise SystemExit(f"ray start exited {p.returncode}; see {self.logs}")
            r = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True, text=True, timeout=120)
            if r.returncode == 0 and r.stdout.strip().isdigit() and int(r.stdout.strip()) >= n:
                return
            time.sleep(2)
        raise SystemExit(f"Ray cluster: fewer than {n} nodes after {timeout} s; see {self.logs}")

    def stop(self) -> None:
        for p in reversed(self.procs):  # graceful first (ray start --block stops its processes on SIGTERM)
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        t0 = time.time()
        while time.time() - t0 < 15 and any(p.poll() is None for p in self.procs):
            time.sleep(0.5)
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        # Ray workers may have left the groups: end the processes of *this* cluster only, found by its
        # unique temporary directory on their command lines.
        me = os.getpid()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == me:
                continue
            try:
                if str(self.tmp).encode() in (proc / "cmdline").read_bytes():
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


class Watcher(threading.Thread):
    """Reads every file under a final name in the given caches as soon as it appears."""

    def __init__(self, caches: list[Path]):
        super().__init__(daemon=True)
        self.caches, self.seen, self.bad, self.stop_ = caches, set(), [], threading.Event()

    def check(self, f: Path) -> None:
        try:
            if f.suffix == ".json":
                json.loads(f.read_text())
            else:
                with gzip.open(f, "rt") as g:
                    for line in g:
                        json.loads(line)
        except FileNotFoundError:
            return  # removed meanwhile (a test step deletes a cache)
        except Exception as e:
            self.bad.append(f"{f}: {e}")

    def scan(self) -> None:
        for c in self.caches:
            for pat in ("points/*.json", "samples/*.jsonl.gz"):
                for f in c.glob(pat):
                    if f not in self.seen:
                        self.seen.add(f)
                        self.check(f)

    def run(self) -> None:
        while not self.stop_.is_set():
            self.scan()
            time.sleep(0.05)


WRAPPER = """#!{python}
# lowrank wrapper for the worker-death test: on the first non-dense `eval` (marker {marker}) it
# SIGKILLs its parent, the Ray worker running this point, then carries on as lowrank would (it
# dies with that worker: study_exec sets PR_SET_PDEATHSIG).
import os, signal, sys
a = sys.argv[1:]
if a[:1] == ["eval"] and "--plan" in a:
    try:
        fd = os.open({marker!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, str(os.getppid()).encode()); os.close(fd)
        os.kill(os.getppid(), signal.SIGKILL)
    except FileExistsError:
        pass
os.execv({lowrank!r}, [{lowrank!r}, *a])
"""


def run_driver(env, *args, check=True):
    r = subprocess.run([sys.executable, str(DRIVER), *args], env=env)
    if check and r.returncode != 0:
        raise SystemExit(f"study driver exited {r.returncode}: {' '.join(args)}")
    return r


def compare_with_local(out: Path, local_cache: Path, label: str) -> int:
    index = json.loads((out / "index.json").read_text())
    keys = {f["key"] for row in index["rows"] for f in row["results"]}
    pts = sorted((out / "cache" / "points").glob("*.json"))
    assert sorted(p.stem for p in pts) == sorted(keys), f"{label}: cache points != index keys"
    for k in keys:
        mine = json.loads((out / "cache" / "points" / f"{k}.json").read_text())
        ref = json.loads((local_cache / "points" / f"{k}.json").read_text())
        if mine.get("format") == "lowrank.study.decompose":  # compare the per-tensor errors and ranks
            a = [(t["name"], t.get("rank"), t.get("rel_error"), t.get("eckart_young")) for t in mine["manifest"]["tensors"]]
            b = [(t["name"], t.get("rank"), t.get("rel_error"), t.get("eckart_young")) for t in ref["manifest"]["tensors"]]
            assert a == b, f"{label}: decompose point {k} differs from the local executor's"
            continue
        if mine.get("format") == "lowrank.study.calibrate":  # the lord method axis: same provenance, same file size
            assert (mine["calibrate"], mine["bytes"]) == (ref["calibrate"], ref["bytes"]), f"{label}: calibrate point {k} differs"
            continue
        if mine.get("format") == "lowrank.study.compress":  # same request, same budget, same parameter counts
            assert (mine["compress"], mine["summary"]["parameters"], mine["manifest_compress"]["linear_budget"]) == \
                (ref["compress"], ref["summary"]["parameters"], ref["manifest_compress"]["linear_budget"]), \
                f"{label}: compress point {k} differs"
            continue
        sp, rsp = mine["study_point"], ref["study_point"]
        assert sp["per_unit"] == rsp["per_unit"], f"{label}: per-unit outputs of {k} differ"
        assert strip(mine["tasks"]) == strip(ref["tasks"]), f"{label}: task metrics of {k} differ"
        samples = out / "cache" / "samples" / f"{k}.jsonl.gz"
        ref_samples = local_cache / "samples" / f"{k}.jsonl.gz"
        assert samples.exists() == ref_samples.exists(), f"{label}: samples of {k}"
        if samples.exists():
            assert gzip.open(samples).read() == gzip.open(ref_samples).read(), f"{label}: samples of {k} differ"
    return len(keys)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lowrank", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--tiny", required=True, help="study_tiny_end_to_end's work directory (assets + local cache)")
    a = ap.parse_args()
    try:
        import ray  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        print(f"SKIPPED: ray cannot be imported by {sys.executable} ({e}); scripts/test.sh installs it (pip install ray)")
        return SKIP
    tiny = Path(a.tiny)
    local_cache = tiny / "out" / "cache"
    if not (local_cache / "points").is_dir():
        raise SystemExit(f"{local_cache}: no local-executor cache (run study_tiny_end_to_end first)")
    work = Path(a.work)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    t_all = time.time()
    cluster = Cluster(work)
    print(f"ray cluster {cluster.address} up in {time.time() - t_all:.1f} s", flush=True)
    outs = [work / "ray-a", work / "ray-b"]
    watcher = Watcher([o / "cache" for o in outs])
    watcher.start()
    try:
        base_env = dict(os.environ, LOWRANK_STUDY_ASSETS=str(tiny / "assets"))
        # A. a worker killed mid-point
        marker = work / "killed-worker.pid"
        wrapper = work / "lowrank-killer"
        wrapper.write_text(WRAPPER.format(python=sys.executable, marker=str(marker), lowrank=str(Path(a.lowrank).resolve())))
        wrapper.chmod(0o755)
        env = dict(base_env, LOWRANK_STUDY_OUT=str(outs[0]))
        t0 = time.time()
        run_driver(env, "run", str(STUDY), "--lowrank", str(wrapper), "--executor", "ray", "--address", cluster.address,
                   "--only", "rank,lord", "--no-plot")
        runs = json.loads((outs[0] / "runs.json").read_text())[-1]
        assert marker.exists(), "the wrapper never killed a worker"
        assert runs["failures"] == 0 and runs["runs_cached"] == 0 and runs["runs_computed"] == runs["runs_total"], runs
        assert runs["executor"].startswith("ray, 2 node(s)"), runs["executor"]
        n = compare_with_local(outs[0], local_cache, "A")
        print(f"A. worker {marker.read_text()} killed mid-point, retried: {n} points, all equal to the local executor's "
              f"({time.time() - t0:.1f} s)", flush=True)
        # B. the driver killed after its first point; the re-run resumes
        env = dict(base_env, LOWRANK_STUDY_OUT=str(outs[1]))
        pts = outs[1] / "cache" / "points"
        t0 = time.time()
        p = subprocess.Popen([sys.executable, str(DRIVER), "run", str(STUDY), "--lowrank", a.lowrank, "--executor", "ray",
                              "--address", cluster.address, "--only", "lord", "--no-plot"], env=env)
        while p.poll() is None and not (pts.is_dir() and any(pts.glob("*.json"))):
            time.sleep(0.05)
        assert p.poll() is None, "the driver finished before it could be interrupted"
        p.send_signal(signal.SIGKILL)
        p.wait()
        time.sleep(2)
        before = {f.stem for f in pts.glob("*.json")}
        run_driver(env, "run", str(STUDY), "--lowrank", a.lowrank, "--executor", "ray", "--address", cluster.address,
                   "--only", "lord", "--no-plot")
        runs = json.loads((outs[1] / "runs.json").read_text())
        assert len(runs) == 1, "the killed driver wrote runs.json"  # only a finished driver writes its record
        r = runs[-1]
        assert r["failures"] == 0 and r["runs_cached"] >= len(before) >= 1 and r["runs_computed"] >= 1, (r, len(before))
        assert r["runs_cached"] + r["runs_computed"] == r["runs_total"], r
        n = compare_with_local(outs[1], local_cache, "B")
        print(f"B. driver killed after {len(before)} of {n} points; the re-run computed {r['runs_computed']}, "
              f"all equal to the local executor's ({time.time() - t0:.1f} s)", flush=True)
        # C. a re-run with nothing to do computes nothing
        run_driver(env, "run", str(STUDY), "--lowrank", a.lowrank, "--executor", "ray", "--address", cluster.address,
                   "--only", "lord", "--no-plot")
        r = json.loads((outs[1] / "runs.json").read_text())[-1]
        assert r["runs_computed"] == 0 and r["runs_cached"] == r["runs_total"], r
    finally:
        watcher.stop_.set()
        watcher.join()
        cluster.stop()
    watcher.scan()
    assert not watcher.bad, "incomplete files under final names:\n" + "\n".join(watcher.bad)
    print(f"watcher: {len(watcher.seen)} files under final names, all complete")
    print(f"study on Ray: OK ({time.time() - t_all:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

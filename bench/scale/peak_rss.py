#!/usr/bin/env python3
"""Runs a command and reports its wall time and peak memory, split the way /proc does.

    python3 bench/scale/peak_rss.py --json OUT.json -- CMD ARGS...

Samples /proc/PID/status of the command (and of its children, summed) every 0.1 s: peak VmRSS
(what `time -v` calls the maximum resident set), peak RssAnon (the process's own memory: heap,
weights it converted) and peak RssFile (pages of memory-mapped files, e.g. a safetensors model
read through mmap: clean page cache the kernel can drop under pressure, counted in VmRSS while
mapped). Also records the kernel's own VmHWM of the main process at its last sample. Writes
{"cmd", "rc", "wall_s", "peak_rss_bytes", "peak_anon_bytes", "peak_file_bytes", "vmhwm_bytes",
"load_before", "load_after"} to --json and prints it; exits with the command's code."""
import argparse
import json
import os
import subprocess
import sys
import time


def status(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []
    return kids + [g for k in kids for g in children(k)]


def measure(cmd: list[str], env: dict | None = None, interval: float = 0.1, **popen) -> dict:
    """Runs cmd to completion, sampling /proc every `interval` s; returns the record described above."""
    load0 = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.Popen(cmd, env=env, **popen)
    peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    hwm = 0
    while p.poll() is None:
        tot = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        for pid in [p.pid, *children(p.pid)]:
            s = status(pid)
            for k in tot:
                tot[k] += s.get(k, 0)
            if pid == p.pid:
                hwm = max(hwm, s.get("VmHWM", 0))
        for k in peak:
            peak[k] = max(peak[k], tot[k])
        time.sleep(interval)
    return {"cmd": cmd, "rc": p.returncode, "wall_s": round(time.time() - t0, 2), "peak_rss_bytes": peak["VmRSS"],
            "peak_anon_bytes": peak["RssAnon"], "peak_file_bytes": peak["RssFile"], "vmhwm_bytes": hwm,
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")
    res = measure(cmd, interval=a.interval)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "cmd"}), file=sys.stderr)
    return res["rc"]


if __name__ == "__main__":
    sys.exit(main())

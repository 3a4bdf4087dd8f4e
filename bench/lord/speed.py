#!/usr/bin/env python3
"""Prefill/decode speed of LoRD's compressed Qwen2.5-Coder-1.5B against the dense model (issue 15).

Runs `lowrank bench-model` for every (model, weight storage) in alternating rounds — dense, the
plain-SVD model (the dense GGUF factorised in memory by `--plan GAMMA`, LoRD's form) and the
struct-compressed file, each in float32 and bf16 — so that drift of the machine's load hits every
configuration alike, then writes every run's JSON, a summary (median over rounds of each run's
median) and a Markdown table with the ratio to dense measured in the same rounds.

    python3 bench/lord/speed.py --lowrank build/examples/lowrank --dense QWEN.gguf \\
        --plain lord-x0.63.gamma.json --struct STRUCT.safetensors --out bench/lord/speed-DATE
    (--plain-file PLAIN.lowrank.safetensors instead of --plain: the same model from `lowrank decompose`)

Standard library only. Speed is machine- and load-dependent: state the load with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def bench(lowrank: str, model: str, plan: str | None, weights: str, a) -> dict:
    cmd = [lowrank, "bench-model", model, "--weights", weights, "--prompt-tokens", str(a.prompt_tokens),
           "--decode-tokens", str(a.decode_tokens), "--batch", a.batch, "--warmup", "1", "--repeats", str(a.repeats),
           "--threads", str(a.threads)] + (["--plan", plan] if plan else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"speed: {' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-2000:]}")
    out = json.loads(r.stdout)
    out["command"] = "lowrank " + " ".join(cmd[1:])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lowrank", required=True)
    ap.add_argument("--dense", required=True, help="the dense GGUF")
    ap.add_argument("--plain", help="γ JSON of the plain-SVD point (factorised in memory with --plan, every run)")
    ap.add_argument("--plain-file", help="the plain-SVD point as a factorised file (`lowrank decompose --plan`): "
                                         "the same model as --plain without factorising it in every run")
    ap.add_argument("--struct", help="a `lowrank compress` output")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default="f32,bf16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--batch", default="1,4")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.plain and a.plain_file:
        raise SystemExit("speed: --plain and --plain-file name the same configuration; give one")
    for p in [a.dense, a.plain, a.plain_file, a.struct]:
        if p and not Path(p).exists():
            raise SystemExit(f"speed: {p}: no such file")
    configs = [("dense", a.dense, None)] + ([("plain SVD", a.dense, a.plain)] if a.plain else []) + \
              ([("plain SVD", a.plain_file, None)] if a.plain_file else []) + \
              ([("struct", a.struct, None)] if a.struct else [])
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    runs = []
    for rnd in range(1, a.rounds + 1):
        for w in a.weights.split(","):
            for name, model, plan in configs:
                print(f"round {rnd}: {name} {w}", file=sys.stderr, flush=True)
                r = bench(a.lowrank, model, plan, w, a)
                r.update({"config": name, "round": rnd})
                (out / f"{name.replace(' ', '-')}-{w}-r{rnd}.json").write_text(json.dumps(r, indent=1))
                runs.append(r)
    rows = []
    for w in a.weights.split(","):
        for name, _, _ in configs:
            rs = [r for r in runs if r["config"] == name and r["weights"] == w]
            row = {"config": name, "weights": w, "parameters": rs[0]["parameters"], "model_bytes": rs[0]["model_bytes"],
                   "peak_rss_bytes": max(r["peak_rss_bytes"] for r in rs), "batches": {}}
            for b in rs[0]["results"]:
                B = b["batch"]
                per = [next(x for x in r["results"] if x["batch"] == B) for r in rs]
                row["batches"][str(B)] = {"prefill_tokens_per_s": statistics.median(x["prefill_tokens_per_s"] for x in per),
                                          "decode_tokens_per_s": statistics.median(x["decode_tokens_per_s"] for x in per),
                                          "rounds": [[x["prefill_tokens_per_s"], x["decode_tokens_per_s"]] for x in per]}
            rows.append(row)
    summary = {"load_before": load, "load_after": os.getloadavg(), "settings": vars(a), "rows": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    md = ["| model | weights | parameters | " + " | ".join(f"prefill b{B} tok/s | decode b{B} tok/s" for B in rows[0]["batches"])
          + " | peak RSS GB |", "|---|---|---|" + "---|---|" * len(rows[0]["batches"]) + "---|"]
    for row in rows:
        dense = next(x for x in rows if x["config"] == "dense" and x["weights"] == row["weights"])
        cells = []
        for B, v in row["batches"].items():
            d = dense["batches"][B]
            for k in ("prefill_tokens_per_s", "decode_tokens_per_s"):
                cells.append(f"{v[k]:.1f}" + ("" if row is dense else f" ({v[k] / d[k] - 1:+.0%})"))
        md.append(f"| {row['config']} | {row['weights']} | {row['parameters']:,} | " + " | ".join(cells)
                  + f" | {row['peak_rss_bytes'] / 1e9:.2f} |")
    (out / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Collect `lowrank compress` runs into one results file, and plot perplexity ratio vs K.

  collect --dense DENSE.eval.json --run SUMMARY.json:EVAL.json [--run …] --out RESULTS.json
      SUMMARY is `lowrank compress --json`'s output, EVAL is `lowrank eval --json`'s output on the
      compressed file, DENSE the same eval of the uncompressed model. Every number in RESULTS is
      copied from those files (perplexities, their standard errors, K achieved, parameters, the
      commands; for --alloc sensitivity also the probe's seconds and windows); the ratio is
      perplexity / dense perplexity on the same task. Runs whose eval used other windows or tasks
      than the dense eval are refused (a ratio over different windows is meaningless).
      --into EXISTING.json adds the runs to an earlier results file instead of starting afresh: its
      dense perplexities must equal DENSE's to 1e-6 relative (same model, windows and text; builds
      differ in float32 summation order at the 1e-7 level), and an earlier row of
      the same method, allocation and K is replaced by the new run.
  plot RESULTS.json --out FIGURE.svg [--max-ratio R]
      one panel per perplexity task, ratio to dense (log scale) vs K, a line per method/allocation;
      series with every point above R (default 100) are named in the panel instead of drawn, so
      they do not flatten the others.

Used for docs/compress.md (the SmolLM2 table and its figure); the commands that produced the runs
are in docs/compress.md and in each EVAL's "command" field.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"compress_results: cannot read {path}: {e}")


def _ppl_tasks(ev: dict, path: str) -> dict:
    out = {}
    for name, t in ev.get("tasks", {}).items():
        if name.startswith("ppl:"):
            m = t["metrics"]["perplexity"]
            out[name] = {"value": m["value"], "stderr": m.get("stderr"), "limit": t.get("limit"),
                         "sha256": t.get("dataset", {}).get("sha256")}
    if not out:
        sys.exit(f"compress_results: {path} has no perplexity task")
    return out


def collect(args: argparse.Namespace) -> None:
    dense = _ppl_tasks(_load(args.dense), args.dense)
    rows = []
    for spec in args.run:
        summary_path, sep, eval_path = spec.partition(":")
        if not sep:
            sys.exit(f"compress_results: --run {spec!r}: expected SUMMARY.json:EVAL.json")
        s, ev = _load(summary_path), _load(eval_path)
        tasks = _ppl_tasks(ev, eval_path)
        row = {"method": s["method"], "alloc": s.get("alloc", "uniform"), "keep_target": s["keep_target"],
               "keep_achieved": s["keep_achieved"], "linear_parameters": s["linear_parameters"],
               "parameters": s["parameters"], "compress_seconds": s.get("seconds"),
               "compress_peak_rss_mb": s.get("peak_rss_mb"), "eval_command": ev.get("command"), "tasks": {}}
        if s.get("sensitivity"):
            sens = s["sensitivity"]
            row["sensitivity_probe_seconds"] = sens.get("probe_seconds")
            row["sensitivity_windows"] = sens.get("windows", {}).get("count")
        for name, t in tasks.items():
            d = dense.get(name)
            if d is None or d["limit"] != t["limit"] or d["sha256"] != t["sha256"]:
                sys.exit(f"compress_results: {eval_path}: task {name} is not on the dense eval's windows/text")
            row["tasks"][name] = {"perplexity": t["value"], "stderr": t["stderr"], "ratio": t["value"] / d["value"]}
        rows.append(row)
    dense_out = {k: {"perplexity": v["value"], "stderr": v["stderr"], "windows": v["limit"]} for k, v in dense.items()}
    if args.into:
        old = _load(args.into)
        for k, v in dense_out.items():
            o = old.get("dense", {}).get(k)
            if o is None or o["windows"] != v["windows"] or abs(o["perplexity"] - v["perplexity"]) > 1e-6 * v["perplexity"]:
                sys.exit(f"compress_results: --into {args.into}: its dense {k} is not {args.dense}'s "
                         "(another model, text or windows): the ratios would not compare")
        key = lambda r: (r["method"], r["alloc"], r["keep_target"])
        new_keys = {key(r) for r in rows}
        rows = [r for r in old["runs"] if key(r) not in new_keys] + rows
    rows.sort(key=lambda r: (r["method"], r["alloc"], -r["keep_target"]))
    out = {"dense": dense_out, "runs": rows}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for r in rows:
        print(f"{r['method']:8} {r['alloc']:8} K={r['keep_target']:<5} " +
              "  ".join(f"{k} {v['ratio']:.3f}" for k, v in r["tasks"].items()))


def plot(args: argparse.Namespace) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = _load(args.results)
    tasks = sorted(res["dense"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.2), squeeze=False)
    series: dict[tuple, list] = {}
    for r in res["runs"]:
        series.setdefault((r["method"], r["alloc"]), []).append(r)
    for ax, task in zip(axes[0], tasks):
        off_scale = []
        for (method, alloc), rs in sorted(series.items()):
            rs = sorted(rs, key=lambda r: r["keep_achieved"])
            ks = [r["keep_achieved"] for r in rs if task in r["tasks"]]
            ys = [r["tasks"][task]["ratio"] for r in rs if task in r["tasks"]]
            label = method if alloc == "uniform" else f"{method} ({alloc})"
            if ys and min(ys) > args.max_ratio:
                off_scale.append(f"{label} ≥ {min(ys):.3g}")
                continue
            ax.plot(ks, ys, marker="o", label=label)
        if off_scale:
            ax.text(0.98, 0.02, "off scale: " + "; ".join(off_scale), transform=ax.transAxes, va="bottom", ha="right",
                    fontsize=7)  # bottom right: clear of the legend and of the curves (K falls to the right)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("K: fraction of linear parameters kept")
        ax.set_ylabel("perplexity / dense")
        ax.set_title(f"{task} ({res['dense'][task]['windows']} held-out windows)")
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--dense", required=True)
    c.add_argument("--run", action="append", default=[], required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--into", help="an earlier results file to add the runs to (same dense evaluation)")
    c.set_defaults(func=collect)
    q = sub.add_parser("plot")
    q.add_argument("results")
    q.add_argument("--out", required=True)
    q.add_argument("--max-ratio", type=float, default=100.0)
    q.set_defaults(func=plot)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()

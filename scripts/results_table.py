#!/usr/bin/env python3
"""Turn `lowrank eval --json` result files into one Markdown (default) or CSV table.

    python3 scripts/results_table.py results/*.json [--csv] [--metrics acc,acc_norm,perplexity]

One row per result file (model, γ id, method), one column per task/metric ("value ± stderr"),
plus sample counts, latency, throughput and wall time. Standard library only. Files that do not
follow the schema (docs/eval.md) are reported on stderr and skipped (exit status 1).
"""
import argparse
import csv
import json
import os
import sys

REQUIRED = ["schema", "schema_version", "model", "gamma", "method", "tasks", "efficiency", "machine", "software",
            "wall_time_s"]
PREFERRED = ["acc", "acc_norm", "perplexity", "bits_per_byte", "f1", "mean_cosine", "exact_match_strict",
             "exact_match_flexible"]


def check(doc):
    errs = ["missing %r" % k for k in REQUIRED if k not in doc]
    if doc.get("schema") != "lowrank.eval.results":
        errs.append("schema is not lowrank.eval.results")
    for name, t in (doc.get("tasks") or {}).items():
        for k in ("metrics", "samples", "dataset"):
            if k not in t:
                errs.append("tasks.%s: missing %r" % (name, k))
    return errs


def fmt(v, se):
    if v is None:
        return "null"
    s = "%.4g" % v if abs(v) >= 10 else "%.3f" % v
    if se is not None and se == se:
        s += " ± " + ("%.2g" % se if abs(v) >= 10 else "%.3f" % se)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--csv", action="store_true", help="CSV instead of Markdown")
    ap.add_argument("--metrics", default=",".join(PREFERRED), help="metrics to show, in order")
    args = ap.parse_args(argv)
    wanted = args.metrics.split(",")
    rows, columns, status = [], [], 0
    for path in args.files:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print("%s: %s" % (path, e), file=sys.stderr)
            status = 1
            continue
        errs = check(doc)
        if errs:
            print("%s: not a lowrank.eval.results file: %s" % (path, "; ".join(errs)), file=sys.stderr)
            status = 1
            continue
        gamma = doc.get("gamma") or {}
        row = {"file": os.path.basename(path), "model": os.path.basename(doc["model"]["path"]),
               "gamma": gamma.get("id", "-"), "method": doc["method"]}
        for task, t in doc["tasks"].items():
            for m in wanted:
                if m in t["metrics"]:
                    col = "%s %s" % (task, m)
                    if col not in columns:
                        columns.append(col)
                    v = t["metrics"][m]
                    row[col] = (v.get("value"), v.get("stderr"), t.get("samples"))
        eff = doc["efficiency"]
        row["latency_ms"] = eff.get("latency_ms")
        row["throughput_tok_s"] = eff.get("throughput_tok_s")
        row["wall_time_s"] = doc["wall_time_s"]
        rows.append(row)
    head = ["model", "gamma", "method"] + columns + ["latency_ms", "throughput_tok_s", "wall_time_s"]

    def cell(row, c, machine):
        v = row.get(c)
        if isinstance(v, tuple):
            if machine:
                return "" if v[0] is None else repr(v[0])
            return fmt(v[0], v[1]) + " (n=%s)" % v[2]
        if isinstance(v, float):
            return "%.4g" % v
        return "" if v is None else str(v)

    if args.csv:
        w = csv.writer(sys.stdout)
        hdr = []
        for c in head:
            hdr.append(c)
            if c in columns:
                hdr += [c + " stderr", c + " n"]
        w.writerow(hdr)
        for r in rows:
            out = []
            for c in head:
                if c in columns:
                    v = r.get(c) or (None, None, None)
                    out += ["" if x is None else x for x in v]
                else:
                    out.append(cell(r, c, True))
            w.writerow(out)
    else:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(cell(r, c, False) for c in head) + " |")
    return status


if __name__ == "__main__":
    sys.exit(main())

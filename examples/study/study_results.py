"""A study's stored outputs: reading them for the report, and checking they are well formed.

Reads only what `lowrank_study.py run` stored in the output directory (index.json, runs.json,
results/*.json): one row per experiment configuration with its tasks (reported metric, value,
s.e., n), per-unit outputs (study_point.per_unit), efficiency, Eckart-Young errors and the median
of repeated timing rounds. Variant rows ("variant": a compression method, or "layer removed";
study_methods.py) carry the compress / calibrate results they used (r["compress"],
r["calibration"]), and a compressed model's row its *achieved* reduction (r["reduction"], from
the evaluated parameter count; r["budget_reduction"]: the plain point's, which it was given).
"""
from __future__ import annotations

import importlib.util
import json
import math
from collections import Counter
from pathlib import Path

SCHEMA = "lowrank.eval.results"
PPL_PREFIX = "ppl:"


def task_metric(name: str, t: dict) -> tuple[str, float | None, float | None]:
    m = t["metrics"]
    prefer = ("acc_norm", "acc", "exact_match_strict")  # gsm8k: lm-eval's strict-match filter
    for k in (("perplexity",) if name.startswith(PPL_PREFIX) else ("mean_cosine",) if name == "agreement" else prefer):
        if k in m:
            return k, m[k]["value"], m[k]["stderr"]
    k = next(iter(m))
    return k, m[k]["value"], m[k]["stderr"]


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def load(out: Path) -> tuple[dict, list[dict], list[dict]]:
    index = json.loads((out / "index.json").read_text())
    runs = json.loads((out / "runs.json").read_text()) if (out / "runs.json").exists() else []
    rows = []
    for row in index["rows"]:
        r = dict(row)
        r["tasks"], r["eff"], r["ey"] = {}, {}, None
        for f in row["results"]:
            d = json.loads((out / f["file"]).read_text())
            if f["kind"] in ("compress", "calibrate"):
                r["compress" if f["kind"] == "compress" else "calibration"] = d
                continue
            if f["kind"] == "decompose":
                errs = [t for t in d["manifest"].get("tensors", []) if isinstance(t, dict) and t.get("rel_error") is not None
                        and t.get("decomposed", True) and t.get("rank") is not None]
                vals = [t["rel_error"] for t in errs]
                ey = [t.get("eckart_young") for t in errs if num(t.get("eckart_young")) is not None]
                r["ey"] = {"mean_rel_error": sum(vals) / len(vals) if vals else None,
                           "max_rel_error": max(vals) if vals else None,
                           "mean_eckart_young": sum(ey) / len(ey) if ey else None, "tensors": len(vals)}
                continue
            r["result"] = d
            for name, t in d["tasks"].items():
                k, v, se = task_metric(name, t)
                r["tasks"][name] = {"metric": k, "value": v, "stderr": se, "n": t["samples"], "total": t.get("total"),
                                    "chance": num(t.get("chance"))}
            e = d.get("efficiency", {})
            sp = d.get("study_point", {})
            r["units"] = sp.get("per_unit") or {}
            pa = sp.get("params_after")
            r["params_after"], r["params_total"] = pa, sp.get("params_total")
            if "compress" in sp and pa is not None and sp.get("params_total"):
                r["budget_reduction"], r["reduction"] = row["reduction"], 1 - pa / sp["params_total"]
            r["eff"] = {"latency_ms": num(e.get("latency_ms")), "throughput_tok_s": num(e.get("throughput_tok_s")),
                        "energy_j": num(e.get("energy_j")), "peak_rss_mb": num(e.get("peak_rss_mb")),
                        "weights_mb": num(e.get("weights_mb")) or (pa * 4 / 2 ** 20 if pa else None),
                        "latency_what": e.get("latency_what"), "energy_what": e.get("energy_what")}
        if "result" in r:
            acc = [(t["value"], t["stderr"]) for n, t in r["tasks"].items()
                   if not n.startswith(PPL_PREFIX) and n != "agreement" and t["value"] is not None]
            ch = [t["chance"] for n, t in r["tasks"].items() if not n.startswith(PPL_PREFIX) and n != "agreement" and t["chance"] is not None]
            if ch:
                r["avg_chance"] = sum(ch) / len(ch)
            if acc:
                r["avg_acc"] = sum(a for a, _ in acc) / len(acc)
                r["avg_acc_se"] = math.sqrt(sum((s or 0) ** 2 for _, s in acc)) / len(acc)
            ppl = [t for n, t in r["tasks"].items() if n.startswith(PPL_PREFIX)]
            if ppl:
                r["ppl"], r["ppl_se"] = ppl[0]["value"], ppl[0]["stderr"]
        rows.append(r)
    # repeated timing runs (experiment "timing"): median latency per configuration, attached to every row
    # with the same model and γ as r["eff_t"]. A study resumed on another machine holds timing rounds
    # from several CPU models, which cannot be pooled: per model, only the CPU with the most rounds counts
    # (eff_t["cpu"]; eff_t["other_cpu_rounds"]: this configuration's rounds left out).
    config = lambda r: (r["model"], json.dumps(r["gamma"], sort_keys=True), r.get("gamma_id") if r.get("variant") else None)
    timed = [r for r in rows if r["experiment"] == "timing" and "result" in r and r["eff"].get("latency_ms") is not None]
    per_cpu = {}
    for r in timed:
        per_cpu.setdefault(r["model"], Counter())[cpu_of(r)] += 1
    timing_cpu = {mid: c.most_common(1)[0][0] for mid, c in per_cpu.items()}
    timing, left_out = {}, Counter()
    for r in timed:
        if cpu_of(r) == timing_cpu[r["model"]]:
            timing.setdefault(config(r), []).append(r["eff"])
        else:
            left_out[config(r)] += 1
    for r in rows:
        t = timing.get(config(r))
        if t:
            lat = sorted(e["latency_ms"] for e in t)
            thr = sorted(e["throughput_tok_s"] for e in t if e.get("throughput_tok_s") is not None)
            med = lambda v: (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2 if v else None
            n = len(lat)
            sd = math.sqrt(sum((x - sum(lat) / n) ** 2 for x in lat) / (n - 1)) if n > 1 else None
            r["eff_t"] = {"latency_ms": med(lat), "latency_se": sd / math.sqrt(n) if sd is not None else None,
                          "throughput_tok_s": med(thr), "n": n, "cpu": timing_cpu[r["model"]],
                          "other_cpu_rounds": left_out[config(r)]}
    return index, runs, rows


def cpu_of(r) -> str | None:
    """The CPU model that evaluated row r (its result's `machine.cpu`); None without a result."""
    return ((r.get("result") or {}).get("machine") or {}).get("cpu")


def lat_of(r):
    """Latency for comparisons: the median of the back-to-back timing rounds when measured, else the probe."""
    return (r.get("eff_t") or {}).get("latency_ms") or r["eff"].get("latency_ms")


def thr_of(r):
    return (r.get("eff_t") or {}).get("throughput_tok_s") or r["eff"].get("throughput_tok_s")


def measured(r, key: str = "latency_ms"):
    """r's latency (lat_of) or, key="throughput_tok_s", decode throughput (thr_of)."""
    return lat_of(r) if key == "latency_ms" else thr_of(r)


def measured_on(r, key: str = "latency_ms") -> str | None:
    """The CPU model behind measured(r, key): the timing rounds' where they gave it, else r's own probe's."""
    t = r.get("eff_t") or {}
    return t.get("cpu") if t.get(key) else cpu_of(r)


def comparable(r, ref, key: str = "latency_ms") -> bool:
    """Whether r's and ref's `key` (latency_ms: lat_of, throughput_tok_s: thr_of) were measured on the same
    CPU model. Figures from two CPU models (a paper-scale study resumed on another machine) are never
    compared: the machine would dwarf the effect."""
    return measured_on(r, key) == measured_on(ref, key)


def lat_rel(r, ref, key: str = "latency_ms"):
    """measured(r, key) / measured(ref, key) where both were measured on one CPU model, else None."""
    a, b = measured(r, key), measured(ref, key)
    return a / b if a and b and comparable(r, ref, key) else None


def thr_rel(r, ref):
    return lat_rel(r, ref, "throughput_tok_s")


def baseline(rows, model, profile):
    for r in rows:
        if r["experiment"] == "baseline" and r["model"] == model and r["profile"] == profile and "result" in r:
            return r
    return None


def check_outputs(out: Path) -> list[str]:
    out = Path(out)
    p = []
    for f in ("index.json", "runs.json", "README.md"):
        if not (out / f).exists():
            p.append(f"missing {f}")
    if p:
        return p
    index = json.loads((out / "index.json").read_text())
    for row in index["rows"]:
        if not row["results"]:
            p.append(f"row {row['experiment']} {row['model']} {row.get('label')}: no result")
        for f in row["results"]:
            d = json.loads((out / f["file"]).read_text())
            if f["kind"] in ("compress", "calibrate"):
                if d.get("format") != f"lowrank.study.{f['kind']}":
                    p.append(f"{f['file']}: not a lowrank.study.{f['kind']} record")
                continue
            if f["kind"] == "decompose":
                if "manifest" not in d:
                    p.append(f"{f['file']}: no manifest")
                continue
            for k in ("schema", "schema_version", "model", "gamma", "method", "tasks", "efficiency", "machine", "software", "wall_time_s"):
                if k not in d:
                    p.append(f"{f['file']}: missing {k}")
            if d.get("schema") != SCHEMA or d.get("schema_version") != 1:
                p.append(f"{f['file']}: not {SCHEMA} v1")
            if len(d.get("model", {}).get("sha256", "")) != 64:
                p.append(f"{f['file']}: model.sha256")
            for n, t in d.get("tasks", {}).items():
                if not t.get("metrics"):
                    p.append(f"{f['file']}: task {n} has no metrics")
                for m, v in t.get("metrics", {}).items():
                    if "value" not in v or "stderr" not in v:
                        p.append(f"{f['file']}: {n}.{m} lacks value/stderr")
                if len(t.get("dataset", {}).get("sha256", "")) != 64:
                    p.append(f"{f['file']}: {n} dataset sha256")
            for k in ("latency_ms", "throughput_tok_s", "peak_rss_mb", "energy_j"):
                v = d.get("efficiency", {}).get(k)
                if not (isinstance(v, (int, float)) or v == "unavailable"):
                    p.append(f"{f['file']}: efficiency.{k} = {v!r}")
    figs = list((out / "figures").glob("*.csv")) if (out / "figures").exists() else []
    if not figs:
        p.append("no figure data (figures/*.csv)")
    have_mpl = importlib.util.find_spec("matplotlib") is not None
    if not have_mpl:
        print("check: matplotlib not importable here, PNG files not required")
    for c in figs:
        if have_mpl and not c.with_suffix(".png").exists():
            p.append(f"{c.name}: no PNG beside it")
    text = (out / "README.md").read_text()
    if "## Summary" not in text:
        p.append("README.md: no summary")
    return p

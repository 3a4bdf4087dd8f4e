#!/usr/bin/env python3
"""Markdown tables of docs/benchmarks.md from bench_core's JSON output (standard library only).

    python3 bench/core_tables.py mode  MODE.json    # mode-n product vs raw GEMM (min over repetitions)
    python3 bench/core_tables.py svd   CORE.json    # truncated SVD on the study's shapes (medians)
    python3 bench/core_tables.py equal CORE.json    # randomized vs exact at equal error (medians)
    python3 bench/core_tables.py tucker CORE.json   # ST-HOSVD and HOOI on a 3-way tensor (medians)

MODE.json: `bench_core --benchmark_filter='Mode|Raw' --benchmark_repetitions=5 --benchmark_out=MODE.json`
(every repetition kept: the table takes the minimum of each, so a load spike hits the ratio least).
CORE.json: `REPS=3 bash bench/run_core_bench.sh BUILD OUT` (aggregates only: the table takes medians).
"""
import json
import sys
from collections import defaultdict

METHODS = {0: "exact", 1: "gram", 2: "randomized"}


def load(path):
    with open(path) as f:
        return json.load(f)["benchmarks"]


def fmt_ms(ms):
    return f"{ms / 1e3:.3g} s" if ms >= 1000 else f"{ms:.3g} ms"


def mode_table(benchmarks):
    """Rows: tensor × dtype × threads; columns: raw GEMM of each mode's shape, then each mode's product."""
    best = defaultdict(lambda: float("inf"))
    for b in benchmarks:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        kind, args = name.split("/", 1)
        best[(kind, args)] = min(best[(kind, args)], b["real_time"])
    rows = defaultdict(dict)
    for (kind, args), t in best.items():
        parts = args.split("/")
        i0, i1, i2, j, mode, threads = (int(x) for x in parts[:6])
        dtype = "float32" if "<float>" in kind else "float64"
        rows[(dtype, threads, (i0, i1, i2))][(kind.split("<")[0], mode, j)] = t
    out = ["| tensor | dtype | threads | raw GEMM (mode 0 / 1 / 2 shapes) ms | mode 0 | mode 1 | mode 2 |",
           "|---|---|---|---|---|---|---|"]
    cells = []
    for (dtype, threads, shape) in sorted(rows, key=lambda k: (k[0], k[1], -k[2][0] * k[2][1])):
        r = rows[(dtype, threads, shape)]
        raw, prod = [], []
        js = sorted({j for (_, m, j) in r})
        for mode in range(3):
            key = next(((k, m, j) for (k, m, j) in r if k == "BM_RawGemm" and m == mode), None)
            if key is None:
                raw.append("—")
                prod.append("—")
                continue
            j = key[2]
            g, p = r[key], r.get(("BM_ModeProduct", mode, j))
            raw.append(f"{g:.3g}")
            if p is None:
                prod.append("—")
                continue
            cells.append(g / p)
            note = f", J = {j}" if len(js) > 1 else ""
            prod.append(f"{p:.3g} ms (**{100 * g / p:.0f} %**){note}")
        jtxt = "/".join(str(j) for j in js)
        out.append(f"| {'×'.join(map(str, shape))}, J = {jtxt} | {dtype} | {threads} | {' / '.join(raw)} | "
                   + " | ".join(prod) + " |")
    met = sum(c >= 0.9 for c in cells)
    out.append("")
    out.append(f"{met} of {len(cells)} cells at ≥ 90 % of the raw GEMM (min {100 * min(cells):.0f} %, "
               f"median {100 * sorted(cells)[len(cells) // 2]:.0f} %).")
    return "\n".join(out)


def medians(benchmarks, prefix):
    out = {}
    for b in benchmarks:
        if b.get("aggregate_name") == "median" and b["name"].startswith(prefix):
            out[b["run_name"]] = b
    return out


def svd_table(benchmarks):
    med = medians(benchmarks, "BM_TruncatedSVD/")
    rows = defaultdict(dict)
    for name, b in med.items():
        m, n, r, method = (int(x) for x in name.split("/")[1:5])
        rows[(m, n, r)][METHODS[method]] = b
    out = ["| shape | rank | exact (gesdd) | Gram | randomized | randomized speed-up vs exact | randomized ey_ratio |",
           "|---|---|---|---|---|---|---|"]
    exact_by_shape = {}
    for (m, n, r), d in rows.items():
        if "exact" in d:
            exact_by_shape.setdefault((m, n), d["exact"]["real_time"])
    for (m, n, r) in sorted(rows, key=lambda k: (k[0] * k[1], k[0], k[2])):
        d = rows[(m, n, r)]
        cell = {k: fmt_ms(d[k]["real_time"]) if k in d else "—" for k in METHODS.values()}
        ex = d["exact"]["real_time"] if "exact" in d else exact_by_shape.get((m, n))
        sp = f"{ex / d['randomized']['real_time']:.3g}×" if ex and "randomized" in d else "—"
        ey = f"{d['randomized']['ey_ratio']:.4f}" if "randomized" in d else "—"
        out.append(f"| {m}×{n} | {r} | {cell['exact']} | {cell['gram']} | {cell['randomized']} | {sp} | {ey} |")
    return "\n".join(out)


def equal_table(benchmarks):
    med = medians(benchmarks, "BM_SVDEqualError/")
    rows = defaultdict(dict)
    for name, b in med.items():
        m, n, r, variant = (int(x) for x in name.split("/")[1:5])
        rows[(m, n, r)]["krylov" if variant == 0 else "subspace"] = b
    out = ["| shape | rank | block Krylov: q, products, ey_ratio | speed-up vs exact | subspace iteration: q, products, "
           "ey_ratio | speed-up vs exact | block Krylov vs subspace |", "|---|---|---|---|---|---|---|"]
    for (m, n, r) in sorted(rows, key=lambda k: (k[0] * k[1], k[0], k[2])):
        d = rows[(m, n, r)]
        cols = []
        for v in ("krylov", "subspace"):
            if v in d:
                b = d[v]
                cols += [f"{b['q']:.0f}, {b['passes']:.0f}, {b['ey_rand']:.4f}", f"{b['speedup']:.3g}×"]
            else:
                cols += ["—", "—"]
        ratio = (f"{d['krylov']['speedup'] / d['subspace']['speedup']:.2f}×"
                 if "krylov" in d and "subspace" in d else "—")
        out.append(f"| {m}×{n} | {r} | " + " | ".join(cols) + f" | {ratio} |")
    return "\n".join(out)


def tucker_table(benchmarks):
    med = medians(benchmarks, "BM_Tucker/")
    rows = defaultdict(dict)
    for name, b in med.items():
        size, rank, algo = (int(x) for x in name.split("/")[1:4])
        rows[(size, rank)]["hooi" if algo == 1 else "sthosvd"] = b
    out = ["| tensor | ranks | ST-HOSVD | HOOI | sweeps | rel. error ST-HOSVD → HOOI |", "|---|---|---|---|---|---|"]
    for (size, rank) in sorted(rows):
        d = rows[(size, rank)]
        s, h = d.get("sthosvd"), d.get("hooi")
        out.append(f"| {size}³ | {rank}, {rank}, {rank} | {fmt_ms(s['real_time']) if s else '—'} | "
                   f"{fmt_ms(h['real_time']) if h else '—'} | {h['sweeps']:.0f} | "
                   f"{s['rel_error']:.5f} → {h['rel_error']:.5f} |" if s and h else f"| {size}³ | {rank} | — | — | — | — |")
    return "\n".join(out)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("mode", "svd", "equal", "tucker"):
        sys.exit(__doc__)
    try:
        benchmarks = load(sys.argv[2])
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"core_tables.py: {sys.argv[2]}: not a Google Benchmark JSON file ({e})")
    print({"mode": mode_table, "svd": svd_table, "equal": equal_table, "tucker": tucker_table}[sys.argv[1]](benchmarks))


if __name__ == "__main__":
    main()

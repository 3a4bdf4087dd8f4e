#!/usr/bin/env python3
"""Table and slopes of a bench/scale/run_llama2_7b.sh run (prints Markdown).

    python3 bench/scale/summarize.py OUT_DIR

Per configuration (dense, then each reduction R): parameters, the reduction actually reached,
decompose wall time and peak memory, bench-model prefill latency (median seconds for PROMPT tokens),
decode latency (median ms per step), weight bytes as stored (bf16) and bench-model's peak RSS.
Slopes, as the founding study reports them (Figures 4.2/4.4): the relative change of a quantity
per 1 % of parameters removed, fitted by least squares through the origin over the factorised
configurations, x = 100·(1 − params/params_dense), y = 100·(1 − value/value_dense)."""
import json
import sys
from pathlib import Path


def load(p: Path):
    return json.loads(p.read_text()) if p.exists() else None


def slope(xs, ys):
    den = sum(x * x for x in xs)
    return sum(x * y for x, y in zip(xs, ys)) / den if den else float("nan")


def main() -> int:
    out = Path(sys.argv[1])
    dense = load(out / "bench-dense.json")
    if not dense:
        raise SystemExit(f"{out}: no bench-dense.json")
    drss = load(out / "bench-dense.rss.json") or {}
    rows = [("dense", dense, drss, None, None)]
    for b in sorted(out.glob("bench-0*.json")):
        if b.name.endswith(".rss.json"):
            continue
        r = b.stem.split("-", 1)[1]
        rows.append((r, load(b), load(out / f"bench-{r}.rss.json") or {}, load(out / f"decompose-{r}.rss.json") or {},
                     load(out / f"decompose-{r}.manifest.json") or {}))

    def lat(d):
        res = d["results"][0]
        return res["prefill_seconds"]["median"], res["decode_ms_per_step"]["median"]

    p0 = dense["parameters"]
    pre0, dec0 = lat(dense)
    b0, m0 = dense["model_bytes"], drss.get("peak_anon_bytes") or dense.get("peak_rss_bytes")
    res0 = dense["results"][0]
    print(f"batch {res0['batch']}, {dense['prompt_tokens']} prompt tokens, {dense['decode_tokens']} decode steps, "
          f"{dense['threads']} threads, bf16 weights\n")
    print("| config | parameters | reduction | decompose s | decompose peak RSS (anon) GB | prefill s | decode ms/step "
          "| weight GB | bench peak RSS (anon) GB | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    xs, ys_pre, ys_dec, ys_b, ys_m = [], [], [], [], []
    for name, d, rss, dec, man in rows:
        pre, dms = lat(d)
        red = 1 - d["parameters"] / p0
        m = rss.get("peak_anon_bytes") or d.get("peak_rss_bytes")
        dcell = (f"{dec['wall_s']:.0f}", f"{dec['peak_rss_bytes'] / 1e9:.2f} ({dec['peak_anon_bytes'] / 1e9:.2f})") if dec else ("", "")
        print(f"| {name} | {d['parameters']:,} | {100 * red:.2f} % | {dcell[0]} | {dcell[1]} | {pre:.3f} | {dms:.1f} | "
              f"{d['model_bytes'] / 1e9:.2f} | {rss.get('peak_rss_bytes', 0) / 1e9:.2f} ({(m or 0) / 1e9:.2f}) | "
              f"{rss.get('load_before', '?')}–{rss.get('load_after', '?')} |")
        if dec is not None:
            xs.append(100 * red)
            ys_pre.append(100 * (1 - pre / pre0))
            ys_dec.append(100 * (1 - dms / dec0))
            ys_b.append(100 * (1 - d["model_bytes"] / b0))
            if m and m0:
                ys_m.append(100 * (1 - m / m0))
    if xs:
        print()
        print("Change per 1 % of parameters removed (least squares through the origin; founding study ≈ 0.5 % latency, "
              "≈ 0.4 % memory):\n")
        print(f"- prefill latency: {slope(xs, ys_pre):.2f} %")
        print(f"- decode latency: {slope(xs, ys_dec):.2f} %")
        print(f"- weight bytes: {slope(xs, ys_b):.2f} %")
        if len(ys_m) == len(xs):
            print(f"- bench peak RSS (anon): {slope(xs, ys_m):.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())

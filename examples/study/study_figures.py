"""Figures of the study report: one PNG per figure (matplotlib, optional) and the CSV behind it."""
from __future__ import annotations

import csv
import math
from pathlib import Path



def write_csv(path: Path, header: list[str], data: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in data:
            w.writerow(["" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for v in row])


def _errs(ds):
    """matplotlib yerr: [below, above] from the interval [ylo, yhi] when given, else ± yerr."""
    lo = [d["y"] - d["ylo"] if d.get("ylo") is not None else d.get("yerr") or 0 for d in ds]
    hi = [d["yhi"] - d["y"] if d.get("yhi") is not None else d.get("yerr") or 0 for d in ds]
    return [lo, hi]


def figure(c, name: str, title: str, long: list[dict], xlabel: str, ylabels: dict, categorical=False, notes=None):
    """c: the report (c.out: output directory, c.draw: write PNGs). long: dicts with panel, series, x, y and an error bar: yerr (± s.e.) or an interval ylo..yhi
    (the paired interval of the difference from dense, placed around y). One subplot per panel,
    one line/bar set per series; the CSV beside the PNG holds every number drawn (the PNG only
    when c.draw and matplotlib is importable)."""
    figdir = c.out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    write_csv(figdir / f"{name}.csv", ["panel", "series", "x", "y", "yerr", "ylo", "yhi"],
              [[d["panel"], d["series"], d["x"], d["y"], d.get("yerr"), d.get("ylo"), d.get("yhi")] for d in long])
    if not c.draw:
        return False
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = list(dict.fromkeys(d["panel"] for d in long)) or ["(no data)"]
    n = len(panels)
    cols = min(3, n)
    rows_ = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(max(7.5, 5.2 * cols), 3.6 * rows_ + 0.6), squeeze=False)
    for ax, p in zip(axes.flat, panels):
        pts = [d for d in long if d["panel"] == p]
        series = list(dict.fromkeys(d["series"] for d in pts))
        if categorical:
            cats = list(dict.fromkeys(str(d["x"]) for d in pts))
            wdt = 0.8 / max(1, len(series))
            for i, s in enumerate(series):
                sp = {str(d["x"]): d for d in pts if d["series"] == s}
                xs = [j + i * wdt for j, c in enumerate(cats) if c in sp and sp[c]["y"] is not None]
                ys = [sp[c]["y"] for c in cats if c in sp and sp[c]["y"] is not None]
                es = _errs([sp[c] for c in cats if c in sp and sp[c]["y"] is not None])
                ax.bar(xs, ys, wdt, yerr=es, label=s, capsize=2)
            ax.set_xticks([j + 0.4 - wdt / 2 for j in range(len(cats))])
            ax.set_xticklabels(cats, rotation=45, ha="right", fontsize=7)
        else:
            for s in series:
                sp = sorted([d for d in pts if d["series"] == s and d["y"] is not None], key=lambda d: d["x"])
                if sp:
                    scatter = s.startswith("other") or s.startswith("chosen") or s in ("tensor", "position", "distance", "rank",
                                                                                         "design_goal", "tradeoff", "baseline")
                    ax.errorbar([d["x"] for d in sp], [d["y"] for d in sp], yerr=_errs(sp),
                                marker="o" if not s.startswith("chosen") else "*", ms=3 if not s.startswith("chosen") else 10,
                                capsize=2, label=s, ls="none" if scatter else "-")
        ys = [d["y"] for d in pts if isinstance(d["y"], (int, float))]
        if ys and min(ys) > 0 and max(ys) / min(ys) > 30:
            ax.set_yscale("log")  # perplexities of broken configurations span orders of magnitude
        ax.set_title(p, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabels.get(p, ylabels.get("*", "")), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(series) > 1 or categorical:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    import textwrap
    fig.suptitle("\n".join(textwrap.wrap(title, 110 if cols > 1 else 80)) + (f"\n{notes}" if notes else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(figdir / f"{name}.png", dpi=110)
    plt.close(fig)
    return True

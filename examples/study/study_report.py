"""The Markdown report of a study (README.md), its figures and findings.csv: one function per
report section, each appending to a shared Report.

Everything here reads only what `lowrank_study.py run` stored in the output directory
(index.json, runs.json, results/*.json; study_results.load), so `lowrank_study.py plot`
regenerates it all. Conclusions in the report are computed from the numbers by the rules stated
next to them; comparisons are paired where the results kept per-unit outputs (report_stats).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import paired_stats as ps
import report_stats
from report_stats import METHOD_TEXT, Comparison, compare, metric_of, vs_dense
from study_figures import figure, write_csv
from study_results import PPL_PREFIX, baseline, comparable, cpu_of, lat_of, lat_rel, load, measured, thr_of, thr_rel
NOISE_Z = 2.0  # latency slopes and "at chance": a difference counts when |diff| > 2 standard errors

STUDY_REF = {  # what the founding study (Chapters 3-4) reported, for the agree/disagree lines
    "rank": "rank barely matters compared with which/how many layers (avg variation 1.5 %p across ranks)",
    "tensor1": "within attention or within MLP the tensors are about equally sensitive (Llama-2); for BERT the intermediate FC is the most sensitive",
    "tensor2": "at equal parameter reduction, all tensors in fewer layers beats one tensor type in many layers (3 %p vs >50 %p drop)",
    "position": "the first two and the last layer are the most sensitive; middle layers the least",
    "distance": "layers far apart hurt less than consecutive layers",
    "tradeoff": "~0.5 % latency and energy and ~0.4 % memory reduction per 1 % of parameters removed; 4-10 %p accuracy loss at 9 % reduction",
    "lord": "LoRD: rank reduced by up to 39.58 % with < 1 % perplexity increase (StarCoder 16B)",
}


# ----------------------------------------------------------------------------- figure entries
def task_panels(rows, base, tasks=None):
    """Figure entries per task (+ average accuracy) for each row: dicts with panel, y, yerr (± 1 s.e.)
    and, for a row compared with `base` on paired units, ylo/yhi: y's interval from the paired
    interval of the difference (perplexity: on the ln scale)."""
    out = []
    for r in rows:
        ent = []
        for n, t in r["tasks"].items():
            if tasks and n not in tasks:
                continue
            ent.append(_entry(f"{n} ({t['metric']}, n={t['n']})", r, base, n, t["value"], t["stderr"]))
        if "avg_acc" in r:
            ent.append(_entry("average accuracy", r, base, "avg_acc", r["avg_acc"], r["avg_acc_se"]))
        out.append((r, ent))
    return out


def _entry(panel, r, base, which, v, se):
    e = {"panel": panel, "y": v, "yerr": se}
    if base is None or r is base or v is None:
        return e
    c = vs_dense(base, r, which, f"figure {panel}")
    if c is None or not c.paired:
        return e
    if which.startswith(PPL_PREFIX):
        e["ylo"], e["yhi"] = v * math.exp(c.lo - c.value), v * math.exp(c.hi - c.value)
    else:
        e["ylo"], e["yhi"] = v + c.lo - c.value, v + c.hi - c.value
    e["yerr"] = None
    return e


def ylab(panel):
    if "reconstruction" in panel:
        return "‖W−Ŵ‖_F / ‖W‖_F"
    if panel.startswith("ppl:"):
        return "perplexity"
    if panel.startswith("agreement"):
        return "cosine to dense"
    return "accuracy"


# ----------------------------------------------------------------------------- helpers for the text
def pct(x, d=1):
    return "n/a" if x is None else f"{100 * x:.{d}f}%"


def fnum(x, d=3):
    return "n/a" if x is None else f"{x:.{d}f}"


def lat_cell(r, ref, key: str = "latency_ms") -> str:
    """A table cell for r's latency (or decode throughput), marked where it cannot be compared with ref's."""
    v = measured(r, key)
    return fnum(v, 1) + ("" if v is None or comparable(r, ref, key) else " (other CPU)")


def lat_fall_pct(r, ref):
    """The % by which r's latency is below ref's; None where the two are not comparable (study_results.lat_rel)."""
    q = lat_rel(r, ref)
    return 100 * (1 - q) if q else None


def pm(v, se, d=3, scale=1.0):
    if v is None:
        return "n/a"
    return f"{v * scale:.{d}f} ± {se * scale:.{d}f}" if se is not None else f"{v * scale:.{d}f}"


def slope_through_origin(xs, ys):
    pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    den = sum(x * x for x, _ in pts)
    if len(pts) < 2 or den == 0:
        return None, None
    b = sum(x * y for x, y in pts) / den
    res = [y - b * x for x, y in pts]
    se = math.sqrt(sum(e * e for e in res) / (len(pts) - 1) / den)
    return b, se


def primary(rows_m):
    """Primary accuracy-like metric for a model's rows: average accuracy if present, else perplexity."""
    return "avg_acc" if any("avg_acc" in r for r in rows_m) else "ppl"


def sensitive(rs):
    """The most sensitive measured metric for verdicts: ln(perplexity), else agreement with the dense model,
    else average accuracy. Returns (name, better) where better(v) is larger for better models."""
    if any(r.get("ppl") is not None for r in rs):
        return "lnppl", (lambda v: -v)
    if any("agreement" in r["tasks"] for r in rs):
        return "agreement", (lambda v: v)
    return "avg_acc", (lambda v: v)


def mean_se(rs, m):
    vals = [metric_of(r, m) for r in rs]
    vals = [(v, se or 0) for v, se in vals if v is not None]
    if not vals:
        return None, None
    return sum(v for v, _ in vals) / len(vals), math.sqrt(sum(se * se for _, se in vals)) / len(vals)


def cols(rs, pm_):
    """Metric columns for a table: the primary one, then perplexity / dense-agreement when measured."""
    c = [pm_]
    if pm_ != "ppl" and any(r.get("ppl") is not None for r in rs):
        c.append("ppl")
    if any("agreement" in r["tasks"] for r in rs):
        c.append("agreement")
    return c


def chead(c):
    return " | ".join({"avg_acc": "avg accuracy", "ppl": "perplexity", "agreement": "cosine to dense"}.get(x, x) for x in c)


def cvals(r, c):
    return " | ".join(pm(*metric_of(r, x), d=2 if x == "ppl" else 3) for x in c)


def series(r: dict, name: str) -> str:
    """A row's series in figures and its label in tables: `name`, plus the row's variant when it
    has one. Variants are how the method axis (a better compressor at the same layer sets) and the
    "skip the layer" baseline enter a report: rows of the same experiment, model and profile with
    "variant": "…", compared paired with the same dense baseline, one more series each."""
    return f"{name} ({r['variant']})" if r.get("variant") else name


def cmp_metric(which):
    """The scale a table column is compared on: perplexity as ln(perplexity)."""
    return "lnppl" if which == "ppl" else which


def fmt_cmp(cm: Comparison | None, which: str) -> str:
    """A difference with its interval: accuracy in points, perplexity as a ratio, cosine as is;
    McNemar's p for one task; "unpaired" when it is not paired."""
    if cm is None:
        return "n/a"
    if which in ("lnppl", "ppl") or which.startswith(PPL_PREFIX):
        s = f"×{math.exp(cm.value):.3g} [{math.exp(cm.lo):.3g}, {math.exp(cm.hi):.3g}]"
    elif which == "agreement":
        s = f"{cm.value:+.3f} [{cm.lo:+.3f}, {cm.hi:+.3f}]"
    else:
        s = f"{100 * cm.value:+.1f} [{100 * cm.lo:+.1f}, {100 * cm.hi:+.1f}] %p"
    if cm.mcnemar is not None:
        s += f", p = {cm.mcnemar.p:.2g}"
    return s + ("" if cm.paired else " (unpaired)")


def dhead(which) -> str:
    name = {"avg_acc": "avg accuracy", "ppl": "perplexity", "lnppl": "perplexity"}.get(which, which)
    return f"{name} vs dense [95 % interval]"


def dcell(base, r, which) -> str:
    """Difference of r from the dense baseline on a table's column (— for the baseline itself)."""
    if base is None:
        return "n/a"
    if r is base:
        return "—"
    return fmt_cmp(vs_dense(base, r, cmp_metric(which), f"table {r['experiment']} {r.get('label')}"), which)


def better_sign(cm: Comparison | None, which: str) -> int:
    """+1 / -1 when the compared quantity is resolved as better / worse (lower ln perplexity is
    better), 0 when its interval includes 0 or nothing was compared."""
    if cm is None:
        return 0
    return -cm.sign() if which in ("lnppl", "ppl") or which.startswith(PPL_PREFIX) else cm.sign()


def verdict_of(cm: Comparison | None, which: str) -> str:
    """The study's claim, stated as "this contrast is better": agree / disagree / within noise."""
    if cm is None:
        return "n/a"
    s = better_sign(cm, which)
    return "agree" if s > 0 else "disagree" if s < 0 else "inconclusive (within noise)"


# ----------------------------------------------------------------------------- the report
@dataclass
class Report:
    """What every section reads (the stored results) and writes (Markdown lines, findings).

    Sections append to `md` (the report body after the summary) and `findings` (experiment,
    model, verdict, text), in the order make_all calls them."""
    out: Path
    index: dict
    runs: list
    rows: list
    md: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    draw: bool = True  # PNGs (the CSVs are always written)

    @property
    def models(self) -> dict:
        return self.index["models"]

    @property
    def study(self) -> dict:
        return self.index["study"]

    def by(self, exp: str, mid: str | None = None, variants: bool = False) -> list[dict]:
        """Rows of an experiment (of one model) that have a result: the plain-truncation rows, or
        (variants=True) the rows of its variants (a compression method, "layer removed")."""
        return [r for r in self.rows if r["experiment"] == exp and "result" in r and (mid is None or r["model"] == mid)
                and bool(r.get("variant")) == variants]

    def partner(self, r: dict) -> dict | None:
        """The plain-truncation row a variant row is paired with (same layers / same budget)."""
        return next((x for x in self.rows if "result" in x and x.get("results") and x["results"][0]["key"] == r.get("pair_key")), None)


def section_intro(c: Report) -> None:
    """Title, what this is and how to regenerate it."""
    c.md.append(f"# lowrank study — `{c.study['name']}`\n")
    c.md.append("Reproduction of the founding study's experiments (thesis Chapters 3–4; LoRD) on the stand-in models, "
                "generated by `examples/study/lowrank_study.py` from the results in `results/` "
                "(one JSON per evaluation, `lowrank.eval.results` schema of docs/eval.md). "
                "Regenerate figures and this report from those results with `python3 examples/study/lowrank_study.py plot "
                f"{c.runs[-1]['study_file'] if c.runs else 'STUDY.json'} --out DIR` (DIR: this directory).\n")
    if c.study.get("description"):
        c.md.append(c.study["description"] + "\n")


def section_how_run(c: Report) -> None:
    """The runs of runs.json (wall times) and the commands that reproduce the study."""
    c.md.append("## How this was run\n")
    if c.runs:
        # a --no-compute run on an empty cache also has nothing cached, but it left runs for later
        first_full = next((x for x in c.runs if x["runs_cached"] == 0 and not x.get("runs_left")), None)
        c.md.append("| started (UTC) | command | wall | runs computed | cached | failed |\n|---|---|---|---|---|---|")
        for x in c.runs[-6:]:
            c.md.append(f"| {x['started']} | `{x['command']}` | {x['wall_s'] / 60:.1f} min | {x['runs_computed']} | {x['runs_cached']} | {x['failures']} |")
        c.md.append("")
        tot = sum(x["wall_s"] for x in c.runs)
        c.md.append(f"Sum of the wall times of the runs listed in `runs.json` ({len(c.runs)} runs, {sum(x['runs_computed'] for x in c.runs)} "
                    f"`lowrank` runs computed in all): **{tot / 60:.1f} min**.")
        if first_full:
            c.md.append(f"From an empty cache the study took **{first_full['wall_s'] / 60:.1f} min** wall time "
                        f"({first_full['runs_computed']} `lowrank` runs).")
        c.md.append("")
    c.md.append("Reproduce (the README's main command `bash scripts/main.sh` does all of it on a fresh machine):\n")
    c.md.append("```sh\n"
                "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWRANK_BUILD_TESTS=OFF -DLOWRANK_BUILD_BENCH=OFF\n"
                "cmake --build build -j2 --target lowrank_cli\n"
                "python3 scripts/fetch_assets.py --data            # models + evaluation data into ~/.cache/lowrank\n"
                f"python3 examples/study/lowrank_study.py run {c.runs[-1]['study_file'] if c.runs else 'STUDY.json'} --lowrank build/examples/lowrank\n"
                "#   -> report, figures, results in ~/.cache/lowrank/study/NAME (printed at the end), points cached in\n"
                "#      ~/.cache/lowrank/study/cache; --publish also copies them to the study's committed directory\n"
                f"python3 examples/study/lowrank_study.py plot {c.runs[-1]['study_file'] if c.runs else 'STUDY.json'}   # figures + report again from results/\n"
                "python3 examples/study/lowrank_study.py run examples/study/studies/paper.json   # full power (many hours)\n"
                "python3 examples/study/lowrank_study.py run --qwen   # + LoRD on Qwen2.5-Coder-1.5B (fetch_assets.py --qwen first)\n"
                "```\n")
    c.md.append("Each point is one `lowrank eval` (or `lowrank decompose`) run, cached by sha256(model sha256, γ, tasks/limits/"
                "settings, data-file sha256s): a re-run only computes what changed. Each result file in `results/` records the "
                "exact `lowrank` command line (`command`) and γ (`gamma.config`).\n")


def section_setup(c: Report) -> None:
    """Machine, models, evaluation profiles and dense baselines."""
    mach = next((r["result"]["machine"] for r in c.rows if "result" in r), {})
    sw = next((r["result"]["software"] for r in c.rows if "result" in r), {})
    cpus = Counter(cpu_of(r) for r in c.rows if "result" in r)
    where = (f"Machine: {mach.get('cpu', '?')}" if len(cpus) < 2 else
             "Machines (the study was resumed on several): " + ", ".join(f"{k or '?'} ({n} rows)" for k, n in cpus.most_common()))
    like = "" if len(cpus) < 2 else "; latencies are compared only between configurations measured on one CPU model"
    c.md.append(f"{where}, {mach.get('cores', '?')} cores, {mach.get('threads', '?')} threads "
                f"(shared with other jobs, so latencies carry that noise{like}); lowrank {sw.get('lowrank_version', '?')} "
                f"at commit `{sw.get('git_commit', '?')[:12]}`.\n")
    c.md.append("Models:\n")
    for mid, m in c.models.items():
        c.md.append(f"- **{mid}**: `{Path(m['path']).name}` ({m['arch']}, {m['layers']} layers, {m['parameters']:,} parameters, "
                    f"sha256 `{m['sha256'][:16]}…`)")
    c.md.append("")
    c.md.append("Evaluation profiles (sample sizes; every accuracy below is ± one standard error; "
                "zero-shot multiple choice uses `acc_norm` where lm-eval reports it, else `acc`; "
                "perplexity is on the held-out slice of the cached text — not comparable with WikiText numbers):\n")
    c.md.append("| model | profile | tasks (metric, n of total) |\n|---|---|---|")
    for r in c.rows:
        if r["experiment"] == "baseline" and "result" in r:
            ts = ", ".join(f"{n} ({t['metric']}, {t['n']} of {t['total']})" for n, t in r["tasks"].items())
            c.md.append(f"| {r['model']} | {r['profile']} | {ts} |")
    c.md.append("")
    c.md.append(METHOD_TEXT + "\n")
    c.md.append("Dense baselines:\n")
    c.md.append("| model | profile | " + "metric | " * 1 + "value |\n|---|---|---|---|")
    for r in c.rows:
        if r["experiment"] == "baseline" and "result" in r:
            for n, t in r["tasks"].items():
                c.md.append(f"| {r['model']} | {r['profile']} | {n} {t['metric']} | {pm(t['value'], t['stderr'])} |")
    c.md.append("")


def section_rank(c: Report) -> None:
    """1. Pruned rank (Fig. 3.2)."""
    if not c.by("rank"):
        return
    c.md.append("## 1. Pruned rank (Fig. 3.2)\n")
    c.md.append("Planner layer sets (study rules: all tensors, first two layers skipped, spread evenly) at several "
                "reduction targets; every decomposed tensor at rank 1 or at a fraction of its own Tucker-2 break-even "
                "rank (the study used 1, 250, 500 of 4096). Beside it, the mean relative reconstruction error "
                "‖W − Ŵ‖_F/‖W‖_F of the decomposed tensors from `lowrank decompose`'s manifest (equal to the "
                "Eckart–Young optimum for the truncated SVD).\n")
    for mid in c.models:
        rs = c.by("rank", mid)
        if not rs:
            continue
        base = baseline(c.rows, mid, rs[0]["profile"])
        long = []
        for r, ent in task_panels(rs + c.by("rank", mid, variants=True), base):
            for e in ent:
                long.append({**e, "series": series(r, r["label"]) if not r.get("variant") else r["label"],
                             "x": round(100 * r["target"], 1)})
            if r.get("ey"):
                long.append({"panel": "mean relative reconstruction error", "series": r["label"],
                             "x": round(100 * r["target"], 1), "y": r["ey"]["mean_rel_error"], "yerr": None})
        if base:
            for r, ent in task_panels([base], None):
                for e in ent:
                    for t in sorted({x["target"] for x in rs}):
                        long.append({**e, "series": "dense", "x": round(100 * t, 1)})
        figure(c, f"fig3_2_rank_{mid}", f"Fig. 3.2 — pruned rank vs accuracy ({mid})", long,
               "parameter-reduction target (%)", {"*": "accuracy", "mean relative reconstruction error": "‖W−Ŵ‖/‖W‖",
                                                   **{x["panel"]: ylab(x["panel"]) for x in long}})
        c.md.append(f"![rank {mid}](figures/fig3_2_rank_{mid}.png)\n")
        pm_ = primary(rs)
        cc = cols(rs + ([base] if base else []), pm_)
        c.md.append(f"| {mid}: target | layers | rank | reduction | {chead(cc)} | {dhead(pm_)} | mean rel. error |\n"
                    "|---|---|---|---|" + "---|" * len(cc) + "---|---|")
        if base:
            c.md.append(f"| dense | — | — | 0 | {cvals(base, cc)} | — | 0 |")
        for r in sorted(rs, key=lambda r: (r["target"], str(r["rank_spec"]))):
            c.md.append(f"| {pct(r['target'], 0)} | {','.join(map(str, r['gamma']['layers']))} | {r['label']} | {pct(r['reduction'])} | "
                        f"{cvals(r, cc)} | {dcell(base, r, pm_)} | {fnum(r['ey']['mean_rel_error'] if r.get('ey') else None)} |")
        c.md.append("")
        # rule: rank effect = mean over layer sets of (max-min across ranks); reduction effect = mean over ranks
        # of the largest distance between layer sets or from dense. Perplexity is compared as ln(perplexity).
        targets = sorted({r["target"] for r in rs})
        specs = list(dict.fromkeys(r["label"] for r in rs))
        errs = {s: [r["ey"]["mean_rel_error"] for r in rs if r["label"] == s and r.get("ey")] for s in specs}
        errs_txt = ", ".join(f"{s}: {sum(v) / len(v):.3f}" for s, v in errs.items() if v)
        parts, verdicts = [], []
        for mname in [cmp_metric(x) for x in cols(rs + ([base] if base else []), pm_)]:
            val = {(r["target"], r["label"]): metric_of(r, mname) for r in rs}
            if any(v[0] is None for v in val.values()):
                continue
            rank_eff = [max(val[(t, s)][0] for s in specs if (t, s) in val) - min(val[(t, s)][0] for s in specs if (t, s) in val)
                        for t in targets]
            red_eff = [max(val[(t, s)][0] for t in targets if (t, s) in val) - min(val[(t, s)][0] for t in targets if (t, s) in val)
                       for s in specs]
            bv = metric_of(base, mname)[0] if base else None
            if bv is None and mname == "agreement":
                bv = 1.0  # the dense model agrees with itself
            if bv is not None:
                red_eff = [max(a, max(abs(val[(t, s)][0] - bv) for t in targets if (t, s) in val)) for a, s in zip(red_eff, specs)]
            se_typ = sum((val[k][1] or 0) for k in val) / len(val)
            re, le = sum(rank_eff) / len(rank_eff), sum(red_eff) / len(red_eff)
            sc, unit = {"avg_acc": (100, " %p"), "lnppl": (1, " in ln(perplexity)"), "agreement": (1, " in cosine")}.get(mname, (1, ""))
            parts.append(f"{mname}: across ranks {re * sc:.2f}{unit} vs across reduction levels (incl. dense) {le * sc:.2f}{unit} "
                         f"(typical s.e. {se_typ * sc:.2f})")
            verdicts.append(re < le)
        agree = all(verdicts) if verdicts else None
        line = (f"**{mid}** — average spread of " + "; ".join(parts) + ". "
                + (f"{'**Agrees**' if agree else '**Partly agrees**' if any(verdicts) else '**Disagrees**'} with the study "
                   f"({STUDY_REF['rank']}). " if verdicts else "")
                + f"Mean relative reconstruction error ‖W−Ŵ‖/‖W‖ by rank: {errs_txt} — rank 1 throws away almost all of each "
                "weight, and even half the break-even rank discards a large share of its Frobenius norm.")
        c.md.append(line + "\n")
        c.findings.append(("1 pruned rank", mid, "agree" if agree else "partly" if any(verdicts) else "disagree", line))
        removal_table(c, "rank", mid, base, "1 pruned rank")


def section_tensor(c: Report) -> None:
    """2. Tensor choice (Fig. 3.4-3.5)."""
    if not c.by("tensor"):
        return
    c.md.append("## 2. Tensor choice (Fig. 3.4–3.5)\n")
    c.md.append("Each tensor type alone (rank 1) in one layer and in all layers; then, at about equal parameter "
                "reduction, one tensor type in every layer vs all tensors in the planner's fewer layers.\n")
    for mid in c.models:
        rs = c.by("tensor", mid)
        if not rs:
            continue
        base = baseline(c.rows, mid, rs[0]["profile"])
        pm_ = primary(rs)
        bv, bse = metric_of(base, pm_) if base else (None, None)
        long = []
        for r in rs:
            if r["group"] in ("one layer", "all layers"):
                for e in task_panels([r], base)[0][1]:
                    long.append({**e, "series": r["group"], "x": r["role"]})
        figure(c, f"fig3_4_tensor_{mid}", f"Fig. 3.4 — each tensor type decomposed alone ({mid}); dense {pm_} = {fnum(bv)}",
               long, "decomposed tensor", {x["panel"]: ylab(x["panel"]) for x in long}, categorical=True)
        c.md.append(f"![tensor {mid}](figures/fig3_4_tensor_{mid}.png)\n")
        eq = [r for r in rs if r["group"] not in ("one layer", "all layers")]
        long = []
        for r in eq:
            v, se = metric_of(r, pm_)
            long.append({"panel": f"{r['group']} reduction — {pm_}", "series": "one type, all layers" if r["role"] != "all" else "all tensors, fewer layers",
                         "x": f"{r['label']} ({pct(r['reduction'])})", "y": v, "yerr": se})
        if long:
            figure(c, f"fig3_5_equal_reduction_{mid}", f"Fig. 3.5 — equal parameter reduction ({mid}); dense {pm_} = {fnum(bv)}",
                   long, "configuration", {"*": "average accuracy" if pm_ == "avg_acc" else "perplexity"}, categorical=True)
            c.md.append(f"![equal {mid}](figures/fig3_5_equal_reduction_{mid}.png)\n")
        cc = cols(rs, pm_)
        c.md.append(f"| {mid}: configuration | reduction | {chead(cc)} | {dhead(pm_)} |\n|---|---|" + "---|" * len(cc) + "---|")
        if base:
            c.md.append(f"| dense | 0 | {cvals(base, cc)} | — |")
        for r in rs:
            c.md.append(f"| {r['label']} ({r['group']}) | {pct(r['reduction'], 2)} | {cvals(r, cc)} | {dcell(base, r, pm_)} |")
        c.md.append("")
        # Observation 1: most sensitive role when all layers are hit (on the most sensitive metric)
        allr = [r for r in rs if r["group"] == "all layers"]
        cm, better = sensitive(rs)
        show = (lambda r: f"perplexity {pm(*metric_of(r, 'ppl'), d=2)}") if cm == "lnppl" else (lambda r: f"{cm} {pm(*metric_of(r, cm))}")
        if allr:
            order = sorted(allr, key=lambda r: better(metric_of(r, cm)[0]))
            worst, best = order[0], order[-1]
            gap = compare([worst, best], [-1.0, 1.0], cm, f"tensor obs1 {mid}")
            line = (f"**{mid}**, one type in all layers, from most to least damaging: "
                    + ", ".join(f"`{r['role']}`" for r in order)
                    + f" (worst {show(worst)}, best {show(best)}; best vs worst {fmt_cmp(gap, cm)}: the gap is "
                    f"{'resolved' if better_sign(gap, cm) > 0 else 'not resolved'}). Study: {STUDY_REF['tensor1']}.")
            c.md.append(line + "\n")
            c.findings.append(("2 tensor choice (obs. 1)", mid, f"most sensitive: {worst['role']}", line))
        # Observation 2
        for grp in dict.fromkeys(r["group"] for r in eq):
            g = [r for r in eq if r["group"] == grp]
            allt = [r for r in g if r["role"] == "all"]
            one = [r for r in g if r["role"] != "all"]
            if not allt or not one:
                continue
            gain = {r["role"]: compare([r, allt[0]], [-1.0, 1.0], cm, f"tensor obs2 {mid} {grp} {r['role']}") for r in one}
            wins = [r for r in one if better_sign(gain[r["role"]], cm) > 0]
            loses = [r for r in one if better_sign(gain[r["role"]], cm) < 0]
            v = "agree" if len(wins) == len(one) else "disagree" if len(loses) == len(one) else "partly / within noise"
            line = (f"**{mid}**, {grp} reduction: all tensors in {len(allt[0]['gamma']['layers'])} layers gives {show(allt[0])} "
                    f"({pct(allt[0]['reduction'])}) vs one type in all layers: "
                    + ", ".join(f"`{r['role']}` {show(r)} ({pct(r['reduction'])}; all-tensors vs it: "
                                f"{fmt_cmp(gain[r['role']], cm)})" for r in one)
                    + f". All-tensors-in-fewer-layers is significantly better than {len(wins)} and significantly worse than "
                    f"{len(loses)} of {len(one)}: **{v}** with the study ({STUDY_REF['tensor2']}).")
            c.md.append(line + "\n")
            c.findings.append(("2 tensor choice (obs. 2)", f"{mid} {grp}", v, line))


def section_position(c: Report) -> None:
    """3. Layer position (Fig. 3.6)."""
    if not c.by("position"):
        return
    c.md.append("## 3. Layer position (Fig. 3.6)\n")
    c.md.append("One layer decomposed (all tensors, rank 1), for each layer of the grid.\n")
    for mid in c.models:
        rs = sorted(c.by("position", mid), key=lambda r: r["layer"])
        if not rs:
            continue
        base = baseline(c.rows, mid, rs[0]["profile"])
        long = []
        for r, ent in task_panels(rs, base):
            for e in ent:
                long.append({**e, "series": series(r, "one layer decomposed"), "x": r["layer"]})
        for r, ent in task_panels(c.by("position", mid, variants=True), base):
            for e in ent:
                long.append({**e, "series": "one layer removed", "x": r["layer"]})
        if base:
            for e in task_panels([base], None)[0][1]:
                for r in rs:
                    long.append({**e, "series": "dense", "x": r["layer"], "yerr": None})
        figure(c, f"fig3_6_position_{mid}", f"Fig. 3.6 — accuracy vs position of the one decomposed layer ({mid})", long,
               "decomposed layer (1-based)", {x["panel"]: ylab(x["panel"]) for x in long})
        c.md.append(f"![position {mid}](figures/fig3_6_position_{mid}.png)\n")
        pm_ = primary(rs)
        cc = cols(rs, pm_)
        c.md.append(f"| {mid}: layer | {chead(cc)} | {dhead(pm_)} |\n|---|" + "---|" * len(cc) + "---|")
        if base:
            c.md.append(f"| dense | {cvals(base, cc)} | — |")
        for r in rs:
            c.md.append(f"| {r['layer']} | {cvals(r, cc)} | {dcell(base, r, pm_)} |")
        c.md.append("")
        nl = c.models[mid]["layers"]
        edge = [r for r in rs if r["layer"] in (1, 2, nl)]
        mid_ = [r for r in rs if r["layer"] not in (1, 2, nl)]
        if edge and mid_:
            cm, better = sensitive(rs)
            em, _ = mean_se(edge, cm)
            mm, _ = mean_se(mid_, cm)
            worst = min(rs, key=lambda r: better(metric_of(r, cm)[0]))
            gap = compare(mid_ + edge, [1 / len(mid_)] * len(mid_) + [-1 / len(edge)] * len(edge), cm, f"position {mid}")
            v = verdict_of(gap, cm)
            show = (lambda x: f"{math.exp(x):.2f}") if cm == "lnppl" else (lambda x: f"{x:.3f}")
            name = {"lnppl": "geometric-mean perplexity", "agreement": "mean cosine to the dense model",
                    "avg_acc": "mean average accuracy"}[cm]
            line = (f"**{mid}**: {name} with layer 1, 2 or {nl} decomposed {show(em)} vs {show(mm)} for the other layers "
                    f"of the grid (middle vs edge {fmt_cmp(gap, cm)}); the most damaging single layer is {worst['layer']}. "
                    "Verdict on the study's claim "
                    f"({STUDY_REF['position']}): **{v}**.")
            c.md.append(line + "\n")
            c.findings.append(("3 layer position", mid, v, line))
        removal_table(c, "position", mid, base, "3 layer position")


def section_distance(c: Report) -> None:
    """4. Layer distance (Fig. 3.7)."""
    if not c.by("distance"):
        return
    c.md.append("## 4. Layer distance (Fig. 3.7)\n")
    c.md.append("The same number of decomposed layers (all tensors, rank 1) at increasing spacing.\n")
    for mid in c.models:
        rs = sorted(c.by("distance", mid), key=lambda r: r["spacing"])
        if not rs:
            continue
        base = baseline(c.rows, mid, rs[0]["profile"])
        long = []
        for r, ent in task_panels(rs + c.by("distance", mid, variants=True), base):
            for e in ent:
                long.append({**e, "series": series(r, mid), "x": r["spacing"]})
        figure(c, f"fig3_7_distance_{mid}", f"Fig. 3.7 — spacing between decomposed layers ({mid})", long,
               "spacing between decomposed layers", {x["panel"]: ylab(x["panel"]) for x in long})
        c.md.append(f"![distance {mid}](figures/fig3_7_distance_{mid}.png)\n")
        pm_ = primary(rs)
        cc = cols(rs, pm_)
        c.md.append(f"| {mid}: layers | spacing | {chead(cc)} | {dhead(pm_)} |\n|---|---|" + "---|" * len(cc) + "---|")
        for r in rs:
            c.md.append(f"| {','.join(map(str, r['gamma']['layers']))} | {r['spacing']} | {cvals(r, cc)} | {dcell(base, r, pm_)} |")
        c.md.append("")
        cm, better = sensitive(rs)
        xs = [r["spacing"] for r in rs]
        ys = [better(metric_of(r, cm)[0]) for r in rs]
        if len(xs) > 2:
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
            sx = math.sqrt(sum((x - mx) ** 2 for x in xs)); sy = math.sqrt(sum((y - my) ** 2 for y in ys))
            rho = cov / (sx * sy) if sx and sy else 0.0
            c0, f_ = metric_of(rs[0], cm)[0], metric_of(rs[-1], cm)[0]
            gap = compare([rs[0], rs[-1]], [-1.0, 1.0], cm, f"distance {mid}")
            v = verdict_of(gap, cm)
            show = (lambda x: f"perplexity {math.exp(x):.2f}") if cm == "lnppl" else (lambda x: f"{cm} {x:.3f}")
            line = (f"**{mid}**: consecutive layers ({','.join(map(str, rs[0]['gamma']['layers']))}) {show(c0)} vs spacing "
                    f"{rs[-1]['spacing']} ({','.join(map(str, rs[-1]['gamma']['layers']))}) {show(f_)}; correlation of spacing with "
                    f"{'−ln(perplexity)' if cm == 'lnppl' else cm} r = {rho:.2f} over {len(rs)} spacings; widest vs consecutive "
                    f"{fmt_cmp(gap, cm)}. Verdict on the study's "
                    f"claim ({STUDY_REF['distance']}): **{v}**.")
            c.md.append(line + "\n")
            c.findings.append(("4 layer distance", mid, v, line))
        removal_table(c, "distance", mid, base, "4 layer distance")


def section_tradeoff(c: Report) -> None:
    """5. Trade-off curves (Fig. 4.1-4.4, Table 4.2)."""
    if not c.by("tradeoff"):
        return
    c.md.append("## 5. Trade-off curves (Fig. 4.1–4.4, Table 4.2)\n")
    c.md.append("Planner configurations (Table 4.2 rules, rank 1, all tensors) at increasing parameter reduction. "
                "Latency: one prefill (median of 3) and greedy decode throughput, from `lowrank eval`'s efficiency probe "
                "on the same weights and threads. Memory: the fp32 weights the runtime holds after factorising "
                "(`weights_mb`) and the process peak RSS (which includes loading the dense model first, so it does not "
                "fall with the reduction). Energy: only from a real counter (RAPL/NVML) — **unavailable on this machine**, "
                "never estimated.\n")
    for mid in c.models:
        rs = sorted(c.by("tradeoff", mid), key=lambda r: r["reduction"])
        if not rs:
            continue
        base = baseline(c.rows, mid, rs[0]["profile"])
        allr = ([base] if base else []) + rs
        long = []
        for r, ent in task_panels(allr + c.by("tradeoff", mid, variants=True), base):
            for e in ent:
                long.append({**e, "series": series(r, mid), "x": round(100 * r["reduction"], 2)})
        for r in allr:  # chance level (uniform guessing / majority class), dashed reference
            for n, t in r["tasks"].items():
                if t.get("chance") is not None:
                    long.append({"panel": f"{n} ({t['metric']}, n={t['n']})", "series": "chance", "x": round(100 * r["reduction"], 2),
                                 "y": t["chance"], "yerr": None})
            if r.get("avg_chance") is not None:
                long.append({"panel": "average accuracy", "series": "chance", "x": round(100 * r["reduction"], 2),
                             "y": r["avg_chance"], "yerr": None})
        figure(c, f"fig4_1_accuracy_{mid}", f"Fig. 4.1 — parameter reduction vs accuracy ({mid})", long,
               "parameter reduction (% of total)", {x["panel"]: ylab(x["panel"]) for x in long})
        c.md.append(f"![accuracy {mid}](figures/fig4_1_accuracy_{mid}.png)\n")
        eff = {"latency_ms": "prefill latency (ms)", "throughput_tok_s": "decode throughput (tokens/s)"}
        seen = {r["results"][0]["key"] for r in allr if r["results"]}
        others = []
        for r in c.rows:
            if (r["model"] == mid and r["profile"] == rs[0]["profile"] and "result" in r and r["results"]
                    and r["results"][0]["key"] not in seen and not r.get("variant")):
                seen.add(r["results"][0]["key"])
                others.append(r)
        lw = allr[0]["eff"].get("latency_what") or ""
        err = lambda r, k: (r.get("eff_t") or {}).get("latency_se") if k == "latency_ms" else None
        ref = allr[0]
        drawn = lambda r, k: measured(r, k) is not None and comparable(r, ref, k)  # measured on the reference's CPU model
        long = [{"panel": lab, "series": "planner (Table 4.2)", "x": round(100 * r["reduction"], 2), "y": measured(r, k), "yerr": err(r, k)}
                for r in allr for k, lab in eff.items() if drawn(r, k)]
        long += [{"panel": lab, "series": "other measured configurations", "x": round(100 * r["reduction"], 2), "y": measured(r, k),
                  "yerr": err(r, k)} for r in others for k, lab in eff.items() if drawn(r, k)]
        if any(r.get("eff_t") for r in allr):
            long += [{"panel": lab, "series": "planner, probe during the evaluation", "x": round(100 * r["reduction"], 2),
                      "y": r["eff"].get(k), "yerr": None} for r in allr for k, lab in eff.items()
                     if r["eff"].get(k) is not None and cpu_of(r) == cpu_of(ref)]
            nt = max((r.get("eff_t") or {}).get("n", 0) for r in allr)
            lw = f"{lw}; median of {nt} back-to-back timing rounds (error bar: s.e.)" if lw else lw
        nx = sum(1 for r in allr + others if lat_of(r) is not None and not drawn(r, "latency_ms"))
        if nx:
            lw = f"{lw}; {nx} configuration(s) left out: latency measured on another CPU model than {mid}'s reference"
        figure(c, f"fig4_2_latency_{mid}", f"Fig. 4.2 — parameter reduction vs latency ({mid})", long,
               "parameter reduction (% of total)", {"*": ""}, notes=lw)
        c.md.append(f"![latency {mid}](figures/fig4_2_latency_{mid}.png)\n")
        long = [{"panel": "energy (J)", "series": mid, "x": round(100 * r["reduction"], 2), "y": r["eff"].get("energy_j"), "yerr": None}
                for r in allr]
        en_avail = any(r["eff"].get("energy_j") is not None for r in allr)
        figure(c, f"fig4_3_energy_{mid}", f"Fig. 4.3 — parameter reduction vs energy ({mid})"
               + ("" if en_avail else ": UNAVAILABLE (no RAPL/NVML counter on this machine)"), long,
               "parameter reduction (% of total)", {"*": "J"})
        c.md.append(f"![energy {mid}](figures/fig4_3_energy_{mid}.png)\n")
        long = [{"panel": lab, "series": mid, "x": round(100 * r["reduction"], 2), "y": r["eff"].get(k), "yerr": None}
                for r in allr for k, lab in (("weights_mb", "weights held (MB, fp32)"), ("peak_rss_mb", "peak RSS (MB)"))
                if r["eff"].get(k) is not None]
        figure(c, f"fig4_4_memory_{mid}", f"Fig. 4.4 — parameter reduction vs memory ({mid})", long,
               "parameter reduction (% of total)", {"*": "MB"})
        c.md.append(f"![memory {mid}](figures/fig4_4_memory_{mid}.png)\n")
        pm_ = primary(allr)
        c.md.append(f"Table 4.2 for {mid} (1-based layers):\n")
        cc = cols(allr, pm_)
        c.md.append(f"| target | layers | reduction | {chead(cc)} | {dhead(pm_)} | prefill ms | decode tok/s | weights MB | "
                    "peak RSS MB | energy |\n|---|---|---|" + "---|" * len(cc) + "---|---|---|---|---|---|")
        for r in allr:
            e = r["eff"]
            c.md.append(f"| {series(r, pct(r.get('target'), 0)) if r.get('target') else 'dense'} | "
                        f"{','.join(map(str, r['gamma']['layers'])) if r['gamma'] else '—'} | {pct(r['reduction'])} | {cvals(r, cc)} | "
                        f"{dcell(base, r, pm_)} | {lat_cell(r, allr[0])} | {lat_cell(r, allr[0], 'throughput_tok_s')} | {fnum(e.get('weights_mb'), 1)} | "
                        f"{fnum(e.get('peak_rss_mb'), 0)} | {fnum(e.get('energy_j')) if e.get('energy_j') is not None else 'unavailable'} |")
        c.md.append("")
        if base:
            per_task_table(c, mid, base, rs)
        if base:
            b = base["eff"]
            red = [100 * r["reduction"] for r in rs]
            sl = {}
            if lat_of(base):
                sl["latency_ms"] = slope_through_origin(red, [lat_fall_pct(r, base) for r in rs])
            for k in ("weights_mb", "peak_rss_mb", "energy_j"):
                if b.get(k):
                    sl[k] = slope_through_origin(red, [100 * (1 - r["eff"][k] / b[k]) if r["eff"].get(k) else None for r in rs])
            if thr_of(base):
                sl["decode_time"] = slope_through_origin(red, [100 * (1 - 1 / q) if (q := thr_rel(r, base)) else None for r in rs])
            every = rs + others
            red_all = [100 * r["reduction"] for r in every]
            sl_all = slope_through_origin(red_all, [lat_fall_pct(r, base) for r in every])
            txt = "; ".join(f"{k.replace('_ms', '').replace('_mb', '')}: {fnum(v[0], 2)} ± {fnum(v[1], 2)} % per 1 %"
                            for k, v in sl.items() if v[0] is not None)
            c.md.append(f"Slopes (least squares through the origin, % reduction of the quantity per 1 % of parameters removed): {txt}. "
                        f"Latency slope over all {len(every)} measured configurations of this profile: {fnum(sl_all[0], 2)} ± {fnum(sl_all[1], 2)} % per 1 %. "
                        f"Energy: {'measured' if en_avail else 'unavailable'}.\n")
            # accuracy drop near 9 %
            near = min(rs, key=lambda r: abs(r["reduction"] - 0.09))
            drops = [f"{n} {fmt_cmp(vs_dense(base, near, n, f'tradeoff near {n}'), n)}"
                     for n, t in near["tasks"].items() if t["value"] is not None and n in base["tasks"]]
            lat = sl.get("latency_ms", (None, None))[0]
            mem = sl.get("weights_mb", (None, None))[0]
            lse = sl.get("latency_ms", (None, None))[1] or 0
            agree_lat = lat is not None and 0.25 <= lat <= 1.0
            lat_v = "n/a" if lat is None else "agree" if agree_lat else (
                "inconclusive (within noise)" if abs(lat - 0.5) <= NOISE_Z * lse else "disagree")
            at_chance = near.get("avg_acc") is not None and near.get("avg_chance") is not None and \
                near["avg_acc"] - near["avg_chance"] < NOISE_Z * (near.get("avg_acc_se") or 0)
            line = (f"**{mid}**: at {pct(near['reduction'])} reduction: " + ", ".join(drops) + ". "
                    + (f"Average accuracy {pm(near['avg_acc'], near['avg_acc_se'])} is within {NOISE_Z:g} standard errors of chance "
                       f"({near['avg_chance']:.3f}). " if at_chance else "")
                    + f"Study: {STUDY_REF['tradeoff']}. "
                    f"Prefill latency falls {fnum(lat, 2)} % and held weights {fnum(mem, 2)} % per 1 % of parameters "
                    f"(study: ~0.5 % latency, ~0.4 % memory). Latency slope "
                    f"verdict: **{lat_v}** (slope {fnum(lat, 2)} ± {fnum(lse, 2)}); energy cannot be compared (unavailable).")
            c.md.append(line + "\n")
            c.findings.append(("5 trade-off: latency slope", mid, lat_v, line))
            drop = compare([near, base], [-1.0, 1.0], "avg_acc", f"tradeoff drop {mid}")
            if drop is not None:  # the drop in points, with its interval, against the study's 4-10 points
                d, lo, hi = 100 * drop.value, 100 * drop.lo, 100 * drop.hi
                v = ("agree" if 4 <= d <= 10 else "consistent within noise" if lo <= 10 and hi >= 4
                     else "disagree (worse)" if lo > 10 else "disagree (smaller loss)")
                c.findings.append((f"5 trade-off: accuracy at {pct(near['reduction'])}", mid, v,
                                   f"average accuracy drop {d:.1f} [{lo:.1f}, {hi:.1f}] %p, {drop.how} "
                                   "(study: 4-10 %p at 9 %)"))
            method_table(c, mid, base)
            removal_table(c, "tradeoff", mid, base, "5 trade-off")


def per_task_table(c: Report, mid: str, base: dict, rs: list[dict]) -> None:
    """Paired differences from the dense model per task (and the average) for the planner's
    configurations: the headline comparison of the trade-off experiment."""
    tasks = [n for n in base["tasks"] if all(n in r["tasks"] for r in rs)]
    avg = "avg_acc" in base and all("avg_acc" in r for r in rs)
    if not tasks:
        return
    heads = tasks + (["average accuracy"] if avg else [])
    c.md.append(f"Differences from the dense model for {mid}, per task (accuracy in points, perplexity as a ratio; "
                "95 % interval; p: exact McNemar):\n")
    c.md.append("| reduction | " + " | ".join(heads) + " |\n|---|" + "---|" * len(heads))
    for r in rs:
        cells = [fmt_cmp(vs_dense(base, r, n, f"per-task {mid} {n}"), n) for n in tasks]
        if avg:
            cells.append(fmt_cmp(vs_dense(base, r, "avg_acc", f"per-task {mid} avg"), "avg_acc"))
        c.md.append(f"| {series(r, pct(r['reduction']))} | " + " | ".join(cells) + " |")
    c.md.append("")


def _tally(cms: list, which: str) -> tuple[int, int, int]:
    """(resolved better, resolved worse, within noise) over comparisons "variant minus reference"."""
    signs = [better_sign(cm, which) for cm in cms if cm is not None]
    return sum(x > 0 for x in signs), sum(x < 0 for x in signs), sum(x == 0 for x in signs)


def skipped_notes(c: Report, exp: str, mid: str, what: str) -> None:
    """Points the study asked for but the driver could not run, with its reason (index "skipped")."""
    for x in c.index.get("skipped", []):
        if x["experiment"] == exp and x["model"] == mid and what in x["what"]:
            c.md.append(f"No {x['what']} points for {mid}: {x['reason']}.\n")


def _tallies(pairs: list, metrics: list[str], label: str) -> tuple[str, dict]:
    """Tallies of "variant minus partner" over (variant, partner) pairs per metric: the text
    "metric: better in b, worse in w, within noise in n" and {metric: (b, w, n)}."""
    out, txt = {}, []
    for m in metrics:
        cms = [compare([p, r], [-1.0, 1.0], m, f"{label} {m}") for r, p in pairs]
        out[m] = _tally(cms, m)
        name = {"lnppl": "perplexity", "avg_acc": "average accuracy", "agreement": "cosine to dense"}.get(m, m)
        txt.append(f"{name}: better in {out[m][0]}, worse in {out[m][1]}, within noise in {out[m][2]}")
    return "; ".join(txt), out


def removal_table(c: Report, exp: str, mid: str, base: dict | None, finding: str) -> None:
    """The layer-removal baseline of one experiment: each rank-1 configuration against the same
    layers skipped entirely (`lowrank eval --skip-layers`), paired on the same units."""
    skipped_notes(c, exp, mid, "layer removal")
    pairs = [(r, c.partner(r)) for r in c.by(exp, mid, variants=True) if r.get("variant") == "layer removed"]
    pairs = [(r, p) for r, p in pairs if p is not None]
    if not pairs:
        return
    pm_ = primary([p for _, p in pairs])
    cc = cols([p for _, p in pairs], pm_)
    c.md.append(f"Layer removal against rank-1 decomposition of the same layers ({mid}): the blocks are skipped entirely "
                "(`lowrank eval --skip-layers`; the residual stream passes through them), scored on the same units as the "
                "rank-1 configuration and compared paired (removed minus rank 1; perplexity as a ratio).\n")
    c.md.append(f"| {mid}: configuration | layers removed | reduction: rank 1 / removed | "
                + " | ".join(f"{chead([x])}: rank 1 | removed | removed vs rank 1 [95 % interval]" for x in cc)
                + f" | rank 1 {dhead(pm_)} |\n|---|---|---|" + "---|---|---|" * len(cc) + "---|")
    for r, p in pairs:
        cells = [f"{cvals(p, [x])} | {cvals(r, [x])} | "
                 f"{fmt_cmp(compare([p, r], [-1.0, 1.0], cmp_metric(x), f'removal {exp} {mid} {x}'), cmp_metric(x))}" for x in cc]
        lab = p.get("label") if exp != "rank" else f"{pct(p.get('target'), 0)} target"
        c.md.append(f"| {lab} | {','.join(map(str, r['skip_layers']))} | {pct(p['reduction'])} / {pct(r['reduction'])} | "
                    + " | ".join(cells) + f" | {dcell(base, p, pm_)} |")
    c.md.append("")
    cm_, _ = sensitive([p for _, p in pairs])
    txt, t = _tallies(pairs, list(dict.fromkeys([cm_] + [cmp_metric(x) for x in cc])), f"removal {exp} {mid}")
    nb, nw, n0 = t[cm_]
    verdict = ("rank 1 = removal (within noise)" if nb == nw == 0 else "removal better" if nb and not nw
               else "removal worse" if nw and not nb else "mixed")
    line = (f"**{mid}** ({exp}): removing the layers instead of decomposing them at rank 1, over {len(pairs)} layer sets "
            f"(paired 95 % intervals) — {txt}. Verdict on the most sensitive measure "
            f"({'perplexity' if cm_ == 'lnppl' else cm_}): **{verdict}**. Where the two are indistinguishable, the rank-1 "
            "results measure dropping the layers, not decomposing them.")
    c.md.append(line + "\n")
    c.findings.append((f"{finding}: rank 1 vs layer removal", mid, verdict, line))


def method_table(c: Report, mid: str, base: dict) -> None:
    """The method axis of the trade-off experiment: each plain-truncation budget compressed by
    `lowrank compress --method M` to the same parameter budget, paired with the dense model and with
    plain truncation at that budget (study_methods.py)."""
    skipped_notes(c, "tradeoff", mid, "method axis")
    ms = [r for r in c.by("tradeoff", mid, variants=True) if r.get("method")]
    pairs = [(r, c.partner(r)) for r in ms]
    pairs = sorted([(r, p) for r, p in pairs if p is not None], key=lambda x: (x[1]["reduction"], x[0]["method"]))
    if not pairs:
        return
    methods = list(dict.fromkeys(r["method"] for r, _ in pairs))
    cal = next((r["calibration"]["calibrate"] for r, _ in pairs if r.get("calibration")), {})
    c.md.append(f"**Method axis ({mid}).** Each plain-truncation budget again with `lowrank compress --method "
                f"{'|'.join(methods)}` at the *same parameter budget*: the parameters the plain configuration removes, taken "
                "from the linear layers (K over q/k/v/o/gate/up/down from `lowrank design-space`'s count, checked against "
                "compress's manifest; a method never spends more, so its achieved reduction is at or just past the plain "
                f"one). Calibration: `{Path(cal.get('text', '?')).name}` ({cal.get('windows', '?')} windows × "
                f"{cal.get('context', '?')} tokens, seed {cal.get('seed', '?')}), a text the profile does not evaluate. "
                "Every compressed model is scored on the same documents and windows, so both differences are paired.\n")
    allr = [base] + [p for _, p in pairs] + [r for r, _ in pairs]
    pm_ = primary(allr)
    cc = cols(allr, pm_)
    c.md.append(f"| {mid}: budget | method | reduction | {chead(cc)} | {dhead(pm_)} | "
                + " | ".join(f"{chead([x])} vs plain truncation [95 % interval]" for x in cc)
                + " | prefill ms | weights MB |\n|---|---|---|" + "---|" * len(cc) + "---|" + "---|" * len(cc) + "---|---|")
    shown = set()
    for r, p in pairs:
        if p["results"][0]["key"] not in shown:
            shown.add(p["results"][0]["key"])
            c.md.append(f"| {pct(p['reduction'])} | plain truncation (rank 1) | {pct(p['reduction'])} | {cvals(p, cc)} | "
                        f"{dcell(base, p, pm_)} | " + " | ".join("—" for _ in cc)
                        + f" | {lat_cell(p, base)} | {fnum(p['eff'].get('weights_mb'), 1)} |")
        vs = [fmt_cmp(compare([p, r], [-1.0, 1.0], cmp_metric(x), f"method {mid} {x}"), cmp_metric(x)) for x in cc]
        c.md.append(f"| {pct(p['reduction'])} | {r['method']} | {pct(r['reduction'])} | {cvals(r, cc)} | {dcell(base, r, pm_)} | "
                    + " | ".join(vs) + f" | {lat_cell(r, base)} | {fnum(r['eff'].get('weights_mb'), 1)} |")
    c.md.append("")
    tasks = [n for n in base["tasks"] if all(n in x["tasks"] for _, x in pairs) and all(n in r["tasks"] for r, _ in pairs)]
    if tasks:
        c.md.append(f"Method minus plain truncation at the same budget, per task ({mid}; accuracy in points, perplexity as a "
                    "ratio; 95 % interval; p: exact McNemar):\n")
        c.md.append("| budget | method | " + " | ".join(tasks) + " |\n|---|---|" + "---|" * len(tasks))
        for r, p in pairs:
            c.md.append(f"| {pct(p['reduction'])} | {r['method']} | "
                        + " | ".join(fmt_cmp(compare([p, r], [-1.0, 1.0], n, f"method task {n}"), n) for n in tasks) + " |")
        c.md.append("")
    cm_, _ = sensitive(allr)
    for m in methods:
        got = [(r, p) for r, p in pairs if r["method"] == m]
        txt, t = _tallies(got, list(dict.fromkeys([cmp_metric(x) for x in cc] + [cm_])), f"method {mid} {m}")
        nb, nw, n0 = t[cm_]
        verdict = ("better than plain" if nb == len(got) else "worse than plain" if nw == len(got)
                   else "within noise of plain" if n0 == len(got) else "mixed")
        lat = slope_through_origin([100 * r["reduction"] for r, _ in got],
                                   [lat_fall_pct(r, base) for r, _ in got])
        line = (f"**{mid}, {m}** against plain truncation at the same budget, over {len(got)} budgets (paired 95 % intervals) — "
                f"{txt}. Verdict on the most sensitive measure ({'perplexity' if cm_ == 'lnppl' else cm_}): **{verdict}**. "
                f"Prefill latency falls {fnum(lat[0], 2)} ± {fnum(lat[1], 2)} % per 1 % of parameters removed "
                "(plain truncation: the slopes above; n/a with fewer than 2 budgets).")
        c.md.append(line + "\n")
        c.findings.append((f"5 trade-off: method axis ({m})", mid, verdict, line))


def section_design_goal(c: Report) -> None:
    """6. The design goal (Definition 3.1)."""
    dg = c.study["experiments"].get("design_goal")
    if not dg or not dg.get("enabled", True):
        return
    c.md.append("## 6. The design goal (Definition 3.1)\n")
    c.md.append("argmin_γ Latency(γ) × Energy(γ) subject to max(Acc_dense − Acc(γ), 0) < τ, with Energy replaced by the "
                "weights' memory because no energy counter is readable here (the objective is then latency × memory). "
                "Candidates: every configuration this study measured with the profile named below (exhaustive search "
                "over measured points — the evaluator of `design/search.hpp`'s Definition 3.1, fed real measurements). "
                "The hand-pruned choices are the planner's Table 4.2 configurations (experiment 5). τ is in accuracy points "
                "of the average accuracy; feasibility uses the point estimate (its standard error is listed).\n")
    for mid in dg["models"]:
        prof = dg.get("profile_by_model", {}).get(mid) or (dg["profile"][mid] if isinstance(dg["profile"], dict) else dg["profile"])
        # γ configurations only (a compressed model or a layer removal is no γ of the design space)
        cands = [r for r in c.rows if r["model"] == mid and r["profile"] == prof and "result" in r and not r.get("variant")]
        base = baseline(c.rows, mid, prof)
        if not base or not cands:
            continue
        seen, uniq = set(), []
        for r in sorted(cands, key=lambda r: 0 if r["experiment"] in ("baseline", "tradeoff") or r.get("hand_pruned") else 1):
            k = r["results"][0]["key"] if r["results"] else id(r)
            if k not in seen:
                seen.add(k)
                uniq.append(r)
        cands = uniq
        crits = [primary(cands)] + (["ppl"] if primary(cands) == "avg_acc" and base.get("ppl") is not None else [])

        def second(r):  # energy where measured, else the weights' memory
            en = r["eff"].get("energy_j")
            return en if en is not None else r["eff"].get("weights_mb")

        def obj(r):
            """The objective relative to dense (dense = 1); None where r's latency is not comparable with dense's."""
            q = lat_rel(r, base)
            return q * second(r) / second(base) if q and second(r) and second(base) else None

        def desc(r):
            if not r:
                return "none"
            if r["gamma"] is None:
                return "dense"
            g = r["gamma"]
            rk = "rank 1" if all(v == 1 for v in g["ranks"].values()) else r["label"]
            nt = len(c.models[mid]["shapes"])
            ts = "all tensors" if len(g["tensors"]) == nt else "+".join(g["tensors"])
            return f"{ts} in {len(g['layers'])} layer(s) {','.join(map(str, g['layers']))}, {rk}"

        for pm_ in crits:
            bv, _ = metric_of(base, pm_)

            def drop(r):
                v, _ = metric_of(r, pm_)
                return (bv - v) * 100 if pm_ == "avg_acc" else (v - bv) / bv * 100

            unit = "accuracy points (avg accuracy)" if pm_ == "avg_acc" else "% perplexity increase"
            c.md.append(f"Constraint: drop < τ {unit}.\n")
            long = [{"panel": f"constraint on {pm_}", "series": "tradeoff" if r.get("hand_pruned") else r["experiment"], "x": drop(r), "y": obj(r) / obj(base), "yerr": None}
                    for r in cands if obj(r)]
            c.md.append(f"| {mid}: τ | chosen γ (search) | reduction | drop | latency×memory vs dense | best hand-pruned | its reduction | its drop | its objective |\n"
                        "|---|---|---|---|---|---|---|---|---|")
            for tau in dg["taus"]:
                feas = [r for r in cands if obj(r) and max(drop(r), 0) < tau]
                hand = [r for r in feas if r["experiment"] == "tradeoff" or r.get("hand_pruned")]
                best = min(feas, key=obj) if feas else None
                hb = min(hand, key=obj) if hand else None
                c.md.append(f"| {tau} | {desc(best)} | {pct(best['reduction']) if best else '—'} | {fnum(drop(best), 2) if best else '—'} | "
                            f"{fnum(obj(best) / obj(base), 3) if best else '—'} | {desc(hb)} | {pct(hb['reduction']) if hb else '—'} | "
                            f"{fnum(drop(hb), 2) if hb else '—'} | {fnum(obj(hb) / obj(base), 3) if hb else '—'} |")
                if best:
                    long.append({"panel": f"constraint on {pm_}", "series": f"chosen, τ={tau}", "x": drop(best),
                                 "y": obj(best) / obj(base), "yerr": None})
                    line = (f"**{mid}**, {pm_} drop < {tau}: the search picks {desc(best)} (objective {fnum(obj(best) / obj(base), 3)} × dense, "
                            f"drop {fnum(drop(best), 2)}); " + (f"the best feasible hand-pruned choice is {desc(hb)} ({fnum(obj(hb) / obj(base), 3)} × dense)."
                                                               if hb else "no hand-pruned configuration is feasible."))
                    dv = "search = hand" if hb and best is hb else ("search better" if not hb or obj(best) < obj(hb) else "hand better")
                    c.findings.append((f"6 design goal ({pm_} < {tau})", mid, dv, line))
            c.md.append("")
            figure(c, f"def3_1_design_goal_{mid}_{pm_}", f"Definition 3.1 — measured candidates ({mid}); x: {unit}", long,
                   unit, {"*": "latency × memory (dense = 1)"})
            c.md.append(f"![design goal {mid}](figures/def3_1_design_goal_{mid}_{pm_}.png)\n")


def section_lord(c: Report) -> None:
    """7. LoRD-style uniform rank reduction: plain SVD (LoRD's method), the method axis at the same
    parameter budgets, and the HumanEval runs the study lists (experiments.lord.humaneval)."""
    if not c.by("lord"):
        return
    c.md.append("## 7. LoRD-style uniform rank reduction\n")
    c.md.append("Every decomposable tensor of every layer truncated by plain SVD to the same fraction of its rank "
                "(svd storage form). A tensor whose SVD factors would hold at least as many parameters as the dense "
                "weight stays dense (the runtime's rule), so parameter savings only start below each tensor's "
                "break-even rank.")
    if any(c.by("lord", mid, variants=True) for mid in c.models):
        c.md.append(" Method rows: the dense model compressed by `lowrank compress --method M` (calibrated on the "
                    "text the study names, never the evaluated one) to the parameter budget of the plain row of the "
                    "same rank fraction (study_methods.py); their reduction is the one achieved.")
    c.md.append("")
    for mid in c.models:
        rs = sorted(c.by("lord", mid), key=lambda r: (r.get("skip_first", 0), -r["rank_fraction"]))
        if not rs:
            continue
        vs = sorted(c.by("lord", mid, variants=True), key=lambda r: (r["variant"], -r["rank_fraction"]))
        base = baseline(c.rows, mid, rs[0]["profile"])
        if not base or base.get("ppl") is None:
            continue
        long = []
        for r in rs + vs:
            inc = (r["ppl"] / base["ppl"] - 1) * 100
            ser = series(r, "all layers (LoRD)" if not r.get("skip_first") else f"first {r['skip_first']} layers kept dense")
            long.append({"panel": "perplexity increase (%)", "series": ser, "x": 100 * r["reduction"], "y": inc,
                         "yerr": 100 * r["ppl_se"] / base["ppl"] if r.get("ppl_se") else None})
        figure(c, f"lord_{mid}", f"LoRD-style: parameter reduction vs perplexity ({mid})", long,
               "parameter reduction (%)", {"*": "%"})
        c.md.append(f"![lord {mid}](figures/lord_{mid}.png)\n")
        c.md.append(f"| {mid}: configuration | parameter reduction | perplexity | increase | {dhead('ppl')} |\n|---|---|---|---|---|")
        c.md.append(f"| dense | 0 | {pm(base['ppl'], base['ppl_se'], 2)} | — | — |")
        for r in rs + vs:
            lab = f"{r['variant']} at {r['label']}" if r.get("variant") else r["label"]
            c.md.append(f"| {lab} | {pct(r['reduction'])} | {pm(r['ppl'], r['ppl_se'], 2)} | {(r['ppl'] / base['ppl'] - 1) * 100:+.2f}% | "
                        f"{dcell(base, r, 'ppl')} |")
        c.md.append("")
        lines = []
        for name, group in [("plain SVD", [r for r in rs if not r.get("skip_first")])] + [
                (v, [r for r in vs if r["variant"] == v]) for v in dict.fromkeys(r["variant"] for r in vs)]:
            ok = [r for r in group if (r["ppl"] / base["ppl"] - 1) < 0.01 and r["reduction"] > 0]
            bestr = max(ok, key=lambda r: r["reduction"]) if ok else None
            worst = min(group, key=lambda r: r["reduction"]) if group else None
            lines.append(f"{name}: " + (f"largest parameter reduction with < 1 % perplexity increase {pct(bestr['reduction'])} "
                                        f"({bestr['label']})" if bestr else
                                        "no configuration that saves parameters stays under a 1 % perplexity increase"
                                        + (f" (the mildest, {pct(worst['reduction'])}, costs "
                                           f"{(worst['ppl'] / base['ppl'] - 1) * 100:+.1f} %)" if worst else "")))
        plain_ok = lines[0].find("largest") >= 0
        line = (f"**{mid}**: " + "; ".join(lines) + f". Study (LoRD): {STUDY_REF['lord']}. "
                + ("**Agrees** in kind for plain SVD." if plain_ok else "**Disagrees** for plain SVD: without "
                   "calibration or fine-tuning it costs more than 1 % perplexity before it saves any parameters."))
        c.md.append(line + "\n")
        c.findings.append(("7 LoRD", mid, "agree" if plain_ok else "disagree", line))
    humaneval_table(c)


def humaneval_table(c: Report) -> None:
    """HumanEval pass@1 of the runs `experiments.lord.humaneval` lists ({"label", "log"[, "json"]}:
    the resumable `lowrank eval --humaneval-log` files, paths relative to the repository), each
    compared paired with the first (McNemar's exact test on the problems both finished)."""
    runs = (c.study.get("experiments", {}).get("lord") or {}).get("humaneval") or []
    if not runs:
        return
    repo = Path(__file__).resolve().parents[2]
    table = []
    for run in runs:
        log = repo / run["log"]
        if not log.is_file():
            table.append((run, None, None))
            continue
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        res = {x["task_id"]: x["status"] == "passed" for x in lines[1:]}
        params = None
        if run.get("json") and (repo / run["json"]).is_file():
            params = json.loads((repo / run["json"]).read_text())["model"]["parameters"]
        table.append((run, res, params))
    c.md.append("### HumanEval pass@1 (greedy, n = 1, every program run in the sandbox of docs/eval.md)\n")
    c.md.append("| run | parameters | problems done | passed | pass@1 | vs first row (McNemar, problems both finished) |\n"
                "|---|---|---|---|---|---|")
    first = table[0]
    for run, res, params in table:
        if res is None:
            c.md.append(f"| {run['label']} | n/a | 0 | — | — | not run yet (`{run['log']}`) |")
            continue
        n, k = len(res), sum(res.values())
        p1 = k / n if n else float("nan")
        se = math.sqrt(p1 * (1 - p1) / (n - 1)) if n > 1 else float("nan")
        cmpc = "—"
        if run is not first[0] and first[1]:
            both = [t for t in res if t in first[1]]
            mc = ps.mcnemar([first[1][t] for t in both], [res[t] for t in both])
            d = (sum(res[t] for t in both) - sum(first[1][t] for t in both)) / len(both) if both else 0
            cmpc = f"{100 * d:+.1f} %p on {len(both)} (b = {mc.b}, c = {mc.c}, p = {mc.p:.2g})"
        ratio = f"{params:,} ({params / table[0][2]:.3f} of the first)" if params and table[0][2] else (f"{params:,}" if params else "n/a")
        c.md.append(f"| {run['label']} | {ratio} | {n} of 164{'' if n == 164 else ' (in progress)'} | {k} | "
                    f"{p1:.3f} ± {se:.3f} | {cmpc} |")
    c.md.append("")


FOUNDING_MODELS = {"llama": ("Llama-2-7B", 6_738_415_616), "bert": ("BERT-base", 109_482_240)}  # the thesis's models


def stand_in_caveat(c: Report) -> str:
    """How the study's models compare in size with the founding study's of the same family, and
    which file each one's weights come from (a quantised GGUF names its type, e.g. Q4_1)."""
    parts = []
    for mid, m in c.models.items():
        ref_name, ref_params = FOUNDING_MODELS.get(c.study["models"].get(mid, {}).get("family"), (None, None))
        ratio = ref_params / m["parameters"] if ref_name and m.get("parameters") else None
        size = (f"~{ratio:.0f}× smaller than {ref_name}" if ratio and ratio >= 1.5 else
                f"about the size of {ref_name}" if ratio else "")
        parts.append(f"{mid} ({m['parameters'] / 1e6:,.1f} M parameters{', ' + size if size else ''}; weights from "
                     f"`{Path(m['path']).name}`)")
    return "The models: " + ", ".join(parts) + "." if parts else ""


def summary_lines(c: Report) -> list[str]:
    """The verdict table of every finding, caveats and NOTES.md (it goes before section 1)."""
    summ = ["## Summary: agreement with the founding study\n", "| experiment | model | verdict |\n|---|---|---|"]
    for e, m, v, _ in c.findings:
        summ.append(f"| {e} | {m} | {v} |")
    summ.append("")
    summ.append("Caveats: sample sizes are in the profiles table; a verdict is only as sharp as its interval (see "
                "**Statistics**), and perplexity on the held-out text is the most sensitive signal. " + stand_in_caveat(c)
                + " Latency is CPU time on a shared 2-core machine (no GPU), so absolute numbers and noise differ "
                "from the study's A100 measurements.\n")
    notes = c.out / "NOTES.md"  # hand-written remarks on a particular run (kept across `plot`)
    if notes.exists():
        summ += [notes.read_text().strip() + "\n"]
    return summ


HEAD_SECTIONS = (section_intro, section_how_run, section_setup)
BODY_SECTIONS = (section_rank, section_tensor, section_position, section_distance, section_tradeoff,
                 section_design_goal, section_lord)


def make_all(out: Path, draw: bool = True) -> None:
    """Figures, README.md and findings.csv in `out` from its index.json, runs.json and results/
    (draw=False: the figures' CSVs without their PNGs)."""
    out = Path(out)
    report_stats.reset()
    index, runs, rows = load(out)
    c = Report(out, index, runs, rows, draw=draw)
    for s in HEAD_SECTIONS:
        s(c)
    head, c.md = c.md, []
    for s in BODY_SECTIONS:
        s(c)
    (out / "README.md").write_text("\n".join(head + summary_lines(c) + c.md) + "\n")
    write_csv(out / "findings.csv", ["experiment", "model", "verdict", "text"], [list(f) for f in c.findings])

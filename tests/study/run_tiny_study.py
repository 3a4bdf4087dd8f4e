#!/usr/bin/env python3
"""CI: the study driver end to end on tiny generated models (see CMakeLists.txt here).

Checks: every experiment computes from scratch and its outputs are well formed; the report carries
paired statistics (per-document outputs kept in the cache and in each result); the method axis (one
`lowrank calibrate` + `lowrank compress --method struct` point at a plain point's parameter budget,
evaluated paired) and the layer-removal baseline (`eval --skip-layers` at the rank-1 layer sets)
run and reach the report, MiniLM's method point is skipped with its reason, and a profile that
evaluates the calibration text is refused; a `ppl:PATH` task is evaluated; a re-run computes
nothing; a grid change computes exactly the new point; the archive holds every computed point, and
an empty cache seeded from it (no calibration or compression files) computes nothing, then a
profile change computes exactly the points of that profile and the files they need; `plot` regenerates the report from stored results; `--publish` copies it to the
study's publish directory; `git status` of the checkout's docs/ is the same before and after."""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "examples" / "study" / "lowrank_study.py"
STUDY = REPO / "examples" / "study" / "studies" / "ci-tiny.json"


def git_status():
    """`git status` of docs/ (where the committed reports live, and where runs used to write), or None
    outside a git checkout. Limited to docs/ so that editing code while the test runs is no failure."""
    try:
        r = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=all", "--", "docs"],
                           capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return r.stdout if r.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lowrank", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    status_before = git_status()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    assets, out = work / "assets", work / "out"
    subprocess.run([sys.executable, str(REPO / "examples" / "study" / "make_tiny_assets.py"), str(assets)], check=True)
    env = dict(os.environ, LOWRANK_STUDY_ASSETS=str(assets), LOWRANK_STUDY_OUT=str(out))
    run = lambda *args: subprocess.run([sys.executable, str(DRIVER), *args], env=env, check=True)

    # 1. from scratch: every experiment computes
    run("run", str(STUDY), "--lowrank", a.lowrank)
    runs = json.loads((out / "runs.json").read_text())
    assert runs[-1]["runs_cached"] == 0 and runs[-1]["runs_computed"] > 20 and runs[-1]["failures"] == 0, runs[-1]
    # 2. outputs well formed (schema of every result, figure CSV (+PNG when matplotlib is here), report)
    run("check", str(STUDY))
    index = json.loads((out / "index.json").read_text())
    exps = {r["experiment"] for r in index["rows"]}
    assert exps >= {"baseline", "rank", "tensor", "position", "distance", "tradeoff", "lord"}, exps
    report = (out / "README.md").read_text()
    for sec in ("## Summary", "## 1. Pruned rank", "## 2. Tensor choice", "## 3. Layer position", "## 4. Layer distance",
                "## 5. Trade-off", "## 6. The design goal", "## 7. LoRD"):
        assert sec in report, f"report lacks {sec}"
    assert "unavailable" in report or "energy" in report
    # paired statistics: per-document outputs of the tiny Llama's accuracy tasks, in the cache and in the
    # results, and the report's paired comparisons built on them
    assert "**Statistics.**" in report
    acc = [f for r in index["rows"] if r["model"] == "tiny-llama" and r["profile"] == "acc"
           for f in r["results"] if f["kind"] == "eval"]
    assert acc
    for f in acc:
        d = json.loads((out / f["file"]).read_text())
        units = d["study_point"]["per_unit"]
        assert {"arc_easy", "piqa"} <= set(units), (f["file"], sorted(units))
        assert units["arc_easy"]["n"] == d["tasks"]["arc_easy"]["samples"] == 8
        assert (out / "cache" / "samples" / f"{f['key']}.jsonl.gz").exists()
        gid = d["study_point"]["gamma_id"]  # the library's γ id; compress's id for a compressed model
        assert gid == "dense" if d["gamma"] is None else gid.startswith("compress-struct-" if "compress" in d["study_point"] else "g-"), gid
    # every task of every evaluation has per-unit outputs (perplexity windows, BERT rows and cosines
    # included), and every run evaluated the γ the driver planned (id, parameters removed)
    for r in index["rows"]:
        for f in r["results"]:
            if f["kind"] != "eval":
                continue
            d = json.loads((out / f["file"]).read_text())
            sp = d["study_point"]
            missing = sorted(set(d["tasks"]) - set(sp["per_unit"]))
            assert not missing, (f["file"], missing)
            for t, u in sp["per_unit"].items():
                assert u["n"] == d["tasks"][t]["samples"], (f["file"], t)
                assert u["unit"] == ("window" if t.startswith("ppl:") else "document"), (f["file"], t)
            assert sp["gamma_id"] == (d["gamma"] or {}).get("id", "dense"), f["file"]
            m = d["model"]
            assert m["parameters_dense"] - m["parameters"] == sp["params_total"] - sp["params_after"], f["file"]
    assert "(unpaired)" not in report, "a comparison without per-unit outputs"
    assert "Differences from the dense model for tiny-llama, per task" in report
    per_task = report.split("Differences from the dense model for tiny-llama, per task")[1].split("\n\n")[1]
    assert "p = " in per_task and "%p" in per_task, per_task
    assert "%p, p = " in report  # a paired accuracy difference with its McNemar p in a table
    # the method axis: one struct point at the 30 % plain point's budget, checked against the outputs
    meth = [r for r in index["rows"] if r.get("variant") == "struct"]
    assert meth and {r["experiment"] for r in meth} == {"tradeoff", "timing", "lord"}, [(r["experiment"], r.get("label")) for r in meth]
    m0 = next(r for r in meth if r["experiment"] == "tradeoff")
    kinds = {f["kind"]: json.loads((out / f["file"]).read_text()) for f in m0["results"]}
    assert set(kinds) == {"eval", "compress", "calibrate"}, sorted(kinds)
    ev, comp, cal = kinds["eval"], kinds["compress"], kinds["calibrate"]
    plain = next(r for r in index["rows"] if r["results"] and r["results"][0]["key"] == m0["pair_key"])
    pe = json.loads((out / plain["results"][0]["file"]).read_text())
    removed = pe["model"]["parameters_dense"] - pe["model"]["parameters"]  # the plain point's, as its eval counted them
    ds = json.loads(subprocess.run([a.lowrank, "design-space", "--config", str(assets / "tiny-llama" / "config.json"), "--json"],
                                   capture_output=True, text=True, check=True).stdout)["parameters"]
    assert comp["manifest_compress"]["linear_budget"] == ds["linear"] - removed, (comp["manifest_compress"], ds, removed)
    assert comp["summary"]["linear_parameters"]["after"] <= ds["linear"] - removed
    assert ev["model"]["parameters"] == comp["summary"]["parameters"]["after"]
    assert ev["model"]["parameters_dense"] == ds["total"] and ev["method"] == "struct", ev["model"]
    assert ev["study_point"]["compress"]["method"] == "struct"
    assert cal["calibrate"]["text"].endswith("austen.train.txt") and cal["calibrate"]["windows"] == 4
    assert Path(comp["file"]).exists() and Path(comp["file"]).parent == out / "cache" / "compressed", comp["file"]
    assert "**Method axis (tiny-llama).**" in report and "vs plain truncation [95 % interval]" in report
    assert "No struct (method axis) points for tiny-bert" in report, "MiniLM's skipped method point has no stated reason"
    # the layer-removal baseline at the rank-1 layer sets
    rem = [r for r in index["rows"] if r.get("variant") == "layer removed" and r["experiment"] == "rank"]
    assert len(rem) == 2, len(rem)
    for r in rem:
        d = json.loads((out / r["results"][0]["file"]).read_text())
        partner = next(x for x in index["rows"] if x["results"] and x["results"][0]["key"] == r["pair_key"])
        assert d["skip_layers"] == r["skip_layers"] == partner["gamma"]["layers"], (d.get("skip_layers"), partner["gamma"])
        assert all(v == 1 for v in partner["gamma"]["ranks"].values())
        assert d["model"]["parameters_dense"] - d["model"]["parameters"] == len(r["skip_layers"]) * ds["per_layer"]
    assert "Layer removal against rank-1 decomposition of the same layers (tiny-llama)" in report
    # the lord method axis: struct at the budget of each plain uniform point that saves parameters,
    # calibrated as calibration_by_model says (the same calibration point as the trade-off's)
    lord_plain = [r for r in index["rows"] if r["experiment"] == "lord" and not r.get("variant")]
    lord_meth = [r for r in meth if r["experiment"] == "lord"]
    saving = [r for r in lord_plain if r["reduction"] > 0]
    assert saving and len(lord_meth) == len(saving), ([r["reduction"] for r in lord_plain], len(lord_meth))
    for r in lord_meth:
        ks = {f["kind"]: json.loads((out / f["file"]).read_text()) for f in r["results"]}
        partner = next(x for x in lord_plain if x["results"][0]["key"] == r["pair_key"])
        pe = json.loads((out / partner["results"][0]["file"]).read_text())
        assert ks["compress"]["manifest_compress"]["linear_budget"] == ds["linear"] - (pe["model"]["parameters_dense"] - pe["model"]["parameters"])
        assert [f["key"] for f in r["results"] if f["kind"] == "calibrate"] == [f["key"] for f in m0["results"] if f["kind"] == "calibrate"]
        assert r["rank_fraction"] == partner["rank_fraction"]
    assert "struct at rank x" in report.split("## 7.")[1], "the LoRD section lists no method rows"
    # ppl:PATH: a file of the data directory, scored like the built-in corpora
    pp = [f for r in index["rows"] if r["model"] == "tiny-llama" and r["profile"] == "ppl" for f in r["results"] if f["kind"] == "eval"]
    d = json.loads((out / pp[0]["file"]).read_text())
    assert any(t.startswith("ppl:/") and t.endswith("notes.txt") for t in d["tasks"]), sorted(d["tasks"])
    # the calibration text may not be evaluated
    st_bad = json.loads(STUDY.read_text())
    st_bad["models"]["tiny-llama"]["profiles"]["acc"]["tasks"].append("ppl:austen.train.txt")
    bad = work / "bad.json"
    bad.write_text(json.dumps(st_bad))
    r_bad = subprocess.run([sys.executable, str(DRIVER), "run", str(bad), "--lowrank", a.lowrank], env=env,
                           capture_output=True, text=True)
    assert r_bad.returncode != 0 and "the calibration text of the method axis" in r_bad.stderr, r_bad.stderr[-2000:]
    # Eckart-Young errors came back from decompose's manifest
    ey = [f for r in index["rows"] for f in r["results"] if f["kind"] == "decompose"]
    assert ey, "no decompose runs"
    # 3. re-run: the cache answers everything
    run("run", str(STUDY), "--lowrank", a.lowrank)
    runs = json.loads((out / "runs.json").read_text())
    assert runs[-1]["runs_computed"] == 0 and runs[-1]["runs_cached"] == runs[-2]["runs_total"], runs[-1]
    # 4. a changed grid computes only the new points
    st = json.loads(STUDY.read_text())
    st["experiments"]["lord"]["rank_fractions"].append(0.2)
    changed = work / "changed.json"
    changed.write_text(json.dumps(st))
    run("run", str(changed), "--lowrank", a.lowrank)
    runs = json.loads((out / "runs.json").read_text())
    index = json.loads((out / "index.json").read_text())  # the new plain point, and its method point when it saves parameters
    new_rows = [r for r in index["rows"] if r["experiment"] == "lord" and r["rank_fraction"] == 0.2]
    new_keys = {f["key"] for r in new_rows for f in r["results"] if f["kind"] in ("eval", "compress")}
    assert len(new_rows) in (1, 2) and runs[-1]["runs_computed"] == len(new_keys), (runs[-1], len(new_rows), len(new_keys))
    # 5. the archive (study_archive.py) holds every point computed so far; an empty cache seeded
    # from it computes nothing, although it has no calibration or compression file ...
    archive = Path(str(out) + "-archive")
    names = lambda d: sorted(p.name for p in d.glob("*.json"))  # noqa: E731
    assert names(archive / "points") == names(out / "cache" / "points") != [], "the archive misses points"
    fresh = work / "fresh-cache"
    run("run", str(changed), "--lowrank", a.lowrank, "--cache", str(fresh))
    runs = json.loads((out / "runs.json").read_text())
    assert runs[-1]["runs_computed"] == 0 and runs[-1]["failures"] == 0, runs[-1]
    assert not (fresh / "compressed").exists() and not (fresh / "calib").exists()
    # ... and a changed profile computes exactly the points evaluated with it, plus the calibration
    # and compression whose files those evaluations need
    index = json.loads((out / "index.json").read_text())
    ppl_rows = [r for r in index["rows"] if r["model"] == "tiny-llama" and r["profile"] == "ppl"]
    ppl_keys = {f["key"] for r in ppl_rows for f in r["results"] if f["kind"] == "eval"}
    remade = {f["key"] for r in ppl_rows for f in r["results"] if f["kind"] in ("calibrate", "compress")}
    assert remade, "the tiny study's ppl profile evaluates no compressed model"
    st["models"]["tiny-llama"]["profiles"]["ppl"]["ppl_windows"] = 3
    changed.write_text(json.dumps(st))
    run("run", str(changed), "--lowrank", a.lowrank, "--cache", str(fresh))
    runs = json.loads((out / "runs.json").read_text())
    assert runs[-1]["runs_computed"] == len(ppl_keys) + len(remade) and runs[-1]["failures"] == 0, (runs[-1], len(ppl_keys), len(remade))
    assert all((fresh / "compressed" / f"{k}.safetensors").exists() or (fresh / "calib" / f"{k}.stats.safetensors").exists()
               for k in remade), "a recomputed calibration or compression left no file"
    assert names(archive / "points") == names(fresh / "points"), "the new points did not reach the archive"
    # 6. plot regenerates figures and report from stored results alone
    (out / "README.md").unlink()
    shutil.rmtree(out / "figures")
    run("plot", str(changed))
    run("check", str(changed))
    # 7. --publish copies the outputs to the study's publish directory and regenerates the report there
    published = Path(str(out) + "-published")
    run("plot", str(changed), "--publish")
    assert (published / "README.md").read_text() == (out / "README.md").read_text()
    assert sorted(p.name for p in (published / "results").iterdir()) == sorted(p.name for p in (out / "results").iterdir())
    # 8. nothing in the checkout's docs/ changed
    if status_before is not None:
        assert git_status() == status_before, "the study run changed files in the checkout"
    print("study end to end: OK")


if __name__ == "__main__":
    main()

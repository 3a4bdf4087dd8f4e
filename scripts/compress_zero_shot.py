#!/usr/bin/env python3
"""Zero-shot accuracy of compressed models against the dense model, paired per document.

  compress_zero_shot.py --dense DENSE.samples.jsonl --run NAME=SAMPLES.jsonl [--run …] [--json OUT]

Each SAMPLES file is `lowrank eval … --samples-out` of one model on the same documents (same
tasks, same --limit). Per task it prints accuracy (acc_norm where the task reports it, as
lm-evaluation-harness does for ARC/HellaSwag/PIQA; acc for WinoGrande) of the dense model and of
each run, and the paired difference run − dense with its standard error, a 95 % percentile
bootstrap interval and the exact McNemar p-value (examples/study/paired_stats.py). Documents are
matched by (task, doc_index); a run scored on other documents is refused. Markdown on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "study"))
import paired_stats  # noqa: E402

NORM_TASKS = {"arc_easy", "arc_challenge", "hellaswag", "piqa", "openbookqa"}  # lm-eval reports acc_norm


def load(path: str) -> dict:
    """{task: {doc_index: correct (0/1) under the task's headline metric}}"""
    out: dict = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        sys.exit(f"compress_zero_shot: cannot read {path}: {e}")
    for n, line in enumerate(lines, 1):
        try:
            r = json.loads(line)
            task = r["task"]
            pred = r["pred_norm"] if task in NORM_TASKS else r["pred"]
            out.setdefault(task, {})[int(r["doc_index"])] = 1.0 if pred == r["gold"] else 0.0
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            sys.exit(f"compress_zero_shot: {path}:{n}: not a multiple-choice sample line ({e})")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dense", required=True)
    p.add_argument("--run", action="append", required=True, help="NAME=SAMPLES.jsonl")
    p.add_argument("--json")
    a = p.parse_args()
    dense = load(a.dense)
    runs = []
    for spec in a.run:
        name, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"compress_zero_shot: --run {spec!r}: expected NAME=SAMPLES.jsonl")
        r = load(path)
        for task, docs in r.items():
            if task not in dense or set(docs) != set(dense[task]):
                sys.exit(f"compress_zero_shot: {path}: task {task} was not scored on the dense model's documents")
        runs.append((name, r))
    tasks = sorted(dense)
    results = {"dense": {}, "runs": {}}
    head = "| task (metric, documents) | dense | " + " | ".join(f"{n} (Δ ± s.e., 95 % CI, McNemar p)" for n, _ in runs) + " |"
    print(head)
    print("|---" * (2 + len(runs)) + "|")
    for task in tasks:
        idx = sorted(dense[task])
        base = [dense[task][i] for i in idx]
        metric = "acc_norm" if task in NORM_TASKS else "acc"
        d_acc = sum(base) / len(base)
        results["dense"][task] = {"metric": metric, "n": len(base), "acc": d_acc}
        cells = []
        for name, r in runs:
            if task not in r:
                cells.append("—")
                continue
            other = [r[task][i] for i in idx]
            est = paired_stats.paired_difference(base, other, seed=paired_stats.seed_for(name, task))
            mc = paired_stats.mcnemar(base, other)
            acc = sum(other) / len(other)
            results["runs"].setdefault(name, {})[task] = {
                "acc": acc, "diff": est.value, "se": est.se, "ci": [est.lo, est.hi], "mcnemar_p": mc.p,
                "dense_only_right": mc.b, "run_only_right": mc.c}
            cells.append(f"{acc:.3f} ({100 * est.value:+.1f} ± {100 * est.se:.1f} pt, "
                         f"[{100 * est.lo:+.1f}, {100 * est.hi:+.1f}], p = {mc.p:.2g})")
        print(f"| {task} ({metric}, {len(base)}) | {d_acc:.3f} | " + " | ".join(cells) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

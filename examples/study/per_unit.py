"""Per-unit outputs of one `lowrank eval` run: what the paired statistics compare.

A study point keeps, per task, one value per unit (document or perplexity window) in its result
JSON under `study_point.per_unit`, built here from the run's `--samples-out` lines and its
results JSON:

  "arc_easy":   {"unit": "document", "n": 500, "ids_sha256": "…",
                 "metrics": {"acc": "0110…", "acc_norm": "0100…"}}          # '1' = right, in doc order
  "gsm8k":      {"unit": "document", ..., "metrics": {"exact_match_strict": "…", "exact_match_flexible": "…"}}
  "ppl:austen": {"unit": "window", "n": 40, "ids_sha256": "…", "tokens": [255, …],
                 "metrics": {"nll_per_token": [3.41, …]}}                   # needs per-window samples
  "agreement":  {"unit": "document", ..., "metrics": {"mean_cosine": [0.93, …]}}

Two points are paired on a task when their `ids_sha256` agree (the same documents / windows in
the same order). Where do the units come from:

  multiple choice (`--samples-out`, lines {task, doc_index, id, gold, loglik, pred, pred_norm}):
      acc = pred == gold, acc_norm = pred_norm == gold
  lambada (lines {task, doc_index, id, loglik, greedy}): acc = greedy
  gsm8k (results JSON `tasks.gsm8k.outputs[]`: id, strict_ok, flexible_ok)
  perplexity windows — lines {task, window_index, nll, tokens, bytes} (nll: sum of the window's
      token NLLs; tokens scored; their UTF-8 bytes)
  BERT tasks — lines {task: "sst2"|"mrpc", doc_index, id, gold, pred} (the evaluation rows) and
      {task: "agreement", doc_index, id, cosine}
A task without such lines (a cache written by an older CLI) has no per-unit entry, and
comparisons on it stay unpaired.

The full samples (log-likelihoods included, request strings dropped) are kept gzip-compressed in
the study cache next to the point, so other metrics can be derived later without re-running.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid
from pathlib import Path

KEEP = ("task", "doc_index", "window_index", "id", "gold", "loglik", "pred", "pred_norm", "greedy",
        "nll", "tokens", "bytes", "cosine")


def _ids_hash(ids) -> str:
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()


def _bits(flags) -> str:
    return "".join("1" if f else "0" for f in flags)


def read_samples(path: Path) -> list[dict]:
    """Lines of a --samples-out file (plain or .gz); [] when the run wrote none. A malformed line
    raises ValueError naming the file and line."""
    p = Path(path)
    if not p.exists():
        return []
    opener = gzip.open if p.suffix == ".gz" else open
    out = []
    with opener(p, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p}:{i}: not JSON ({e})") from None
            if not isinstance(d, dict) or "task" not in d:
                raise ValueError(f"{p}:{i}: expected an object with a 'task'")
            out.append(d)
    return out


def compact(lines: list[dict]) -> list[dict]:
    """The sample lines without the formatted request strings (they are re-derivable and large)."""
    return [{k: d[k] for k in KEEP if k in d} for d in lines]


def write_compact(lines: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}.{uuid.uuid4().hex[:8]}")  # unique: workers may race
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
        for d in compact(lines):
            f.write(json.dumps(d, separators=(",", ":")) + "\n")
    tmp.replace(path)


def build(lines: list[dict], result: dict) -> dict:
    """per_unit block of one point from its sample lines and its results JSON."""
    by_task: dict[str, list[dict]] = {}
    for d in lines:
        by_task.setdefault(d["task"], []).append(d)
    out = {}
    tasks = result.get("tasks", {})
    for task, rows in by_task.items():
        if task not in tasks:
            continue
        metrics = tasks[task].get("metrics", {})
        if "window_index" in rows[0]:  # perplexity windows
            rows = sorted(rows, key=lambda d: d["window_index"])
            tok = [int(d["tokens"]) for d in rows]
            if any(t <= 0 for t in tok):
                raise ValueError(f"{task}: a window scores no tokens")
            out[task] = {"unit": "window", "n": len(rows), "ids_sha256": _ids_hash(d["window_index"] for d in rows),
                         "tokens": tok, "metrics": {"nll_per_token": [float(d["nll"]) / t for d, t in zip(rows, tok)]}}
            continue
        rows = sorted(rows, key=lambda d: d["doc_index"])
        ids = [d.get("id", d["doc_index"]) for d in rows]
        m = {}
        if "pred" in rows[0] and "gold" in rows[0]:
            m["acc"] = _bits(d["pred"] == d["gold"] for d in rows)
            if "pred_norm" in rows[0] and "acc_norm" in metrics:
                m["acc_norm"] = _bits(d["pred_norm"] == d["gold"] for d in rows)
        elif "greedy" in rows[0]:
            m["acc"] = _bits(bool(d["greedy"]) for d in rows)
        elif "cosine" in rows[0]:
            m["mean_cosine"] = [float(d["cosine"]) for d in rows]
        if m:
            out[task] = {"unit": "document", "n": len(rows), "ids_sha256": _ids_hash(ids), "metrics": m}
    g = tasks.get("gsm8k")
    if g and isinstance(g.get("outputs"), list) and g["outputs"]:
        o = g["outputs"]
        out["gsm8k"] = {"unit": "document", "n": len(o), "ids_sha256": _ids_hash(d["id"] for d in o),
                        "metrics": {"exact_match_strict": _bits(d["strict_ok"] for d in o),
                                    "exact_match_flexible": _bits(d["flexible_ok"] for d in o)}}
    _check_against_aggregates(out, tasks)
    return out


def _check_against_aggregates(out: dict, tasks: dict) -> None:
    """Each kept metric's mean must equal the value `lowrank eval` reported for the task (else the
    per-unit reading misunderstands the samples): ValueError naming task and metric."""
    for task, b in out.items():
        for metric, v in b["metrics"].items():
            ref = tasks.get(task, {}).get("metrics", {}).get(metric, {}).get("value")
            if metric == "nll_per_token":
                x, w = values(b, metric)
                mine = sum(a * t for a, t in zip(x, w)) / sum(w)
            else:
                x, _ = values(b, metric)
                mine = sum(x) / len(x)
            if ref is not None and abs(mine - ref) > 1e-6 * max(1.0, abs(ref)):
                raise ValueError(f"{task}.{metric}: per-unit mean {mine!r} differs from the reported {ref!r}")


def values(block: dict, metric: str) -> tuple[list[float], list[float] | None] | None:
    """(per-unit values, unit weights or None) of one task's metric, or None if not kept."""
    v = block.get("metrics", {}).get(metric)
    if v is None:
        return None
    x = [1.0 if ch == "1" else 0.0 for ch in v] if isinstance(v, str) else [float(a) for a in v]
    return x, ([float(t) for t in block["tokens"]] if block.get("unit") == "window" else None)

#!/usr/bin/env python3
"""Cross-check `lowrank eval` against lm-evaluation-harness (lm_eval) on the same documents.

Both sides score the SAME first N documents of each task, taken from our cached JSONL
(<cache>/eval-data, written by scripts/fetch_eval_data.py):

  * lm_eval side: the rows are converted back to the field names of the dataset the official
    lm_eval task config reads (ARC `choices.{text,label}` + `answerKey`, BoolQ `label`, ...) and
    written to a temporary directory, together with one task YAML per task that `include`s the
    official config installed with lm_eval and overrides only where the data come from
    (`dataset_path: json`, `dataset_kwargs.data_files`, test split). So lm_eval's own
    doc_to_text / doc_to_choice / process_docs build the prompts. Run through
    `python -m lm_eval --model hf --log_samples` on a float32 Hugging Face directory that
    transformers dequantised from the GGUF once (saved under --work; the GGUF's Q4_1 weights
    dequantise to the same float32 values our runtime uses).
  * our side: the same rows in our schema are written to a temporary data directory and scored
    by `lowrank eval --data DIR --samples-out FILE` (no --limit: the directory holds exactly
    the subset).

Reported per task: N, acc (and acc_norm) of each side, per-document argmax agreement, the
number of requests whose (context, continuation) strings differ, and max |Δ loglik| over all
choices. Also written as JSON to <work>/crosscheck.json.

Environment (how lm_eval was made to run here, 2026-11-23): torch and transformers live in
/tmp/rt-venv-torch. A venv cannot inherit another venv's site-packages with
--system-site-packages, so a new venv reuses them through a .pth file and gets lm_eval from PyPI:

    /tmp/rt-venv-torch/bin/python -m venv /tmp/rt-venv-lmeval
    echo /tmp/rt-venv-torch/lib/python3.11/site-packages \\
        > /tmp/rt-venv-lmeval/lib/python3.11/site-packages/_rt_venv_torch.pth
    /tmp/rt-venv-lmeval/bin/pip install lm_eval        # 0.4.13 (datasets 5.2.0)

Run with that interpreter (it needs lm_eval, torch, transformers and gguf):

    /tmp/rt-venv-lmeval/bin/python scripts/crosscheck_lm_eval.py \\
        --lowrank build/examples/lowrank --limit 50

No network: the model and the data are local; HF_DATASETS_OFFLINE / HF_HUB_OFFLINE are set.

A factorised model (docs/interop.md): --model FILE is what `lowrank eval` scores (a factorised file
from `lowrank decompose`), --hf-dir DIR its `lowrank export-hf` directory, which lm_eval loads with
--trust-remote-code (pretrained=DIR,trust_remote_code=True):

    python scripts/crosscheck_lm_eval.py --lowrank build/examples/lowrank --model smol.safetensors \
        --hf-dir smol-hf --trust-remote-code --limit 30

--strings-only compares only the formatted requests (lowrank eval --format-only against the
requests lm_eval's task objects build), no model on either side; with --limit 0
--mmlu-subjects all it covers every document of every task.
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import time

CACHE = os.environ.get("LOWRANK_CACHE", os.path.expanduser("~/.cache/lowrank"))
DEFAULT_GGUF = os.path.join(CACHE, "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
MMLU_SUBJECTS = ["abstract_algebra", "high_school_biology", "marketing", "philosophy", "us_foreign_policy"]
ALL_TASKS = ["arc_easy", "arc_challenge", "hellaswag", "winogrande", "piqa", "boolq", "openbookqa", "mmlu", "lambada"]
LETTERS = "ABCDEFGH"
ACC_NORM = {"arc_easy", "arc_challenge", "hellaswag", "piqa", "openbookqa"}  # tasks whose lm_eval metric list has acc_norm


def official_yaml(task, subject=None):
    """Path of the official lm_eval config for a task (in the installed lm_eval package)."""
    import lm_eval.tasks
    root = os.path.dirname(lm_eval.tasks.__file__)
    rel = {"arc_easy": "arc/arc_easy.yaml", "arc_challenge": "arc/arc_challenge.yaml",
           "hellaswag": "hellaswag/hellaswag.yaml", "winogrande": "winogrande/default.yaml",
           "piqa": "piqa/piqa.yaml", "boolq": "super_glue/boolq/default.yaml",
           "openbookqa": "openbookqa/openbookqa.yaml", "lambada": "lambada/lambada_openai.yaml"}
    path = os.path.join(root, "mmlu/default/mmlu_%s.yaml" % subject) if task == "mmlu" else os.path.join(root, rel[task])
    if not os.path.isfile(path):
        sys.exit("official lm_eval config not found: %s" % path)
    return path


def to_official(task, row):
    """One of our JSONL rows in the field names the official lm_eval config reads."""
    ch, gold = row.get("choices"), row.get("gold")
    if task in ("arc_easy", "arc_challenge", "openbookqa"):
        labels = list(LETTERS[:len(ch)])
        out = {"id": row["id"], "choices": {"text": ch, "label": labels}, "answerKey": labels[gold]}
        out["question_stem" if task == "openbookqa" else "question"] = row["question"]
        return out
    if task == "hellaswag":
        return {"ind": row["id"], "activity_label": row["activity_label"], "ctx_a": row["ctx_a"],
                "ctx_b": row["ctx_b"], "ctx": row["ctx_a"] + " " + row["ctx_b"], "endings": ch, "label": str(gold)}
    if task == "winogrande":
        return {"sentence": row["sentence"], "option1": ch[0], "option2": ch[1], "answer": str(gold + 1)}
    if task == "piqa":
        return {"goal": row["question"], "sol1": ch[0], "sol2": ch[1], "label": gold}
    if task == "boolq":
        return {"idx": int(row["id"]), "question": row["question"], "passage": row["passage"], "label": gold}
    if task == "mmlu":
        return {"question": row["question"], "subject": row["subject"], "choices": ch, "answer": gold}
    if task == "lambada":
        return {"text": row["context"] + row["continuation"]}
    raise ValueError(task)


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def prepare(args, work):
    """Subset files for both sides and the lm_eval task YAMLs. Returns {our task: [lm_eval task names]}."""
    ours_dir, lm_dir = os.path.join(work, "ours-data"), os.path.join(work, "lm-tasks")
    for d in (ours_dir, lm_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    names = {}
    for task in args.tasks:
        with open(os.path.join(args.data, task + ".jsonl"), encoding="utf-8") as f:
            rows = [json.loads(l) for l in f if l.strip()]
        groups = [(None, rows[:args.limit or None])]  # --limit 0: all
        if task == "mmlu":  # first k of the chosen subjects, in file order
            subjects = args.mmlu_subjects or sorted({r["subject"] for r in rows})
            k = max(1, args.limit // len(subjects)) if args.limit else None
            groups = [(s, [r for r in rows if r["subject"] == s][:k]) for s in subjects]
        write_jsonl(os.path.join(ours_dir, task + ".jsonl"), [r for _, rs in groups for r in rs])
        names[task] = []
        for subject, rs in groups:
            lm_task = "xc_" + task + ("_" + subject if subject else "")
            data = os.path.join(lm_dir, lm_task + ".jsonl")
            write_jsonl(data, [to_official(task, r) for r in rs])
            # JSON is valid YAML: the official config is included, only the data source changes.
            cfg = {"include": official_yaml(task, subject), "task": lm_task, "tag": [],
                   "dataset_path": "json", "dataset_name": None, "dataset_kwargs": {"data_files": {"test": data}},
                   "training_split": None, "validation_split": None, "test_split": "test", "fewshot_split": None}
            with open(os.path.join(lm_dir, lm_task + ".yaml"), "w") as f:
                json.dump(cfg, f, indent=1)
            names[task].append(lm_task)
    return ours_dir, lm_dir, names


def dequantised_model(args):
    """float32 HF directory dequantised from the GGUF by transformers (made once), or the
    directory given with --hf-dir when it already holds a model (e.g. a lowrank export)."""
    out = args.hf_dir
    if os.path.isfile(os.path.join(out, "model.safetensors")) or os.path.isfile(
            os.path.join(out, "model.safetensors.index.json")):
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, f = os.path.dirname(os.path.abspath(args.gguf)), os.path.basename(args.gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    # The weights are plain float32 tensors now; drop the GGUF quantizer marker so it can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def lm_eval_requests(lm_dir, lm_tasks):
    """{task: the (context, continuation) requests lm_eval builds, per document}, without a model."""
    from lm_eval.tasks import TaskManager, get_task_dict
    tasks = get_task_dict(lm_tasks, TaskManager(include_path=lm_dir))
    out = {}
    for name in lm_tasks:
        task = tasks[name]
        task.build_all_requests()
        docs = {}
        for inst in task.instances:
            docs.setdefault(inst.doc_id, []).append((inst.idx, list(inst.arguments[:2])))
        out[name] = [[a for _, a in sorted(docs[d])] for d in sorted(docs)]
    return out


def strings_only(args, ours_dir, lm_dir, names, env):
    """Prompt-format check on every selected document: our --format-only requests vs lm_eval's."""
    out = os.path.join(args.work, "format-only.jsonl")
    cmd = [args.lowrank, "eval", args.gguf, "--data", ours_dir, "--tasks", ",".join(args.tasks),
           "--format-only", "--samples-out", out, "--no-progress"]
    run(cmd, env, os.path.join(args.work, "format-only.log"))
    ours = {}
    with open(out, encoding="utf-8") as f:
        for l in f:
            r = json.loads(l)
            ours.setdefault(r["task"], []).append(r)
    built = lm_eval_requests(lm_dir, [n for t in args.tasks for n in names[t]])
    bad = 0
    print("| task | documents | requests | requests differing |\n|---|---|---|---|")
    for t in args.tasks:
        theirs = [reqs for n in names[t] for reqs in built[n]]
        mine = ours.get(t, [])
        if len(mine) != len(theirs):
            sys.exit("%s: %d documents from lowrank, %d from lm_eval" % (t, len(mine), len(theirs)))
        n_req, differ, example = 0, 0, None
        for o, reqs in zip(mine, theirs):
            n_req += len(reqs)
            if len(o["requests"]) != len(reqs):
                differ += len(reqs)
                continue
            for a, b in zip(o["requests"], reqs):
                if a != b:
                    differ += 1
                    example = example or (o["id"], a, b)
        bad += differ
        print("| %s | %d | %d | %d |" % (t, len(mine), n_req, differ))
        if example:
            print("    first difference (%s):\n      lowrank %r\n      lm_eval %r" % example)
    return 1 if bad else 0


def run(cmd, env=None, log=None):
    print("$ " + " ".join(cmd), flush=True)
    t = time.time()
    with open(log, "w") if log else open(os.devnull, "w") as lf:
        p = subprocess.run(cmd, env=env, stdout=lf, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        sys.exit("command failed (exit %d), log: %s" % (p.returncode, log))
    return time.time() - t


def num(x):
    return float(x[0] if isinstance(x, (list, tuple)) else x)


def argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))  # first of ties, like numpy.argmax


def read_lm_samples(out_dir, lm_task):
    files = sorted(glob.glob(os.path.join(out_dir, "**", "samples_%s_*.jsonl" % lm_task), recursive=True))
    if not files:
        sys.exit("no lm_eval samples for %s under %s" % (lm_task, out_dir))
    with open(files[-1], encoding="utf-8") as f:
        rows = sorted((json.loads(l) for l in f if l.strip()), key=lambda r: r["doc_id"])
    docs = []
    for r in rows:
        args = r["arguments"]
        args = [args[k] for k in sorted(args, key=lambda k: int(k.rsplit("_", 1)[1]))] if isinstance(args, dict) else args
        reqs = [[a["arg_0"], a["arg_1"]] if isinstance(a, dict) else list(a[:2]) for a in args]
        resps = [x[0] if isinstance(x, list) and len(x) == 1 and isinstance(x[0], list) else x for x in r["resps"]]
        docs.append({"requests": reqs, "loglik": [num(x) for x in resps],
                     "greedy": [str(x[1]) == "True" for x in resps], "target": r["target"],
                     "acc": r.get("acc"), "acc_norm": r.get("acc_norm")})  # lm_eval's own per-doc scores
    return docs


def compare(task, ours, theirs):
    """Per-task comparison of our samples with lm_eval's (same documents, same order)."""
    if len(ours) != len(theirs):
        sys.exit("%s: %d documents from lowrank, %d from lm_eval" % (task, len(ours), len(theirs)))
    res = {"task": task, "n": len(ours), "string_mismatches": 0, "max_abs_dloglik": 0.0, "mismatch_examples": []}
    agree, agree_norm, acc = 0, 0, {"ours": [], "lm_eval": [], "ours_norm": [], "lm_eval_norm": []}
    for o, t in zip(ours, theirs):
        if len(o["requests"]) != len(t["requests"]):
            sys.exit("%s doc %s: %d requests vs %d" % (task, o["id"], len(o["requests"]), len(t["requests"])))
        for ro, rt in zip(o["requests"], t["requests"]):
            if ro != rt:
                res["string_mismatches"] += 1
                if len(res["mismatch_examples"]) < 2:
                    res["mismatch_examples"].append({"id": o["id"], "lowrank": ro, "lm_eval": rt})
        for a, b in zip(o["loglik"], t["loglik"]):
            res["max_abs_dloglik"] = max(res["max_abs_dloglik"], abs(a - b))
        if task == "lambada":
            acc["ours"].append(float(o["greedy"]))
            acc["lm_eval"].append(float(t["acc"]) if t.get("acc") is not None else float(t["greedy"][0]))
            agree += o["greedy"] == t["greedy"][0]
            continue
        gold = o["gold"]
        # acc_norm divides by the choice's length in characters (lm_eval's completion_len):
        # the continuation without its leading target delimiter " " (all these tasks use " ").
        lens = [max(1, len(c[1][1:] if c[1].startswith(" ") else c[1])) for c in t["requests"]]
        p_o, p_t = argmax(o["loglik"]), argmax(t["loglik"])
        n_o = argmax([l / n for l, n in zip(o["loglik"], lens)])
        n_t = argmax([l / n for l, n in zip(t["loglik"], lens)])
        agree += p_o == p_t
        agree_norm += n_o == n_t
        acc["ours"].append(float(p_o == gold))
        acc["ours_norm"].append(float(n_o == gold))
        # lm_eval's acc is its own per-document score; our recomputation from its logliks must agree.
        for key, pred in (("acc", p_t), ("acc_norm", n_t)):
            mine = float(pred == gold)
            if t.get(key) is not None and float(t[key]) != mine:
                res.setdefault("recompute_mismatch", 0)
                res["recompute_mismatch"] += 1
            acc["lm_eval" + key[3:]].append(float(t[key]) if t.get(key) is not None else mine)
    mean = lambda v: sum(v) / len(v) if v else float("nan")
    res.update({k: mean(v) for k, v in acc.items() if v and (task in ACC_NORM or not k.endswith("_norm"))})
    res["argmax_agreement"] = agree / len(ours)
    if task == "lambada":  # lm_eval's lambada perplexity: exp(-mean log p(target))
        for side, docs in (("ours", ours), ("lm_eval", theirs)):
            res["perplexity_" + side] = math.exp(-mean([d["loglik"][0] for d in docs]))
    if task in ACC_NORM:
        res["argmax_norm_agreement"] = agree_norm / len(ours)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lowrank", required=True, help="the lowrank CLI binary")
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--model", default=None, help="what lowrank eval scores (default: --gguf), e.g. a factorised file")
    ap.add_argument("--trust-remote-code", action="store_true",
                    help="lm_eval: pretrained=...,trust_remote_code=True (a lowrank export-hf directory)")
    ap.add_argument("--data", default=os.path.join(CACHE, "eval-data"))
    ap.add_argument("--work", default="/tmp/lowrank-xc", help="work directory (subset data, YAMLs, outputs)")
    ap.add_argument("--hf-dir", default=None, help="dequantised HF model directory (default <work>/<gguf stem>-f32)")
    ap.add_argument("--tasks", default=",".join(ALL_TASKS))
    ap.add_argument("--limit", type=int, default=50,
                    help="first N documents per task (mmlu: N/len(subjects) per subject); 0 = all")
    ap.add_argument("--mmlu-subjects", default=",".join(MMLU_SUBJECTS), help="comma-separated; 'all' = all 57")
    ap.add_argument("--strings-only", action="store_true",
                    help="only compare the formatted (context, continuation) strings, no model run on either side "
                         "(with --limit 0 --mmlu-subjects all: every document)")
    ap.add_argument("--batch-size", default="1", help="lm_eval --batch_size")
    ap.add_argument("--threads", type=int, default=1, help="threads for both sides")
    ap.add_argument("--skip-ours", action="store_true", help="reuse <work>/ours-samples.jsonl")
    ap.add_argument("--skip-lm-eval", action="store_true", help="reuse <work>/lm-out")
    args = ap.parse_args()
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.mmlu_subjects = [] if args.mmlu_subjects == "all" else [s for s in args.mmlu_subjects.split(",") if s]
    for t in args.tasks:
        if t not in ALL_TASKS:
            sys.exit("unknown task %s (known: %s)" % (t, ", ".join(ALL_TASKS)))
    os.makedirs(args.work, exist_ok=True)
    args.hf_dir = args.hf_dir or os.path.join(args.work, os.path.splitext(os.path.basename(args.gguf))[0] + "-f32")
    import lm_eval
    import torch
    import transformers
    versions = {"lm_eval": getattr(lm_eval, "__version__", "?"), "torch": torch.__version__,
                "transformers": transformers.__version__}
    ours_dir, lm_dir, names = prepare(args, args.work)
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    if args.strings_only:
        return strings_only(args, ours_dir, lm_dir, names, env)
    hf = dequantised_model(args)
    ours_samples = os.path.join(args.work, "ours-samples.jsonl")
    lm_out = os.path.join(args.work, "lm-out")
    commands, seconds = {}, {}
    ours_cmd = [args.lowrank, "eval", args.model or args.gguf, "--data", ours_dir, "--tasks", ",".join(args.tasks),
                "--samples-out", ours_samples, "--json", os.path.join(args.work, "ours.json"),
                "--threads", str(args.threads), "--no-efficiency", "--no-progress"]
    commands["lowrank"] = " ".join(ours_cmd)
    if not args.skip_ours:
        seconds["lowrank"] = run(ours_cmd, env, os.path.join(args.work, "ours.log"))
    lm_cmd = [sys.executable, "-m", "lm_eval", "--model", "hf",
              "--model_args", "pretrained=%s,dtype=float32%s" % (hf, ",trust_remote_code=True" if args.trust_remote_code else ""),
              "--device", "cpu",
              "--batch_size", args.batch_size, "--num_fewshot", "0", "--include_path", lm_dir,
              "--tasks", ",".join(n for t in args.tasks for n in names[t]),
              "--log_samples", "--output_path", lm_out]
    commands["lm_eval"] = " ".join(lm_cmd)
    if not args.skip_lm_eval:
        shutil.rmtree(lm_out, ignore_errors=True)
        seconds["lm_eval"] = run(lm_cmd, env, os.path.join(args.work, "lm_eval.log"))

    ours = {}
    with open(ours_samples, encoding="utf-8") as f:
        for l in f:
            r = json.loads(l)
            ours.setdefault(r["task"], []).append(r)
    report = {"versions": versions, "commands": commands, "seconds": seconds, "limit": args.limit,
              "mmlu_subjects": args.mmlu_subjects, "tasks": []}
    for t in args.tasks:
        theirs = [d for n in names[t] for d in read_lm_samples(lm_out, n)]
        report["tasks"].append(compare(t, ours.get(t, []), theirs))
    with open(os.path.join(args.work, "crosscheck.json"), "w") as f:
        json.dump(report, f, indent=1)

    print("\n%s" % json.dumps(versions))
    print("| task | N | lm_eval acc | ours acc | lm_eval acc_norm | ours acc_norm | argmax agreement (acc / acc_norm) "
          "| strings differing | max abs Δ loglik |")
    print("|---|---|---|---|---|---|---|---|---|")
    f3 = lambda x: "—" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.3f" % x
    for r in report["tasks"]:
        agree = "%d/%d" % (round(r["argmax_agreement"] * r["n"]), r["n"])
        if "argmax_norm_agreement" in r:
            agree += " / %d/%d" % (round(r["argmax_norm_agreement"] * r["n"]), r["n"])
        print("| %s | %d | %s | %s | %s | %s | %s | %d | %.2e |" % (
            r["task"], r["n"], f3(r["lm_eval"]), f3(r["ours"]), f3(r.get("lm_eval_norm")), f3(r.get("ours_norm")),
            agree, r["string_mismatches"], r["max_abs_dloglik"]))
        for m in r["mismatch_examples"]:
            print("    differs (%s): lowrank %r\n                    lm_eval %r" % (m["id"], m["lowrank"], m["lm_eval"]))
    for r in report["tasks"]:
        if "perplexity_ours" in r:
            print("%s perplexity: lm_eval %.4f, ours %.4f" % (r["task"], r["perplexity_lm_eval"], r["perplexity_ours"]))
    bad = [r["task"] for r in report["tasks"] if r["string_mismatches"] or r["argmax_agreement"] < 1]
    print("\ndisagreement in: " + (", ".join(bad) if bad else "none"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

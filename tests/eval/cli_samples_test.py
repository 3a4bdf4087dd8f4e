#!/usr/bin/env python3
"""`lowrank eval --samples-out`, `--num-fewshot`, `--workers` and the parameter / γ-id fields of the results, through
the real CLI on the tiny generated models of examples/study/make_tiny_assets.py (no downloads).

    cli_samples_test.py path/to/lowrank WORK_DIR

References: the per-unit lines must add up to the aggregates the same run reports (Σ nll / Σ tokens =
nll_per_token, mean(pred == gold) = acc, mean cosine = mean_cosine); γ ids and parameter counts must
equal what `lowrank plan --gamma FILE --json` computes from the architecture alone (design
accounting, not the runtime's), and the runtime's count of the dense model must equal
`lowrank design-space`'s total (Llama) or that total less the pooler BERT's runtime does not load;
`--workers 3` must reproduce one worker's lines and metrics.
"""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*argv, ok=True):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, argv))} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return r


def lines(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(1.0, abs(b))


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


def plan(L, arch_args, gamma_path):
    return json.loads(run(L, "plan", *arch_args, "--gamma", gamma_path, "--json").stdout)


def main():
    L, work = Path(sys.argv[1]), Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run(sys.executable, REPO / "examples" / "study" / "make_tiny_assets.py", work)
    data, llama, bert = work / "data", work / "tiny-llama" / "tiny-llama.gguf", work / "tiny-bert"
    common = ["--data", data, "--threads", "1", "--no-progress", "--no-efficiency"]

    # ---- Llama: perplexity windows (and multiple choice) under a γ
    g = work / "g-llama.json"
    g.write_text(json.dumps({"model": "tiny-llama", "method": "tucker2", "indexing": 1, "layers": [2, 5],
                             "tensors": ["q", "gate", "down"], "ranks": {"q": 2, "gate": 3, "down": 30}}))
    llama_arch = ["--config", work / "tiny-llama" / "config.json"]
    p = plan(L, llama_arch, g)
    total = json.loads(run(L, "design-space", *llama_arch, "--json").stdout)["parameters"]["total"]
    res, smp = work / "llama.json", work / "llama.samples.jsonl"
    run(L, "eval", llama, "--plan", g, "--tasks", "ppl:austen,arc_easy", "--limit", "6", "--context", "32",
        "--stride", "16", "--json", res, "--samples-out", smp, *common)
    r = json.loads(res.read_text())
    t = r["tasks"]["ppl:austen"]
    w = [d for d in lines(smp) if d["task"] == "ppl:austen"]
    check(set(w[0]) == {"task", "window_index", "nll", "tokens", "bytes"}, f"window line fields {sorted(w[0])}")
    check([d["window_index"] for d in w] == list(range(t["samples"])) and len(w) == 6, "one line per window, in order")
    check(all(d["tokens"] > 0 and d["nll"] > 0 and d["bytes"] > 0 for d in w), "windows score tokens")
    check(sum(d["tokens"] for d in w) == t["settings"]["tokens_scored"], "Σ tokens = tokens_scored")
    check(sum(d["bytes"] for d in w) == t["settings"]["bytes_scored"], "Σ bytes = bytes_scored")
    nll = sum(d["nll"] for d in w) / sum(d["tokens"] for d in w)
    check(close(nll, t["metrics"]["nll_per_token"]["value"]), f"Σ nll / Σ tokens {nll} != nll_per_token")
    check(close(math.exp(nll), t["metrics"]["perplexity"]["value"]), "exp(Σ nll / Σ tokens) != perplexity")
    mc = [d for d in lines(smp) if d["task"] == "arc_easy"]
    check(len(mc) == 6 and all("pred" in d and "gold" in d for d in mc), "multiple-choice lines unchanged")
    check(r["gamma"]["id"] == p["id"] and p["id"].startswith("g-"), f"γ id {r['gamma']['id']} != plan's {p['id']}")
    check(p["parameters"]["before"] == total, "plan's parameters.before = design-space total")
    check(r["model"]["parameters_dense"] == p["parameters"]["before"], "Llama parameters_dense = plan's before")
    check(r["model"]["parameters"] == p["parameters"]["after"], "Llama parameters = plan's after (keep-dense rule)")
    check(any(x["kept_dense"] for x in p["weights"]), "the γ has a weight kept dense (down at rank 30)")

    # ---- --workers: the same documents on 3 models sharing the weights give the same lines
    res_w, smp_w = work / "llama-workers.json", work / "llama-workers.samples.jsonl"
    run(L, "eval", llama, "--plan", g, "--tasks", "arc_easy", "--limit", "6", "--workers", "3", "--json", res_w,
        "--samples-out", smp_w, *common)
    mc_w = lines(smp_w)
    check([d["doc_index"] for d in mc_w] == [d["doc_index"] for d in mc], "--workers: documents in order")
    check(all(a["pred"] == b["pred"] and a["pred_norm"] == b["pred_norm"] and
              all(close(x, y, 1e-6) for x, y in zip(a["loglik"], b["loglik"])) for a, b in zip(mc_w, mc)),
          "--workers 3: the log-likelihoods and predictions of one worker")
    rw = json.loads(res_w.read_text())["tasks"]["arc_easy"]
    check(rw["settings"].get("workers") == 3 and rw["metrics"] == r["tasks"]["arc_easy"]["metrics"],
          f"--workers 3: settings.workers and the metrics of one worker ({rw['settings']})")

    # ---- BERT: sst2 / mrpc predictions, agreement cosines, γ id and parameters
    g = work / "g-bert.json"
    g.write_text(json.dumps({"model": "tiny-bert", "method": "svd", "indexing": 1, "layers": [2, 3],
                             "tensors": ["q", "intermediate", "output"], "ranks": {"q": 1, "intermediate": 4, "output": 30}}))
    bert_arch = ["--config", bert / "config.json"]
    p = plan(L, bert_arch, g)
    hidden = json.loads((bert / "config.json").read_text())["hidden_size"]
    for gamma in (None, g):
        res, smp = work / "bert.json", work / "bert.samples.jsonl"
        tasks = "sst2,mrpc" + (",agreement" if gamma else "")
        run(L, "eval", bert, *(["--plan", gamma] if gamma else []), "--tasks", tasks, "--limit", "20", "--json", res,
            "--samples-out", smp, *common)
        r, s = json.loads(res.read_text()), lines(smp)
        for task in ("sst2", "mrpc"):
            rows = [d for d in s if d["task"] == task]
            check(rows and set(rows[0]) == {"task", "doc_index", "id", "gold", "pred"}, f"{task} line fields")
            check(len(rows) == r["tasks"][task]["samples"] == 10, f"{task}: one line per evaluated (odd) row")
            check([d["doc_index"] for d in rows] == list(range(1, 20, 2)), f"{task}: the odd rows")
            acc = sum(d["pred"] == d["gold"] for d in rows) / len(rows)
            check(close(acc, r["tasks"][task]["metrics"]["acc"]["value"]), f"{task}: mean(pred == gold) != acc")
        check(r["model"]["parameters_dense"] == p["parameters"]["before"] - (hidden * hidden + hidden),
              "BERT parameters_dense = design total less the pooler (not loaded)")
        if gamma is None:
            check(r["model"]["parameters"] == r["model"]["parameters_dense"], "dense BERT: parameters = parameters_dense")
            continue
        a = [d for d in s if d["task"] == "agreement"]
        check(len(a) == r["tasks"]["agreement"]["samples"] == 20 and set(a[0]) == {"task", "doc_index", "id", "cosine"},
              "agreement: one line per sentence")
        check(close(sum(d["cosine"] for d in a) / len(a), r["tasks"]["agreement"]["metrics"]["mean_cosine"]["value"]),
              "agreement: mean cosine != mean_cosine")
        check(r["gamma"]["id"] == p["id"], f"BERT γ id {r['gamma']['id']} != plan's {p['id']}")
        check(r["model"]["parameters_dense"] - r["model"]["parameters"] == p["parameters"]["before"] - p["parameters"]["after"],
              "BERT: parameters saved = plan's before − after")

    # ---- GSM8K: --num-fewshot N takes the last N documents as exemplars
    docs = [{"id": f"d{i}", "question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}.\n#### {i + 1}"} for i in range(6)]
    (data / "gsm8k.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    for n in (0, 2):
        res = work / f"gsm8k-{n}.json"
        run(L, "eval", llama, "--tasks", "gsm8k", "--num-fewshot", n, "--gen-tokens", "3", "--json", res, *common)
        t = json.loads(res.read_text())["tasks"]["gsm8k"]
        check(t["settings"]["num_fewshot"] == n, f"settings.num_fewshot {t['settings']['num_fewshot']} != {n}")
        check(t["settings"]["fewshot_ids"] == [d["id"] for d in docs[len(docs) - n:]], "exemplars: the last N documents")
        check([o["id"] for o in t["outputs"]] == [d["id"] for d in docs[:len(docs) - n]], "evaluated: all but the exemplars")
    res = work / "gsm8k-bad.json"
    e = run(L, "eval", llama, "--tasks", "gsm8k", "--num-fewshot", "6", "--json", res, *common, ok=False)
    check(e.returncode != 0 and "--num-fewshot" in e.stderr and not res.exists(), f"--num-fewshot 6 of 6: {e.stderr}")
    e = run(L, "eval", bert, "--tasks", "sst2", "--workers", "2", *common, ok=False)
    check(e.returncode != 0 and "--workers" in e.stderr, f"--workers on a BERT model is refused: {e.stderr}")
    print("eval CLI samples checks passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Cross-check of `lowrank eval --tasks gsm8k` generations against llama.cpp.

Reads a results JSON written by `lowrank eval MODEL.gguf --tasks gsm8k --json OUT`, rebuilds
each evaluated document's 5-shot prompt from the same gsm8k.jsonl and the recorded exemplar ids
(examples/engine/eval/gsm8k.hpp layout), generates greedily with llama-cpp-python on the same GGUF
(no BOS, same stop sequences and max_gen_toks, end-of-text token stops), cuts the text before
the first stop sequence, and compares per document: generated text, the strict-match and
flexible-extract answers (lm-eval's regexes, Python `re`). llama.cpp quantises activations to
Q8_1 in its Q4_1 matmuls, so long generations may take a different branch at a near-tie; the
report says how many documents agree exactly, on the prefix, and on the extracted answers.

Usage: /tmp/rt-venv/bin/python scripts/check_gsm8k_llama_cpp.py OUT.json [--model GGUF] [--data DIR]
needs: pip install llama-cpp-python
"""
import argparse
import json
import os
import re
import sys
from pathlib import Path

CACHE = Path(os.environ.get("LOWRANK_CACHE", Path.home() / ".cache" / "lowrank"))
STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEX = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")


def regex_filter(text, pattern, group_select):
    """lm-eval RegexFilter.apply for one response."""
    m = pattern.findall(text)
    if not m:
        return "[invalid]"
    m = m[group_select]
    if isinstance(m, tuple):
        m = [x for x in m if x]
        m = m[0] if m else "[invalid]"
    return m.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--model", type=Path, default=CACHE / "SmolLM2-135M-Instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--data", type=Path, default=CACHE / "eval-data")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from llama_cpp import Llama

    res = json.loads(a.results.read_text())
    task = res["tasks"]["gsm8k"]
    docs = {}
    with open(a.data / task["dataset"]["file"], encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            docs[str(d["id"])] = d
    shots = [docs[i] for i in task["settings"]["fewshot_ids"]]
    prefix = "".join(f"Question: {e['question']}\nAnswer: {e['answer']}\n\n" for e in shots)
    until = task["settings"]["until"]
    max_new = task["settings"]["max_gen_toks"]
    llm = Llama(model_path=str(a.model), n_ctx=4096, n_threads=a.threads, n_batch=512, verbose=False)
    eos = llm.token_eos()
    same = same_strict = same_flex = 0
    for o in task["outputs"]:
        d = docs[o["id"]]
        ids = llm.tokenize((prefix + f"Question: {d['question']}\nAnswer:").encode(), add_bos=False, special=False)
        text, n, reason = b"", 0, "length"
        for t in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            if n == max_new:
                break
            if t == eos:
                reason = "eos"
                break
            n += 1
            text += llm.detokenize([t])
            if any(u.encode() in text for u in until):
                reason = "stop"
                break
        s = text.decode("utf-8", errors="replace")
        cut = min([s.find(u) for u in until if u in s], default=len(s))
        s = s[:cut]
        st, fl = regex_filter(s, STRICT, 0), regex_filter(s, FLEX, -1)
        same += s == o["generation"]
        same_strict += st == o["strict"]
        same_flex += fl == o["flexible"]
        common = next((i for i, (x, y) in enumerate(zip(s, o["generation"])) if x != y), min(len(s), len(o["generation"])))
        print(json.dumps({"id": o["id"], "identical": s == o["generation"], "common_chars": common,
                          "llama_cpp": {"stop": reason, "tokens": n, "strict": st, "flexible": fl, "text": s[:120]},
                          "lowrank": {"stop": o["stop"], "tokens": o["tokens"], "strict": o["strict"],
                                      "flexible": o["flexible"]}}, ensure_ascii=False))
    n = len(task["outputs"])
    print(f"documents {n}: identical generations {same}, same strict-match answer {same_strict}, "
          f"same flexible-extract answer {same_flex}")


if __name__ == "__main__":
    sys.exit(main())

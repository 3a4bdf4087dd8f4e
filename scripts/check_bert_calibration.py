#!/usr/bin/env python3
"""Independent check of `lowrank calibrate` on a real BERT model with Hugging Face transformers.

Reads a STATS.safetensors written by `lowrank calibrate MODEL_DIR --text FILE ...` for a BERT
(MiniLM) directory and recomputes the statistics with transformers' BertModel (no lowrank code):
the text is tokenised by the model's own tokenizer (no special tokens), the windows are
[CLS] + stream[s : s + L - 2] + [SEP] at the starts the file records, and forward hooks capture
the inputs of attention.self.query (attn_in), attention.output.dense (o_in), intermediate.dense
(mlp_in) and output.dense (down_in). Their float64 Grams X^T X, Σ|x| and token counts must equal
the file's to float32 round-off (relative max difference below --tol). Checks the token stream
length against the file's text_tokens first (the WordPiece tokenisers must agree).

Usage (the torch venv): python scripts/check_bert_calibration.py --model DIR --stats FILE
        [--text FILE]
Exits 1 when a check fails.
"""
import argparse
import json
import sys

import numpy as np
import torch
from safetensors.numpy import load_file
from safetensors import safe_open
from transformers import AutoTokenizer, BertModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--text", help="default: the path the stats file records")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()

    with safe_open(a.stats, "np") as f:
        meta = json.loads(f.metadata()["lowrank.stats"])
    stats = load_file(a.stats)
    L = meta["context"]
    starts = meta["extra"]["starts"]
    text = open(a.text or meta["extra"]["text"], encoding="utf-8").read()
    tok = AutoTokenizer.from_pretrained(a.model)
    stream = tok(text, add_special_tokens=False)["input_ids"]
    print(f"stream {len(stream)} tokens (file: {meta['extra']['text_tokens']}), {len(starts)} windows x {L}")
    ok = len(stream) == meta["extra"]["text_tokens"]

    model = BertModel.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    layers = model.config.num_hidden_layers
    acc = {}

    def hook(name):
        def f(_mod, inp):
            x = inp[0].detach().double().reshape(-1, inp[0].shape[-1]).numpy()
            g, s, n = acc.get(name, (0.0, 0.0, 0))
            acc[name] = (g + x.T @ x, s + np.abs(x).sum(0), n + x.shape[0])
        return f

    for l, blk in enumerate(model.encoder.layer):
        p = f"model.layers.{l}."
        blk.attention.self.query.register_forward_pre_hook(hook(p + "attn_in"))
        blk.attention.output.dense.register_forward_pre_hook(hook(p + "o_in"))
        blk.intermediate.dense.register_forward_pre_hook(hook(p + "mlp_in"))
        blk.output.dense.register_forward_pre_hook(hook(p + "down_in"))
    with torch.no_grad():
        for s in starts:
            ids = [tok.cls_token_id] + stream[s : s + L - 2] + [tok.sep_token_id]
            model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))

    worst = 0.0
    for l in range(layers):
        for inp in ("attn_in", "o_in", "mlp_in", "down_in"):
            name = f"model.layers.{l}.{inp}"
            g, s, n = acc[name]
            fg, fs = stats[name + ".gram"], stats[name + ".abs_sum"]
            fn = int(stats[name + ".tokens"][0])
            dg = np.abs(fg - g).max() / np.abs(g).max()
            ds = np.abs(fs - s).max() / np.abs(s).max()
            worst = max(worst, dg, ds)
            good = fn == n and dg < a.tol and ds < a.tol
            ok &= bool(good)
            print(f"{name:28s} tokens {n} (file {fn})  gram rel max diff {dg:.2e}  abs_sum {ds:.2e}  {'ok' if good else 'FAIL'}")
    print(f"worst relative difference {worst:.2e} (tolerance {a.tol:g})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

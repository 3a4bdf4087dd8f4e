#!/usr/bin/env python3
"""Tiny, deterministic stand-ins for the study's assets, so CI runs the study with no downloads.

    python3 examples/study/make_tiny_assets.py OUT_DIR

Writes (standard library only; GGUF writer reused from scripts/make_gguf_fixtures.py):
  OUT/tiny-llama/tiny-llama.gguf   Llama-shaped GGUF, F32 random weights: hidden 32, 4 heads /
                                   2 KV heads (GQA like SmolLM2), intermediate 64, 6 layers, tied
                                   embeddings, GPT-2 byte-level BPE over the 256 byte tokens + a
                                   few merges + <|endoftext|>
  OUT/tiny-llama/config.json       the matching Hugging Face config (for `lowrank plan --config`)
  OUT/tiny-bert/                   BERT directory (config.json, model.safetensors F32 random,
                                   vocab.txt, tokenizer_config.json): hidden 32, 4 heads,
                                   intermediate 64, 3 layers
  OUT/data/                        austen.heldout.txt, arc_easy.jsonl, piqa.jsonl, sst2.jsonl,
                                   mrpc.jsonl in the uniform schema of scripts/fetch_eval_data.py;
                                   austen.train.txt (calibration text of the method axis) and
                                   notes.txt (a `ppl:PATH` task), texts distinct from the held-out one
"""
import json
import math
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from make_gguf_fixtures import GGML, ARR, BOOL, F32, I32, STR, U32, Rng, write_gguf  # noqa: E402


def randn(rng, n, scale):
    out = []
    for _ in range(n):  # Box-Muller on the LCG
        u1 = (rng.next(1 << 30) + 1) / float(1 << 30)
        u2 = rng.next(1 << 30) / float(1 << 30)
        out.append(scale * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2))
    return out


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def byte_tokens():
    """GPT-2's bytes_to_unicode() order: printable bytes keep their code point, the rest 256+."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tiny_llama(out: Path, layers=6, hidden=32, heads=4, kv=2, inter=64):
    rng = Rng(2024)
    bt = byte_tokens()
    tokens = [bt[b] for b in range(256)]
    merges = ["\u0120 t", "h e", "\u0120t he", "a n", "\u0120 a", "i n", "e r", "o n"]
    for m in merges:
        tokens.append(m.replace(" ", ""))
    tokens.append("<|endoftext|>")
    types = [1] * (len(tokens) - 1) + [3]
    vocab = len(tokens)
    hd = hidden // heads
    t = []
    s = 0.3
    t.append(("token_embd.weight", GGML["F32"], [vocab, hidden], f32(randn(rng, vocab * hidden, 0.5))))
    t.append(("output_norm.weight", GGML["F32"], [hidden], f32([1.0] * hidden)))
    for l in range(layers):
        p = f"blk.{l}."
        t += [(p + "attn_norm.weight", GGML["F32"], [hidden], f32([1.0] * hidden)),
              (p + "ffn_norm.weight", GGML["F32"], [hidden], f32([1.0] * hidden)),
              (p + "attn_q.weight", GGML["F32"], [heads * hd, hidden], f32(randn(rng, heads * hd * hidden, s))),
              (p + "attn_k.weight", GGML["F32"], [kv * hd, hidden], f32(randn(rng, kv * hd * hidden, s))),
              (p + "attn_v.weight", GGML["F32"], [kv * hd, hidden], f32(randn(rng, kv * hd * hidden, s))),
              (p + "attn_output.weight", GGML["F32"], [hidden, heads * hd], f32(randn(rng, hidden * heads * hd, s))),
              (p + "ffn_gate.weight", GGML["F32"], [inter, hidden], f32(randn(rng, inter * hidden, s))),
              (p + "ffn_up.weight", GGML["F32"], [inter, hidden], f32(randn(rng, inter * hidden, s))),
              (p + "ffn_down.weight", GGML["F32"], [hidden, inter], f32(randn(rng, hidden * inter, s)))]
    kvs = [("general.architecture", STR, "llama"), ("general.name", STR, "tiny-llama"),
           ("llama.context_length", U32, 256), ("llama.embedding_length", U32, hidden),
           ("llama.feed_forward_length", U32, inter), ("llama.block_count", U32, layers),
           ("llama.attention.head_count", U32, heads), ("llama.attention.head_count_kv", U32, kv),
           ("llama.rope.dimension_count", U32, hd), ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
           ("tokenizer.ggml.model", STR, "gpt2"), ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
           ("tokenizer.ggml.token_type", ARR, (I32, types)), ("tokenizer.ggml.merges", ARR, (STR, merges)),
           ("tokenizer.ggml.bos_token_id", U32, vocab - 1), ("tokenizer.ggml.eos_token_id", U32, vocab - 1),
           ("tokenizer.ggml.add_bos_token", BOOL, False)]
    d = out / "tiny-llama"
    d.mkdir(parents=True, exist_ok=True)
    write_gguf(str(d / "tiny-llama.gguf"), kvs, t)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
           "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
           "num_key_value_heads": kv, "vocab_size": vocab, "tie_word_embeddings": True,
           "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}
    (d / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")


def write_safetensors(path: Path, tensors):
    header, off, blobs = {}, 0, []
    for name, shape, vals in tensors:
        b = f32(vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


WORDS = ("the a good bad movie film great awful fun dull story plot actor scene time day night man woman "
         "river house tree bird sun moon red blue big small happy sad said says will was is").split()


def tiny_bert(out: Path, layers=3, hidden=32, heads=4, inter=64):
    rng = Rng(77)
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(3)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(".,'!?\"-") + list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + WORDS
    V, P = len(vocab), 64
    s = 0.3
    t = [("embeddings.word_embeddings.weight", [V, hidden], randn(rng, V * hidden, 0.5)),
         ("embeddings.position_embeddings.weight", [P, hidden], randn(rng, P * hidden, 0.1)),
         ("embeddings.token_type_embeddings.weight", [2, hidden], randn(rng, 2 * hidden, 0.1)),
         ("embeddings.LayerNorm.weight", [hidden], [1.0] * hidden), ("embeddings.LayerNorm.bias", [hidden], [0.0] * hidden)]
    for l in range(layers):
        p = f"encoder.layer.{l}."
        for n, o, i in (("attention.self.query", hidden, hidden), ("attention.self.key", hidden, hidden),
                        ("attention.self.value", hidden, hidden), ("attention.output.dense", hidden, hidden),
                        ("intermediate.dense", inter, hidden), ("output.dense", hidden, inter)):
            t.append((p + n + ".weight", [o, i], randn(rng, o * i, s)))
            t.append((p + n + ".bias", [o], [0.0] * o))
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t.append((p + n + ".weight", [hidden], [1.0] * hidden))
            t.append((p + n + ".bias", [hidden], [0.0] * hidden))
    d = out / "tiny-bert"
    d.mkdir(parents=True, exist_ok=True)
    write_safetensors(d / "model.safetensors", t)
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (d / "config.json").write_text(json.dumps({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads, "vocab_size": V,
        "max_position_embeddings": P, "type_vocab_size": 2, "layer_norm_eps": 1e-12}, indent=1) + "\n")
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}) + "\n")


def tiny_data(out: Path):
    rng = Rng(5)
    d = out / "data"
    d.mkdir(parents=True, exist_ok=True)
    pick = lambda k: " ".join(WORDS[rng.next(len(WORDS))] for _ in range(k))
    (d / "austen.heldout.txt").write_text("\n".join(pick(12).capitalize() + "." for _ in range(60)) + "\n")

    def jl(name, rows):
        (d / name).write_text("".join(json.dumps(r) + "\n" for r in rows))

    jl("arc_easy.jsonl", [{"id": f"q{i}", "question": pick(6) + "?", "choices": [pick(3) for _ in range(4)],
                           "gold": rng.next(4)} for i in range(24)])
    jl("piqa.jsonl", [{"id": f"p{i}", "question": pick(6), "choices": [pick(4) for _ in range(2)],
                       "gold": rng.next(2)} for i in range(24)])
    jl("sst2.jsonl", [{"id": str(i), "label": i % 2, "sentence": pick(5) + (" good fun" if i % 2 else " bad dull")}
                      for i in range(40)])
    jl("mrpc.jsonl", [{"id": str(i), "label": i % 2, "sentence1": (a := pick(6)),
                       "sentence2": a if i % 2 else pick(6)} for i in range(40)])
    # drawn after the files above, so those stay what they were
    (d / "austen.train.txt").write_text("\n".join(pick(12).capitalize() + "." for _ in range(40)) + "\n")
    (d / "notes.txt").write_text("\n".join(pick(10).capitalize() + "!" for _ in range(30)) + "\n")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-study-assets")
    tiny_llama(out)
    tiny_bert(out)
    tiny_data(out)
    print("wrote tiny study assets to", out)


if __name__ == "__main__":
    main()

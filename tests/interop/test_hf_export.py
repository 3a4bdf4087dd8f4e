"""`lowrank export-hf` against Hugging Face transformers (the independent reference).

Tiny random Llama / Qwen2 / BERT models are made here with transformers (and a GGUF of the Llama
one with the `gguf` package), decomposed by `lowrank decompose`, exported by `lowrank export-hf`,
and loaded with AutoModelForCausalLM / AutoModel.from_pretrained(DIR, trust_remote_code=True).
Checked per export:
  * loading reports no missing, unexpected or mismatched tensor; the factorised modules are
    LowRankLinear, the others nn.Linear;
  * the parameter count transformers reports equals the count worked out here from the
    factorised file's own manifest (its parameters minus the folded r² cores and the buffers that
    are not parameters);
  * logits (Llama, Qwen2) / sentence embeddings (BERT) equal lowrank's runtime on the same
    factorised file (`lowrank generate --logits-out`, `lowrank embed`), on the runtime's token ids:
    max |Δ| / max |value| ≤ 1e-4 (both float32; only the order of float operations differs);
  * from_pretrained never allocates a factorised layer's dense weight (a TorchDispatchMode records
    every non-meta tensor made while loading; the same recorder sees them when the model is
    instead constructed directly, so the check can fail);
  * save_pretrained round-trips (same tensors, config and modelling file; identical logits);
  * the tokenizer.json written from a GGUF vocabulary gives the same ids in `tokenizers`,
    transformers' AutoTokenizer and lowrank's runtime (from the GGUF and from the directory).
Skips (visibly, pytest -rs) when torch, transformers, safetensors, tokenizers or gguf are missing.
"""
import json
import os
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/test.sh installs it into its torch venv)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed")
pytest.importorskip("safetensors", reason="safetensors is not installed")
pytest.importorskip("tokenizers", reason="tokenizers is not installed")
pytest.importorskip("gguf", reason="the gguf package is not installed")

import hf_fixtures as fx  # noqa: E402

TOL = 1e-4
PROMPT = "The quick brown fox jumps over 13 lazy dogs."
TRICKY = ["Hello world", "  leading and trailing spaces   ", "numbers 1234567890 and 3.14159",
          "Ünïcödé façade naïve café — “quotes”", "日本語のテキスト", "emoji 😀🎉👍🏽 and ZWJ 👨‍👩‍👧‍👦",
          "code: def f(x):\n    return x**2 + 1  # comment\n", "don't DON'T 'quoted'", "\t\n  \n\t ",
          "a\u00a0b\u2003c\u3000d", "<|im_start|>user\nHi there<|im_end|>", "", " "]
LOW = {"q": 6, "k": 4, "v": 4, "o": 6, "gate": 8, "up": 8, "down": 8}
BERT_LOW = {"q": 6, "k": 6, "v": 6, "attn-out": 6, "intermediate": 8, "output": 8}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf-models")
    torch.manual_seed(0)
    m = {"llama": str(d / "llama"), "qwen2": str(d / "qwen2"), "bert": str(d / "bert"), "gguf": str(d / "tiny.gguf")}
    fx.llama_hf(m["llama"], "llama")
    fx.llama_hf(m["qwen2"], "qwen2", seed=3)
    fx.bert_hf(m["bert"])
    fx.gguf_from_hf(m["llama"], m["gguf"])
    m["dir"] = str(d)
    return m


def manifest(path):
    """The factorised file's manifest, read straight from the safetensors header."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return json.loads(header["__metadata__"]["lowrank.manifest"])


def expected_parameters(man, keep_core):
    """Parameters transformers should count: dense tensors except non-persistent buffers, and
    (out + in)·r per factorised weight (+ r² when the tucker2 core is kept)."""
    total = 0
    for t in man["tensors"]:
        if "rank" in t:
            out, inn, r = t["shape"][0], t["shape"][1], t["rank"]
            total += (out + inn) * r + (r * r if keep_core and t["form"] == "tucker2" else 0)
        elif not t["name"].endswith("position_ids"):
            total += int(np.prod(t["shape"]))
    return total


def decompose_export(cli, src, work, layers, ranks, method, *export_args, tag=""):
    g = fx.gamma(os.path.join(work, "g%s-%s.json" % (tag, method)), layers, ranks, method)
    fact = os.path.join(work, "f%s-%s.safetensors" % (tag, method))
    out = os.path.join(work, "hf%s-%s%s" % (tag, method, "".join(a.strip("-") for a in export_args)))
    cli("decompose", src, "--plan", g, "--method", method, "--out", fact, "--threads", 1)
    cli("export-hf", fact, "--out", out, "--quiet", "--overwrite", *export_args)
    return fact, out


def runtime_logits(cli, fact, work):
    lo, to = os.path.join(work, "logits.npy"), os.path.join(work, "tokens.json")
    cli("generate", fact, "--prompt", PROMPT, "--max-tokens", 4, "--logits-out", lo, "--tokens-out", to, "--threads", 1)
    with open(to) as f:
        t = json.load(f)
    return t["prompt"] + t["generated"], np.load(lo).astype(np.float64)


def load_causal(d):
    from transformers import AutoModelForCausalLM
    model, info = AutoModelForCausalLM.from_pretrained(d, trust_remote_code=True, dtype=torch.float32,
                                                       output_loading_info=True)
    return model.eval(), info


def check_loading(model, info, cfg):
    assert not info["missing_keys"], info["missing_keys"]
    assert not info["unexpected_keys"], info["unexpected_keys"]
    assert not info["mismatched_keys"], info["mismatched_keys"]
    modules = cfg["lowrank"]["modules"]
    assert modules
    low = {name: m for name, m in model.named_modules() if type(m).__name__ == "LowRankLinear"}
    assert set(low) == set(modules)
    for name, m in low.items():
        assert m.rank == modules[name]["rank"]
        assert (m.lowrank_core is not None) == modules[name]["core"]


def rel_max(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("source,method,keep", [("gguf", "svd", False), ("gguf", "tucker2", False),
                                                ("gguf", "tucker2", True), ("llama", "tucker2", False),
                                                ("qwen2", "svd", False)])
def test_causal_export_loads_and_agrees_with_runtime(cli, models, tmp_path, source, method, keep):
    fact, out = decompose_export(cli, models[source], str(tmp_path), [0], LOW, method, *(["--keep-core"] if keep else []))
    cfg = fx_json(os.path.join(out, "config.json"))
    assert cfg["model_type"] == ("qwen2" if source == "qwen2" else "llama")
    assert cfg["auto_map"]["AutoModelForCausalLM"].startswith("modeling_lowrank.")
    model, info = load_causal(out)
    check_loading(model, info, cfg)
    assert type(model).__name__ == ("LowRankQwen2ForCausalLM" if source == "qwen2" else "LowRankLlamaForCausalLM")
    # parameter count: transformers' = the factorised file's manifest, worked out independently
    n = sum(p.numel() for p in model.parameters())
    assert n == expected_parameters(manifest(fact), keep)
    assert n == cfg["lowrank"]["parameters"]["export"]
    # logits: transformers vs lowrank's runtime on the same factorised file and token ids
    ids, ours = runtime_logits(cli, fact, str(tmp_path))
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].double().numpy()
    k = min(len(ours), len(ref))
    assert k >= len(ids) - 1
    err = rel_max(ours[:k], ref[:k])
    assert err <= TOL, "max |Δlogit| / max |logit| = %g" % err
    assert (ours[:k].argmax(1) == ref[:k].argmax(1)).all()


def fx_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_truncation_changes_the_model(cli, models, tmp_path):
    """The agreement above is not vacuous: the factorised export's logits differ from the dense model's."""
    from transformers import AutoModelForCausalLM
    _, out = decompose_export(cli, models["llama"], str(tmp_path), [0, 1], LOW, "svd")
    model, _ = load_causal(out)
    dense = AutoModelForCausalLM.from_pretrained(models["llama"], dtype=torch.float32).eval()
    ids = torch.tensor([[5, 9, 100, 7, 300, 12]])
    with torch.no_grad():
        a, b = model(ids).logits.double().numpy(), dense(ids).logits.double().numpy()
    assert rel_max(a, b) > 0.05


def test_dense_weight_never_materialised(cli, models, tmp_path):
    from torch.utils._python_dispatch import TorchDispatchMode
    from transformers import AutoModelForCausalLM
    _, out = decompose_export(cli, models["gguf"], str(tmp_path), [0, 1], LOW, "tucker2")  # every linear factorised
    cfg = fx_json(os.path.join(out, "config.json"))
    h, i, kv = fx.HIDDEN, fx.INTER, fx.KV_HEADS * fx.HIDDEN // fx.HEADS
    dense_shapes = {(h, h), (kv, h), (i, h), (h, i)}

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            r = func(*args, **(kwargs or {}))
            for t in (r if isinstance(r, (tuple, list)) else [r]):
                if isinstance(t, torch.Tensor) and t.device.type != "meta":
                    self.shapes.append(tuple(t.shape))
            return r

    with Recorder() as rec:
        model = AutoModelForCausalLM.from_pretrained(out, trust_remote_code=True, dtype=torch.float32)
    assert len(cfg["lowrank"]["modules"]) == 7 * fx.LAYERS
    assert rec.shapes, "the recorder saw no tensor at all"
    assert not dense_shapes & set(rec.shapes), sorted(dense_shapes & set(rec.shapes))
    with Recorder() as rec2:  # the detector works: direct construction does build the dense layers first
        type(model)(model.config)
    assert dense_shapes <= set(rec2.shapes)


def test_save_pretrained_round_trip(cli, models, tmp_path):
    from transformers import AutoModelForCausalLM
    _, out = decompose_export(cli, models["gguf"], str(tmp_path), [1], LOW, "tucker2")
    model, _ = load_causal(out)
    again = str(tmp_path / "saved")
    model.save_pretrained(again)
    assert os.path.isfile(os.path.join(again, "modeling_lowrank.py"))
    cfg_a, cfg_b = fx_json(os.path.join(out, "config.json")), fx_json(os.path.join(again, "config.json"))
    assert cfg_b["lowrank"] == cfg_a["lowrank"]
    assert cfg_b["auto_map"] == cfg_a["auto_map"]
    model2 = AutoModelForCausalLM.from_pretrained(again, trust_remote_code=True, dtype=torch.float32).eval()
    sd1, sd2 = model.state_dict(), model2.state_dict()
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k
    ids = torch.tensor([[5, 9, 100, 7, 300, 12]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model2(ids).logits)


def test_tokenizer_from_gguf_matches_tokenizers_transformers_and_runtime(cli, models, tmp_path):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer
    _, out = decompose_export(cli, models["gguf"], str(tmp_path), [0], LOW, "svd")
    hf = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(out)
    ours_gguf = json.loads(cli("tokenize", models["gguf"], *sum((["--text", t] for t in TRICKY), [])).stdout)
    ours_dir = json.loads(cli("tokenize", out, *sum((["--text", t] for t in TRICKY), [])).stdout)
    for t, a, b in zip(TRICKY, ours_gguf["texts"], ours_dir["texts"]):
        ids = hf.encode(t, add_special_tokens=False).ids
        assert a["ids"] == ids, t
        assert b["ids"] == ids, t
        assert auto(t, add_special_tokens=False)["input_ids"] == ids, t
        assert hf.decode(ids, skip_special_tokens=False) == t, t
    tc = fx_json(os.path.join(out, "tokenizer_config.json"))
    tokens, _, _ = fx.tokenizer_vocab()
    assert tc["bos_token"] == tokens[0] and tc["eos_token"] == tokens[2] and tc["add_bos_token"] is False
    assert auto.eos_token_id == 2


def test_bert_export_agrees_with_runtime(cli, models, tmp_path):
    from transformers import AutoModel
    fact, out = decompose_export(cli, models["bert"], str(tmp_path), [0, 1], BERT_LOW, "tucker2")
    cfg = fx_json(os.path.join(out, "config.json"))
    assert cfg["auto_map"]["AutoModel"] == "modeling_lowrank.LowRankBertModel"
    model, info = AutoModel.from_pretrained(out, trust_remote_code=True, dtype=torch.float32, output_loading_info=True)
    model.eval()
    check_loading(model, info, cfg)
    n = sum(p.numel() for p in model.parameters())
    assert n == expected_parameters(manifest(fact), False) == cfg["lowrank"]["parameters"]["export"]
    assert cfg["lowrank"]["dropped"] == []  # transformers' BertModel saves no position_ids
    texts = ["a man is playing the guitar.", "someone plays music in the garden!", "the cat sits outside"]
    emb = json.loads(cli("embed", fact, *sum((["--text", t] for t in texts), []), "--threads", 1).stdout)
    for ids, ours in zip(emb["tokens"], emb["embeddings"]):
        with torch.no_grad():
            hidden = model(torch.tensor([ids])).last_hidden_state[0].double()
        ref = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
        ours = np.array(ours, dtype=np.float64)
        assert rel_max(ours, ref) <= TOL
        assert float(ours @ ref) >= 1 - 1e-6

"""The CLI treats its input files and arguments as untrusted: every malformed case exits
non-zero with a message naming the file or argument, and leaves no output behind."""
import numpy as np
import pytest


def assert_rejected(proc, *needles, out=None):
    assert proc.returncode != 0, proc.stdout
    msg = proc.stderr + proc.stdout
    for n in needles:
        assert str(n) in msg, msg
    if out is not None:
        assert not out.exists(), "a failed run must not leave an output directory"


def test_missing_file(cli, tmp_path):
    assert_rejected(cli("svd", tmp_path / "nope.npy", "--rank", 1, "--out", tmp_path / "o", check=False),
                    "nope.npy", out=tmp_path / "o")


@pytest.mark.parametrize("payload", [
    b"",                                            # empty
    b"NOTNUMPY" + b"\0" * 100,                      # wrong magic
    b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4'",    # header length beyond the file
    b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }\n" + b"\0" * 8,  # short data
])
def test_corrupt_npy(cli, tmp_path, payload):
    p = tmp_path / "bad.npy"
    p.write_bytes(payload)
    assert_rejected(cli("svd", p, "--rank", 1, "--out", tmp_path / "o", check=False), "bad.npy", out=tmp_path / "o")
    assert p.read_bytes() == payload  # the input is never modified


def test_wrong_dtype_and_rank(cli, tmp_path):
    np.save(tmp_path / "i.npy", np.arange(12, dtype=np.int32).reshape(3, 4))
    assert_rejected(cli("svd", tmp_path / "i.npy", "--rank", 1, "--out", tmp_path / "o", check=False), "i.npy", "i4", "float32")
    np.save(tmp_path / "a.npy", np.ones((3, 4)))
    assert_rejected(cli("svd", tmp_path / "a.npy", "--rank", 9, "--out", tmp_path / "o", check=False), "--rank",
                    out=tmp_path / "o")
    np.save(tmp_path / "t.npy", np.ones((2, 3, 4)))
    assert_rejected(cli("svd", tmp_path / "t.npy", "--rank", 1, "--out", tmp_path / "o", check=False), "t.npy",
                    out=tmp_path / "o")
    assert_rejected(cli("tucker", tmp_path / "t.npy", "--ranks", "1,2", "--out", tmp_path / "o", check=False),
                    "--ranks", out=tmp_path / "o")
    assert_rejected(cli("tucker", tmp_path / "t.npy", "--ranks", "1,5,1", "--out", tmp_path / "o", check=False),
                    "exceeds", out=tmp_path / "o")
    assert_rejected(cli("svd", tmp_path / "a.npy", "--rank", "-2", "--out", tmp_path / "o", check=False), "--rank")
    assert_rejected(cli("svd", tmp_path / "a.npy", "--rank", 1, "--method", "magic", "--out", tmp_path / "o",
                        check=False), "--method")


def test_nan_input_is_reported_not_crashed(cli, tmp_path):
    a = np.ones((5, 4))
    a[2, 1] = np.nan
    np.save(tmp_path / "n.npy", a)
    assert_rejected(cli("svd", tmp_path / "n.npy", "--rank", 1, "--out", tmp_path / "o", check=False),
                    "nonfinite", out=tmp_path / "o")


def test_round_trip_writes_all_outputs(cli, tmp_path):
    a = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", a)
    cli("tucker", tmp_path / "x.npy", "--ranks", "2,3,4", "--method", "sthosvd", "--out", tmp_path / "o")
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["core.npy", "factor_0.npy", "factor_1.npy", "factor_2.npy", "summary.json"]
    assert np.load(tmp_path / "o" / "core.npy").dtype == np.float32


def _vocab_gguf(path, model, pre=None):
    """A vocabulary-only GGUF written by the `gguf` package (independent of our reader)."""
    gguf = pytest.importorskip("gguf")
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(["a", "b", "ab"])
    w.add_token_merges(["a b"])
    w.add_token_types([1, 1, 1])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_tokenize_rejects_unknown_tokenizer_settings(cli, tmp_path):
    # An unknown pre-tokenizer or tokenizer model is an error naming the file, never a guess.
    _vocab_gguf(tmp_path / "pre.gguf", "gpt2", pre="tekken")
    assert_rejected(cli("tokenize", tmp_path / "pre.gguf", "--text", "ab", check=False),
                    "pre.gguf", "tokenizer.ggml.pre", "tekken")
    _vocab_gguf(tmp_path / "model.gguf", "rwkv")
    assert_rejected(cli("tokenize", tmp_path / "model.gguf", "--text", "ab", check=False), "model.gguf", "rwkv")
    _vocab_gguf(tmp_path / "ok.gguf", "gpt2", pre="qwen2")
    import json
    out = json.loads(cli("tokenize", tmp_path / "ok.gguf", "--text", "ab").stdout)
    assert out["tokenizer"] == "gpt2" and out["texts"][0]["ids"] == [2]
    (tmp_path / "tokenizer.model").write_bytes(b"not a protobuf")
    assert_rejected(cli("tokenize", tmp_path, "--text", "x", check=False), "tokenizer.model")

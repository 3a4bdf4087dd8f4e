#!/usr/bin/env python3
"""lowrank study driver: the founding study's experiments, run through the `lowrank` CLI.

    python3 examples/study/lowrank_study.py run   [STUDY.json | --paper] [--lowrank BIN] [--out DIR] [--publish]
                                                  [--executor local|ray] [--address ADDR] [--jobs N]
    python3 examples/study/lowrank_study.py plot  [STUDY.json | --paper] [--out DIR] [--publish]  # report from stored results
    python3 examples/study/lowrank_study.py check [STUDY.json | --paper] [--out DIR]   # outputs well formed?

Outputs (report, figures, results) go to the study's "output" directory, by default
~/.cache/lowrank/study/NAME ($LOWRANK_CACHE/study/NAME), printed at the end; evaluations are
cached in ~/.cache/lowrank/study/cache. `--publish` also copies the outputs to the study's
"publish" directory (the committed docs/study) and regenerates the report there.

A study description (examples/study/studies/*.json) names models, evaluation profiles (tasks,
--limit, perplexity windows), and the experiments:

  rank         Fig. 3.2   planner layer sets x pruned ranks (1, fractions of break-even), with the
                          Eckart-Young reconstruction error from `lowrank decompose`'s manifest
  tensor       Fig. 3.4-5 each tensor alone in one layer / in all layers; equal-reduction pairs
  position     Fig. 3.6   one decomposed layer, for each layer of a grid
  distance     Fig. 3.7   sets of layers at increasing spacing
  tradeoff     Fig. 4.1-4 planner (Table 4.2 rules) reduction levels: accuracy, latency, energy, memory
  design_goal  Def. 3.1   argmin latency x energy (x memory when energy is unavailable) s.t. drop < tau,
                          over every measured configuration, vs the hand-pruned (planner) choices
  lord         LoRD       uniform rank fraction, plain SVD, all layers: perplexity increase (studies/lord-qwen.json:
                          Qwen2.5-Coder-1.5B on code, with the method axis and the HumanEval table)

Variants (study_methods.py): "methods" in tradeoff and lord compresses the same parameter budgets with
`lowrank calibrate` + `lowrank compress --method M` and evaluates the compressed models; "layer_removal"
in rank / position / distance / tradeoff evaluates the rank-1 layer sets with the blocks skipped
(`lowrank eval --skip-layers`). Both are compared paired with their plain-truncation partner.

Every evaluation is one `lowrank eval` run whose JSON (docs/eval.md schema) is cached under a key
= sha256(model sha256, canonical gamma, tasks/limits/settings, data-file sha256s), so an
interrupted study continues and a re-run computes only what changed. Points run one after another
here by default; `--jobs N` runs N at once, `--executor ray [--address ADDR]` runs each as a Ray
Core task on a cluster (study_exec.py: the cache stays the only record of what is done). Each point keeps its
per-document outputs (`--samples-out`), so the report compares configurations *paired* on the same
documents (paired_stats.py, report_stats.py). Standard library only for `run`; `plot` needs
matplotlib for the PNGs (it writes the CSV data behind each figure regardless).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import per_unit
import study_archive
import study_exec
import study_methods

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Part of every cache key; bump when a point's meaning changes. 2: a point keeps its per-unit
# outputs (`--samples-out` → study_point.per_unit + CACHE/samples/KEY.jsonl.gz) for paired statistics.
DRIVER_VERSION = 2


# ----------------------------------------------------------------------------- utilities
def cache_root() -> Path:
    return Path(os.environ.get("LOWRANK_CACHE") or Path.home() / ".cache" / "lowrank")


def expand(s: str, **extra) -> str:
    """{cache}, {repo} and the given {names}, then $VARS and ~."""
    vals = {"cache": str(cache_root()), "repo": str(REPO), **extra}
    for k, v in vals.items():
        s = s.replace("{" + k + "}", v)
    return os.path.expanduser(os.path.expandvars(s))


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


class FileHashes:
    """sha256 of files, remembered by (path, size, mtime) in the cache directory."""

    def __init__(self, store: Path):
        self.store = store
        self.memo = json.loads(store.read_text()) if store.exists() else {}

    def __call__(self, path: str | Path) -> str:
        p = Path(path)
        st = p.stat()
        k = f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}"
        if k not in self.memo:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            self.memo[k] = h.hexdigest()
            write_atomic(self.store, json.dumps(self.memo, indent=0))
        return self.memo[k]


def fmt_s(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """One bar across the whole study; ETA from measured cost per evaluation profile."""

    def __init__(self, points: list, log=sys.stderr):
        self.points, self.log, self.t0 = points, log, time.time()
        self.done, self.spent = 0, {}  # profile -> [seconds...]
        self.tty = log.isatty()

    def eta(self, remaining: list) -> float | None:
        if not any(self.spent.values()):
            return None
        allmean = sum(sum(v) for v in self.spent.values()) / sum(len(v) for v in self.spent.values())
        return sum((sum(self.spent[p.profile_key]) / len(self.spent[p.profile_key])) if self.spent.get(p.profile_key) else allmean
                   for p in remaining)

    def update(self, finished, remaining: list, label: str = "") -> None:
        if finished is not None:  # (point, seconds); seconds None: done but no cost to learn from
            self.done += 1
            if finished[1] is not None:
                self.spent.setdefault(finished[0].profile_key, []).append(finished[1])
        n = len(self.points)
        eta = self.eta(remaining)
        width = 30
        fill = int(width * self.done / n) if n else width
        line = (f"study [{'#' * fill}{'.' * (width - fill)}] {self.done}/{n} elapsed {fmt_s(time.time() - self.t0)} "
                f"ETA {fmt_s(eta) if eta is not None else '?'}  {label}")
        if self.tty:
            self.log.write("\r" + line[:160].ljust(160))
        else:
            self.log.write(line + "\n")
        self.log.flush()


# ----------------------------------------------------------------------------- models
class Model:
    def __init__(self, mid: str, spec: dict, runner: "Runner"):
        self.id, self.spec, self.r = mid, spec, runner
        self.family = spec["family"]  # llama | bert
        self.path = expand(spec["path"])
        self.weights_file = self.path if self.family == "llama" else str(Path(self.path) / "model.safetensors")
        if not Path(self.weights_file).exists():
            raise SystemExit(f"model {mid}: {self.weights_file} not found (run python3 scripts/fetch_assets.py)")
        self.sha256 = runner.hashes(self.weights_file)
        # the architecture: a catalog name, a config.json, or (neither) the one the model file describes
        self.arch_args = (["--arch", spec["arch"]] if "arch" in spec else
                          ["--config", expand(spec["config"], model=self.path)] if "config" in spec else ["--model", self.path])
        ds = json.loads(runner.cli(["design-space", *self.arch_args, "--json"]))
        if "arch" in spec and self.family == "llama":  # a catalog entry must count the file's parameters as eval does
            own = json.loads(runner.cli(["design-space", "--model", self.path, "--json"]))["parameters"]["total"]
            if own != ds["parameters"]["total"]:
                raise SystemExit(f"model {mid}: catalog architecture {spec['arch']} has {ds['parameters']['total']:,} parameters, "
                                 f"the file {self.path} {own:,} (e.g. a separate output weight); drop \"arch\" to use the file's own")
        self.arch_name = ds["model"]
        self.layers = ds["layers"]
        self.roles = [t["role"] for t in ds["tensors"]]
        self.shapes = {t["role"]: tuple(t["shape"]) for t in ds["tensors"]}
        self.tensor_rank = {t["role"]: t["rank"] for t in ds["tensors"]}
        self.break_even = {t["role"]: {"tucker2": t["break_even_tucker2"], "svd": t["break_even_svd"]} for t in ds["tensors"]}
        self.params_total = ds["parameters"]["total"]
        # compress's budget is over the linear parameters (q/k/v/o/gate/up/down); a removed block
        # takes its per-layer parameters with it (study_methods)
        self.params_linear = ds["parameters"].get("linear")
        self.params_per_layer = ds["parameters"].get("per_layer")
        self._plans, self._info = {}, {}

    def info(self, gamma: dict | None) -> dict:
        """{"id": library γ id ("g-…") or None, "params_after": int} of γ, from `lowrank plan --gamma
        FILE --json` (the library's parameter count and keep-dense rule); dense: ("dense", total)."""
        if gamma is None:
            return {"id": "dense", "params_after": self.params_total}
        k = canon(gamma)
        if k not in self._info:
            self._info[k] = self.r.gamma_info(self, gamma)
        return self._info[k]

    def params_after(self, gamma: dict | None) -> int:
        return self.info(gamma)["params_after"]

    def reduction(self, gamma: dict | None) -> float:
        return 1 - self.params_after(gamma) / self.params_total

    def gamma(self, layers, roles=None, ranks=None, method="tucker2") -> dict:
        roles = [r for r in self.roles if r in (roles or self.roles)]
        ranks = ranks or {r: 1 for r in roles}
        return {"format": "lowrank.gamma", "version": 1, "model": self.arch_name, "method": method, "indexing": 1,
                "layers": sorted(set(int(l) for l in layers)), "tensors": roles, "ranks": {r: int(ranks[r]) for r in roles}}

    def plan_layers(self, reduction: float, skip_first: int) -> list[int]:
        """The planner's (study rules) layer set for a reduction target, 1-based."""
        key = (reduction, skip_first)
        if key not in self._plans:
            out = self.r.cache / "plans" / f"{self.id}-{reduction:.4f}-{skip_first}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            self.r.cli(["plan", *self.arch_args, "--target-reduction", str(reduction), "--rank", "1",
                        "--skip-first", str(skip_first), "--out", str(out)])
            self._plans[key] = json.loads(out.read_text())["layers"]  # the γ file (indexing 1)
        return self._plans[key]


# ----------------------------------------------------------------------------- points
class Point:
    """One `lowrank eval` run (or one `lowrank decompose` for the Eckart-Young errors): of γ applied
    to the dense model, of the dense model with the blocks `skip` (1-based) removed, or of the model
    `source` (a study_methods.CompressPoint) wrote."""

    def __init__(self, model: Model, gamma: dict | None, profile: str, runner: "Runner", kind: str = "eval", rnd: int = 0,
                 skip: list[int] | None = None, source: "study_methods.CompressPoint | None" = None):
        self.model, self.gamma, self.profile, self.kind, self.rnd = model, gamma, profile, kind, rnd
        self.skip, self.source = sorted(set(int(l) for l in skip)) if skip else None, source
        if (self.skip or source) and (gamma is not None or kind != "eval"):
            raise ValueError("a layer-removal or compressed-model point is an evaluation without γ")
        self.prof = runner.profile(model, profile)
        key = {"kind": kind, "model_sha256": model.sha256, "gamma": gamma,
               "eval": self.prof["args"] if kind == "eval" else None,
               "data": {f: runner.hashes(path) for f, path in self.prof["files"].items()} if kind == "eval" else None}
        if rnd:
            key["round"] = rnd  # repeated timing measurements of the same configuration
        if self.skip:  # only present when set, so the keys of every other point stay as they were
            key["skip_layers"] = self.skip
        if source:
            key["compressed"] = source.key
        self.key = runner.point_key(key)
        self.profile_key = f"{model.id}:{profile}:{kind}:{'svd' if gamma and gamma['method'] == 'svd' else ''}"  # ETA groups
        self.path = runner.cache / "points" / f"{self.key}.json"
        self.needs = [source] if source else []  # points that must be computed first

    def config_id(self) -> str:
        """The configuration's id: the library's γ id (`lowrank plan --gamma FILE --json`), "dense",
        skip-L… for a layer removal, or compress's id (from its manifest) for a compressed model."""
        if self.skip:
            return study_methods.skip_id(self.skip)
        if self.source:
            return self.source.result()["gamma_id"]
        return self.model.info(self.gamma)["id"]

    def result_name(self) -> str:
        """File name of the point's result in the output directory: model, kind, configuration id, profile, round."""
        return f"{self.model.id}-{self.kind}-{self.config_id()}-{self.profile}{f'-r{self.rnd}' if self.rnd else ''}.json"

    @property
    def label(self) -> str:
        if self.skip:
            return f"{self.model.id} layers {','.join(map(str, self.skip))} removed [{self.profile}]"
        if self.source:
            return f"{self.source.label} [{self.profile}]"
        if self.gamma is None:
            return f"{self.model.id} dense [{self.profile}]"
        g = self.gamma
        return f"{self.model.id} {self.kind} L{','.join(map(str, g['layers']))[:40]} T{'+'.join(g['tensors'])[:30]} [{self.profile}]"


BUILTIN_CORPORA = ("austen", "kjv", "code")  # ppl:NAME = the cached NAME.heldout.txt (as in `lowrank eval`)
DEFAULT_OUTPUT = "{cache}/study/{name}"  # outside the checkout: a run never touches tracked files
DEFAULT_CACHE = "{cache}/study/cache"    # shared by every study, so a γ two studies share runs once


def output_dir(study: dict, args) -> Path:
    return Path(expand(args.out or study.get("output", DEFAULT_OUTPUT), name=study["name"]))


def publish_dir(study: dict) -> Path | None:
    """Where `--publish` copies the report (the committed docs/study for the default study)."""
    return Path(expand(study["publish"], name=study["name"])) if study.get("publish") else None


class Runner:
    def __init__(self, study: dict, args):
        self.study, self.args = study, args
        self.out = output_dir(study, args)
        self.cache = Path(expand(getattr(args, "cache", None) or study.get("cache", DEFAULT_CACHE), name=study["name"]))
        self.cache.mkdir(parents=True, exist_ok=True)
        self.data_dir = expand(study.get("data", "{cache}/eval-data"))
        self.threads = int(study.get("threads", 2))
        self.lr = args.lowrank or os.environ.get("LOWRANK_CLI") or expand(study.get("lowrank", "{repo}/build/examples/lowrank"))
        self.hashes = FileHashes(self.cache / "file-sha256.json")
        # where the small files of the cache are kept for committing (study_archive.py); None: nowhere
        self.archive = Path(expand(study["archive"], name=study["name"])) if study.get("archive") else None
        self.models = {}
        self.skipped = []  # {"experiment", "model", "what", "reason"}: points a study asked for but cannot run

    def point_key(self, key: dict) -> str:
        """A point's cache key: sha256 of its canonical description plus DRIVER_VERSION."""
        return sha256_bytes(canon({"driver": DRIVER_VERSION, **key}).encode())

    def gamma_info(self, model: "Model", gamma: dict) -> dict:
        """The library's id and parameter count of γ, from `lowrank plan --gamma FILE --json`
        ("lowrank.plan": parameters.before / .after with the runtime's keep-dense rule — the same
        vocabulary as decompose's manifest). `before` must be design-space's parameters.total."""
        path = self.gamma_path(gamma)
        j = json.loads(self.cli(["plan", *model.arch_args, "--gamma", str(path), "--json"]))
        try:
            gid, before, after = j["id"], int(j["parameters"]["before"]), int(j["parameters"]["after"])
        except (KeyError, TypeError, ValueError) as e:
            raise RuntimeError(f"{self.lr} plan --gamma {path} --json: no id / parameters.before / parameters.after "
                               f"({e!r}); this driver needs the \"lowrank.plan\" document") from None
        if before != model.params_total:
            raise RuntimeError(f"lowrank plan --gamma: {before} parameters before != design-space's total {model.params_total}")
        if not str(gid).startswith("g-"):
            raise RuntimeError(f"lowrank plan --gamma {path}: id {gid!r} is not a library γ id (g-…)")
        return {"id": gid, "params_after": after}

    def gamma_path(self, gamma: dict) -> Path:
        """γ written once to the cache, named by the sha256 of its canonical JSON (a file name,
        not an id: ids are the library's)."""
        path = self.cache / "gammas" / f"{sha256_bytes(canon(gamma).encode())}.json"
        if not path.exists():
            write_atomic(path, json.dumps(gamma, indent=1) + "\n")
        return path

    def cli(self, argv: list[str]) -> str:
        r = subprocess.run([self.lr, *argv], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"lowrank {' '.join(argv)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
        return r.stdout

    def model(self, mid: str) -> Model:
        if mid not in self.models:
            self.models[mid] = Model(mid, self.study["models"][mid], self)
        return self.models[mid]

    def profile(self, model: Model, name: str) -> dict:
        p = model.spec["profiles"][name]
        tasks = list(p["tasks"])
        files, task_argv = {}, {}  # data file name (the cache key's spelling) -> path; task -> as passed to eval
        for t in tasks:
            if t.startswith("ppl:") and t[4:] in BUILTIN_CORPORA:
                files[t[4:] + ".heldout.txt"] = Path(self.data_dir) / (t[4:] + ".heldout.txt")
            elif t.startswith("ppl:"):  # ppl:PATH: any UTF-8 text ({cache}, {repo}, ~, $VARS; relative: to the data dir)
                path = Path(self.data_dir) / expand(t[4:])
                if not path.is_file():
                    raise SystemExit(f"model {model.id}, profile {name}: task {t}: {path} is not a file")
                files[t] = path
                task_argv[t] = "ppl:" + str(path.resolve())
                if "," in task_argv[t]:
                    raise SystemExit(f"model {model.id}, profile {name}: task {t}: {path} has a comma (eval's --tasks is comma-separated)")
            elif t in ("sst2", "agreement"):
                files["sst2.jsonl"] = Path(self.data_dir) / "sst2.jsonl"
            else:
                files[t + ".jsonl"] = Path(self.data_dir) / (t + ".jsonl")
        args = {"tasks": tasks, "limit": int(p.get("limit", 0)), "ppl_windows": int(p.get("ppl_windows", 0)),
                "context": int(p.get("context", 512)), "stride": int(p.get("stride", 256)), "threads": self.threads,
                "efficiency": bool(p.get("efficiency", True))}
        if "num_fewshot" in p:  # gsm8k exemplars (the founding study: 8); only in the key when set
            args["num_fewshot"] = int(p["num_fewshot"])
            if "--num-fewshot" not in self.eval_help():
                raise SystemExit(f"model {model.id}, profile {name}: num_fewshot needs `lowrank eval --num-fewshot N` "
                                 f"(GSM8K exemplars), which {self.lr} does not have; drop the field or update lowrank")
        return {"args": args, "files": dict(sorted(files.items())), "task_argv": task_argv}

    def eval_help(self) -> str:
        if not hasattr(self, "_eval_help"):
            self._eval_help = subprocess.run([self.lr, "eval", "--help"], capture_output=True, text=True).stdout
        return self._eval_help

    def eval_argv(self, pt: Point, gamma_path: Path | None, json_out: Path, samples_out: Path) -> list[str]:
        a = pt.prof["args"]
        tasks = [t for t in a["tasks"] if not (t == "agreement" and pt.gamma is None and pt.source is None)]
        tasks = [pt.prof["task_argv"].get(t, t) for t in tasks]
        model_path = str(pt.source.artifact) if pt.source else pt.model.path
        argv = ["eval", model_path, "--tasks", ",".join(tasks), "--threads", str(a["threads"]),
                "--data", self.data_dir, "--json", str(json_out), "--samples-out", str(samples_out), "--no-progress"]
        if gamma_path:
            argv += ["--plan", str(gamma_path)]
        if pt.skip:
            argv += ["--skip-layers", ",".join(map(str, pt.skip))]
        if a["limit"]:
            argv += ["--limit", str(a["limit"])]
        if pt.model.family == "llama":
            if a["ppl_windows"]:
                argv += ["--ppl-windows", str(a["ppl_windows"])]
            argv += ["--context", str(a["context"]), "--stride", str(a["stride"])]
        if not a["efficiency"]:
            argv.append("--no-efficiency")
        if "num_fewshot" in a and "gsm8k" in tasks:
            argv += ["--num-fewshot", str(a["num_fewshot"])]
        return argv

    def lowrank_sha256(self) -> str:
        """The CLI build every worker must run (study_exec refuses any other)."""
        return self.hashes(self.lr)

    def spec(self, pt: Point) -> dict:
        """The point as plain data for study_exec.run_point (on this machine or a Ray worker). A point
        with `needs` is specified only once they are computed (run_points runs them in phases)."""
        spec = {"key": pt.key, "kind": pt.kind, "label": pt.label, "cwd": os.getcwd(),
                "lowrank": str(Path(self.lr).resolve()), "lowrank_sha256": self.lowrank_sha256(),
                "point": str(pt.path), "samples": str(self.cache / "samples" / f"{pt.key}.jsonl.gz"),
                "log": str(self.cache / "logs" / f"{pt.key}.log"), "work": str(self.cache / "work"),
                "cpus": self.threads}
        if pt.kind in ("calibrate", "compress"):
            spec.update(pt.spec_fields(self))
            return spec
        gpath = self.gamma_path(pt.gamma) if pt.gamma is not None else None
        if pt.kind == "eval":
            spec["argv"] = self.eval_argv(pt, gpath, Path("{json_out}"), Path("{samples_out}"))
            info = pt.model.info(pt.gamma)
            sp = {"key": pt.key, "gamma_id": info["id"], "profile": pt.profile, "model_id": pt.model.id,
                  "params_after": info["params_after"], "params_total": pt.model.params_total}
            if pt.skip:  # the dense model less the removed blocks (design-space's parameters.per_layer each)
                sp.update(skip_layers=pt.skip, params_after=pt.model.params_total - len(pt.skip) * pt.model.params_per_layer)
            if pt.source:  # the eval must report the γ id and parameter count compress recorded
                comp = pt.source.result()
                sp.update(gamma_id=comp["gamma_id"], params_after=comp["summary"]["parameters"]["after"],
                          compress={"key": pt.source.key, "method": pt.source.method, "keep": pt.source.keep,
                                    "linear_budget": pt.source.budget, "calibration_key": pt.source.calib.key})
            spec["study_point"] = sp
        else:  # decompose: per-tensor Eckart-Young errors from the manifest; the factorised file is dropped
            spec["argv"] = ["decompose", pt.model.path, "--plan", str(gpath), "--threads", str(self.threads),
                            "--out", "{out}"]
            spec["decompose"] = {"gamma": pt.gamma, "model_sha256": pt.model.sha256}
        spec["gpus"] = 1 if any(a == "--device" and b.startswith("cuda") for a, b in zip(spec["argv"], spec["argv"][1:])) else 0
        return spec

    def compute(self, pt: Point) -> None:
        """One point, here and now (see study_exec.run_point)."""
        study_exec.run_point(self.spec(pt))


# ----------------------------------------------------------------------------- experiments
def rank_for(model: Model, role: str, spec, method="tucker2") -> int:
    """spec: 1 (literal rank 1) or {"break_even_fraction": f} or {"rank_fraction": f}."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool) and float(spec) >= 1:
        return int(spec)
    if isinstance(spec, dict) and "break_even_fraction" in spec:
        return max(1, int(spec["break_even_fraction"] * model.break_even[role][method]))
    if isinstance(spec, dict) and "rank_fraction" in spec:
        return max(1, int(spec["rank_fraction"] * model.tensor_rank[role]))
    raise ValueError(f"bad rank spec {spec!r}")


def rank_label(spec) -> str:
    if isinstance(spec, dict) and "break_even_fraction" in spec:
        return f"{round(100 * spec['break_even_fraction'])}% of break-even"
    return f"rank {spec}"


def layer_grid(model: Model, spec) -> list[int]:
    if spec == "all":
        return list(range(1, model.layers + 1))
    if isinstance(spec, dict) and "every" in spec:
        g = list(range(1, model.layers + 1, int(spec["every"])))
        if model.layers not in g:
            g.append(model.layers)
        return g
    return [int(x) for x in spec]


def build_rows(r: Runner, only: set | None) -> list[dict]:
    """Every (experiment, model, configuration) row with the points it needs."""
    st, rows = r.study, []
    ex = st["experiments"]

    def add(exp, m, gamma, profile, rnd=0, skip=None, source=None, **info):
        """A row of one evaluation: γ on the dense model, or (variants) the dense model with the
        blocks `skip` removed, or the model compressed by `source` (study_methods)."""
        if skip:
            gid, red = study_methods.skip_id(skip), len(set(skip)) * m.params_per_layer / m.params_total
        elif source:  # planned: the linear budget's reduction; study_results reads the achieved one
            gid = f"compress-{source.method}-B{source.budget}"
            red = (m.params_linear - source.budget) / m.params_total
        else:
            gid, red = m.info(gamma)["id"], m.reduction(gamma)
        row = {"experiment": exp, "model": m.id, "profile": profile, "gamma": gamma, "gamma_id": gid, "reduction": red, **info}
        if rnd:
            row["round"] = rnd
        if skip:
            row["skip_layers"] = sorted(set(skip))
        pt = Point(m, gamma, profile, r, rnd=rnd, skip=skip, source=source)
        row["_points"] = [pt] + ([source, source.calib] if source else [])
        rows.append(row)
        return row

    def removal(e, exp, m, layers, profile, partner, **info):
        """The layer-removal variant of a rank-1 row (experiment field "layer_removal": true)."""
        if not e.get("layer_removal"):
            return
        if m.family != "llama":
            note_skip(exp, m, "layer removal", "`lowrank eval --skip-layers` is implemented for Llama-family models only")
            return
        add(exp, m, None, profile, skip=layers, variant="layer removed", pair_key=partner["_points"][0].key, **info)

    def note_skip(exp, m, what, reason):
        k = (exp, m.id, what)
        if k not in {(x["experiment"], x["model"], x["what"]) for x in r.skipped}:
            r.skipped.append({"experiment": exp, "model": m.id, "what": what, "reason": reason})
            print(f"study: {exp}/{m.id}: no {what} points: {reason}", file=sys.stderr)

    def method_axis(exp, m, g, row, profile, meth, methods, **info):
        """The method axis of one plain point `row` (γ = g): the dense model compressed by each of
        `methods` to the same parameter budget (its removed parameters, taken from the linear
        ones), calibrated as `meth` says, paired with the plain point. Nothing when the plain
        point saves no parameters (no budget to match)."""
        removed = m.params_total - m.params_after(g)
        for method in methods:
            if m.family != "llama":
                note_skip(exp, m, f"{method} (method axis)", "`lowrank compress` handles Llama-family decoders only")
                continue
            if removed <= 0:
                continue
            src = study_methods.CompressPoint(m, method, m.params_linear - removed, calibration(meth, m, profile), r,
                                              alloc=meth.get("alloc", "uniform"))
            add(exp, m, None, profile, source=src, variant=method, pair_key=row["_points"][0].key, method=method, **info)

    def profile_of(e, mid):
        return e.get("profile_by_model", {}).get(mid, e["profile"])

    def want(name):
        return name in ex and ex[name].get("enabled", True) and (not only or name in only)

    calib_points = {}

    def calibration(meth, m, profile):
        """The calibration point of a method axis (one per model and calibration setting), refused
        when the profile evaluates the calibration text itself."""
        c = {**(meth.get("calibration") or {}), **(meth.get("calibration_by_model") or {}).get(m.id, {})}
        if "text" not in c:
            raise SystemExit("methods.calibration.text: the calibration text is required (e.g. austen.train.txt)")
        text = Path(r.data_dir) / expand(c["text"])
        if not text.is_file():
            raise SystemExit(f"methods.calibration.text: {text} is not a file")
        key = (m.id, str(text), int(c.get("windows", 64)), int(c.get("context", 512)), int(c.get("seed", 0)))
        if key not in calib_points:
            calib_points[key] = study_methods.CalibPoint(m, text, *key[2:], r)
        cp = calib_points[key]
        for f, path in r.profile(m, profile)["files"].items():
            if r.hashes(path) == cp.text_sha256:
                raise SystemExit(f"model {m.id}, profile {profile}: evaluates {path}, the calibration text of the method axis "
                                 "(evaluate on held-out text only)")
        return cp

    for mid in st["models"]:
        m = r.model(mid)
        for prof in m.spec["profiles"]:
            if m.spec["profiles"][prof].get("baseline", True):
                add("baseline", m, None, prof, label="dense")

    if want("rank"):
        e = ex["rank"]
        for mid in e["models"]:
            m = r.model(mid)
            for red in e["reductions"][mid]:
                layers = m.plan_layers(red, e.get("skip_first", {}).get(mid, 2))
                for rs in e["ranks"]:
                    g = m.gamma(layers, ranks={ro: rank_for(m, ro, rs) for ro in m.roles})
                    row = add("rank", m, g, profile_of(e, mid), label=rank_label(rs), target=red,
                              rank_spec=rs)
                    if e.get("eckart_young", True):
                        row["_points"].append(Point(m, g, profile_of(e, mid), r, kind="decompose"))
                    if rs == 1:
                        removal(e, "rank", m, layers, profile_of(e, mid), row, label="layers removed", target=red, rank_spec="removed")

    if want("tensor"):
        e = ex["tensor"]
        for mid in e["models"]:
            m = r.model(mid)
            one = e["single_layer"][mid]
            for role in m.roles:
                g = m.gamma([one], [role])
                add("tensor", m, g, profile_of(e, mid), label=f"{role} in layer {one}", group="one layer", role=role)
                g = m.gamma(range(1, m.layers + 1), [role])
                add("tensor", m, g, profile_of(e, mid), label=f"{role} in all layers", group="all layers", role=role)
            for eq in e.get("equal_reduction", {}).get(mid, []):
                # "one tensor type in many layers" (the roles whose all-layer reduction is closest) vs
                # "all tensors in fewer layers" (planner layers for the same reduction)
                layers = m.plan_layers(eq["target"], e.get("skip_first", {}).get(mid, 2))
                g = m.gamma(layers)
                add("tensor", m, g, profile_of(e, mid), label=f"all tensors in {len(layers)} layers", group=f"~{round(100 * eq['target'])}%",
                    role="all")
                for role in eq["roles"]:  # "q+k": several tensor types, still in every layer
                    g = m.gamma(range(1, m.layers + 1), role.split("+"))
                    add("tensor", m, g, profile_of(e, mid), label=f"{role} in all layers", group=f"~{round(100 * eq['target'])}%",
                        role=role)

    if want("position"):
        e = ex["position"]
        for mid in e["models"]:
            m = r.model(mid)
            for l in layer_grid(m, e["layers"][mid]):
                g = m.gamma([l])
                row = add("position", m, g, profile_of(e, mid), label=f"layer {l}", layer=l)
                removal(e, "position", m, [l], profile_of(e, mid), row, label=f"layer {l}", layer=l)

    if want("distance"):
        e = ex["distance"]
        for mid in e["models"]:
            m = r.model(mid)
            d = e["sets"][mid]
            for sp in d["spacings"]:
                layers = [d["start"] + i * sp for i in range(d["count"])]
                if layers[-1] > m.layers:
                    continue
                g = m.gamma(layers)
                row = add("distance", m, g, profile_of(e, mid), label=f"spacing {sp}: layers {','.join(map(str, layers))}", spacing=sp)
                removal(e, "distance", m, layers, profile_of(e, mid), row, label=f"spacing {sp}: layers {','.join(map(str, layers))}",
                        spacing=sp)

    if want("tradeoff"):
        e = ex["tradeoff"]
        for mid in e["models"]:
            m = r.model(mid)
            meth = e.get("methods") or {}
            for red in e["reductions"][mid]:
                layers = m.plan_layers(red, e.get("skip_first", {}).get(mid, 2))
                g = m.gamma(layers)
                row = add("tradeoff", m, g, profile_of(e, mid), label=f"{round(100 * red)}% target", target=red)
                removal(e, "tradeoff", m, layers, profile_of(e, mid), row, label=f"{round(100 * red)}% target", target=red)
                methods = [x for x in meth.get("methods", []) if red in meth.get("reductions_by_method", {}).get(x, {}).get(
                    mid, meth.get("reductions", {}).get(mid, e["reductions"][mid]))]
                method_axis("tradeoff", m, g, row, profile_of(e, mid), meth, methods, label=f"{round(100 * red)}% target",
                            target=red)

    if want("design_goal"):
        # extra candidates for Definition 3.1, measured with the efficiency-probing profile: milder
        # configurations than the planner's (single tensors / one middle layer / higher ranks)
        e = ex["design_goal"]
        for mid in e["models"]:
            m = r.model(mid)
            for c in e.get("candidates", {}).get(mid, []):
                roles = c.get("tensors") or m.roles
                rs = c.get("rank", 1)
                g = m.gamma(c["layers"], roles, ranks={ro: rank_for(m, ro, rs) for ro in roles if ro in m.roles})
                add("design_goal", m, g, profile_of(e, mid),
                    label=f"{'+'.join(roles) if c.get('tensors') else 'all tensors'} in layer(s) {','.join(map(str, c['layers']))}, {rank_label(rs)}")
            # the hand-pruned (planner, Table 4.2) choices measured with this profile too, when the
            # trade-off experiment uses another (e.g. a larger-sample) profile
            for red in e.get("planner_reductions", {}).get(mid, []):
                g = m.gamma(m.plan_layers(red, e.get("skip_first", {}).get(mid, 2)))
                add("design_goal", m, g, profile_of(e, mid), label=f"{round(100 * red)}% target", target=red, hand_pruned=True)

    if want("timing"):
        # Latency again for every configuration measured with `source_profile`, all of them in a row and in
        # `rounds` alternating rounds (round-major), with a cheap profile: on a shared machine the load drifts
        # over a long study, so latencies taken an hour apart are not comparable.
        e = ex["timing"]
        for mid in e["models"]:
            m = r.model(mid)
            src = e.get("source_profile", {}).get(mid, "acc") if isinstance(e.get("source_profile"), dict) else e.get("source_profile", "acc")
            # optional "source_experiments": only those experiments' configurations (and dense) are timed
            exps = {*e["source_experiments"], "baseline"} if e.get("source_experiments") else None
            gs, seen_g = [], set()
            for row in list(rows):
                if (row["model"] == mid and row["profile"] == src and row["_points"][0].kind == "eval"
                        and (exps is None or row["experiment"] in exps)):
                    k = row["gamma_id"]  # one per configuration (γ, dense, a layer removal, a compressed model)
                    if k not in seen_g:
                        seen_g.add(k)
                        p0 = row["_points"][0]
                        gs.append((row["gamma"], row.get("label", ""), p0.skip, p0.source, row.get("variant")))
            for rnd in range(1, int(e.get("rounds", 2)) + 1):
                for g, lab, skip, source, variant in gs:
                    add("timing", m, g, profile_of(e, mid), rnd=rnd, label=lab, skip=skip, source=source,
                        **({"variant": variant} if variant else {}))

    if want("lord"):
        e = ex["lord"]
        for mid in e["models"]:
            m = r.model(mid)
            for skip in e.get("skip_first_variants", [0]):  # 0 = LoRD's uniform rule; 2 = also spare the first two layers
                for f in e["rank_fractions"] if skip == 0 else e.get("rank_fractions_skipped", e["rank_fractions"]):
                    g = m.gamma(range(1 + skip, m.layers + 1), ranks={ro: rank_for(m, ro, {"rank_fraction": f}, "svd") for ro in m.roles},
                                method="svd")
                    row = add("lord", m, g, profile_of(e, mid), label=f"rank x{f:g}" + (f", first {skip} layers dense" if skip else ""),
                              rank_fraction=f, skip_first=skip)
                    meth = e.get("methods") or {}
                    if skip == 0 and f in meth.get("rank_fractions", e["rank_fractions"]):  # the method axis at LoRD's budgets
                        method_axis("lord", m, g, row, profile_of(e, mid), meth, meth.get("methods", []),
                                    label=f"rank x{f:g} budget", rank_fraction=f, skip_first=0)
    return rows


# ----------------------------------------------------------------------------- run
def load_study(path: str | None, paper: bool) -> tuple[dict, Path]:
    p = Path(path) if path else HERE / "studies" / ("paper.json" if paper else "default.json")
    st = json.loads(p.read_text())
    if "extends" in st:  # shallow-merge over a base study (fields of the extending study win)
        base = json.loads((p.parent / st["extends"]).read_text())
        for k, v in st.items():
            if k == "experiments":
                for en, ev in v.items():
                    base["experiments"][en] = {**base["experiments"].get(en, {}), **ev}
            elif k == "models":
                for mn, mv in v.items():
                    base["models"][mn] = {**base["models"].get(mn, {}), **mv}
            elif k != "extends":
                base[k] = v
        st = base
    return st, p


PHASE = {"calibrate": 0, "compress": 1}  # every other kind: 2


def run_points(r: Runner, todo: list, args) -> tuple[dict, list[str], int]:
    """Computes `todo` with the chosen executor (study_exec); the driver keeps the progress bar.
    Returns ({"n": computed, "seconds": their compute time, "executor": description}, failure
    messages, points another worker or driver finished meanwhile)."""
    ex = study_exec.make_executor(args.executor, jobs=args.jobs, address=args.address)
    computed = {"n": 0, "seconds": 0.0, "executor": ex.describe()}
    failures, raced = [], 0
    if not todo:
        ex.close()
        return computed, failures, raced
    print(f"executor: {computed['executor']}", file=sys.stderr)
    prog = Progress(todo)
    prog.update(None, todo, "starting")
    remaining = {pt.key: pt for pt in todo}
    try:
        # phases: calibrations, then compressions, then evaluations (a point's spec can depend on
        # what the points it needs wrote; a point whose needs failed is not started)
        for phase in sorted({PHASE.get(pt.kind, 2) for pt in todo}):
            now = [pt for pt in todo if PHASE.get(pt.kind, 2) == phase]
            ready = []
            for pt in now:
                missing = [n.label for n in pt.needs if not n.path.exists() or not artifact_exists(n)]
                if missing:
                    remaining.pop(pt.key)
                    failures.append(f"{pt.label}: not run, it needs {', '.join(missing)}")
                    print(f"\nFAILED: {failures[-1]}", file=sys.stderr)
                    prog.update((pt, None), list(remaining.values()), pt.label)
                else:
                    ready.append(pt)
            for spec, res in ex.run([r.spec(pt) for pt in ready]):
                pt = remaining.pop(spec["key"])
                if isinstance(res, BaseException):  # keep going; the point stays uncomputed and the run fails at the end
                    failures.append(str(res))
                    print(f"\nFAILED: {pt.label}: {res}", file=sys.stderr)
                    prog.update((pt, None), list(remaining.values()), pt.label)
                    continue
                if res["status"] == "cached":
                    raced += 1
                else:
                    computed["n"] += 1
                    computed["seconds"] += res["seconds"]
                    if r.archive:
                        study_archive.save_point(r.archive, spec)
                prog.update((pt, res["seconds"] if res["status"] == "computed" else None), list(remaining.values()), pt.label)
    except study_exec.MixedBuildError as e:
        raise SystemExit(f"study: {e}") from None
    finally:
        ex.close()
    if prog.tty:
        print(file=sys.stderr)
    return computed, failures, raced


def points_to_compute(points: list) -> list:
    """The points without a point file, plus every calibrate / compress point that one of them
    needs whose file is gone: a cache seeded from an archive (study_archive.py), which keeps no
    calib/ or compressed/ files, recomputes such a file only when a new evaluation needs it.
    `points` lists every point after the points it needs."""
    keys = {p.key for p in points if not p.path.exists()}
    for p in reversed(points):  # a point comes after its needs: its needs are visited later
        if p.key in keys:
            keys.update(n.key for n in p.needs if not n.path.exists() or not artifact_exists(n))
    return [p for p in points if p.key in keys]


def artifact_exists(pt) -> bool:
    """Whether a calibrate / compress point's file (its `artifact`) is there; True for other kinds."""
    artifact = getattr(pt, "artifact", None)
    return artifact is None or Path(artifact).exists()


def cmd_run(args) -> int:
    study, spath = load_study(args.study, args.paper)
    if args.qwen:  # + the plain-SVD LoRD points of studies/lord-qwen.json (its method axis and HumanEval: run that study)
        q = json.loads((HERE / "studies" / "lord-qwen.json").read_text())
        study["models"].setdefault("qwen-coder", q["models"]["qwen-coder"])
        lord = study["experiments"].setdefault("lord", {"profile": "ppl", "models": [], "rank_fractions": q["experiments"]["lord"]["rank_fractions"]})
        lord["models"] = list(dict.fromkeys(lord["models"] + ["qwen-coder"]))
        lord.setdefault("profile_by_model", {})["qwen-coder"] = q["experiments"]["lord"]["profile"]
    r = Runner(study, args)
    if not Path(r.lr).exists():
        raise SystemExit(f"{r.lr}: no lowrank binary (build lowrank_cli, or pass --lowrank)")
    t_start = time.time()
    if r.archive:
        n = study_archive.seed(r.archive, r.cache)
        print(f"archive {r.archive}: {n} files copied into the cache", file=sys.stderr)
    only = set(args.only.split(",")) if args.only else None
    rows = build_rows(r, only)
    if r.archive:
        study_archive.save_new(r.archive, r.cache)
    points, seen = [], set()

    def collect(pt):  # a point after the points it needs
        for n in pt.needs:
            collect(n)
        if pt.key not in seen:
            seen.add(pt.key)
            points.append(pt)
    for row in rows:
        for pt in row["_points"]:
            collect(pt)
    todo = points_to_compute(points)
    print(f"study {study['name']} ({spath}): {len(rows)} rows, {len(points)} distinct runs, "
          f"{len(points) - len(todo)} cached, {len(todo)} to compute"
          f"{' (--no-compute: left for later)' if args.no_compute else ''}; cache {r.cache}", file=sys.stderr)
    n_cached = len(points) - len(todo)
    # --no-compute: report on whatever is cached (e.g. while another run is still going)
    left, todo = (todo, []) if args.no_compute else ([], todo)
    # cheapest first within each experiment is not needed; dense baselines first so the report
    # always has its reference, then in row order
    prio = {e: i for i, e in enumerate(["baseline", "tradeoff", "rank", "tensor", "position", "distance", "design_goal", "lord", "timing"])}
    first_use = {}
    for row in rows:
        for pt in row["_points"]:
            first_use.setdefault(pt.key, (prio.get(row["experiment"], 99), 1 if pt.kind == "decompose" else 0))
    todo.sort(key=lambda p: (PHASE.get(p.kind, 2), first_use[p.key]))
    computed, failures, raced = run_points(r, todo, args)
    if r.archive:
        study_archive.save_new(r.archive, r.cache)
    wall = time.time() - t_start
    # study index: rows with the result files they use (the eval JSONs are copied next to it)
    res_dir = r.out / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    index_rows = []
    for row in rows:
        files = []
        for pt in row["_points"]:
            if pt.path.exists():
                name = pt.result_name()
                shutil.copyfile(pt.path, res_dir / name)
                files.append({"kind": pt.kind, "file": f"results/{name}", "key": pt.key})
        index_rows.append({k: v for k, v in row.items() if not k.startswith("_")} | {"results": files})
    runs_file = r.out / "runs.json"
    history = json.loads(runs_file.read_text()) if runs_file.exists() else []
    history.append({"study": study["name"], "study_file": str(spath.relative_to(REPO)) if spath.is_relative_to(REPO) else str(spath),
                    "command": " ".join(["python3", "examples/study/lowrank_study.py", *sys.argv[1:]]),
                    "started": _dt.datetime.fromtimestamp(t_start, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "wall_s": round(wall, 1), "runs_total": len(points), "runs_computed": computed["n"],
                    "runs_cached": n_cached + raced, "runs_left": len(left), "failures": len(failures),
                    "compute_s": round(computed["seconds"], 1), "executor": computed["executor"]})
    write_atomic(runs_file, json.dumps(history, indent=1) + "\n")
    write_atomic(r.out / "index.json", json.dumps({"format": "lowrank.study.index", "version": 1, "study": study,
                                                   **({"skipped": r.skipped} if r.skipped else {}),
                                                   "models": {m.id: {"path": m.path, "sha256": m.sha256, "arch": m.arch_name,
                                                                     "layers": m.layers, "parameters": m.params_total,
                                                                     "shapes": m.shapes, "break_even": m.break_even}
                                                              for m in r.models.values()},
                                                   "rows": index_rows}, indent=1) + "\n")
    for f in res_dir.glob("*.json"):  # results of configurations this study no longer has
        if f.name not in {Path(x["file"]).name for row in index_rows for x in row["results"]}:
            f.unlink()
    print(f"study: {computed['n']} computed, {n_cached + raced} cached, {len(failures)} failed, "
          f"{f'{len(left)} left for later, ' if left else ''}wall {fmt_s(wall)}", file=sys.stderr)
    if not args.no_plot:
        from study_report import make_all  # noqa: E402  (same folder)
        make_all(r.out)
    finish(study, r.out, args)
    return 1 if failures else 0


def publish(out: Path, dest: Path) -> None:
    """Copy a study's outputs (index, runs, results) to `dest` (e.g. the committed docs/study),
    replacing the generated files there but keeping its hand-written NOTES.md, and regenerate
    the figures and report in place."""
    if out.resolve() == dest.resolve():
        raise SystemExit(f"--publish: the output directory is already {dest}")
    for f in ("index.json", "runs.json"):
        if not (out / f).exists():
            raise SystemExit(f"--publish: {out / f} missing (run the study first)")
    dest.mkdir(parents=True, exist_ok=True)
    for sub in ("results", "figures"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    shutil.copytree(out / "results", dest / "results")
    for f in ("index.json", "runs.json"):
        shutil.copyfile(out / f, dest / f)
    from study_report import make_all
    make_all(dest)


def finish(study: dict, out: Path, args) -> None:
    """--publish, then say where the report is."""
    if getattr(args, "publish", False):
        dest = publish_dir(study)
        if dest is None:
            raise SystemExit(f"--publish: study {study['name']} names no 'publish' directory")
        publish(out, dest)
        print(f"published to {dest}", file=sys.stderr)
    print(f"report: {out / 'README.md'}", file=sys.stderr)


def cmd_plot(args) -> int:
    study, _ = load_study(args.study, args.paper)
    out = output_dir(study, args)
    from study_report import make_all
    make_all(out)
    finish(study, out, args)
    return 0


def cmd_check(args) -> int:
    study, _ = load_study(args.study, args.paper)
    out = output_dir(study, args)
    from study_results import check_outputs
    problems = check_outputs(out)
    for p in problems:
        print("problem:", p)
    print("outputs well formed" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "plot", "check"):
        s = sub.add_parser(name)
        s.add_argument("study", nargs="?", help="study JSON (default: studies/default.json, or paper.json with --paper)")
        s.add_argument("--paper", "--full", dest="paper", action="store_true",
                       help="full power and complete grids (studies/paper.json; --full is the old name)")
        s.add_argument("--out", help=f"output directory (default: the study's 'output', else {DEFAULT_OUTPUT}; "
                                     "{cache} = $LOWRANK_CACHE or ~/.cache/lowrank)")
        if name in ("run", "plot"):
            s.add_argument("--publish", action="store_true",
                           help="also copy the outputs to the study's 'publish' directory (the committed docs/study "
                                "for studies/default.json) and regenerate the report there")
        if name == "run":
            s.add_argument("--lowrank", help="lowrank binary (default $LOWRANK_CLI or build/examples/lowrank)")
            s.add_argument("--cache", help=f"evaluation cache directory (default: the study's 'cache', else {DEFAULT_CACHE}); "
                                           "a new directory measures a run from an empty cache")
            s.add_argument("--only", help="comma-separated experiments to run (default: all)")
            s.add_argument("--no-plot", action="store_true", help="skip figures and report")
            s.add_argument("--qwen", action="store_true", help="add Qwen2.5-Coder-1.5B to the LoRD experiment")
            s.add_argument("--no-compute", action="store_true", help="compute nothing; index and report what is cached")
            s.add_argument("--executor", choices=["local", "ray"], default="local",
                           help="where points run: local (default; standard library) or ray (Ray Core tasks, "
                                "`pip install ray`; cache, models, data and binary on a filesystem every node sees)")
            s.add_argument("--address", help="--executor ray: the cluster (e.g. 10.0.0.1:6379; default $RAY_ADDRESS, "
                                             "else a Ray instance on this machine for this run)")
            s.add_argument("--jobs", type=int, default=1,
                           help="--executor local: points at once (default 1: one after another)")
    a = ap.parse_args(argv)
    return {"run": cmd_run, "plot": cmd_plot, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())

"""lowrank.compress and lowrank.calibrate: the model pipeline, run by the bundled `lowrank` CLI.

Process boundary. Compressing a model is the CLI's job (examples/cli/cmd_compress.cpp,
cmd_calibrate.cpp): model readers (GGUF, safetensors, Hugging Face directories), the inference
runtime that records calibration statistics, threading, progress and atomic output writing all
live in the CLI's translation units, not in the header-only library the extension binds. The
wheel ships that executable, so these functions run it in a child process with an argument list
(never a shell), wait for it, and return its JSON summary. Consequences: the call holds no GIL
and shares no memory with Python; a crash in the model layer cannot take the interpreter down;
results come back through files (the output model, its manifest, the --json summary); and the
CLI's errors come back as its exit status and message, mapped here onto lowrank.Error classes.

Which executable: $LOWRANK_CLI when set, else `lowrank` in this interpreter's scripts directory
(where `pip install .` puts it), else `lowrank` on PATH.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import re
import shutil
import struct
import subprocess
import sysconfig
import tempfile
from typing import Any, Dict, List, Optional, Union

from ._errors import Error, FileError, InfeasibleBudgetError, InvalidArgumentError

PathLike = Union[str, "os.PathLike[str]"]


def cli_path() -> str:
    """Path of the `lowrank` executable compress/calibrate run (see the module docstring).
    Raises FileError when there is none."""
    env = os.environ.get("LOWRANK_CLI")
    if env:
        if not os.path.isfile(env):
            raise _file_error(f"LOWRANK_CLI={env}: no such file", env)
        return env
    scripts = sysconfig.get_path("scripts")
    for name in ("lowrank", "lowrank.exe"):
        p = os.path.join(scripts, name) if scripts else None
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    p = shutil.which("lowrank")
    if p:
        return p
    raise _file_error("the `lowrank` CLI was not found (it ships in the wheel's scripts directory; "
                      "set LOWRANK_CLI to its path)", "lowrank")


def _file_error(msg: str, path: Optional[str], offset: Optional[int] = None) -> FileError:
    e = FileError(msg)
    e.path = path
    e.offset = offset
    return e


def _path(p: Any, what: str) -> str:
    if isinstance(p, (str, os.PathLike)):
        s = os.fspath(p)
        if isinstance(s, str) and s:
            return s
    raise TypeError(f"{what} must be a path (str or os.PathLike), got {type(p).__name__}")


def _require_file(p: str, what: str) -> None:
    if not os.path.exists(p):
        raise _file_error(f"{what} {p}: no such file or directory", p)


def _require_out(p: str, what: str) -> None:
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        raise _file_error(f"{what} {p}: parent directory does not exist", p)


def _count(v: Any, what: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < minimum:
        raise InvalidArgumentError(f"{what} must be an integer >= {minimum}, got {v!r}")
    return int(v)


_IO_MSG = re.compile(r"^(?P<path>.+?)(?: \(byte offset (?P<off>\d+)\))?: ")


def _run(args: List[str], inputs: List[str]) -> subprocess.CompletedProcess:
    """Runs the CLI (no shell) and maps a failure onto the lowrank.Error hierarchy:
    exit 2 (usage error) and CLI11's argument errors → InvalidArgumentError (InfeasibleBudgetError
    for "--keep ... cannot be met"), with the CLI's message verbatim; exit 1 whose
    message starts with one of the files involved (an io_error: "PATH[ (byte offset N)]: ...")
    → FileError with .path and .offset; any other failure → Error. The message is the CLI's."""
    proc = subprocess.run([cli_path(), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode == 0:
        return proc
    msg = proc.stderr.strip().splitlines()
    text = "\n".join(line for line in msg if line.strip()) or proc.stdout.strip() or "(no message)"
    last = msg[-1] if msg else ""
    body = last[len("lowrank: error: "):] if last.startswith("lowrank: error: ") else \
        last[len("lowrank: "):] if last.startswith("lowrank: ") else last
    cmd = f"lowrank {args[0]}"
    if proc.returncode < 0:
        raise Error(f"{cmd} was killed by signal {-proc.returncode}: {text}")
    if proc.returncode == 2 or proc.returncode >= 100:  # usage_error; CLI11 parse errors use 100+
        cls = InfeasibleBudgetError if "cannot be met" in last else InvalidArgumentError
        raise cls(last or text)
    m = _IO_MSG.match(body)
    if m:
        p = m.group("path")
        if any(os.path.abspath(p) == os.path.abspath(i) for i in inputs):
            raise _file_error(body, p, int(m.group("off")) if m.group("off") else None)
    raise Error(f"{cmd} failed (exit {proc.returncode}): {body or text}")


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _manifest_path(out: str, is_dir: bool) -> str:
    if is_dir:
        return os.path.join(out, "lowrank_manifest.json")
    for ext in (".safetensors", ".gguf"):
        if out.endswith(ext):
            out = out[: -len(ext)]
    return out + ".manifest.json"


def compress(model: PathLike, keep: float, *, out: PathLike, method: str = "svd-llm", alloc: str = "uniform",
             calib: Optional[PathLike] = None, calib_text: Optional[PathLike] = None, windows: int = 64,
             context: int = 512, seed: int = 0, keep_dense: Optional[str] = None, fold: bool = False,
             fold_dtype: str = "f32", threads: Optional[int] = None) -> Dict[str, Any]:
    """Low-rank compression of a Llama-family model to a kept fraction ``keep`` of its linear-layer
    parameters — `lowrank compress` run in a child process (see the module docstring for why).

    Args:
        model: dense model: GGUF, .safetensors or Hugging Face directory.
        keep: K ∈ (0, 1], the fraction of the q/k/v/o/gate/up/down parameters kept (factor
            parameters counted; a weight above its break-even rank stays dense).
        out: output factorised .safetensors (with fold=True: the dense reconstruction in the
            model's own format). Written atomically; never an input.
        method: "plain" (truncated SVD), "asvd", "svd-llm" (whitened SVD; needs statistics) or
            any other method `lowrank compress --help` lists (e.g. "struct"; the CLI checks it).
        alloc: "uniform" (SVD-LLM's r = ⌊K·mn/(m+n)⌋) or "global" (exact DP over the normalised
            whitened loss curves).
        calib: statistics from :func:`calibrate`; or calib_text: a UTF-8 text to calibrate on
            first (windows × context tokens, seed) — not both.
        keep_dense: regular expression over tensor names that stay dense (counted in K).
        fold, fold_dtype: write the dense reconstruction ("f32" or "f16" for GGUF).
        threads: worker threads (default: all cores).

    Returns:
        The CLI's JSON summary (model, out, method, alloc, keep_target, keep_achieved,
        linear_parameters, parameters, weights_factorised, mean_whitened_rel_error,
        mean_plain_rel_error, seconds, peak_rss_mb) plus ``manifest_path`` and ``manifest`` (the
        parsed manifest written beside the output: per-weight ranks and errors, totals).

    Raises:
        InvalidArgumentError (bad keep/method/alloc, missing statistics, an infeasible budget,
        a model the CLI refuses — the CLI's message); FileError (OSError: a missing input or
        output directory, an unreadable/corrupt model or statistics file; .path, .offset);
        Error (anything else the CLI reports).

    Example:
        >>> s = lowrank.compress("model.gguf", keep=0.6, calib_text="calib.txt", out="m.lowrank.safetensors")
        >>> s["keep_achieved"], s["manifest"]["compress"]["weights_factorised"]
    """
    model = _path(model, "model")
    out = _path(out, "out")
    if isinstance(keep, bool) or not isinstance(keep, numbers.Real) or not (0 < float(keep) <= 1) \
            or not math.isfinite(float(keep)):
        raise InvalidArgumentError(f"compress: keep must be in (0, 1] (the fraction of linear-layer parameters "
                                   f"kept), got {keep!r}")
    # method / alloc / fold_dtype: the CLI is the authority on the values (its usage error lists
    # them; `lowrank compress --help`), so a new CLI method needs no change here.
    for name, v in (("method", method), ("alloc", alloc), ("fold_dtype", fold_dtype)):
        if not isinstance(v, str) or not v or v.startswith("-"):
            raise InvalidArgumentError(f"compress: {name} must be a name (str), got {v!r}")
    if calib is not None and calib_text is not None:
        raise InvalidArgumentError("compress: give calib or calib_text, not both")
    _require_file(model, "model")
    _require_out(out, "out")
    inputs = [model]
    args = ["compress", model, "--keep", repr(float(keep)), "--method", method, "--alloc", alloc, "--out", out,
            "--quiet"]
    if calib is not None:
        calib = _path(calib, "calib")
        _require_file(calib, "calib")
        inputs.append(calib)
        args += ["--calib", calib]
    if calib_text is not None:
        calib_text = _path(calib_text, "calib_text")
        _require_file(calib_text, "calib_text")
        inputs.append(calib_text)
        args += ["--calib-text", calib_text, "--windows", str(_count(windows, "windows", 1)),
                 "--context", str(_count(context, "context", 1)), "--seed", str(_count(seed, "seed", 0))]
    if keep_dense is not None:
        if not isinstance(keep_dense, str):
            raise TypeError(f"keep_dense must be a regular expression (str), got {type(keep_dense).__name__}")
        args += ["--keep-dense", keep_dense]
    if fold:
        args += ["--fold", "--fold-dtype", fold_dtype]
    if threads is not None:
        args += ["--threads", str(_count(threads, "threads", 1))]
    fd, summary_path = tempfile.mkstemp(prefix=".lowrank-summary-", suffix=".json",
                                        dir=os.path.dirname(os.path.abspath(out)))
    os.close(fd)
    try:
        _run(args + ["--json", summary_path], inputs)
        summary = _read_json(summary_path)
    finally:
        try:
            os.remove(summary_path)
        except OSError:
            pass
    mpath = _manifest_path(out, bool(fold) and os.path.isdir(model))
    summary["manifest_path"] = os.path.abspath(mpath)
    summary["manifest"] = _read_json(mpath)
    return summary


def _stats_metadata(path: str) -> Dict[str, Any]:
    """The provenance a calibration statistics file records (safetensors __metadata__
    "lowrank.stats", compress/stats_file.hpp)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise _file_error(f"{path}: too short for a safetensors header", path, 0)
        (n,) = struct.unpack("<Q", head)
        header = json.loads(f.read(n))
    md = header.get("__metadata__", {})
    return json.loads(md["lowrank.stats"])


def calibrate(model: PathLike, text: PathLike, *, out: PathLike, windows: int = 64, context: int = 512,
              seed: int = 0, source: Optional[PathLike] = None, threads: Optional[int] = None) -> Dict[str, Any]:
    """Calibration statistics (the Gram Σ x xᵀ, Σ|x| and token count of every linear input of
    every block) of ``model`` over ``windows`` windows of ``context`` tokens of ``text`` —
    `lowrank calibrate` run in a child process (see the module docstring). The output feeds
    ``compress(..., calib=out)``.

    Args:
        model: Llama-family GGUF, Hugging Face directory, or a lowrank factorised file (then
            ``source`` may name its dense source; default: the path its manifest records).
        text: UTF-8 calibration text (must give at least one window).
        out: output STATS.safetensors, written atomically.
        windows, context, seed: windows at uniform random starts drawn from mt19937_64(seed).
        threads: forward threads (CLI default 2).

    Returns:
        {"out": absolute path, "stats": the provenance recorded in the file (model_sha256,
        text_sha256, windows, context, seed, mode, extra, inputs: [{name, channels, two_stream}])}.

    Raises:
        InvalidArgumentError (bad numbers, text too short for a window, a model the CLI refuses);
        FileError (missing files, an unreadable model); Error (anything else the CLI reports).

    Example:
        >>> lowrank.calibrate("model.gguf", text="calib.txt", out="stats.safetensors", windows=16, context=256)
    """
    model = _path(model, "model")
    text = _path(text, "text")
    out = _path(out, "out")
    _require_file(model, "model")
    _require_file(text, "text")
    _require_out(out, "out")
    inputs = [model, text]
    args = ["calibrate", model, "--text", text, "--out", out, "--windows", str(_count(windows, "windows", 1)),
            "--context", str(_count(context, "context", 1)), "--seed", str(_count(seed, "seed", 0)), "--quiet"]
    if source is not None:
        source = _path(source, "source")
        _require_file(source, "source")
        inputs.append(source)
        args += ["--source", source]
    if threads is not None:
        args += ["--threads", str(_count(threads, "threads", 1))]
    _run(args, inputs)
    return {"out": os.path.abspath(out), "stats": _stats_metadata(out)}

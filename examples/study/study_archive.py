"""A study's archive: the small files of its cache — the record of what is done — kept where they
can be committed.

A study that takes many sittings (studies/paper.json: tens of hours on 2 cores) keeps its cache
outside the checkout like every study, so a fresh clone on another machine would start over. With
`"archive": DIR` in the study description the driver

  - seeds the cache from DIR before it plans anything (`seed`: only files the cache lacks; a file
    the cache has is never overwritten — a key names one computation, so both copies mean the same);
  - copies into DIR every point it computes, as soon as it is computed (`save_point`: samples and
    log first, the point file — the "done" mark — last, each written under a temporary name and
    renamed, so an interrupted copy never leaves a point without its samples), and the plans and
    γs it made (`save_new`);

so committing DIR commits the progress, and the same command on any machine continues from it.
The large files — calib/ (calibration statistics) and compressed/ (compressed models), gigabytes —
stay out of the archive: a calibrate / compress point whose file is missing is recomputed only when
an evaluation still to compute needs it (lowrank_study.points_to_compute).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

SMALL = ("samples", "logs", "plans", "gammas", "points")  # what an archive keeps; points last (the "done" marks)


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial.archive")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _is_result(p: Path) -> bool:
    """A file under a final name: not a temporary (`*.partial.*`) nor hidden (an interrupted copy)."""
    return p.is_file() and not p.name.startswith(".") and ".partial." not in p.name


def _copy_missing(src: Path, dest: Path, subs) -> int:
    """Copies the results in src/SUB that dest/SUB lacks, for each SUB in order; returns how many."""
    n = 0
    for sub in subs:
        if not (src / sub).is_dir():
            continue
        for p in sorted((src / sub).iterdir()):
            if _is_result(p) and not (dest / sub / p.name).exists():
                _copy_atomic(p, dest / sub / p.name)
                n += 1
    return n


def seed(archive: Path, cache: Path) -> int:
    """Copies the archive's files that the cache lacks into the cache; returns how many."""
    return _copy_missing(archive, cache, SMALL)


def save_point(archive: Path, spec: dict) -> None:
    """Copies a computed point (study_exec spec: "point", "samples", "log" in the cache) into the archive."""
    for kind, sub in (("samples", "samples"), ("log", "logs"), ("point", "points")):
        src = Path(spec[kind])
        if src.exists():
            _copy_atomic(src, archive / sub / src.name)


def save_new(archive: Path, cache: Path, subs=("plans", "gammas")) -> int:
    """Copies the files of cache/SUB the archive lacks (the plans and γs a run made); returns how many."""
    return _copy_missing(cache, archive, subs)

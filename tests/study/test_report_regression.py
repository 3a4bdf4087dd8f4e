"""The committed reports — docs/study/ (the paper-scale run) and docs/study/default/ (the default
study) — are what study_report.make_all writes from their own results.

Regenerates README.md, findings.csv and the figures' CSVs (no PNGs) from a copy of a report's
{index.json, runs.json, results/, NOTES.md} and compares them byte for byte with the committed
files: a change to the report code that changes a report must regenerate it
(`python3 examples/study/lowrank_study.py plot --paper --out docs/study`, `... plot --out
docs/study/default`), and a refactoring of the report code must not change it."""
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REPORTS = [REPO / "docs" / "study", REPO / "docs" / "study" / "default"]
sys.path.insert(0, str(REPO / "examples" / "study"))
import study_report  # noqa: E402


@pytest.mark.parametrize("DOCS", REPORTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_committed_report_regenerates_identically(tmp_path, DOCS):
    out = tmp_path / "study"
    out.mkdir()
    for f in ("index.json", "runs.json", "NOTES.md"):
        if (DOCS / f).exists():
            shutil.copyfile(DOCS / f, out / f)
    shutil.copytree(DOCS / "results", out / "results")
    study_report.make_all(out, draw=False)
    for f in ("README.md", "findings.csv"):
        assert (out / f).read_text() == (DOCS / f).read_text(), f"{DOCS.relative_to(REPO)}/{f} differs from the regenerated one"
    got = sorted(p.name for p in (out / "figures").glob("*.csv"))
    assert got == sorted(p.name for p in (DOCS / "figures").glob("*.csv"))
    for name in got:
        assert (out / "figures" / name).read_text() == (DOCS / "figures" / name).read_text(), name

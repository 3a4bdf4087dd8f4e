"""The committed report docs/study/ is what study_report.make_all writes from its own results.

Regenerates README.md, findings.csv and the figures' CSVs (no PNGs) from a copy of
docs/study/{index.json, runs.json, results/, NOTES.md} and compares them byte for byte with the
committed files: a change to the report code that changes the report must regenerate it
(`python3 examples/study/lowrank_study.py plot --out docs/study`), and a refactoring of the report
code must not change it."""
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "study"
sys.path.insert(0, str(REPO / "examples" / "study"))
import study_report  # noqa: E402


def test_committed_report_regenerates_identically(tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    for f in ("index.json", "runs.json", "NOTES.md"):
        if (DOCS / f).exists():
            shutil.copyfile(DOCS / f, out / f)
    shutil.copytree(DOCS / "results", out / "results")
    study_report.make_all(out, draw=False)
    for f in ("README.md", "findings.csv"):
        assert (out / f).read_text() == (DOCS / f).read_text(), f"docs/study/{f} differs from the regenerated one"
    got = sorted(p.name for p in (out / "figures").glob("*.csv"))
    assert got == sorted(p.name for p in (DOCS / "figures").glob("*.csv"))
    for name in got:
        assert (out / "figures" / name).read_text() == (DOCS / "figures" / name).read_text(), name

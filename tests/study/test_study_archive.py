"""study_archive.py: the archive a long study commits (seed a cache from it, copy computed points
into it). Constructed directories; checks what is copied, what is never overwritten, and that
temporary or hidden files are not taken for results."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "study"))
import study_archive as A  # noqa: E402


def write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_seed_copies_what_the_cache_lacks_and_never_overwrites(tmp_path):
    archive, cache = tmp_path / "archive", tmp_path / "cache"
    write(archive / "points" / "k1.json", "archived k1")
    write(archive / "points" / "k2.json", "archived k2")
    write(archive / "samples" / "k1.jsonl.gz", "s1")
    write(archive / "plans" / "p.json", "plan")
    write(archive / "points" / "k3.json.partial.host.1.x", "half")  # an interrupted run's temporary
    write(archive / "points" / ".k4.json.partial.archive", "half")  # an interrupted copy
    write(archive / "calib" / "big.stats.safetensors", "never archived, never seeded")
    write(cache / "points" / "k2.json", "cached k2")
    assert A.seed(archive, cache) == 3  # k1, its samples, the plan (k2 is there already)
    assert (cache / "points" / "k1.json").read_text() == "archived k1"
    assert (cache / "points" / "k2.json").read_text() == "cached k2"
    assert (cache / "samples" / "k1.jsonl.gz").read_text() == "s1"
    assert (cache / "plans" / "p.json").read_text() == "plan"
    assert not (cache / "calib").exists() and not list((cache / "points").glob("*partial*"))
    assert A.seed(archive, cache) == 0  # idempotent


def test_seed_of_a_missing_archive_copies_nothing(tmp_path):
    assert A.seed(tmp_path / "none", tmp_path / "cache") == 0


def test_save_point_copies_samples_log_and_point(tmp_path):
    archive, cache = tmp_path / "archive", tmp_path / "cache"
    spec = {"point": str(write(cache / "points" / "k.json", "point")),
            "samples": str(write(cache / "samples" / "k.jsonl.gz", "samples")),
            "log": str(write(cache / "logs" / "k.log", "log"))}
    A.save_point(archive, spec)
    assert (archive / "points" / "k.json").read_text() == "point"
    assert (archive / "samples" / "k.jsonl.gz").read_text() == "samples"
    assert (archive / "logs" / "k.log").read_text() == "log"
    # a point without per-document outputs (calibrate / compress / decompose): the point and its log
    spec2 = {"point": str(write(cache / "points" / "c.json", "c")), "samples": str(cache / "samples" / "c.jsonl.gz"),
             "log": str(write(cache / "logs" / "c.log", "clog"))}
    A.save_point(archive, spec2)
    assert (archive / "points" / "c.json").exists() and not (archive / "samples" / "c.jsonl.gz").exists()
    assert not [p for p in archive.rglob("*") if "partial" in p.name]


def test_save_new_copies_only_new_plans_and_gammas(tmp_path):
    archive, cache = tmp_path / "archive", tmp_path / "cache"
    write(cache / "plans" / "a.json", "a")
    write(cache / "gammas" / "g.json", "g")
    write(cache / "gammas" / "h.json.partial.x", "half")
    write(archive / "plans" / "a.json", "a (archived)")
    assert A.save_new(archive, cache) == 1
    assert (archive / "gammas" / "g.json").read_text() == "g"
    assert (archive / "plans" / "a.json").read_text() == "a (archived)"
    assert not (archive / "gammas" / "h.json.partial.x").exists()

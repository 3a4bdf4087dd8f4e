"""study_exec.run_point and the local executor, against a fake `lowrank` (a Python script that
writes what `lowrank eval` writes: --json and --samples-out files), no CLI build and no Ray.

Properties: a point appears under its final name only complete (the samples first, then the
point); a finished point is not recomputed; a failing command leaves no file under a final name
and no temporary file; a binary that is not the driver's build is refused; concurrent attempts
at one point (threads) publish one complete point; the local executor runs every spec (serially
and with jobs > 1) and reports failures as results; `gpus` follows `--device cuda`."""
import gzip
import hashlib
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "study"))
import study_exec  # noqa: E402

FAKE = """#!{python}
import json, sys, time, os
a = sys.argv[1:]
def opt(n):
    return a[a.index(n) + 1]
if os.environ.get("FAKE_FAIL"):
    print("fake failure", file=sys.stderr); sys.exit(3)
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
res = {{"tasks": {{"arc_easy": {{"samples": 2, "metrics": {{"acc": {{"value": 0.5}}, "acc_norm": {{"value": 0.5}}}}}}}}, "gamma": None,
       "model": {{"parameters": 10, "parameters_dense": 10}}}}
with open(opt("--samples-out"), "w") as f:
    for i, (gold, pred) in enumerate([(0, 0), (1, 0)]):
        f.write(json.dumps({{"task": "arc_easy", "doc_index": i, "id": str(i), "gold": gold, "pred": pred,
                            "pred_norm": pred, "loglik": [-1.0, -2.0]}}) + "\\n")
with open(opt("--json"), "w") as f:
    json.dump(res, f)
"""


@pytest.fixture
def fake(tmp_path):
    p = tmp_path / "lowrank"
    p.write_text(FAKE.format(python=sys.executable))
    p.chmod(0o755)
    return p


def spec(tmp_path, fake, key="k" * 64):
    cache = tmp_path / "cache"
    return {"key": key, "kind": "eval", "label": "fake point", "cwd": str(tmp_path),
            "lowrank": str(fake), "lowrank_sha256": hashlib.sha256(fake.read_bytes()).hexdigest(),
            "argv": ["eval", "M", "--tasks", "arc_easy", "--json", "{json_out}", "--samples-out", "{samples_out}"],
            "point": str(cache / "points" / f"{key}.json"), "samples": str(cache / "samples" / f"{key}.jsonl.gz"),
            "log": str(cache / "logs" / f"{key}.log"), "work": str(cache / "decompose"), "cpus": 1, "gpus": 0,
            "study_point": {"key": key, "gamma_id": "dense", "profile": "p", "model_id": "m",
                            "params_after": 10, "params_total": 10}}


def leftovers(tmp_path):
    return sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "cache").rglob("*") if ".partial." in p.name
                  or ".tmp." in p.name)


def test_point_published_complete_once(tmp_path, fake):
    s = spec(tmp_path, fake)
    r = study_exec.run_point(s)
    assert r["status"] == "computed" and r["key"] == s["key"]
    res = json.loads(Path(s["point"]).read_text())
    # per-unit bits from the samples (acc: doc 0 right, doc 1 wrong), the build recorded
    assert res["study_point"]["per_unit"]["arc_easy"]["metrics"]["acc"] == "10"
    assert res["study_point"]["cli_sha256"] == s["lowrank_sha256"]
    lines = [json.loads(x) for x in gzip.open(s["samples"], "rt")]
    assert [d["doc_index"] for d in lines] == [0, 1]
    assert leftovers(tmp_path) == []
    mtime = Path(s["point"]).stat().st_mtime_ns
    assert study_exec.run_point(s)["status"] == "cached"  # the cache is the record: not recomputed
    assert Path(s["point"]).stat().st_mtime_ns == mtime


def test_failure_leaves_nothing_under_final_names(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    s = spec(tmp_path, fake)
    with pytest.raises(study_exec.PointError, match="exited 3"):
        study_exec.run_point(s)
    assert not Path(s["point"]).exists() and not Path(s["samples"]).exists()
    assert "fake failure" in Path(s["log"]).read_text()  # the log is kept for the user
    assert leftovers(tmp_path) == []


def test_mixed_build_refused(tmp_path, fake):
    s = spec(tmp_path, fake)
    s["lowrank_sha256"] = "0" * 64
    with pytest.raises(study_exec.MixedBuildError, match="not the driver's lowrank build"):
        study_exec.run_point(s)
    assert not Path(s["point"]).exists()
    ex = study_exec.LocalExecutor(1)
    with pytest.raises(study_exec.MixedBuildError):  # aborts the run instead of failing point by point
        list(ex.run([s]))


def test_concurrent_attempts_publish_one_complete_point(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("FAKE_SLEEP", "0.3")
    s = spec(tmp_path, fake)
    out = []
    ts = [threading.Thread(target=lambda: out.append(study_exec.run_point(s))) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(out) == 3 and all(o["status"] in ("computed", "cached") for o in out)
    json.loads(Path(s["point"]).read_text())
    assert sorted(p.name for p in (tmp_path / "cache" / "points").iterdir()) == [f"{s['key']}.json"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("jobs", [1, 3])
def test_local_executor_runs_every_spec(tmp_path, fake, jobs):
    specs = [spec(tmp_path, fake, key=f"{i:064d}") for i in range(4)]
    bad = dict(specs[-1], lowrank=str(tmp_path / "missing"))  # fails at its own point only
    bad["lowrank_sha256"] = specs[-1]["lowrank_sha256"]
    got = dict()
    for s, r in study_exec.LocalExecutor(jobs).run(specs[:3] + [bad]):
        got[s["key"]] = r
    assert sorted(got) == sorted(s["key"] for s in specs)
    assert all(got[s["key"]]["status"] == "computed" for s in specs[:3])
    assert isinstance(got[bad["key"]], OSError)


def test_make_executor_arguments():
    assert isinstance(study_exec.make_executor("local"), study_exec.LocalExecutor)
    with pytest.raises(SystemExit, match="--address is for --executor ray"):
        study_exec.make_executor("local", address="1.2.3.4:6379")
    with pytest.raises(SystemExit, match="at least 1"):
        study_exec.make_executor("local", jobs=0)
    with pytest.raises(SystemExit, match="--jobs is for --executor local"):
        study_exec.make_executor("ray", jobs=2)


def test_run_must_match_the_plan(tmp_path, fake):
    """check_run: the run's γ id and removed parameters must be `lowrank plan`'s; a mismatch (or a
    result without the parameter fields) is a failed point, not a silently patched one."""
    s = spec(tmp_path, fake)
    ok = {"gamma": None, "model": {"parameters": 10, "parameters_dense": 10}}
    study_exec.check_run(s, ok)
    planned = dict(s, study_point=dict(s["study_point"], gamma_id="g-0123456789abcdef", params_after=7))
    study_exec.check_run(planned, {"gamma": {"id": "g-0123456789abcdef"}, "model": {"parameters": 6, "parameters_dense": 9}})
    bad = [(planned, {"gamma": {"id": "unknown"}, "model": {"parameters": 6, "parameters_dense": 9}}, "γ id"),
           (planned, {"gamma": {"id": "g-0123456789abcdef"}, "model": {"parameters": 7, "parameters_dense": 9}}, "removed 2"),
           (s, {"gamma": {"id": "g-0123456789abcdef"}, "model": ok["model"]}, "γ id"),
           (s, {"gamma": None, "model": {"parameters": None, "parameters_dense": 10}}, "too old")]
    for sp, res, what in bad:
        with pytest.raises(study_exec.PointError, match=what):
            study_exec.check_run(sp, res)

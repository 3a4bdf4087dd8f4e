"""study_methods.py and the variant points of lowrank_study.py, without the CLI: the --keep that
gives compress exactly the planned linear budget, and cache keys of plain points unchanged by the
variant fields (an existing cache stays valid). The CLI side (compress's recorded budget, the
evaluated parameter counts, --skip-layers) is checked end to end by run_tiny_study.py."""
import hashlib
import json
import math
import random
import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "study"))
import lowrank_study as L  # noqa: E402
import study_exec  # noqa: E402
import study_methods as M  # noqa: E402


def test_keep_gives_the_budget_exactly():
    # compress computes budget = floor(K * double(L)) (cmd_compress.cpp, structured_plan.hpp); Python
    # floats are the same IEEE doubles, and repr() round-trips, so this is the CLI's arithmetic.
    rng = random.Random(3)
    cases = [(106168320, b) for b in (1, 2, 106168319, 106168320, 79838208, 12345678)]
    cases += [(L_, rng.randint(1, L_)) for L_ in (rng.randint(2, 10 ** 11) for _ in range(20000))]
    for lin, b in cases:
        k = M.keep_for_budget(lin, b)
        assert 0 < float(k) <= 1
        assert math.floor(float(k) * float(lin)) == b, (lin, b, k)
    for bad in (0, -1, 106168321):
        with pytest.raises(ValueError):
            M.keep_for_budget(106168320, bad)


def test_skip_id():
    assert M.skip_id([9, 3, 5]) == "skip-L3-5-9"


class FakeRunner:
    """What Point needs of a Runner: profile(), hashes(), cache, point_key()."""

    point_key = L.Runner.point_key

    def __init__(self, tmp):
        self.cache = Path(tmp)
        self.data_dir = str(tmp)
        self.threads = 1

    def profile(self, model, name):
        return {"args": {"tasks": ["ppl:austen"], "limit": 0}, "files": {"austen.heldout.txt": Path(self.data_dir) / "x"},
                "task_argv": {}}

    def hashes(self, path):
        return "ab" * 32


def test_plain_point_keys_are_unchanged(tmp_path):
    # the version-2 key: sha256 of the canonical {"driver", "kind", "model_sha256", "gamma", "eval", "data"}
    # (+ "round"); the variant fields appear only on variant points
    model = types.SimpleNamespace(sha256="cd" * 32, id="m")
    r = FakeRunner(tmp_path)
    gamma = {"layers": [3], "method": "tucker2"}
    for g, rnd in ((None, 0), (gamma, 0), (gamma, 2)):
        pt = L.Point(model, g, "p", r, rnd=rnd)
        key = {"driver": 2, "kind": "eval", "model_sha256": model.sha256, "gamma": g,
               "eval": {"tasks": ["ppl:austen"], "limit": 0}, "data": {"austen.heldout.txt": "ab" * 32}}
        if rnd:
            key["round"] = rnd
        want = hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
        assert pt.key == want
    skip = L.Point(model, None, "p", r, skip=[5, 3])
    assert skip.skip == [3, 5] and skip.key not in {L.Point(model, None, "p", r).key}
    with pytest.raises(ValueError):
        L.Point(model, gamma, "p", r, skip=[3])  # a removal is an evaluation without γ


def test_check_compress_refuses_another_budget():
    spec = {"label": "x", "compress": {"linear_budget": 100, "linear_total": 1000, "params_total": 1500}}
    good = ({"linear_parameters": {"before": 1000, "after": 98}, "parameters": {"before": 1500, "after": 598}},
            {"compress": {"linear_budget": 100}})
    study_exec.check_compress(spec, *good)
    for summary, man in (
            (good[0], {"compress": {"linear_budget": 99}}),
            ({**good[0], "linear_parameters": {"before": 999, "after": 98}}, good[1]),
            ({**good[0], "parameters": {"before": 1400, "after": 598}}, good[1]),
            ({**good[0], "linear_parameters": {"before": 1000, "after": 101}}, good[1])):
        with pytest.raises(study_exec.PointError):
            study_exec.check_compress(spec, summary, man)

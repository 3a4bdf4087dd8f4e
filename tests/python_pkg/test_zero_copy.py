"""Zero-copy claims of docs/python.md, checked by behaviour:
  - inputs are read in place: the peak memory of a process that multiplies a large C- or
    Fortran-ordered tensor by a one-row matrix grows by far less than one copy of the tensor;
  - results are handed over without a copy: numpy arrays that do not own their data (a
    capsule holding the library's buffer does), writeable, and for Fortran-ordered input the
    Fortran-ordered views described there (u/vt of a Fortran matrix are views of one buffer each).
Also: the GIL is released while the library computes."""
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import lowrank

PEAK_SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import lowrank
    order = sys.argv[1]
    x = np.ones((64, 64, 1024), order=order)           # 32 MiB of float64, pages touched
    m = np.ones((1, 64))
    lowrank.mode_product(x[:4].copy(order=order), m, 1)  # warm up: BLAS buffers, lazy loading
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    y = lowrank.mode_product(x, m, 1)                  # result: 1/64 of x
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert y.shape == (64, 1, 1024) and float(y[3, 0, 5]) == 64.0
    print((after - before) / 1024.0)                   # MiB
""")


@pytest.mark.parametrize("order", ["C", "F"])
def test_inputs_are_read_in_place(order):
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, order], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    grew_mib = float(out.stdout.strip())
    # One copy of x would add 32 MiB; the result adds 0.5 MiB.
    assert grew_mib < 8.0, f"peak memory grew by {grew_mib:.1f} MiB: the input was copied"


def test_results_are_not_copied(rng):
    res = lowrank.svd(rng.standard_normal((30, 20)), rank=5)
    for a in (res.u, res.s, res.vt, res.spectrum):
        assert isinstance(a, np.ndarray)
        assert not a.flags.owndata and a.flags.writeable     # the library's buffer, owned by a capsule
    core, factors = lowrank.tucker(rng.standard_normal((5, 6, 7)), ranks=2)
    assert not core.flags.owndata and all(not f.flags.owndata for f in factors)


def test_fortran_results_are_views_of_one_buffer(rng):
    a = np.asfortranarray(rng.standard_normal((30, 20)))
    res = lowrank.svd(a, rank=5)
    assert res.u.flags.f_contiguous and not res.u.flags.c_contiguous
    assert res.u.T.flags.c_contiguous                        # u is the transpose of a C buffer (vt of aᵀ)
    assert not np.shares_memory(res.u, res.vt)
    assert not np.shares_memory(res.u, a) and not np.shares_memory(res.vt, a)


def test_gil_is_released_during_compute(rng):
    # While another thread runs a long SVD, this thread keeps running Python code: the longest
    # pause it sees is a small fraction of the call. With the GIL held for the call, the pause
    # would be the whole call.
    a = rng.standard_normal((700, 700))
    lowrank.svd(np.ascontiguousarray(a[:50, :50]), rank=2)
    span = {}

    def work():
        span["t0"] = time.perf_counter()
        lowrank.svd(a, rank=10, method="exact")
        span["t1"] = time.perf_counter()

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    inside = [x for x in ticks if span["t0"] <= x <= span["t1"]]
    duration = span["t1"] - span["t0"]
    assert duration > 0.05, "the SVD was too fast to tell"
    points = [span["t0"], *inside, span["t1"]]
    longest_pause = max(b - a for a, b in zip(points, points[1:]))
    assert longest_pause < 0.5 * duration, f"longest pause {longest_pause:.3f} s of a {duration:.3f} s call"


def test_concurrent_calls_match_serial_ones(rng):
    # With the GIL released, calls from several threads run at once; each makes its own backend
    # context, so the results equal those of the same calls made one after another.
    from concurrent.futures import ThreadPoolExecutor

    inputs = [rng.standard_normal((120, 80)) for _ in range(6)]
    serial = [lowrank.svd(a, rank=5, method=m) for a, m in zip(inputs, ["exact", "gram", "randomized"] * 2)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(lambda am: lowrank.svd(am[0], rank=5, method=am[1]),
                                 zip(inputs, ["exact", "gram", "randomized"] * 2)))
    for s, p in zip(serial, parallel):
        np.testing.assert_array_equal(s.u, p.u)
        np.testing.assert_array_equal(s.s, p.s)

"""Python side of the peer comparison: times numpy / SciPy / scikit-learn / TensorLy.

Runs inside the benchmark venv (numpy, scipy, scikit-learn, tensorly, threadpoolctl) as a
long-lived process driven by run_peers.py: one JSON job per line on stdin, one JSON result per
line on stdout. Each timed job loads its inputs first (untimed), runs `warmup` untimed calls,
then `repetitions` timed calls of the peer function alone (time.perf_counter around the call),
and reports the accuracy reached, computed afterwards in float64 — the same protocol as
lowrank_peer.cpp. Also generates the synthetic inputs (so both sides read identical .npy files)
and reports the BLAS numpy runs on (threadpoolctl).

The impls named lowrankpy_* time the `lowrank` Python package (the same library through its
nanobind bindings, compute_error off like lowrank_peer) in this process: beside lowrank_peer's
C++ times they measure the cost of calling the library from Python.
"""
import json
import os
import platform
import sys
import time

import numpy as np

_cache = {}


def load(path):
    """np.load with a one-entry cache (the big inputs are reused by consecutive jobs)."""
    if path not in _cache:
        _cache.clear()
        _cache[path] = np.load(path)
    return _cache[path]


def timed(job, fn):
    for _ in range(job.get("warmup", 0)):
        fn()
    secs, out = [], None
    for _ in range(job.get("repetitions", 1)):
        t0 = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t0)
    return secs, out


def svd_residual(a, u, s, vt):
    a64 = np.asarray(a, dtype=np.float64)
    r = a64 - (np.asarray(u, np.float64) * np.asarray(s, np.float64)) @ np.asarray(vt, np.float64)
    return float(np.linalg.norm(r) / np.linalg.norm(a64))


# --------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------
def svd_peer(impl, a, r, job):
    if impl.startswith("lowrankpy_"):
        import lowrank

        method = impl.split("_", 1)[1]

        def fn():
            res = lowrank.svd(a, rank=r, method=method, oversample=job.get("oversampling", 10),
                              power_iters=job.get("power_iterations", 2), seed=job.get("seed", 0),
                              compute_error=False)
            return res.u, res.s, res.vt
    elif impl == "numpy_svd":
        def fn():
            u, s, vt = np.linalg.svd(a, full_matrices=False)
            return u[:, :r], s[:r], vt[:r]
    elif impl == "scipy_gesdd":
        import scipy.linalg

        def fn():
            u, s, vt = scipy.linalg.svd(a, full_matrices=False, lapack_driver="gesdd", check_finite=False)
            return u[:, :r], s[:r], vt[:r]
    elif impl == "tensorly_svd":
        from tensorly.tenalg import svd_interface

        def fn():
            return svd_interface(a, method="truncated_svd", n_eigenvecs=r)
    elif impl in ("sklearn_randomized", "sklearn_randomized_qr"):
        # sklearn's default normaliser ('auto') is 'none' for n_iter <= 2: no re-orthonormalisation
        # between power iterations. The _qr variant re-orthonormalises with QR, as ours does.
        from sklearn.utils.extmath import randomized_svd

        norm = "QR" if impl.endswith("_qr") else "auto"

        def fn():
            return randomized_svd(a, r, n_oversamples=job.get("oversampling", 10),
                                  n_iter=job.get("power_iterations", 2), power_iteration_normalizer=norm,
                                  random_state=job.get("seed", 0))
    elif impl == "tensorly_randomized":
        from tensorly.tenalg import svd_interface

        def fn():
            return svd_interface(a, method="randomized_svd", n_eigenvecs=r,
                                 n_oversamples=job.get("oversampling", 10), n_iter=job.get("power_iterations", 2),
                                 random_state=job.get("seed", 0))
    else:
        raise ValueError(f"unknown svd peer {impl!r}")
    return fn


def run_svd(job):
    a = load(job["input"])
    r = job["rank"]
    secs, (u, s, vt) = timed(job, svd_peer(job["impl"], a, r, job))
    return {"seconds": secs, "rel_error": svd_residual(a, u, s, vt), "rank": int(len(s))}


def run_tucker(job):
    import tensorly as tl
    from tensorly.decomposition import partial_tucker, tucker

    x = load(job["input"])
    ranks = list(job["ranks"])
    iters, tol = job.get("iterations", 5), job.get("tol", 0.0)
    if job["impl"].startswith("lowrankpy_"):
        import lowrank

        method = job["impl"].split("_", 1)[1]

        def fn():
            t = lowrank.tucker(x, ranks=ranks, method=method, max_iter=iters, tol=tol, compute_error=False)
            return t.core, t.factors, list(range(x.ndim))
    elif job["impl"] == "tensorly_tucker":
        def fn():
            t = tucker(x, rank=ranks, n_iter_max=iters, tol=tol, init="svd")
            return t.core, t.factors, list(range(x.ndim))
    elif job["impl"] == "tensorly_partial_tucker":
        modes = [m for m in range(x.ndim) if ranks[m] < x.shape[m]]

        def fn():
            (core, factors), _ = partial_tucker(x, rank=[ranks[m] for m in modes], modes=modes,
                                                n_iter_max=iters, tol=tol, init="svd")
            return core, factors, modes
    else:
        raise ValueError(f"unknown tucker peer {job['impl']!r}")
    secs, (core, factors, modes) = timed(job, fn)
    xhat = tl.tenalg.multi_mode_dot(np.asarray(core, np.float64), [np.asarray(f, np.float64) for f in factors],
                                    modes=modes)
    x64 = np.asarray(x, np.float64)
    return {"seconds": secs, "rel_error": float(np.linalg.norm(x64 - xhat) / np.linalg.norm(x64))}


def run_mode_product(job):
    x = load(job["input"])
    a = np.load(job["matrix"])
    mode = job["mode"]
    if job["impl"] == "lowrankpy":
        import lowrank

        def fn():
            return lowrank.mode_product(x, a, mode)
    elif job["impl"] == "tensorly_mode_dot":
        from tensorly.tenalg import mode_dot

        def fn():
            return mode_dot(x, a, mode)
    elif job["impl"] == "numpy_tensordot":
        def fn():
            return np.moveaxis(np.tensordot(a, x, axes=([1], [mode])), 0, mode)
    else:
        raise ValueError(f"unknown mode-product peer {job['impl']!r}")
    secs, y = timed(job, fn)
    out = {"seconds": secs, "flops": 2.0 * a.shape[0] * x.size}
    if job.get("compare"):  # our output, saved by lowrank_peer: relative difference in float64
        ours = np.load(job["compare"]).astype(np.float64)
        y64 = np.asarray(y, np.float64)
        out["rel_diff"] = float(np.linalg.norm(ours - y64) / np.linalg.norm(y64))
    return out


def run_gemm(job):
    rng = np.random.default_rng(1)
    dt = np.dtype(job.get("dtype", "float32"))
    a = rng.standard_normal((job["m"], job["k"])).astype(dt)
    b = rng.standard_normal((job["k"], job["n"])).astype(dt)
    secs, _ = timed(job, lambda: a @ b)
    return {"seconds": secs, "flops": 2.0 * job["m"] * job["n"] * job["k"]}


def run_whole_model(job):
    ws = [np.load(p) for p in job["inputs"]]
    r = job["rank"]
    impl = job["impl"]
    fns = [svd_peer(impl, w, r, job) for w in ws]
    secs, res = timed(job, lambda: [f() for f in fns])
    return {"seconds": secs, "rel_errors": [svd_residual(w, *t) for w, t in zip(ws, res)], "matrices": len(ws)}


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def orthonormal(rng, m, k):
    q, r = np.linalg.qr(rng.standard_normal((m, k)))
    return q * np.sign(np.diag(r))


def spectrum(kind, k):
    i = np.arange(k, dtype=np.float64)
    if kind == "slow":  # σ_i = (1 + i)^(-1/2): the slow decay of trained weight matrices
        return 1.0 / np.sqrt(1.0 + i)
    if kind == "fast":
        return np.exp(-i / 8.0)
    raise ValueError(f"unknown spectrum {kind!r}")


def gen_matrix(job):
    """A = U diag(σ) Vᵀ with Haar-random orthonormal U, V: the singular values are known."""
    rng = np.random.default_rng(job.get("seed", 0))
    m, n = job["m"], job["n"]
    k = min(m, n)
    s = spectrum(job.get("spectrum", "slow"), k)
    u = orthonormal(rng, m, k)
    v = orthonormal(rng, n, k)
    a = (u * s) @ v.T
    for dt, path in job["outputs"].items():
        np.save(path, a.astype(dt))
    return {"sigma": s.tolist()}


def gen_tensor(job):
    """X = S ×_n Q_n: a Gaussian core scaled by d_i d_j d_k (d_i = (1+i)^-0.7), random rotations."""
    rng = np.random.default_rng(job.get("seed", 0))
    shape = job["shape"]
    x = rng.standard_normal(shape)
    for mode, size in enumerate(shape):
        d = (1.0 + np.arange(size)) ** -0.7
        x = x * d.reshape([-1 if i == mode else 1 for i in range(len(shape))])
    for mode, size in enumerate(shape):
        q = orthonormal(rng, size, size)
        x = np.moveaxis(np.tensordot(q, x, axes=([1], [mode])), 0, mode)
    for dt, path in job["outputs"].items():
        np.save(path, np.ascontiguousarray(x.astype(dt)))
    return {}


def gen_random(job):
    rng = np.random.default_rng(job.get("seed", 0))
    np.save(job["output"], rng.standard_normal(job["shape"]).astype(job.get("dtype", "float32")))
    return {}


def stack(job):
    """Stacks .npy matrices along a new first axis (SmolLM2: one role across all layers)."""
    x = np.stack([np.load(p) for p in job["inputs"]]).astype(job.get("dtype", "float32"))
    np.save(job["output"], x)
    return {"shape": list(x.shape)}


def singular_values(job):
    a = np.load(job["input"]).astype(np.float64)
    return {"sigma": np.linalg.svd(a, compute_uv=False).tolist()}


def lowrank_info():
    """The `lowrank` package this process imports, or why it cannot (lowrankpy_* impls)."""
    try:
        import lowrank

        return {"version": lowrank.__version__, "path": os.path.dirname(lowrank.__file__)}
    except Exception as e:  # reported; run_peers.py drops the lowrankpy column
        return {"error": f"{type(e).__name__}: {e}"}


def info(job):
    from threadpoolctl import threadpool_info

    import scipy
    import sklearn
    import tensorly

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                     "tensorly": tensorly.__version__},
        "threadpools": threadpool_info(),
        "lowrank": lowrank_info(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL_"))},
    }


HANDLERS = {
    "svd": run_svd, "tucker": run_tucker, "mode_product": run_mode_product, "gemm": run_gemm,
    "whole_model": run_whole_model, "gen_matrix": gen_matrix, "gen_tensor": gen_tensor,
    "gen_random": gen_random, "stack": stack, "singular_values": singular_values, "info": info,
}


def main():
    try:  # load lowrank's BLAS before the thread limits are applied, so they cover it too
        import lowrank  # noqa: F401
    except Exception:
        pass  # reported by info(); the runner then drops the lowrankpy column
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0)
    limiter = None
    if threads > 0:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=threads)  # noqa: F841 (held for the process lifetime)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            res = HANDLERS[job["workload"]](job)
        except Exception as e:  # reported per job; the runner decides what is fatal
            res = {"error": f"{type(e).__name__}: {e}"}
        res["id"] = job.get("id", "")
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

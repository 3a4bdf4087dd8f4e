"""lowrank.tucker against independent references: TensorLy's tucker (HOOI) for the optimum
reached, planted low-rank tensors for subspace recovery (principal angles), the ST-HOSVD error
identity, and the `lowrank tucker` CLI on the same .npy (same library: identical results)."""
import numpy as np
import pytest
import tensorly as tl
from tensorly.decomposition import tucker as tl_tucker
from tensorly.tenalg import multi_mode_dot

import lowrank
from conftest import subspace_sine


def planted(rng, dims, ranks, noise):
    core = rng.standard_normal(ranks)
    factors = [np.linalg.qr(rng.standard_normal((d, r)))[0] for d, r in zip(dims, ranks)]
    x = multi_mode_dot(core, factors)
    e = rng.standard_normal(dims)
    return x + noise * np.linalg.norm(x) / np.linalg.norm(e) * e, factors


def reconstruction_error(x, core, factors):
    xhat = multi_mode_dot(np.asarray(core, np.float64), [np.asarray(f, np.float64) for f in factors])
    return np.linalg.norm(x - xhat) / np.linalg.norm(x)


@pytest.mark.parametrize("dims,ranks", [((20, 18, 16), (4, 3, 5)), ((12, 10, 8, 6), (3, 3, 2, 2))])
def test_hooi_reaches_tensorly_optimum(rng, dims, ranks):
    x, truth = planted(rng, dims, ranks, noise=0.05)
    res = lowrank.tucker(x, ranks=list(ranks), method="hooi", max_iter=100, tol=1e-12)
    assert res.status == "ok" and res.converged and res.ranks == ranks
    tl.set_backend("numpy")
    ref = tl_tucker(x, rank=list(ranks), n_iter_max=100, tol=1e-12, init="svd")
    ref_err = reconstruction_error(x, ref.core, ref.factors)
    # HOOI optimum: our error is TensorLy's (both converge to the same local optimum here).
    assert res.rel_error == pytest.approx(ref_err, rel=1e-6)
    assert res.rel_error == pytest.approx(reconstruction_error(x, res.core, res.factors), rel=1e-8)
    for f, t, rf in zip(res.factors, truth, ref.factors):
        np.testing.assert_allclose(f.T @ f, np.eye(f.shape[1]), atol=1e-10)
        assert subspace_sine(f, t) < 0.1
        assert subspace_sine(f, rf) < 1e-5
    hist = np.array(res.error_history)
    assert np.all(np.diff(hist) <= 1e-12)          # HOOI never increases the error
    assert hist[-1] == pytest.approx(res.rel_error, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sthosvd_error_identity_and_hosvd_bound(rng, dtype):
    x = rng.standard_normal((9, 8, 7)).astype(dtype)
    st = lowrank.tucker(x, ranks=[4, 4, 4], method="sthosvd")
    ho = lowrank.tucker(x, ranks=[4, 4, 4], method="hosvd")
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert st.rel_error == pytest.approx(st.error_bound, rel=tol)   # ST-HOSVD: the error is exactly the bound
    assert ho.rel_error <= ho.error_bound * (1 + tol)               # HOSVD: below its bound
    assert st.core.dtype == dtype and st.core.shape == (4, 4, 4)
    assert st.stop_reason == "not_iterative" and st.iterations == 0


def test_rel_error_target_is_met(rng):
    x, _ = planted(rng, (15, 14, 13), (3, 4, 5), noise=0.01)
    res = lowrank.tucker(x, rel_error=0.05, method="sthosvd")
    assert res.rel_error <= 0.05
    assert res.ranks == (3, 4, 5)
    one = lowrank.tucker(x, ranks=2, method="sthosvd")          # one int: every mode
    assert one.ranks == (2, 2, 2)
    arr = lowrank.tucker(x, ranks=np.array([3, 4, 5]), method="sthosvd")   # any iterable of ints
    assert arr.ranks == (3, 4, 5)


def test_unpacks_like_tensorly_and_reconstructs(rng):
    x = rng.standard_normal((6, 5, 4))
    core, factors = lowrank.tucker(x, ranks=[6, 5, 4], method="hosvd")
    res = lowrank.tucker(x, ranks=[6, 5, 4], method="hosvd")
    np.testing.assert_allclose(res.reconstruct(), x, atol=1e-12)   # full ranks: exact
    np.testing.assert_allclose(multi_mode_dot(core, factors), x, atol=1e-12)


@pytest.mark.parametrize("method", ["hooi", "sthosvd", "hosvd"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_the_cli(cli, tmp_path, rng, method, dtype):
    x = rng.standard_normal((11, 9, 7)).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    cli("tucker", tmp_path / "x.npy", "--ranks", "3,4,2", "--method", method, "--max-iter", 7, "--tol", 0,
        "--out", tmp_path / "o")
    res = lowrank.tucker(x, ranks=[3, 4, 2], method=method, max_iter=7, tol=0)
    np.testing.assert_array_equal(res.core, np.load(tmp_path / "o" / "core.npy"))
    for n, f in enumerate(res.factors):
        np.testing.assert_array_equal(f, np.load(tmp_path / "o" / f"factor_{n}.npy"))


@pytest.mark.parametrize("method", ["hooi", "sthosvd", "hosvd"])
def test_fortran_order_gives_the_same_decomposition(rng, method):
    x = rng.standard_normal((10, 9, 8))
    c = lowrank.tucker(x, ranks=[4, 3, 2], method=method, max_iter=6, tol=0)
    f = lowrank.tucker(np.asfortranarray(x), ranks=[4, 3, 2], method=method, max_iter=6, tol=0)
    assert f.ranks == c.ranks == (4, 3, 2)
    assert f.core.shape == (4, 3, 2) and f.core.flags.f_contiguous
    assert f.status == c.status and f.error_bound == pytest.approx(c.error_bound, rel=1e-9)
    np.testing.assert_allclose(f.error_history, c.error_history, rtol=1e-9)
    for a, b in zip(f.factors, c.factors):
        assert subspace_sine(a, b) < 1e-6
    assert reconstruction_error(x, f.core, f.factors) == pytest.approx(reconstruction_error(x, c.core, c.factors),
                                                                       rel=1e-9)


def test_init_factors(rng):
    x = rng.standard_normal((9, 8, 7))
    st = lowrank.tucker(x, ranks=[3, 3, 3], method="sthosvd")
    given = lowrank.tucker(x, method="hooi", init=st.factors, max_iter=10, tol=0)
    assert given.ranks == (3, 3, 3)
    assert given.error_history[0] == pytest.approx(st.rel_error, rel=1e-8)
    assert given.error_history[-1] <= st.rel_error + 1e-12
    fortran = lowrank.tucker(np.asfortranarray(x), method="hooi", init=[np.asfortranarray(f) for f in st.factors],
                             max_iter=10, tol=0)
    np.testing.assert_allclose(fortran.error_history, given.error_history, rtol=1e-9)


def test_not_converged_is_a_status(rng):
    x = rng.standard_normal((8, 7, 6))
    res = lowrank.tucker(x, ranks=[2, 2, 2], method="hooi", max_iter=1, tol=0)
    assert res.status == "not_converged" and not res.converged and res.stop_reason == "max_iterations"
    assert res.core is not None and len(res.error_history) == 2
    # Stopped at max_iter, the result is still a Tucker model: its explicit rel_error is
    # reported (decomp/tucker.hpp, finish_tucker; it was NaN before) and matches numpy's
    # residual, as does error_bound (the error of the last sweep).
    reference = reconstruction_error(x, res.core, res.factors)
    assert res.rel_error == pytest.approx(reference, rel=1e-8)
    assert res.error_bound == pytest.approx(reference, rel=1e-8)


def test_nonfinite_status_without_check(rng):
    x = rng.standard_normal((5, 4, 3))
    x[1, 1, 1] = np.inf
    res = lowrank.tucker(x, ranks=2, check_finite=False)
    assert res.status == "nonfinite_input" and res.core is None and res.factors is None

"""lowrank.svd against independent references: numpy.linalg.svd (LAPACK) for singular values,
principal angles and the Eckart–Young optimum; scikit-learn's randomized_svd for the randomized
method; and the `lowrank svd` CLI on the same .npy (the same library, so equal results)."""
import numpy as np
import pytest

import lowrank
from conftest import decaying, subspace_sine

RTOL = {np.float32: 1e-4, np.float64: 1e-10}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["exact", "gram", "randomized"])
@pytest.mark.parametrize("shape", [(60, 40), (40, 60)])
def test_svd_agrees_with_numpy(rng, dtype, method, shape):
    a = decaying(rng, *shape, dtype)
    r = 8
    res = lowrank.svd(a, rank=r, method=method, power_iters=4)
    assert res.status == "ok" and res.rank == r
    assert res.u.dtype == dtype and res.u.shape == (shape[0], r) and res.vt.shape == (r, shape[1])
    assert res.s.shape == (r,) and res.s.dtype == dtype
    ref_u, ref_s, ref_vt = np.linalg.svd(a.astype(np.float64), full_matrices=False)
    rtol = max(RTOL[dtype], 1e-2 if method == "randomized" else 0)
    np.testing.assert_allclose(res.s, ref_s[:r], rtol=rtol)
    bound = 0.05 if method == "randomized" else (1e-3 if dtype == np.float32 else 1e-8)
    assert subspace_sine(res.u, ref_u[:, :r]) < bound          # principal angles, left
    assert subspace_sine(res.vt.T, ref_vt[:r].T) < bound       # and right
    # Eckart–Young: the best rank-r error is sqrt(sum of the discarded sigma^2) / ||a||.
    optimum = np.sqrt(np.sum(ref_s[r:] ** 2)) / np.linalg.norm(ref_s)
    assert res.rel_error == pytest.approx(optimum, rel=2e-2 if method == "randomized" else 1e-3)
    assert res.rel_error >= optimum * (1 - 1e-4)
    explicit = np.linalg.norm(a - (res.u * res.s) @ res.vt) / np.linalg.norm(a)
    assert res.rel_error == pytest.approx(explicit, rel=1e-3)
    assert res.norm == pytest.approx(np.linalg.norm(a.astype(np.float64)), rel=RTOL[dtype] * 10)


def test_unpacks_like_numpy(rng):
    a = rng.standard_normal((20, 10))
    u, s, vt = lowrank.svd(a, rank=3)
    res = lowrank.svd(a, rank=3)
    np.testing.assert_array_equal(u, res.u)
    np.testing.assert_array_equal(s, res.s)
    np.testing.assert_array_equal(vt, res.vt)


def test_full_thin_svd_without_rank(rng):
    a = rng.standard_normal((12, 7))
    res = lowrank.svd(a)
    assert res.rank == 7
    np.testing.assert_allclose((res.u * res.s) @ res.vt, a, atol=1e-12)
    np.testing.assert_allclose(res.spectrum, np.linalg.svd(a, compute_uv=False), rtol=1e-12)


def test_rel_error_picks_the_smallest_sufficient_rank(rng):
    a = decaying(rng, 50, 30)
    sigma = np.linalg.svd(a, compute_uv=False)
    eps = 0.2
    res = lowrank.svd(a, rel_error=eps)
    tail = np.sqrt(np.cumsum((sigma ** 2)[::-1])[::-1]) / np.linalg.norm(sigma)  # tail[r] = error at rank r
    expected = int(np.argmax(np.append(tail, 0.0) <= eps))
    assert res.rank == expected
    assert res.rel_error <= eps + 1e-12
    capped = lowrank.svd(a, rank=3, rel_error=eps)          # the cap wins when it is smaller
    assert capped.rank == min(3, expected)


def test_randomized_matches_sklearn(rng):
    # scikit-learn's randomized_svd with the QR normaliser is the same algorithm (Halko et al.);
    # the sketches differ (different RNGs), so compare the accuracy reached, not the vectors.
    from sklearn.utils.extmath import randomized_svd

    a = decaying(rng, 300, 200)
    r = 10
    ours = lowrank.svd(a, rank=r, method="randomized", oversample=10, power_iters=2, seed=3)
    u, s, vt = randomized_svd(a, r, n_oversamples=10, n_iter=2, power_iteration_normalizer="QR", random_state=3)
    theirs = np.linalg.norm(a - (u * s) @ vt) / np.linalg.norm(a)
    assert ours.method == "randomized"
    assert ours.rel_error <= theirs * 1.02
    np.testing.assert_allclose(ours.s, s, rtol=1e-2)
    same = lowrank.svd(a, rank=r, method="randomized", oversample=10, power_iters=2, seed=3)
    np.testing.assert_array_equal(same.u, ours.u)            # the seed makes it deterministic


@pytest.mark.parametrize("method", ["exact", "gram", "randomized"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_the_cli(cli, tmp_path, rng, method, dtype):
    a = decaying(rng, 70, 50, dtype)
    np.save(tmp_path / "a.npy", a)
    cli("svd", tmp_path / "a.npy", "--rank", 6, "--method", method, "--seed", 5, "--out", tmp_path / "o")
    res = lowrank.svd(a, rank=6, method=method, seed=5)
    # Same library, backend and BLAS on the same bytes: identical results.
    np.testing.assert_array_equal(res.u, np.load(tmp_path / "o" / "u.npy"))
    np.testing.assert_array_equal(res.s, np.load(tmp_path / "o" / "s.npy"))
    np.testing.assert_array_equal(res.vt, np.load(tmp_path / "o" / "vt.npy"))


@pytest.mark.parametrize("method", ["exact", "gram"])
def test_fortran_order_gives_the_same_svd(rng, method):
    a = decaying(rng, 40, 25)
    c = lowrank.svd(a, rank=5, method=method)
    f = lowrank.svd(np.asfortranarray(a), rank=5, method=method)
    np.testing.assert_allclose(f.s, c.s, rtol=1e-12)
    # The same vectors up to the sign of each pair, as Fortran-ordered views.
    signs = np.sign(np.sum(f.u * c.u, axis=0))
    np.testing.assert_allclose(f.u * signs, c.u, atol=1e-10)
    np.testing.assert_allclose(f.vt * signs[:, None], c.vt, atol=1e-10)
    assert f.u.flags.f_contiguous and f.vt.flags.f_contiguous
    assert f.rel_error == pytest.approx(c.rel_error, rel=1e-10)


def test_fortran_order_randomized_is_a_valid_sketch(rng):
    # Fortran input is decomposed as its transpose: the sketch is drawn on the other side, so
    # the vectors differ from the C-ordered run but the accuracy is the same.
    a = decaying(rng, 200, 120)
    c = lowrank.svd(a, rank=8, method="randomized")
    f = lowrank.svd(np.asfortranarray(a), rank=8, method="randomized")
    assert f.rel_error == pytest.approx(c.rel_error, rel=1e-2)
    explicit = np.linalg.norm(a - (f.u * f.s) @ f.vt) / np.linalg.norm(a)
    assert f.rel_error == pytest.approx(explicit, rel=1e-6)


def test_transposed_view_is_accepted_without_copy(rng):
    a = rng.standard_normal((30, 20))
    res = lowrank.svd(a.T, rank=4)   # a.T is Fortran-ordered: read in place
    ref = np.linalg.svd(a.T, compute_uv=False)[:4]
    np.testing.assert_allclose(res.s, ref, rtol=1e-12)
    assert res.u.shape == (20, 4) and res.vt.shape == (4, 30)


def test_read_only_input_is_accepted(rng):
    a = rng.standard_normal((10, 8))
    a.flags.writeable = False
    assert lowrank.svd(a, rank=2).status == "ok"


def test_nonfinite_status_without_check(rng):
    a = rng.standard_normal((10, 8))
    a[3, 4] = np.nan
    res = lowrank.svd(a, rank=2, check_finite=False)
    assert res.status == "nonfinite_input"
    assert res.u is None and res.s is None and res.vt is None

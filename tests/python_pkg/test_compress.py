"""lowrank.whitened_svd, loss_curve, allocate_ranks, allocate_uniform (python/src/bind_compress.cpp).

References: numpy (Cholesky, SVD, the output error ‖(W − W′)X‖_F computed from X itself), and
brute-force enumeration of every allocation of a tiny problem."""
import itertools
import math

import numpy as np
import pytest

import lowrank


def inputs(rng, tokens, n):
    """Correlated layer inputs X (tokens × n, one token per row) and their Gram XᵀX."""
    mix = rng.standard_normal((n, n)) * (0.3 + np.arange(n)) / n
    x = rng.standard_normal((tokens, n)) @ mix
    return x, x.T @ x


def numpy_svd_llm(w, gram, r):
    """SVD-LLM in numpy: S = chol(H), W·S = UΣVᵀ, W′ = U_r Σ_r V_rᵀ S⁻¹."""
    s = np.linalg.cholesky(gram)
    u, sig, vt = np.linalg.svd(w @ s, full_matrices=False)
    return (u[:, :r] * sig[:r]) @ np.linalg.solve(s.T, vt[:r].T).T, sig


# ----------------------------------------------------------------------------- whitened_svd

@pytest.mark.parametrize("m,n,r", [(40, 24, 6), (16, 30, 5)])
def test_discarded_energy_is_the_output_error(rng, m, n, r):
    # The whitened truncation identity: Σ_{i>r} σ_i² = ‖(W − W′) Xᵀ‖²_F, with X from which the
    # Gram was formed (numpy computes the right side from X itself).
    w = rng.standard_normal((m, n))
    x, gram = inputs(rng, 200, n)
    res = lowrank.whitened_svd(w, gram, rank=r)
    assert res.status == "ok" and res.rank == r and res.whitener["kind"] == "cholesky"
    assert res.whitener["defect"] == 0.0
    wp = res.u @ res.v.T
    out_err = np.linalg.norm((w - wp) @ x.T) ** 2
    assert res.discarded_energy == pytest.approx(out_err, rel=1e-9)
    assert res.total_energy == pytest.approx(np.linalg.norm(w @ x.T) ** 2, rel=1e-10)
    assert res.rel_error == pytest.approx(math.sqrt(out_err / res.total_energy), rel=1e-9)
    assert res.plain_rel_error == pytest.approx(np.linalg.norm(w - wp) / np.linalg.norm(w), rel=1e-9)
    # Same W′ and spectrum as SVD-LLM written in numpy.
    ref, sig = numpy_svd_llm(w, gram, r)
    np.testing.assert_allclose(wp, ref, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(res.spectrum, sig, rtol=1e-10)
    np.testing.assert_allclose(res.s, sig[:r], rtol=1e-10)
    # Eckart–Young in the whitened norm: no other rank-r W′ (here: plain SVD) does better on X.
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    plain = (u[:, :r] * s[:r]) @ vt[:r]
    assert out_err <= np.linalg.norm((w - plain) @ x.T) ** 2


def test_identity_gram_is_numpy_truncated_svd(rng):
    # gram = I (and gram=None) is the plain truncated SVD: numpy.linalg.svd is the reference.
    w = rng.standard_normal((30, 18))
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    ref = (u[:, :7] * s[:7]) @ vt[:7]
    for gram in (np.eye(18), None):
        res = lowrank.whitened_svd(w, gram, rank=7)
        np.testing.assert_allclose(res.u @ res.v.T, ref, atol=1e-12 * np.abs(w).max() * 30)
        np.testing.assert_allclose(res.s, s[:7], rtol=1e-12)
        assert res.discarded_energy == pytest.approx(np.sum(s[7:] ** 2), rel=1e-12)
        assert res.plain_rel_error == pytest.approx(np.sqrt(np.sum(s[7:] ** 2)) / np.linalg.norm(w), rel=1e-10)
    assert lowrank.whitened_svd(w, None, rank=7).whitener["kind"] == "identity"


def test_rel_error_picks_the_smallest_rank(rng):
    w = rng.standard_normal((25, 20))
    x, gram = inputs(rng, 100, 20)
    res = lowrank.whitened_svd(w, gram, rel_error=0.3)
    sig = res.spectrum
    tail = np.concatenate([np.cumsum((sig ** 2)[::-1])[::-1], [0.0]]) / np.sum(sig ** 2)
    expected = int(np.argmax(np.sqrt(tail) <= 0.3))   # smallest r with √(L(r)/L(0)) ≤ ε
    assert res.rank == expected and res.rel_error <= 0.3
    capped = lowrank.whitened_svd(w, gram, rank=2, rel_error=0.3)
    assert capped.rank == min(2, expected)


def test_float32_fortran_and_balanced(rng):
    w = rng.standard_normal((24, 16))
    x, gram = inputs(rng, 80, 16)
    ref = lowrank.whitened_svd(w, gram, rank=5)
    r32 = lowrank.whitened_svd(w.astype(np.float32), gram, rank=5)
    assert r32.u.dtype == np.float32 and r32.v.dtype == np.float32 and r32.s.dtype == np.float32
    np.testing.assert_allclose(r32.u @ r32.v.T, ref.u @ ref.v.T, atol=2e-4 * np.abs(w).max())
    rf = lowrank.whitened_svd(np.asfortranarray(w), np.asfortranarray(gram), rank=5)   # copied to C order
    np.testing.assert_allclose(rf.u @ rf.v.T, ref.u @ ref.v.T, atol=1e-12 * np.abs(w).max() * 24)
    g32 = lowrank.whitened_svd(w, gram.astype(np.float32), rank=5)                     # converted Gram
    assert g32.discarded_energy == pytest.approx(ref.discarded_energy, rel=1e-5)
    bal = lowrank.whitened_svd(w, gram, rank=5, split="balanced")
    np.testing.assert_allclose(bal.u @ bal.v.T, ref.u @ ref.v.T, atol=1e-12 * np.abs(w).max() * 24)
    np.testing.assert_allclose(np.linalg.norm(bal.u, axis=0) ** 2, ref.s, rtol=1e-10)   # Σ^{1/2} each side


def test_factors_are_fresh_arrays_owned_by_numpy(rng):
    w = rng.standard_normal((12, 10))
    res = lowrank.whitened_svd(w, np.eye(10), rank=3)
    assert isinstance(res.u, np.ndarray) and res.u.flags.c_contiguous and not np.shares_memory(res.u, w)
    u, s, v = res   # unpacks as (u, s, v)
    assert u is res.u and v is res.v


def test_singular_gram_reports_its_whitener(rng):
    # Fewer tokens than channels: H is singular, the plain Cholesky fails, and the whitener says
    # what it did (a ridge, or the eigen path with clamped eigenvalues) and how far S Sᵀ is from H.
    w = rng.standard_normal((20, 16))
    x, gram = inputs(rng, 6, 16)
    res = lowrank.whitened_svd(w, gram, rank=4)
    wh = res.whitener
    assert res.status == "ok"
    assert (wh["kind"] == "cholesky" and wh["ridge"] > 0 and wh["cholesky_attempts"] > 1) or \
        (wh["kind"] == "eigen" and wh["clamped"] > 0)
    assert 0 <= wh["defect"] < 1e-3
    eig = lowrank.whitened_svd(w, gram, rank=4, whitening="eigen")
    assert eig.whitener["kind"] == "eigen" and eig.whitener["clamped"] >= 10   # rank(H) = 6 of 16
    # On X itself the error is still the discarded energy up to the defect.
    out_err = np.linalg.norm((w - eig.u @ eig.v.T) @ x.T) ** 2
    assert out_err <= eig.discarded_energy * (1 + 1e-6) + 1e-9 * eig.total_energy
    shr = lowrank.whitened_svd(w, gram, rank=4, shrinkage=0.1)
    assert shr.whitener["shrinkage"] == 0.1 and shr.whitener["defect"] > 0


def test_whitened_svd_bad_input(rng):
    w = rng.standard_normal((10, 8))
    g = np.eye(8)
    with pytest.raises(lowrank.ShapeError):
        lowrank.whitened_svd(w, np.eye(7), rank=2)                 # gram not n × n
    with pytest.raises(lowrank.ShapeError):
        lowrank.whitened_svd(w.ravel(), g, rank=2)                 # not a matrix
    with pytest.raises(lowrank.RankError):
        lowrank.whitened_svd(w, g, rank=9)                         # above min(m, n)
    with pytest.raises(lowrank.RankError):
        lowrank.whitened_svd(w, g, rank=0)
    with pytest.raises(lowrank.DTypeError):
        lowrank.whitened_svd(w.astype(np.int64), g, rank=2)
    with pytest.raises(lowrank.DTypeError):
        lowrank.whitened_svd(w, g.astype(np.int32), rank=2)
    with pytest.raises(lowrank.LayoutError):
        lowrank.whitened_svd(np.zeros((20, 8))[::2], g, rank=2)    # strided view
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.whitened_svd(w, g, rank=2, whitening="qr")
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.whitened_svd(w, g, rank=2, shrinkage=1.0)
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.whitened_svd(w, g, rank=2, ridge=-1.0)
    bad_w = w.copy()
    bad_w[3, 2] = np.nan
    with pytest.raises(lowrank.NonFiniteError, match="'w'"):
        lowrank.whitened_svd(bad_w, g, rank=2)
    bad_g = g.copy()
    bad_g[1, 1] = np.inf
    with pytest.raises(lowrank.NonFiniteError, match="'gram'"):
        lowrank.whitened_svd(w, bad_g, rank=2)
    res = lowrank.whitened_svd(bad_w, g, rank=2, check_finite=False)
    assert res.status == "nonfinite_input" and res.u is None and res.v is None


# ----------------------------------------------------------------------------- allocation

def test_loss_curve_matches_numpy(rng):
    s = np.sort(rng.random(9))[::-1]
    expected = np.array([np.sum(s[r:] ** 2) for r in range(10)])
    np.testing.assert_allclose(lowrank.loss_curve(s), expected, rtol=1e-14, atol=1e-15)


def brute_force(shapes, curves, budget, allow_dense=True):
    """Every allocation of a tiny problem: the least total loss within the budget."""
    choices = []
    for (m, n), l in zip(shapes, curves):
        cap = min(len(l) - 1, math.floor(m * n / (m + n)))
        while cap > 0 and cap * (m + n) >= m * n:  # break-even: a factor pair must store fewer parameters
            cap -= 1
        c = [(r * (m + n), l[r], r) for r in range(1, cap + 1)]
        if allow_dense:
            c.append((m * n, 0.0, 0))
        choices.append(c)
    best = None
    for pick in itertools.product(*choices):
        cost = sum(p[0] for p in pick)
        loss = sum(p[1] for p in pick)
        if cost <= budget and (best is None or loss < best[0] - 1e-12):
            best = (loss, [p[2] for p in pick], cost)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("convex", [True, False])
def test_allocate_ranks_is_the_brute_force_optimum(seed, convex):
    rng = np.random.default_rng(seed)
    shapes = [(12, 8), (10, 10), (16, 6), (9, 7)]
    curves = []
    for m, n in shapes:
        if convex:  # tail energies of a sorted spectrum (what whitened_svd gives)
            curves.append(lowrank.loss_curve(np.sort(rng.random(min(m, n)) * 3)[::-1]))
        else:       # any decreasing curve, second differences of both signs
            curves.append(np.concatenate([np.sort(rng.random(min(m, n)) * 5)[::-1], [0.0]]))
    dense_total = sum(m * n for m, n in shapes)
    for frac in (0.35, 0.5, 0.7):
        budget = int(frac * dense_total)
        loss, ranks, cost = brute_force(shapes, curves, budget)
        res = lowrank.allocate_ranks(shapes, curves, budget, method="exact")
        assert res.optimal and res.parameters <= budget
        assert res.loss == pytest.approx(loss, rel=1e-12, abs=1e-12)
        assert res.parameters == sum(p for p in res.item_parameters)
        auto = lowrank.allocate_ranks(shapes, curves, budget)
        assert auto.loss == pytest.approx(loss, rel=1e-12, abs=1e-12) and auto.parameters <= budget
        lag = lowrank.allocate_ranks(shapes, curves, budget, method="lagrangian")
        assert lag.parameters <= budget
        assert lag.lower_bound <= loss + 1e-12 <= lag.loss + 2e-12


def test_allocate_ranks_options_and_errors():
    shapes = [(12, 8), (10, 10)]
    curves = [lowrank.loss_curve(np.linspace(2, 0.1, 8)), lowrank.loss_curve(np.linspace(3, 0.1, 10))]
    res = lowrank.allocate_ranks(shapes, curves, 120, rank_multiple=2, allow_dense=False, names=["a", "b"])
    assert all(r % 2 == 0 and r > 0 for r in res.ranks) and not any(res.dense)
    kd = lowrank.allocate_ranks(shapes, curves, 150, keep_dense=[True, False])
    assert kd.dense == [True, False] and kd.ranks[0] == 0
    with pytest.raises(lowrank.InfeasibleBudgetError, match="budget of 10 parameters"):
        lowrank.allocate_ranks(shapes, curves, 10)
    assert issubclass(lowrank.InfeasibleBudgetError, lowrank.InvalidArgumentError)
    with pytest.raises(lowrank.InvalidArgumentError, match="'b'"):
        lowrank.allocate_ranks(shapes, [curves[0], [np.nan, 1.0, 0.0]], 150, names=["a", "b"])
    with pytest.raises(lowrank.ShapeError):
        lowrank.allocate_ranks(shapes, curves[:1], 150)
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.allocate_ranks(shapes, curves, 150, method="greedy")
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.allocate_ranks(shapes, curves, 150, min_rank=0)


def test_allocate_uniform_is_svd_llm_rule():
    # r = ⌊K·m·n/(m + n)⌋, dense above the break-even rank (formula written out here).
    shapes = [(576, 576), (1536, 576), (64, 8)]
    res = lowrank.allocate_uniform(shapes, 0.5)
    assert res.ranks[:2] == [math.floor(0.5 * 576 * 576 / 1152), math.floor(0.5 * 1536 * 576 / 2112)]
    assert res.item_parameters[0] == res.ranks[0] * 1152
    assert res.budget == math.floor(0.5 * sum(m * n for m, n in shapes))
    assert lowrank.allocate_uniform(shapes, 1.0).dense == [True, True, True]
    assert lowrank.allocate_uniform(shapes, 0.5, rank_multiple=8).ranks[:2] == [144, 208]
    for bad in (0, 1.5, float("nan"), True):
        with pytest.raises(lowrank.InvalidArgumentError):
            lowrank.allocate_uniform(shapes, bad)

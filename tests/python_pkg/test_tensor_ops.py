"""lowrank.mode_product / unfold / fold against TensorLy (mode_dot, unfold, fold) and numpy
(tensordot, moveaxis+reshape), in C and Fortran order."""
import numpy as np
import pytest
import tensorly as tl
from tensorly.tenalg import mode_dot

import lowrank


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_order", ["C", "F"])
@pytest.mark.parametrize("m_order", ["C", "F"])
def test_mode_product_agrees_with_tensorly(rng, dtype, x_order, m_order):
    x = np.asarray(rng.standard_normal((6, 7, 8)), dtype=dtype, order=x_order)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for mode in range(3):
        m = np.asarray(rng.standard_normal((5, x.shape[mode])), dtype=dtype, order=m_order)
        y = lowrank.mode_product(x, m, mode)
        ref = mode_dot(x.astype(np.float64), m.astype(np.float64), mode)
        assert y.shape == ref.shape and y.dtype == dtype
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())
        numpy_ref = np.moveaxis(np.tensordot(m, x, axes=([1], [mode])), 0, mode)
        np.testing.assert_allclose(y, numpy_ref, rtol=tol, atol=tol * np.abs(ref).max())
        if x_order == "F":
            assert y.flags.f_contiguous           # a Fortran input gives a Fortran result (a view)
        yt = lowrank.mode_product(x, np.ascontiguousarray(m.T) if m_order == "C" else np.asfortranarray(m.T),
                                  mode, transpose=True)
        np.testing.assert_allclose(yt, ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_negative_mode_counts_from_the_end(rng):
    x = rng.standard_normal((3, 4, 5))
    m = rng.standard_normal((2, 5))
    np.testing.assert_array_equal(lowrank.mode_product(x, m, -1), lowrank.mode_product(x, m, 2))


@pytest.mark.parametrize("shape", [(4,), (3, 5), (3, 4, 5), (2, 3, 4, 5)])
def test_unfold_fold_agree_with_tensorly(rng, shape):
    tl.set_backend("numpy")
    x = rng.standard_normal(shape)
    for mode in range(len(shape)):
        u = lowrank.unfold(x, mode)
        np.testing.assert_array_equal(u, tl.unfold(x, mode))
        np.testing.assert_array_equal(u, np.moveaxis(x, mode, 0).reshape(shape[mode], -1))
        back = lowrank.fold(u, mode, shape)
        np.testing.assert_array_equal(back, x)
        np.testing.assert_array_equal(back, tl.fold(u, mode, shape))


def test_unfold_of_fortran_order_copies_and_agrees(rng):
    x = np.asfortranarray(rng.standard_normal((3, 4, 5)))
    for mode in range(3):
        np.testing.assert_array_equal(lowrank.unfold(x, mode), tl.unfold(np.ascontiguousarray(x), mode))
    m = np.asfortranarray(rng.standard_normal((4, 15)))
    np.testing.assert_array_equal(lowrank.fold(m, 1, (3, 4, 5)), tl.fold(np.ascontiguousarray(m), 1, (3, 4, 5)))

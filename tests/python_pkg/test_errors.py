"""Bad input raises the documented exception (docs/python.md, "Errors"): the lowrank.Error
hierarchy, each class also the matching built-in (TypeError / ValueError / IndexError)."""
import numpy as np
import pytest

import lowrank


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128, np.bool_])
def test_wrong_dtype_is_a_type_error(rng, dtype):
    a = (rng.standard_normal((6, 4)) * 10).astype(dtype)
    with pytest.raises(lowrank.DTypeError, match="float32 or float64") as e:
        lowrank.svd(a, rank=2)
    assert isinstance(e.value, TypeError) and isinstance(e.value, lowrank.Error)
    with pytest.raises(lowrank.DTypeError):
        lowrank.tucker(a.reshape(2, 3, 4), ranks=1)


def test_mixed_dtypes(rng):
    x = rng.standard_normal((3, 4, 5))
    with pytest.raises(lowrank.DTypeError, match="different dtypes"):
        lowrank.mode_product(x, rng.standard_normal((2, 4)).astype(np.float32), 1)


def test_not_an_array():
    with pytest.raises(TypeError, match="numpy array or a DLPack tensor"):
        lowrank.svd([[1.0, 2.0], [3.0, 4.0]], rank=1)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), ()])
def test_svd_needs_a_matrix(shape):
    with pytest.raises(lowrank.ShapeError, match="matrix") as e:
        lowrank.svd(np.ones(shape), rank=1)
    assert isinstance(e.value, ValueError)


def test_tucker_of_a_scalar():
    with pytest.raises(lowrank.ShapeError):
        lowrank.tucker(np.ones(()), ranks=1)


@pytest.mark.parametrize("rank", [0, -1, 9])
def test_svd_rank_out_of_range(rng, rank):
    with pytest.raises(lowrank.RankError) as e:
        lowrank.svd(rng.standard_normal((10, 8)), rank=rank)
    assert isinstance(e.value, ValueError)


def test_tucker_ranks_out_of_range(rng):
    x = rng.standard_normal((5, 4, 3))
    with pytest.raises(lowrank.RankError, match="mode 2"):
        lowrank.tucker(x, ranks=[2, 2, 4])
    with pytest.raises(lowrank.RankError):
        lowrank.tucker(x, ranks=4)                  # one value for every mode: at most 3
    with pytest.raises(lowrank.ShapeError, match="2 ranks"):
        lowrank.tucker(x, ranks=[2, 2])
    with pytest.raises(TypeError):
        lowrank.tucker(x, ranks=[2, 2.5, 2])


def test_rank_error_from_the_library_itself(rng):
    # The C++ library raises rank_error too (here reached through the private module directly,
    # bypassing the Python-level check): it maps to the same class.
    from lowrank import _lowrank

    with pytest.raises(lowrank.RankError, match="exceeds"):
        _lowrank.svd(rng.standard_normal((6, 4)), 5, 0.0, "exact", 10, 2, 0, "gesdd", True, 0)
    with pytest.raises(lowrank.ModeError):
        _lowrank.unfold(rng.standard_normal((3, 4)), 2, 0)


def test_nan_raises_by_default(rng):
    a = rng.standard_normal((10, 8))
    a[0, 0] = np.nan
    with pytest.raises(lowrank.NonFiniteError, match="NaN or Inf") as e:
        lowrank.svd(a, rank=2)
    assert isinstance(e.value, ValueError)
    x = rng.standard_normal((4, 4, 4))
    x[1, 2, 3] = -np.inf
    with pytest.raises(lowrank.NonFiniteError):
        lowrank.tucker(x, ranks=2)


@pytest.mark.parametrize("view", ["step", "column", "broadcast", "negative"])
def test_non_contiguous_views_are_refused(rng, view):
    a = rng.standard_normal((20, 16))
    v = {"step": a[::2], "column": a[:, 1:5], "broadcast": np.broadcast_to(a[0], (20, 16)),
         "negative": a[::-1]}[view]
    with pytest.raises(lowrank.LayoutError, match="neither C- nor Fortran-contiguous") as e:
        lowrank.svd(v, rank=2)
    assert isinstance(e.value, ValueError)
    with pytest.raises(lowrank.LayoutError):           # the matrix operand of a mode product too
        lowrank.mode_product(a.reshape(4, 5, 16), rng.standard_normal((2, 10))[:, ::2], 1)


def test_mode_errors(rng):
    x = rng.standard_normal((3, 4, 5))
    with pytest.raises(lowrank.ModeError) as e:
        lowrank.mode_product(x, rng.standard_normal((2, 5)), 3)
    assert isinstance(e.value, IndexError) and isinstance(e.value, ValueError)
    with pytest.raises(lowrank.ModeError):
        lowrank.unfold(x, -4)


def test_mode_product_shape_mismatch(rng):
    with pytest.raises(lowrank.ShapeError, match="cannot multiply mode 1"):
        lowrank.mode_product(rng.standard_normal((3, 4, 5)), rng.standard_normal((2, 5)), 1)


def test_invalid_options(rng):
    a = rng.standard_normal((10, 8))
    with pytest.raises(lowrank.InvalidArgumentError, match="method"):
        lowrank.svd(a, rank=2, method="qr")
    with pytest.raises(lowrank.InvalidArgumentError, match="needs a rank"):
        lowrank.svd(a, method="randomized")
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.svd(a, rank=2, rel_error=-0.1)
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.svd(a, rank=2, seed=-1)
    with pytest.raises(lowrank.InvalidArgumentError, match="driver"):
        lowrank.svd(a, rank=2, driver="magic")
    with pytest.raises(lowrank.InvalidArgumentError, match="solver"):
        lowrank.tucker(a.reshape(2, 5, 8), ranks=1, solver="magic")
    with pytest.raises(lowrank.InvalidArgumentError, match="hooi"):
        lowrank.tucker(a.reshape(2, 5, 8), ranks=1, method="sthosvd", init=[np.eye(2, 1)] * 3)
    with pytest.raises(lowrank.InvalidArgumentError):
        lowrank.tucker(a.reshape(2, 5, 8), ranks=1, tol=float("nan"))


def test_fold_shape_mismatch(rng):
    with pytest.raises(lowrank.ShapeError, match="unfolding"):
        lowrank.fold(rng.standard_normal((4, 14)), 1, (3, 4, 5))


def test_hierarchy():
    for cls, builtin in [(lowrank.ShapeError, ValueError), (lowrank.RankError, ValueError),
                         (lowrank.ModeError, IndexError), (lowrank.InvalidArgumentError, ValueError),
                         (lowrank.DTypeError, TypeError), (lowrank.LayoutError, ValueError),
                         (lowrank.DeviceError, ValueError), (lowrank.NonFiniteError, ValueError),
                         (lowrank.BackendError, RuntimeError), (lowrank.FileError, OSError)]:
        assert issubclass(cls, lowrank.Error) and issubclass(cls, builtin), cls
        assert cls.__module__ == "lowrank" and cls.__doc__


def test_empty_arrays():
    # Decompositions of empty arrays are misuse (the library's shape_error); products of empty
    # arrays are empty arrays.
    with pytest.raises(lowrank.ShapeError, match="empty"):
        lowrank.svd(np.ones((0, 5)))
    with pytest.raises(lowrank.ShapeError, match="empty"):
        lowrank.tucker(np.ones((0, 3)))
    assert lowrank.mode_product(np.ones((0, 3, 4)), np.ones((2, 3)), 1).shape == (0, 2, 4)
    assert lowrank.mode_product(np.ones((2, 3, 4)), np.ones((0, 3)), 1).shape == (2, 0, 4)
    assert lowrank.unfold(np.ones((0, 3)), 1).shape == (3, 0)

"""The public functions: svd, tucker, mode_product, unfold, fold, cuda_info."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from . import _inputs as I
from . import _lowrank as _ext
from ._errors import NonFiniteError
from ._results import SVDResult, TuckerResult

ArrayLike = Any  # numpy.ndarray, torch.Tensor, cupy.ndarray or any DLPack producer


def _nonfinite(fn: str, name: str) -> NonFiniteError:
    return NonFiniteError(f"{fn}: argument '{name}' contains NaN or Inf (pass check_finite=False to get a result "
                          f"with status='nonfinite_input' instead)")


def svd(a: ArrayLike, rank: Optional[int] = None, *, rel_error: Optional[float] = None, method: str = "exact",
        oversample: int = 10, power_iters: int = 2, seed: int = 0, driver: str = "gesdd",
        compute_error: bool = True, check_finite: bool = True) -> SVDResult:
    """Truncated SVD a ≈ u @ diag(s) @ vt of a matrix (m × n).

    Args:
        a: float32 or float64 matrix, C- or Fortran-contiguous, numpy / torch / cupy / DLPack, on
            the CPU or a CUDA device. Read in place (never copied).
        rank: keep r triplets (1 ≤ r ≤ min(m, n)). With ``rel_error`` too, r is a cap.
        rel_error: keep the smallest rank with ‖a − a_r‖_F ≤ rel_error·‖a‖_F. Neither rank nor
            rel_error: the full thin SVD (exact and gram only).
        method: "exact" (LAPACK gesdd, gesvd fallback), "gram" (eigh of the smaller Gram matrix,
            refined by a thin SVD) or "randomized" (Halko–Martinsson–Tropp; needs ``rank``).
        oversample, power_iters, seed: randomized sketch parameters (sketch width rank +
            oversample, power iterations re-orthonormalised with QR, the sketch's seed).
        driver: "gesdd" or "gesvd" for the LAPACK thin SVD.
        compute_error: compute ``rel_error`` from the explicit residual (costs one GEMM).
        check_finite: raise NonFiniteError for NaN/Inf input; with False the result has
            status "nonfinite_input" and u, s, vt are None.

    Returns:
        SVDResult(u, s, vt, rank, rel_error, ...) in the input's framework and device. A
        Fortran-ordered ``a`` gives Fortran-ordered u and vt (views of the factors of aᵀ; the
        randomized method then sketches the row space, see docs/python.md).

    Raises:
        DTypeError (TypeError), ShapeError / RankError / InvalidArgumentError / LayoutError /
        DeviceError / NonFiniteError (ValueError), BackendError (RuntimeError).

    Example:
        >>> u, s, vt = lowrank.svd(w, rank=64, method="randomized", seed=0)
    """
    I.check_array(a, "a")
    shape = I.shape_of(a)
    if shape is not None and len(shape) != 2:
        raise I.ShapeError(f"argument 'a': expected a matrix (2-d) array, got shape {shape}")
    r = 0
    if rank is not None:
        r = I.rank_value(rank, min(shape) if shape else None, "rank (at most min(m, n))")
    eps = 0.0 if rel_error is None else I.fraction(rel_error, "rel_error")
    if method not in ("exact", "gram", "randomized"):
        raise I.InvalidArgumentError(f"svd: method must be 'exact', 'gram' or 'randomized', got {method!r}")
    if method == "randomized" and r == 0:
        raise I.InvalidArgumentError("svd: method='randomized' needs a rank (optionally with rel_error)")
    d = _ext.svd(a, r, eps, method, I.count(oversample, "oversample"), I.count(power_iters, "power_iters"),
                 I.count(seed, "seed"), driver, bool(compute_error), I.framework_of(a))
    if d["status"] == "nonfinite_input" and check_finite:
        raise _nonfinite("svd", "a")
    return SVDResult(u=d["u"], s=d["s"], vt=d["vt"], rank=int(d["rank"]), rel_error=float(d["rel_error"]),
                     error_bound=float(d["error_bound"]), discarded_energy=float(d["discarded_energy"]),
                     norm=float(d["norm"]), spectrum=d["spectrum"], method=d["method"], status=d["status"])


def tucker(x: ArrayLike, ranks: Union[None, int, Sequence[int]] = None, *, rel_error: Optional[float] = None,
           method: str = "hooi", max_iter: int = 25, tol: float = 1e-8, solver: str = "gram",
           init: Optional[Sequence[ArrayLike]] = None, compute_error: bool = True,
           check_finite: bool = True) -> TuckerResult:
    """Tucker decomposition x ≈ core ×_0 U_0 ×_1 U_1 ⋯ ×_{N-1} U_{N-1} (orthonormal U_n).

    Args:
        x: float32/float64 tensor of any order ≥ 1, C- or Fortran-contiguous, numpy / torch / cupy /
            DLPack, on the CPU or a CUDA device. Read in place (never copied).
        ranks: one rank per mode, or one int for every mode (a cap when rel_error is given too).
        rel_error: target ‖x − x̂‖_F ≤ rel_error·‖x‖_F, split evenly over the modes (ST-HOSVD,
            HOSVD; HOOI starts from that ST-HOSVD and keeps its ranks). Neither: full ranks.
        method: "hooi" (ST-HOSVD start, then alternating sweeps), "sthosvd" or "hosvd".
        max_iter, tol: HOOI stops after max_iter sweeps or when the relative error changes by
            less than tol between sweeps (tol=0: always max_iter sweeps).
        solver: per-mode subspaces from "gram" (eigh of X_(n) X_(n)ᵀ, fast) or "svd" (of the
            unfolding; accurate for tiny singular values).
        init: HOOI only: initial factors (I_n × R_n each) instead of the ST-HOSVD start; they
            are copied (small) and fix the ranks.
        compute_error: compute rel_error from the explicit reconstruction.
        check_finite: raise NonFiniteError for NaN/Inf input (False: status "nonfinite_input").

    Returns:
        TuckerResult(core, factors, ranks, rel_error, error_history, ...) in the input's framework
        and device. A Fortran-ordered x gives a Fortran-ordered core (C-ordered factors).

    Example:
        >>> core, factors = lowrank.tucker(x, ranks=[8, 8, 8])
    """
    I.check_array(x, "x")
    shape = I.shape_of(x)
    if shape is not None and len(shape) == 0:
        raise I.ShapeError("argument 'x': a 0-d array has no modes to decompose")
    rk = I.tucker_ranks(ranks, shape)
    eps = 0.0 if rel_error is None else I.fraction(rel_error, "rel_error")
    if method not in ("hooi", "sthosvd", "hosvd"):
        raise I.InvalidArgumentError(f"tucker: method must be 'hooi', 'sthosvd' or 'hosvd', got {method!r}")
    tol = I.fraction(tol, "tol")
    init_list = None
    if init is not None:
        init_list = [I.check_array(f, f"init[{n}]") for n, f in enumerate(init)]
    d = _ext.tucker(x, rk, eps, method, I.count(max_iter, "max_iter"), tol, solver, init_list,
                    bool(compute_error), I.framework_of(x))
    if d["status"] == "nonfinite_input" and check_finite:
        raise _nonfinite("tucker", "x")
    return TuckerResult(core=d["core"], factors=d["factors"],
                        ranks=tuple(int(r) for r in d["ranks"]) if d["ranks"] is not None else None,
                        rel_error=float(d["rel_error"]), error_bound=float(d["error_bound"]),
                        error_history=[float(e) for e in d["error_history"]], iterations=int(d["iterations"]),
                        converged=bool(d["converged"]), stop_reason=d["stop_reason"], status=d["status"],
                        method=d["method"], norm=float(d["norm"]), discarded_energy=float(d["discarded_energy"]),
                        spectra=d["spectra"])


def mode_product(x: ArrayLike, m: ArrayLike, mode: int, *, transpose: bool = False) -> ArrayLike:
    """n-mode product y = x ×_mode m: y_(mode) = m · x_(mode), i.e. numpy's
    ``np.moveaxis(np.tensordot(m, x, (1, mode)), 0, mode)`` and TensorLy's ``mode_dot``.

    Args:
        x: float32/float64 tensor (C or Fortran order, CPU or CUDA); read in place.
        m: J × I_mode matrix (I_mode × J with transpose=True) of x's dtype and device, C or
            Fortran order; read in place.
        mode: the mode (axis) to multiply; negative values count from the end.
        transpose: multiply by mᵀ instead (project onto a factor's columns without a copy).

    Returns:
        y with I_mode replaced by J, in x's framework and device; Fortran-ordered when x is.

    Example:
        >>> y = lowrank.mode_product(x, factor, 1, transpose=True)   # x ×_1 factorᵀ
    """
    I.check_array(x, "x")
    I.check_array(m, "m")
    xs, ms = I.shape_of(x), I.shape_of(m)
    mode = I.axis(mode, len(xs) if xs is not None else None)
    if xs is not None and ms is not None:
        if len(ms) != 2:
            raise I.ShapeError(f"argument 'm': expected a matrix (2-d) array, got shape {ms}")
        k = ms[0] if transpose else ms[1]
        if k != xs[mode]:
            raise I.ShapeError(f"mode_product: {'mᵀ' if transpose else 'm'} of shape "
                               f"{(ms[1], ms[0]) if transpose else ms} cannot multiply mode {mode} (size {xs[mode]}) "
                               f"of a tensor of shape {xs}")
    return _ext.mode_product(x, m, mode, bool(transpose), I.framework_of(x))


def unfold(x: ArrayLike, mode: int) -> ArrayLike:
    """Mode-n unfolding X_(mode) (I_mode × ∏ other dims) with the remaining indices in C order —
    TensorLy's ``unfold`` and ``np.moveaxis(x, mode, 0).reshape(x.shape[mode], -1)``.

    Always a new C-ordered array. A Fortran-ordered x (numpy/torch/cupy) is first copied to C
    order (one extra copy of x); any other non-C layout raises LayoutError.

    Example:
        >>> x1 = lowrank.unfold(x, 1)
    """
    I.check_array(x, "x")
    xs = I.shape_of(x)
    mode = I.axis(mode, len(xs) if xs is not None else None)
    fw = I.framework_of(x)
    return _ext.unfold(I.c_ordered(x, fw), mode, fw)


def fold(m: ArrayLike, mode: int, shape: Sequence[int]) -> ArrayLike:
    """Inverse of :func:`unfold`: the tensor of ``shape`` whose mode-``mode`` unfolding is m.

    Always a new C-ordered array; a Fortran-ordered m is first copied to C order.

    Example:
        >>> x = lowrank.fold(lowrank.unfold(x, 2), 2, x.shape)
    """
    I.check_array(m, "m")
    shape = [I.count(s, "shape entry") for s in shape]
    mode = I.axis(mode, len(shape))
    ms = I.shape_of(m)
    if ms is not None and len(ms) != 2:
        raise I.ShapeError(f"argument 'm': expected a matrix (2-d) array, got shape {ms}")
    fw = I.framework_of(m)
    return _ext.fold(I.c_ordered(m, fw), mode, shape, fw)


def cuda_info() -> dict:
    """{'built': bool, 'devices': int, 'reason': str}: whether this build runs CUDA arrays
    (built with the CUDA backend) and how many devices it sees; `reason` says why not."""
    return dict(_ext.cuda_info())

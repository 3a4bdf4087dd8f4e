"""lowrank — truncated SVD, Tucker (HOSVD, ST-HOSVD, HOOI) and n-mode products from the
header-only C++ library, for numpy, torch and cupy arrays.

    >>> import numpy as np, lowrank
    >>> r = lowrank.svd(np.random.default_rng(0).standard_normal((300, 200)), rank=16)
    >>> r.u.shape, r.s.shape, r.vt.shape
    ((300, 16), (16,), (16, 200))

Arrays are read in place (float32/float64, C or Fortran order; see docs/python.md for exactly
when a copy is made), the GIL is released while the library computes, a CUDA array (torch/cupy,
through DLPack) runs on the CUDA backend and gets CUDA arrays back, and misuse raises the
lowrank.Error hierarchy (each class also a ValueError/TypeError/... as appropriate).

Layout of the package: _lowrank (the nanobind extension, python/src/), _api (the functions),
_results (result classes), _errors (the exceptions), _inputs (argument checks, framework
detection), _compress (whitened_svd, allocate_ranks, allocate_uniform, loss_curve over
python/src/bind_compress.cpp), _pipeline (compress and calibrate, which run the bundled `lowrank`
CLI in a child process; docs/python.md says why).
"""
from ._errors import (  # noqa: F401  (re-exported)
    BackendError,
    DeviceError,
    DTypeError,
    Error,
    FileError,
    InfeasibleBudgetError,
    InvalidArgumentError,
    LayoutError,
    ModeError,
    NonFiniteError,
    RankError,
    ShapeError,
)
from ._lowrank import __version__  # noqa: F401
from ._api import cuda_info, fold, mode_product, svd, tucker, unfold  # noqa: F401
from ._results import SVDResult, TuckerResult  # noqa: F401
from ._compress import (  # noqa: F401
    AllocationResult,
    WhitenedSVDResult,
    allocate_ranks,
    allocate_uniform,
    loss_curve,
    whitened_svd,
)
from ._pipeline import calibrate, cli_path, compress  # noqa: F401

__all__ = [
    "svd", "tucker", "mode_product", "unfold", "fold", "cuda_info",
    "SVDResult", "TuckerResult",
    "whitened_svd", "allocate_ranks", "allocate_uniform", "loss_curve", "WhitenedSVDResult", "AllocationResult",
    "compress", "calibrate", "cli_path",
    "Error", "ShapeError", "RankError", "ModeError", "InvalidArgumentError", "InfeasibleBudgetError", "DTypeError", "LayoutError",
    "DeviceError", "NonFiniteError", "BackendError", "FileError",
    "__version__",
]

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
detection). The [compress] API
(whitened_svd, rank allocation, lowrank.compress over the model layer) will be a `compress`
submodule here, bound from python/src/bind_compress.cpp (docs/python.md, "Planned").
"""
from ._errors import (  # noqa: F401  (re-exported)
    BackendError,
    DeviceError,
    DTypeError,
    Error,
    FileError,
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

__all__ = [
    "svd", "tucker", "mode_product", "unfold", "fold", "cuda_info",
    "SVDResult", "TuckerResult",
    "Error", "ShapeError", "RankError", "ModeError", "InvalidArgumentError", "DTypeError", "LayoutError",
    "DeviceError", "NonFiniteError", "BackendError", "FileError",
    "__version__",
]

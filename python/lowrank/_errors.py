"""The exceptions lowrank raises. Each class is also the matching built-in exception, so code
that catches ValueError / TypeError / OSError keeps working without knowing lowrank.

The compiled module (python/src/errors.cpp) maps the C++ library's typed errors onto these:
lowrank::shape_error → ShapeError, rank_error → RankError, mode_error → ModeError,
invalid_argument → InvalidArgumentError (infeasible_budget → InfeasibleBudgetError), backend_error → BackendError, io_error → FileError,
any other lowrank::error → Error; and its own argument checks onto DTypeError, LayoutError and
DeviceError.
"""
from __future__ import annotations

from typing import Optional


class Error(Exception):
    """Base class of every error lowrank raises."""


class ShapeError(Error, ValueError):
    """An array has the wrong number of dimensions, or shapes that do not fit together."""


class RankError(Error, ValueError):
    """A requested rank is not positive or exceeds the dimension it truncates."""


class ModeError(Error, ValueError, IndexError):
    """A mode (axis) index is outside the tensor's dimensions."""


class InvalidArgumentError(Error, ValueError):
    """An option value is invalid (unknown method, negative tolerance, ...)."""


class InfeasibleBudgetError(InvalidArgumentError):
    """No rank allocation fits the parameter budget (the message names the least it needs)."""


class DTypeError(Error, TypeError):
    """An array is not float32/float64, or two arrays of one call differ in dtype."""


class LayoutError(Error, ValueError):
    """An array is neither C- nor Fortran-contiguous (lowrank never copies silently)."""


class DeviceError(Error, ValueError):
    """Arrays on different devices, an unsupported device, no usable CUDA device, or a CUDA array
    given to a build without CUDA."""


class NonFiniteError(Error, ValueError):
    """The input holds NaN or Inf (raised when check_finite=True)."""


class BackendError(Error, RuntimeError):
    """A BLAS/LAPACK/CUDA library call failed (not a numerical outcome)."""


class FileError(Error, OSError):
    """Reading or writing a file failed. ``path`` names the file, ``offset`` the byte offset at
    which the problem was found (None when it does not apply)."""

    path: Optional[str] = None
    offset: Optional[int] = None


for _cls in (Error, ShapeError, RankError, ModeError, InvalidArgumentError, InfeasibleBudgetError, DTypeError, LayoutError, DeviceError,
             NonFiniteError, BackendError, FileError):
    _cls.__module__ = "lowrank"
del _cls

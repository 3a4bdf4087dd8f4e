"""Argument checks shared by the public functions, and the caller's array framework.

The compiled module checks dtype, device and memory layout itself (it is the one that reads the
memory); this module checks the Python-level arguments (ranks, modes, options) against the
shape the caller sees, so messages name the caller's axes even for Fortran-ordered input.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Optional, Tuple

from ._errors import InvalidArgumentError, ModeError, RankError, ShapeError

# Framework codes understood by the extension (python/src/arrays.hpp, enum framework).
NUMPY, TORCH, CUPY, DLPACK = 0, 1, 2, 3


def framework_of(a: Any) -> int:
    """Which framework results are returned in: the input's own (numpy, torch, cupy), else a
    DLPack-capable array (pass it to your framework's from_dlpack)."""
    root = type(a).__module__.partition(".")[0]
    return {"numpy": NUMPY, "torch": TORCH, "cupy": CUPY}.get(root, DLPACK)


def check_array(a: Any, name: str) -> Any:
    """Rejects objects that are not arrays (TypeError) before the extension sees them."""
    import numpy as np

    if isinstance(a, np.ndarray):
        return a
    if not hasattr(type(a), "__dlpack__"):
        raise TypeError(f"argument '{name}': expected a numpy array or a DLPack tensor (torch, cupy, ...), "
                        f"got {type(a).__name__}")
    if framework_of(a) == TORCH and getattr(a, "requires_grad", False):
        raise TypeError(f"argument '{name}': a torch tensor that requires grad cannot be shared; "
                        f"pass {name}.detach()")
    return a


def shape_of(a: Any) -> Optional[Tuple[int, ...]]:
    s = getattr(a, "shape", None)
    try:
        return tuple(int(d) for d in s) if s is not None else None
    except TypeError:
        return None


def count(value: Any, what: str, minimum: int = 0) -> int:
    """A non-negative (or >= minimum) Python integer; bools are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}")
    v = int(value)
    if v < minimum:
        raise InvalidArgumentError(f"{what} must be >= {minimum}, got {v}")
    return v


def fraction(value: Any, what: str) -> float:
    """A finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not (v >= 0 and math.isfinite(v)):
        raise InvalidArgumentError(f"{what} must be a finite number >= 0, got {v}")
    return v


def rank_value(r: Any, limit: Optional[int], what: str) -> int:
    if isinstance(r, bool) or not isinstance(r, numbers.Integral):
        raise TypeError(f"{what} must be a positive integer, got {type(r).__name__}")
    r = int(r)
    if r < 1:
        raise RankError(f"{what} must be positive, got {r}")
    if limit is not None and r > limit:
        raise RankError(f"{what} {r} exceeds {limit}")
    return r


def tucker_ranks(ranks: Any, shape: Optional[Tuple[int, ...]]) -> list:
    """[] (no cap), [r] (every mode) or one rank per mode, checked against the caller's shape."""
    if ranks is None:
        return []
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        limit = min(shape) if shape else None
        return [rank_value(ranks, limit, "rank (for every mode, at most the smallest dimension)")]
    if isinstance(ranks, (str, bytes)) or not isinstance(ranks, Iterable):
        raise TypeError(f"ranks must be an int or a sequence of ints, got {type(ranks).__name__}")
    ranks = list(ranks)
    if shape is not None and len(ranks) != len(shape):
        raise ShapeError(f"ranks lists {len(ranks)} ranks for a tensor of shape {shape} ({len(shape)} modes)")
    return [rank_value(r, shape[n] if shape else None, f"rank of mode {n} (dimension {shape[n] if shape else '?'})")
            for n, r in enumerate(ranks)]


def axis(mode: Any, ndim: Optional[int]) -> int:
    """A mode index; negative values count from the end like numpy axes."""
    if isinstance(mode, bool) or not isinstance(mode, numbers.Integral):
        raise TypeError(f"mode must be an integer, got {type(mode).__name__}")
    m = int(mode)
    if ndim is None:
        if m < 0:
            raise ModeError(f"mode {m}: a negative mode needs an array with a .shape")
        return m
    if not -ndim <= m < ndim:
        raise ModeError(f"mode {m} is out of range for a tensor of order {ndim}")
    return m % ndim


def c_ordered(a: Any, fw: int) -> Any:
    """`a` itself when it is C-contiguous, else its C-ordered copy when it is Fortran-ordered
    (numpy, torch, cupy). Anything else is returned unchanged for the extension to judge."""
    if fw == NUMPY:
        if a.ndim >= 2 and a.flags.f_contiguous and not a.flags.c_contiguous:
            import numpy as np

            return np.ascontiguousarray(a)
    elif fw == TORCH:
        if a.dim() >= 2 and not a.is_contiguous() and a.permute(*reversed(range(a.dim()))).is_contiguous():
            return a.contiguous()
    elif fw == CUPY:
        if a.ndim >= 2 and a.flags.f_contiguous and not a.flags.c_contiguous:
            import cupy

            return cupy.ascontiguousarray(a)
    return a

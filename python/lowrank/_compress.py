"""The [compress] algorithms on arrays: whitened_svd, allocate_ranks, allocate_uniform, loss_curve.

Bound from include/lowrank/compress/ (whitening.hpp, whitened_svd.hpp, allocation.hpp) through
python/src/bind_compress.cpp. The model pipeline (lowrank.compress, lowrank.calibrate) is in
_pipeline.py. (This module is private, ``_compress``, so that it does not shadow the function
``lowrank.compress``.)
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _inputs as I
from . import _lowrank as _ext
from ._errors import InvalidArgumentError, NonFiniteError, ShapeError

ArrayLike = Any


@dataclass(frozen=True)
class WhitenedSVDResult:
    """W ≈ W′ = u @ v.T, the whitened truncated SVD returned by :func:`lowrank.whitened_svd`.

    Unpacks as ``u, s, v = lowrank.whitened_svd(w, gram, rank=r)``.

    Attributes:
        u: m × r, U_r·Σ_r (split="left") or U_r·Σ_r^½ ("balanced"); w's framework, device, dtype.
        v: n × r, S⁻ᵀ·V_r (·Σ_r^½ for "balanced"); not orthonormal unless S is.
        s: the r kept singular values of W·S (descending), w's framework and device.
        spectrum: every singular value σ_1 ≥ … ≥ σ_k of W·S, k = min(m, n) (host numpy, float64).
        rank: r.
        total_energy: Σ σ_i² = ‖W S‖²_F (= ‖W X‖²_F when S Sᵀ = gram).
        discarded_energy: Σ_{i>r} σ_i² — the predicted output error ‖(W − W′) X‖²_F.
        rel_error: √(discarded / total), the whitened (output) relative error.
        plain_rel_error: ‖W − W′‖_F / ‖W‖_F (NaN with compute_error=False).
        whitener: how S was obtained: ``kind`` ("cholesky", "eigen", "identity"), ``shrinkage``,
            ``ridge`` (absolute, on the diagonal), ``cholesky_attempts``, ``clamped`` (eigen:
            eigenvalues raised to the floor), ``min_eigenvalue`` (eigen path), ``defect``
            (‖S Sᵀ − gram‖_F / ‖gram‖_F: how far the identity above is from exact), ``status``.
        status: "ok", "nonfinite_input" or "no_convergence" (u, v, s are None unless "ok").
    """

    u: Any
    v: Any
    s: Any
    spectrum: np.ndarray
    rank: int
    total_energy: float
    discarded_energy: float
    rel_error: float
    plain_rel_error: float
    whitener: Dict[str, Any]
    status: str

    def __iter__(self):
        return iter((self.u, self.s, self.v))

    def reconstruct(self) -> Any:
        """W′ = u @ v.T (in u's framework)."""
        return self.u @ self.v.T


def whitened_svd(w: ArrayLike, gram: Optional[ArrayLike] = None, rank: Optional[int] = None, *,
                 rel_error: Optional[float] = None, ridge: float = 0.0, shrinkage: float = 0.0,
                 whitening: str = "cholesky", split: str = "left", driver: str = "gesdd",
                 compute_error: bool = True, check_finite: bool = True) -> WhitenedSVDResult:
    """Whitened (truncation-aware, SVD-LLM) SVD of one linear layer y = W x.

    With S Sᵀ = gram = X Xᵀ (X: the layer's inputs as columns, n × N) and W·S = U Σ Vᵀ, keeps
    W′ = U_r Σ_r V_rᵀ S⁻¹, which minimises the output error ‖(W − W′) X‖_F over rank-r matrices;
    that error is exactly √(discarded_energy) when the whitener is exact (whitener["defect"] 0).
    gram=None is the identity whitener: the plain truncated SVD.

    Args:
        w: m × n float32/float64 matrix ([out, in], PyTorch layout), numpy / torch / cupy /
            DLPack, CPU or CUDA. Read in place when C-ordered; a Fortran-ordered w is copied to C
            order on its device (the whitener acts on its columns).
        gram: n × n symmetric positive semi-definite Gram Σ_t x_t x_tᵀ on the host (numpy, or
            any CPU DLPack array); float64 is read in place, float32 is converted (a copy).
            Calibration statistics files hold it as ``<input>.gram``.
        rank: keep r triplets (1 ≤ r ≤ min(m, n)); with rel_error too, a cap.
        rel_error: keep the smallest rank with √(discarded/total) ≤ rel_error (a *whitened*,
            i.e. output, relative error). Neither: the full rank.
        ridge: relative ridge ≥ 0 added from the start: gram + ridge·(tr(gram)/n)·I.
        shrinkage: α ∈ [0, 1): gram ← (1 − α)·gram + α·(tr(gram)/n)·I.
        whitening: "cholesky" (S = L; retries with an escalating ridge, then falls back to the
            eigen path) or "eigen" (S = U Λ^½ with eigenvalues clamped to 1e-10·λ_max).
        split: "left" (u = U_r Σ_r) or "balanced" (Σ_r^½ on each side).
        driver: LAPACK thin SVD driver, "gesdd" or "gesvd".
        compute_error: compute plain_rel_error (one m × n × r product).
        check_finite: raise NonFiniteError for NaN/Inf in w or gram; with False the result has
            status "nonfinite_input" and u, v, s are None.

    Returns:
        WhitenedSVDResult.

    Raises:
        DTypeError (TypeError); ShapeError (w not a matrix, gram not n × n), RankError,
        InvalidArgumentError (bad options), LayoutError, DeviceError (gram on a GPU),
        NonFiniteError (ValueError); BackendError (RuntimeError).

    Example:
        >>> x = rng.standard_normal((4096, 256))                # 4096 tokens of a 256-wide input
        >>> res = lowrank.whitened_svd(w, x.T @ x, rank=32)
        >>> y_err = np.linalg.norm(x @ (w - res.u @ res.v.T).T)  # == sqrt(res.discarded_energy)
    """
    I.check_array(w, "w")
    shape = I.shape_of(w)
    if shape is not None and len(shape) != 2:
        raise ShapeError(f"argument 'w': expected a matrix (2-d) array, got shape {shape}")
    if gram is not None:
        I.check_array(gram, "gram")
    r = 0 if rank is None else I.rank_value(rank, min(shape) if shape else None, "rank (at most min(m, n))")
    eps = 0.0 if rel_error is None else I.fraction(rel_error, "rel_error")
    ridge = I.fraction(ridge, "ridge")
    shrinkage = I.fraction(shrinkage, "shrinkage")
    if shrinkage >= 1:
        raise InvalidArgumentError(f"shrinkage must be in [0, 1), got {shrinkage}")
    d = _ext.whitened_svd(w, gram, r, eps, ridge, shrinkage, whitening, split, driver, bool(compute_error),
                          I.framework_of(w))
    if d["status"] == "nonfinite_input" and check_finite:
        bad = "gram" if d["whitener"]["status"] == "nonfinite_input" else "w"
        raise NonFiniteError(f"whitened_svd: argument '{bad}' contains NaN or Inf (pass check_finite=False to get "
                             f"a result with status='nonfinite_input' instead)")
    return WhitenedSVDResult(u=d["u"], v=d["v"], s=d["s"], spectrum=d["spectrum"], rank=int(d["rank"]),
                             total_energy=float(d["total_energy"]), discarded_energy=float(d["discarded_energy"]),
                             rel_error=float(d["rel_error"]), plain_rel_error=float(d["plain_rel_error"]),
                             whitener=dict(d["whitener"]), status=d["status"])


def loss_curve(spectrum: ArrayLike) -> np.ndarray:
    """L(r) = Σ_{i>r} σ_i² for r = 0..k (k + 1 values, L(k) = 0) of a descending spectrum: the loss
    curve allocate_ranks takes (e.g. ``loss_curve(lowrank.whitened_svd(w, gram).spectrum)``)."""
    s = np.asarray(spectrum, dtype=np.float64)
    if s.ndim != 1:
        raise ShapeError(f"loss_curve: expected a 1-d spectrum, got shape {s.shape}")
    return np.asarray(_ext.loss_curve(s.tolist()), dtype=np.float64)


@dataclass(frozen=True)
class AllocationResult:
    """Per-item ranks chosen by :func:`lowrank.allocate_ranks` / :func:`lowrank.allocate_uniform`.

    Attributes:
        ranks: r_i per item (0 for an item kept dense).
        dense: whether each item stays dense (m·n parameters).
        item_parameters: r_i·(m_i + n_i), or m_i·n_i when dense.
        item_loss: w_i·L_i(r_i) (w_i·dense_loss_i when dense; NaN when the item has no curve).
        parameters: Σ item_parameters (≤ budget for allocate_ranks).
        budget: the budget (allocate_uniform: ⌊keep·Σ m·n⌋, reported, not enforced).
        dense_parameters: Σ m_i·n_i.
        loss: Σ item_loss.
        lower_bound: no feasible allocation has a smaller loss (allocate_ranks; -inf otherwise).
        optimal: loss is proven minimal.
        method: the solver that ran ("exact", "lagrangian") or "uniform".
        quantum, cells: the exact DP's grid cell (parameters) and size (0 when it did not run).
    """

    ranks: List[int]
    dense: List[bool]
    item_parameters: List[int]
    item_loss: List[float]
    parameters: int
    budget: int
    dense_parameters: int
    loss: float
    lower_bound: float
    optimal: bool
    method: str
    quantum: int
    cells: int


def _shapes(shapes: Sequence[Tuple[int, int]]) -> Tuple[List[int], List[int]]:
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, Sequence):
        raise TypeError(f"shapes must be a sequence of (rows, cols) pairs, got {type(shapes).__name__}")
    rows, cols = [], []
    for i, s in enumerate(shapes):
        s = tuple(s)
        if len(s) != 2:
            raise ShapeError(f"shapes[{i}] = {s} is not a (rows, cols) pair")
        rows.append(I.count(s[0], f"shapes[{i}][0]", 1))
        cols.append(I.count(s[1], f"shapes[{i}][1]", 1))
    if not rows:
        raise InvalidArgumentError("rank allocation: no items")
    return rows, cols


def _per_item(value: Any, k: int, what: str, default: Any, conv) -> list:
    if value is None:
        return [default] * k
    if isinstance(value, (numbers.Number, bool, np.bool_)):
        return [conv(value)] * k
    vals = list(value)
    if len(vals) != k:
        raise ShapeError(f"{what} has {len(vals)} entries for {k} items")
    return [conv(v) for v in vals]


def _allocate(rule: str, shapes, losses, budget: int, keep: float, weights, names, allow_dense, keep_dense,
              dense_loss, method: str, min_rank: int, rank_multiple: int, max_cells: int) -> AllocationResult:
    rows, cols = _shapes(shapes)
    k = len(rows)
    if losses is None:
        curves = [[] for _ in range(k)]
    else:
        losses = list(losses)
        if len(losses) != k:
            raise ShapeError(f"losses has {len(losses)} curves for {k} items")
        curves = []
        for i, l in enumerate(losses):
            a = np.asarray(l, dtype=np.float64)
            if a.ndim != 1:
                raise ShapeError(f"losses[{i}]: expected a 1-d curve L(0..K), got shape {a.shape}")
            curves.append(a.tolist())
    names = _per_item(names, k, "names", None, str)
    names = [n if n is not None else f"item {i}" for i, n in enumerate(names)]
    d = _ext.allocate(names, rows, cols, curves,
                      _per_item(weights, k, "weights", 1.0, float),
                      _per_item(allow_dense, k, "allow_dense", True, bool),
                      _per_item(keep_dense, k, "keep_dense", False, bool),
                      _per_item(dense_loss, k, "dense_loss", 0.0, float),
                      rule, budget, keep, method, I.count(min_rank, "min_rank", 1),
                      I.count(rank_multiple, "rank_multiple", 1), I.count(max_cells, "max_cells", 1))
    return AllocationResult(ranks=[int(r) for r in d["ranks"]], dense=[bool(x) for x in d["dense"]],
                            item_parameters=[int(p) for p in d["item_parameters"]],
                            item_loss=[float(x) for x in d["item_loss"]], parameters=int(d["parameters"]),
                            budget=int(d["budget"]), dense_parameters=int(d["dense_parameters"]),
                            loss=float(d["loss"]), lower_bound=float(d["lower_bound"]), optimal=bool(d["optimal"]),
                            method=str(d["method"]), quantum=int(d["quantum"]), cells=int(d["cells"]))


def allocate_ranks(shapes: Sequence[Tuple[int, int]], losses: Sequence[ArrayLike], budget: int, *,
                   weights: Optional[Sequence[float]] = None, method: str = "automatic", min_rank: int = 1,
                   rank_multiple: int = 1, allow_dense: Any = True, keep_dense: Any = False,
                   dense_loss: Optional[Sequence[float]] = None, names: Optional[Sequence[str]] = None,
                   max_cells: int = 1 << 20) -> AllocationResult:
    """Ranks r_i minimising Σ_i w_i·L_i(r_i) subject to Σ_i cost_i ≤ budget (parameters).

    Item i is a matrix of shape (m_i, n_i) with loss curve L_i(r), r = 0..K_i (e.g.
    :func:`loss_curve` of a whitened spectrum). Its choices: a rank r, a multiple of
    rank_multiple in [min_rank, min(K_i, break-even rank)], costing r·(m_i + n_i); or dense
    (when allowed), costing m_i·n_i with loss w_i·dense_loss_i (0 by default).

    method: "exact" (global optimum: Lagrangian reduction + multiple-choice knapsack DP),
    "lagrangian" (convex-hull greedy with a reported lower bound) or "automatic" (Lagrangian
    when it is proven optimal, else exact when the DP grid fits max_cells).

    allow_dense / keep_dense / weights / dense_loss / names: one value for every item or one per
    item.

    Raises:
        InfeasibleBudgetError (an InvalidArgumentError) when even the cheapest choices exceed the
        budget; ShapeError / InvalidArgumentError for malformed items (the message names the
        item), TypeError for non-integers.

    Example:
        >>> res = lowrank.allocate_ranks([(64, 32), (32, 64)], [lowrank.loss_curve(s1), lowrank.loss_curve(s2)],
        ...                              budget=2000)
        >>> res.ranks, res.parameters, res.optimal
    """
    if losses is None:
        raise InvalidArgumentError("allocate_ranks needs a loss curve per item")
    return _allocate("optimal", shapes, losses, I.count(budget, "budget"), 1.0, weights, names, allow_dense,
                     keep_dense, dense_loss, method, min_rank, rank_multiple, max_cells)


def allocate_uniform(shapes: Sequence[Tuple[int, int]], keep: float, *, losses: Optional[Sequence[ArrayLike]] = None,
                     min_rank: int = 1, rank_multiple: int = 1, allow_dense: Any = True, keep_dense: Any = False,
                     dense_loss: Optional[Sequence[float]] = None, weights: Optional[Sequence[float]] = None,
                     names: Optional[Sequence[str]] = None) -> AllocationResult:
    """SVD-LLM's uniform rule: every item gets r = ⌊keep·m·n/(m + n)⌋ (rounded down to
    rank_multiple, at least min_rank); dense when keep_dense, when keep ≥ 1, or when r exceeds
    the break-even rank. ``budget`` = ⌊keep·Σ m·n⌋ is reported, not enforced. Losses come from
    the curves when given (NaN otherwise).

    Raises InvalidArgumentError for keep ∉ (0, 1].

    Example:
        >>> lowrank.allocate_uniform([(576, 576), (1536, 576)], keep=0.5).ranks
        [144, 209]
    """
    if isinstance(keep, bool) or not isinstance(keep, numbers.Real) or not (0 < float(keep) <= 1):
        raise InvalidArgumentError(f"allocate_uniform: keep ratio must be in (0, 1], got {keep!r}")
    return _allocate("uniform", shapes, losses, 0, float(keep), weights, names, allow_dense, keep_dense, dense_loss,
                     "automatic", min_rank, rank_multiple, 1 << 20)

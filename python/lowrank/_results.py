"""Result classes of lowrank.svd and lowrank.tucker (immutable, named fields)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class SVDResult:
    """Truncated SVD a ≈ u @ diag(s) @ vt, as returned by :func:`lowrank.svd`.

    Unpacks like numpy's ``SVDResult``: ``u, s, vt = lowrank.svd(a, rank=8)``.

    Attributes:
        u: m × r, orthonormal columns (same framework, device and dtype as the input).
        s: r singular values, descending (same framework and device as the input).
        vt: r × n, orthonormal rows.
        rank: r, the kept rank.
        rel_error: ‖a − u·diag(s)·vt‖_F / ‖a‖_F from the explicit residual (NaN when
            compute_error=False or when nothing was computed).
        error_bound: √(discarded energy) / ‖a‖_F predicted from the spectrum.
        discarded_energy: Σ of the discarded σ_i² (exact/gram); ‖a‖² − Σ s_i² (randomized).
        norm: ‖a‖_F.
        spectrum: every singular value the method computed (host numpy array, descending).
        method: the method that ran ("exact", "gram", "randomized"; a randomized request whose
            sketch covers half of min(m, n) runs "exact").
        status: "ok", "nonfinite_input" (NaN/Inf input with check_finite=False; u, s, vt are
            None) or "no_convergence" (LAPACK did not converge; do not use the factors).
    """

    u: Any
    s: Any
    vt: Any
    rank: int
    rel_error: float
    error_bound: float
    discarded_energy: float
    norm: float
    spectrum: np.ndarray
    method: str
    status: str

    def __iter__(self) -> Iterator[Any]:
        return iter((self.u, self.s, self.vt))


@dataclass(frozen=True)
class TuckerResult:
    """Tucker decomposition x ≈ core ×_0 factors[0] ×_1 factors[1] ⋯, as returned by
    :func:`lowrank.tucker`.

    Unpacks like TensorLy's ``TuckerTensor``: ``core, factors = lowrank.tucker(x, ranks=[4, 4, 4])``.

    Attributes:
        core: R_0 × … × R_{N-1} (same framework, device and dtype as the input).
        factors: list of I_n × R_n matrices with orthonormal columns.
        ranks: (R_0, …, R_{N-1}).
        rel_error: ‖x − x̂‖_F / ‖x‖_F from the explicit residual (NaN if not computed).
        error_bound: √(discarded energy)/‖x‖_F (ST-HOSVD: exact; HOSVD: an upper bound; HOOI: the
            error of the last sweep).
        error_history: HOOI: relative error of the initialisation, then after each sweep.
        iterations: HOOI sweeps performed.
        converged: HOOI stopped on its tolerance (True for the one-pass methods).
        stop_reason: "not_iterative", "tolerance", "max_iterations" or "nonfinite_input".
        status: "ok", "nonfinite_input", "no_convergence" or "not_converged" (HOOI reached
            max_iter before its tolerance; the factors are usable, just not converged).
        method: "hooi", "sthosvd" or "hosvd".
        norm: ‖x‖_F.
        discarded_energy: the energy the truncation discarded.
        spectra: per mode, the singular values of the unfolding the method saw (host numpy).
    """

    core: Any
    factors: Optional[List[Any]]
    ranks: Optional[Tuple[int, ...]]
    rel_error: float
    error_bound: float
    error_history: List[float]
    iterations: int
    converged: bool
    stop_reason: str
    status: str
    method: str
    norm: float
    discarded_energy: float
    spectra: Optional[List[np.ndarray]]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.core, self.factors))

    def reconstruct(self) -> Any:
        """x̂ = core ×_0 factors[0] ⋯ ×_{N-1} factors[N-1], through lowrank.mode_product."""
        from ._api import mode_product

        if self.core is None or self.factors is None:
            raise ValueError(f"nothing to reconstruct: status is {self.status!r}")
        y = self.core
        for n, f in enumerate(self.factors):
            y = mode_product(y, f, n)
        return y

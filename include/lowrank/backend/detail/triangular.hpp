// Plain-loop Cholesky factorisation and triangular solves for the reference backend (the test
// oracle: no BLAS/LAPACK). Row-major, lower-triangular L as in backend/concept.hpp.
#pragma once

#include "lowrank/backend/concept.hpp"

#include <cmath>
#include <cstddef>

namespace lowrank::detail::triangular {

/// Cholesky–Banachiewicz on the row-major n×n matrix a (reads its lower triangle): on success
/// a holds L (lower, positive diagonal, strict upper triangle zeroed) with A = L·Lᵀ and 0 is
/// returned; otherwise the 1-based order of the first leading minor that is not positive
/// definite (a NaN pivot counts as not positive, as in LAPACK's potrf).
template <class T>
int cholesky(std::size_t n, T* a) {
    for (std::size_t j = 0; j < n; ++j) {
        T d = a[j * n + j];
        for (std::size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
        if (!(d > T(0))) return static_cast<int>(j + 1);
        const T ljj = std::sqrt(d);
        a[j * n + j] = ljj;
        for (std::size_t i = j + 1; i < n; ++i) {
            T v = a[i * n + j];
            for (std::size_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = v / ljj;
        }
    }
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) a[i * n + j] = T(0);
    return 0;
}

/// X ← alpha·op(L)⁻¹·X (left, L m×m) or X ← alpha·X·op(L)⁻¹ (right, L n×n); X is m×n with
/// leading dimension ldx, L lower triangular with leading dimension ldl. Forward or back
/// substitution, one right-hand side (column for left, row for right) at a time.
template <class T>
void solve(side s, op t, std::size_t m, std::size_t n, T alpha, const T* l, std::size_t ldl, T* x,
           std::size_t ldx) {
    auto L = [&](std::size_t i, std::size_t j) { return l[i * ldl + j]; };
    if (s == side::left) {
        for (std::size_t c = 0; c < n; ++c) {
            auto X = [&](std::size_t i) -> T& { return x[i * ldx + c]; };
            if (t == op::none) {  // L·y = alpha·x: forward substitution
                for (std::size_t i = 0; i < m; ++i) {
                    T v = alpha * X(i);
                    for (std::size_t k = 0; k < i; ++k) v -= L(i, k) * X(k);
                    X(i) = v / L(i, i);
                }
            } else {  // Lᵀ·y = alpha·x: back substitution
                for (std::size_t i = m; i-- > 0;) {
                    T v = alpha * X(i);
                    for (std::size_t k = i + 1; k < m; ++k) v -= L(k, i) * X(k);
                    X(i) = v / L(i, i);
                }
            }
        }
        return;
    }
    for (std::size_t r = 0; r < m; ++r) {
        T* y = x + r * ldx;
        if (t == op::none) {  // y·L = alpha·x ⇔ Lᵀ·yᵀ = alpha·xᵀ: back substitution
            for (std::size_t j = n; j-- > 0;) {
                T v = alpha * y[j];
                for (std::size_t k = j + 1; k < n; ++k) v -= y[k] * L(k, j);
                y[j] = v / L(j, j);
            }
        } else {  // y·Lᵀ = alpha·x ⇔ L·yᵀ = alpha·xᵀ: forward substitution
            for (std::size_t j = 0; j < n; ++j) {
                T v = alpha * y[j];
                for (std::size_t k = 0; k < j; ++k) v -= L(j, k) * y[k];
                y[j] = v / L(j, j);
            }
        }
    }
}

}  // namespace lowrank::detail::triangular

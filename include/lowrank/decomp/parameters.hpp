// Parameter accounting for factorised weights.
//
// A dense weight W of shape H × W (PyTorch [out, in]) holds H·W parameters. Its factorised
// forms at rank r hold:
//   SVD form      W ≈ U · diag(s) · Vᵀ, s folded into U or V:   (H + W)·r
//   2-D Tucker    W ≈ U1 · G · U2ᵀ with a dense r × r core G:  H·r + r² + r·W   (the study's formula)
// An N-way Tucker tensor of shape I_1 × … × I_N with ranks R_1 … R_N holds
//   ∏ R_n + Σ I_n·R_n.
// The break-even rank is the largest r at which the factorised form still holds strictly
// fewer parameters than the dense one; factorising at a larger rank saves nothing.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"

#include <cmath>
#include <cstdint>
#include <string>

namespace lowrank {

/// Storage form of a factorised matrix.
enum class factor_form {
    svd,      ///< U (H×r) and V (W×r), singular values folded in: (H+W)·r
    tucker2,  ///< U1 (H×r), core (r×r), U2 (W×r): H·r + r² + r·W
};

inline const char* to_string(factor_form f) { return f == factor_form::svd ? "svd" : "tucker2"; }

/// Parameters of a dense rows × cols matrix.
constexpr std::uint64_t dense_parameters(std::uint64_t rows, std::uint64_t cols) { return rows * cols; }

/// Parameters of a rows × cols matrix stored in `form` at rank r.
constexpr std::uint64_t factored_parameters(std::uint64_t rows, std::uint64_t cols, std::uint64_t r,
                                            factor_form form) {
    return form == factor_form::svd ? (rows + cols) * r : rows * r + r * r + r * cols;
}

/// Parameters of an N-way Tucker decomposition: ∏ ranks + Σ dims[n]·ranks[n].
inline std::uint64_t tucker_parameters(const shape_t& dims, const shape_t& ranks) {
    if (dims.size() != ranks.size())
        throw shape_error("tucker_parameters: " + std::to_string(dims.size()) + " dimensions but " +
                          std::to_string(ranks.size()) + " ranks");
    std::uint64_t core = 1, factors = 0;
    for (std::size_t n = 0; n < dims.size(); ++n) {
        core *= ranks[n];
        factors += static_cast<std::uint64_t>(dims[n]) * ranks[n];
    }
    return core + factors;
}

/// Largest rank r ≥ 0 at which the factorised form holds strictly fewer parameters than the
/// dense rows × cols matrix (0 when even rank 1 saves nothing).
constexpr std::uint64_t break_even_rank(std::uint64_t rows, std::uint64_t cols, factor_form form) {
    const std::uint64_t dense = rows * cols;
    // Both forms are increasing in r, so a bisection over [0, min(rows, cols)] is exact.
    std::uint64_t lo = 0, hi = rows < cols ? rows : cols;
    while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo + 1) / 2;
        if (factored_parameters(rows, cols, mid, form) < dense)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/// The break-even rule: true when `form` at rank r holds strictly fewer parameters than the
/// dense rows × cols matrix (equivalently r ≤ break_even_rank). A factorisation that fails it
/// saves nothing; decompose refuses it (unless told otherwise), the runtime keeps the layer dense.
constexpr bool saves_parameters(std::uint64_t rows, std::uint64_t cols, std::uint64_t r, factor_form form) {
    return factored_parameters(rows, cols, r, form) < dense_parameters(rows, cols);
}

/// Compression ratio dense / factorised (> 1 means the factorised form is smaller).
inline double compression_ratio(std::uint64_t rows, std::uint64_t cols, std::uint64_t r, factor_form form) {
    if (r == 0) throw rank_error("compression_ratio: rank must be positive");
    return static_cast<double>(dense_parameters(rows, cols)) /
           static_cast<double>(factored_parameters(rows, cols, r, form));
}

}  // namespace lowrank

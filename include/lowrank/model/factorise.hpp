// Factorising one weight: the per-tensor work of `lowrank decompose`, of the runtime's in-memory
// γ plans and of the CUDA whole-model benchmark, written once.
//
//   W (rows × cols, [out, in])  ≈  U · Vᵀ            svd form:     U = U_r·diag(σ) (rows × r), V (cols × r)
//                               ≈  U1 · G · U2ᵀ      tucker2 form: U1 (rows × r), G (r × r), U2 (cols × r)
//
// Both factors keep the dense dimension first: the layout of the factorised file
// (io/factorized.hpp) and of the runtime's linear layers. Methods:
//   svd form      exact (LAPACK SVD), gram (eigensolver on the Gram matrix), randomized (sketch)
//   tucker2 form  hosvd (one pass; equal to the truncated SVD up to rotations), hooi (iterated)
// `automatic` is exact for svd and hosvd for tucker2.
//
// The result reports the relative error ‖W − Ŵ‖_F / ‖W‖_F (from the explicit residual, unless
// disabled), the Eckart–Young optimum sqrt(Σ_{i>r} σ_i² / Σ σ_i²) from the spectrum the method
// saw (NaN for randomized, which sees only the leading values), and the parameters before and
// after (decomp/parameters.hpp). Numerical trouble is reported in `status`, never thrown; the
// factors are then empty. Misuse (a rank of 0 or above min(rows, cols), a method that does not
// produce the form) throws.
//
// Whether a factorisation is worth storing at all is saves_parameters(rows, cols, r, form)
// (decomp/parameters.hpp): the one break-even rule that decompose, the runtime and the planners use.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/hooi.hpp"
#include "lowrank/decomp/hosvd.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/decomp/tucker.hpp"
#include "lowrank/linalg/svd.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lowrank::model {

enum class factor_method { automatic, exact, gram, randomized, hosvd, hooi };

inline const char* to_string(factor_method m) {
    constexpr const char* n[] = {"automatic", "exact", "gram", "randomized", "hosvd", "hooi"};
    return n[static_cast<int>(m)];
}

/// The weight-decomposition methods users choose by name (`lowrank decompose --method`, recipes):
/// the form each produces and the algorithm that computes it. A method users name is one line
/// here, plus its factor_method branch in factorise_weight (docs/architecture.md).
struct named_method {
    std::string_view name;   ///< as the CLI and recipes spell it
    factor_form form;
    factor_method method;
    std::string_view label;  ///< in messages ("SVD failed")
};
inline constexpr named_method named_methods[] = {
    {"svd", factor_form::svd, factor_method::exact, "SVD"},
    {"tucker2", factor_form::tucker2, factor_method::hosvd, "tucker2"},
    {"hooi", factor_form::tucker2, factor_method::hooi, "hooi"},
};

/// The method named `name`; null when there is none.
inline const named_method* find_method(std::string_view name) {
    for (const auto& m : named_methods)
        if (m.name == name) return &m;
    return nullptr;
}

/// The names of named_methods, in order (for option checks).
inline std::vector<std::string> method_names() {
    std::vector<std::string> v;
    for (const auto& m : named_methods) v.emplace_back(m.name);
    return v;
}

/// "svd, tucker2 or hooi" (for messages).
inline std::string method_list() {
    std::string s;
    for (std::size_t i = 0; i < std::size(named_methods); ++i)
        s += (i == 0 ? "" : i + 1 == std::size(named_methods) ? " or " : ", ") + std::string(named_methods[i].name);
    return s;
}

struct factorise_options {
    factor_form form = factor_form::svd;
    factor_method method = factor_method::automatic;
    bool compute_error = true;  ///< rel_error from the explicit residual (one extra reconstruction)
};

template <class Tensor>
struct factorised_weight {
    factor_form form = factor_form::svd;
    Tensor u;                            ///< rows × r: svd U·diag(σ); tucker2 U1 (orthonormal columns)
    std::optional<Tensor> core;          ///< tucker2: r × r core G
    Tensor v;                            ///< cols × r: svd V; tucker2 U2 (orthonormal columns)
    std::size_t rank = 0;                ///< r
    double rel_error = std::numeric_limits<double>::quiet_NaN();     ///< ‖W − Ŵ‖_F / ‖W‖_F
    double eckart_young = std::numeric_limits<double>::quiet_NaN();  ///< the optimum at rank r
    std::uint64_t parameters_before = 0;  ///< rows·cols
    std::uint64_t parameters_after = 0;   ///< factored_parameters(rows, cols, r, form)
    std::string algorithm;                ///< "truncated_svd(exact)", "hosvd", "hooi", ...
    std::size_t iterations = 0;           ///< hooi: sweeps
    bool converged = true;                ///< hooi: stopped on its tolerance
    lowrank::status status = lowrank::status::ok;
};

/// sqrt(Σ_{i≥r} σ_i² / Σ σ_i²) over `spectrum` (descending): the Eckart–Young relative error
/// of the best rank-r approximation when `spectrum` is the whole spectrum; 0 for a zero matrix.
template <class T>
double eckart_young_error(const std::vector<T>& spectrum, std::size_t r) {
    double all = 0, tail = 0;
    for (std::size_t i = 0; i < spectrum.size(); ++i) {
        const double s2 = static_cast<double>(spectrum[i]) * static_cast<double>(spectrum[i]);
        all += s2;
        if (i >= r) tail += s2;
    }
    return all > 0 ? std::sqrt(tail / all) : 0.0;
}

/// Factorises the matrix `w` (rows × cols, on ctx's backend) at rank r; see the header comment.
template <backend_context Ctx, class Tensor>
factorised_weight<Tensor> factorise_weight(Ctx& ctx, const Tensor& w, std::size_t r, const factorise_options& opt) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t ws = B::shape(w);
    if (ws.size() != 2) throw shape_error("factorise_weight: expected a matrix, got shape " + lowrank::to_string(ws));
    const std::size_t rows = ws[0], cols = ws[1];
    if (r == 0 || r > std::min(rows, cols))
        throw rank_error("factorise_weight: rank " + std::to_string(r) + " outside [1, " +
                         std::to_string(std::min(rows, cols)) + "] for a " + lowrank::to_string(ws) + " matrix");
    factor_method m = opt.method;
    if (m == factor_method::automatic) m = opt.form == factor_form::svd ? factor_method::exact : factor_method::hosvd;
    const bool svd_method = m == factor_method::exact || m == factor_method::gram || m == factor_method::randomized;
    if (svd_method != (opt.form == factor_form::svd))
        throw invalid_argument(std::string("factorise_weight: method ") + to_string(m) + " does not produce the " +
                               lowrank::to_string(opt.form) + " form");

    factorised_weight<Tensor> f;
    f.form = opt.form;
    f.parameters_before = dense_parameters(rows, cols);
    if (svd_method) {
        svd_options o;
        o.trunc = truncation::rank(r);
        o.method = m == factor_method::exact ? svd_method::exact : m == factor_method::gram ? svd_method::gram
                                                                                          : svd_method::randomized;
        o.compute_error = opt.compute_error;
        auto s = truncated_svd(ctx, w, o);
        f.algorithm = std::string("truncated_svd(") + lowrank::to_string(s.method) + ")";
        f.status = s.status;
        if (s.status != status::ok) return f;
        f.rank = s.rank;
        f.rel_error = s.rel_error;
        if (s.method != svd_method::randomized) f.eckart_young = eckart_young_error(s.spectrum, f.rank);
        B::scale_columns(ctx, rows, f.rank, B::data(s.u), s.s.data());  // U·diag(σ)
        f.u = std::move(s.u);
        f.v = B::template empty<T>(ctx, {cols, f.rank});
        B::transpose(ctx, f.rank, cols, B::data(s.vt), B::data(f.v));  // V = Vtᵀ
    } else {
        tucker_result<Tensor> d;
        if (m == factor_method::hosvd) {
            hosvd_options o;
            o.trunc = truncation::rank(r);
            o.compute_error = opt.compute_error;
            d = hosvd(ctx, w, o);
        } else {
            // HOOI's own initialisation (ST-HOSVD at rank r), run here to keep its mode-0
            // spectrum — that of W itself; HOOI's final spectra are of projected unfoldings.
            hosvd_options init;
            init.trunc = truncation::rank(r);
            init.compute_error = false;
            auto start = st_hosvd(ctx, w, init);
            if (start.status == status::nonfinite_input) {
                f.algorithm = "hooi";
                f.status = start.status;
                return f;
            }
            f.eckart_young = eckart_young_error(start.spectra[0], r);
            hooi_options<Tensor> o;
            o.initial_factors = std::move(start.factors);
            o.compute_error = opt.compute_error;
            d = hooi(ctx, w, o);
            f.iterations = d.iterations;
            f.converged = d.converged;
        }
        f.algorithm = d.method;
        f.status = d.status;
        if (d.status != status::ok) return f;
        f.rank = d.ranks[0];
        f.rel_error = d.rel_error;
        if (m == factor_method::hosvd) f.eckart_young = eckart_young_error(d.spectra[0], r);
        f.u = std::move(d.factors[0]);
        f.core = std::move(d.core);
        f.v = std::move(d.factors[1]);
    }
    f.parameters_after = factored_parameters(rows, cols, f.rank, f.form);
    return f;
}

/// factorise_weight with default options for `form` and `method`.
template <backend_context Ctx, class Tensor>
factorised_weight<Tensor> factorise_weight(Ctx& ctx, const Tensor& w, std::size_t r, factor_form form,
                                           factor_method method = factor_method::automatic) {
    return factorise_weight(ctx, w, r, factorise_options{form, method, true});
}

/// An upper estimate of the host bytes that factorising one rows × cols float32 weight at rank r
/// holds at its peak on the CPU backend (xtensor/LAPACK), counting the caller's float32 copy of
/// the weight, the backend tensor it is uploaded to, the method's workspace, the residual that
/// rel_error needs and the returned factors. With m × n the shape, k = min(m, n), K = max(m, n),
/// l = min(k, r + 10) and F = 4(m + n + r)·r bytes of factors, in float32 elements:
///   exact        5mn + mk + kn + 5k² + 8k   (input, its copy, gesdd's backup, U, Vᵀ, gesdd's work)
///   gram         3mn + 3k² + 2Kr            (Gram, eigenvectors, the refined long side)
///   randomized   3mn + 4(m + n)·l + 2l²     (sketches, their QR, the small SVD)
///   hosvd, hooi  6mn + 2(mk + kn) + 5k² + 8k (two SVDs of the unfoldings, one after the other)
/// times 4 bytes, plus F. bench/scale measures it against the peak resident memory of
/// `lowrank decompose` (docs/scale.md §3); `decompose --max-memory` admits tensors against it.
inline std::uint64_t factorise_peak_bytes(std::size_t rows, std::size_t cols, std::size_t r, factor_method method) {
    const std::uint64_t m = rows, n = cols, k = std::min(m, n), K = std::max(m, n), mn = m * n;
    const std::uint64_t l = std::min<std::uint64_t>(k, r + 10);
    std::uint64_t elements = 0;
    switch (method) {
        case factor_method::gram: elements = 3 * mn + 3 * k * k + 2 * K * r; break;
        case factor_method::randomized: elements = 3 * mn + 4 * (m + n) * l + 2 * l * l; break;
        case factor_method::hosvd:
        case factor_method::hooi: elements = 6 * mn + 2 * (m * k + k * n) + 5 * k * k + 8 * k; break;
        case factor_method::automatic:
        case factor_method::exact: elements = 5 * mn + m * k + k * n + 5 * k * k + 8 * k; break;
    }
    return 4 * elements + 4 * (m + n + r) * r;
}

/// The dense approximation Ŵ (rows × cols) of a factorised weight: U·Vᵀ or U1·G·U2ᵀ.
template <backend_context Ctx, class Tensor>
Tensor reconstruct(Ctx& ctx, const factorised_weight<Tensor>& f) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    if (f.status != status::ok) throw invalid_argument("reconstruct: the factorisation failed (" +
                                                       std::string(lowrank::to_string(f.status)) + ")");
    if (f.core) return multi_mode_product(ctx, *f.core, std::vector<const Tensor*>{&f.u, &f.v}, op::none);
    const std::size_t rows = B::shape(f.u)[0], cols = B::shape(f.v)[0], r = f.rank;
    Tensor x = B::template empty<T>(ctx, {rows, cols});
    B::gemm(ctx, op::none, op::trans, rows, cols, r, T(1), B::data(f.u), r, B::data(f.v), r, T(0), B::data(x), cols);
    return x;
}

}  // namespace lowrank::model

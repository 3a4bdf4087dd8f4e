// A linear layer y = W·x (+ b) stored dense or factorised; the factorised forms run their
// chain of thin GEMMs directly (never rebuilding W):
//   dense   W [out, in]                                  y = W x
//   svd     U [out, r] (singular values folded in), V [in, r]    y = U (Vᵀ x)
//   tucker2 U1 [out, r1], G [r1, r2], U2 [in, r2]        y = U1 (G (U2ᵀ x))
// (the layout of include/lowrank/io/factorized.hpp: both factors keep the dense dimension first).
// Activations are row-major [n, features] (one token per row), so every product is one GEMM
// over all n tokens of the batch. `to_bf16()` / `to_q8()` move the factors to a compact storage
// (bf16: runtime/bf16.hpp; 8-bit blocks: runtime/q8.hpp), each kept as a row-major
// [outputs, inputs] matrix so every product reads whole rows.
#pragma once

#include "lowrank/model/factorise.hpp"
#include "runtime/bf16.hpp"
#include "runtime/ops.hpp"
#include "runtime/q8.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace lowrank::runtime {

enum class linear_form { dense, svd, tucker2 };
inline const char* to_string(linear_form f) {
    return f == linear_form::dense ? "dense" : f == linear_form::svd ? "svd" : "tucker2";
}

struct linear {
    linear_form form = linear_form::dense;
    std::size_t out = 0, in = 0, r1 = 0, r2 = 0;  ///< r1 = r2 = r for svd
    std::vector<float> w;     ///< dense: [out, in]; svd: U·diag(s) [out, r]; tucker2: U1 [out, r1]
    std::vector<float> v;     ///< svd: V [in, r]; tucker2: U2 [in, r2]
    std::vector<float> core;  ///< tucker2: G [r1, r2]
    std::vector<float> bias;  ///< [out] or empty
    /// Compact storage (after to_bf16() / to_q8(); the float vectors above are then empty):
    /// w16 / w8 = w, v16 / v8 = vᵀ ([r, in]), core16 / core8 = core — each [outputs of its
    /// product, inputs].
    bf16_matrix w16, v16, core16;
    q8_matrix w8, v8, core8;

    bool is_bf16() const { return !w16.empty(); }
    bool is_q8() const { return !w8.empty(); }
    /// In a compact format (bf16 or q8): it can be run, widened and measured, not factorised.
    bool is_compact() const { return is_bf16() || is_q8(); }

    static linear dense(std::vector<float> w, std::size_t out, std::size_t in, std::vector<float> bias = {}) {
        if (w.size() != out * in) throw invalid_argument("linear: weight has the wrong size");
        linear l;
        l.out = out, l.in = in, l.w = std::move(w), l.bias = std::move(bias);
        return l;
    }
    static linear svd(std::vector<float> us, std::vector<float> v, std::size_t out, std::size_t in, std::size_t r,
                      std::vector<float> bias = {}) {
        if (us.size() != out * r || v.size() != in * r) throw invalid_argument("linear: svd factors have the wrong size");
        linear l;
        l.form = linear_form::svd, l.out = out, l.in = in, l.r1 = l.r2 = r;
        l.w = std::move(us), l.v = std::move(v), l.bias = std::move(bias);
        return l;
    }
    static linear tucker2(std::vector<float> u1, std::vector<float> g, std::vector<float> u2, std::size_t out,
                          std::size_t in, std::size_t r1, std::size_t r2, std::vector<float> bias = {}) {
        if (u1.size() != out * r1 || g.size() != r1 * r2 || u2.size() != in * r2)
            throw invalid_argument("linear: tucker2 factors have the wrong size");
        linear l;
        l.form = linear_form::tucker2, l.out = out, l.in = in, l.r1 = r1, l.r2 = r2;
        l.w = std::move(u1), l.core = std::move(g), l.v = std::move(u2), l.bias = std::move(bias);
        return l;
    }

    std::size_t parameters() const { return factor_elements() + bias.size(); }
    /// Bytes of the weights as stored (float32, bf16 or q8 factors; the bias stays float32).
    std::size_t bytes() const {
        return (w.size() + v.size() + core.size() + bias.size()) * sizeof(float) +
               (w16.size() + v16.size() + core16.size()) * sizeof(std::uint16_t) + w8.bytes() + v8.bytes() + core8.bytes();
    }
    /// Multiply-adds per token.
    std::size_t flops_per_token() const { return factor_elements(); }
    std::size_t factor_elements() const {
        return w.size() + v.size() + core.size() + w16.size() + v16.size() + core16.size() + w8.size() + v8.size() +
               core8.size();
    }

    /// Moves the factors to bf16 storage (each weight rounded to nearest even); no-op when the
    /// layer is already compact.
    void to_bf16() { compact(w16, v16, core16); }
    /// Moves the factors to 8-bit block storage (runtime/q8.hpp); no-op when already compact.
    void to_q8() { compact(w8, v8, core8); }

    /// Y[n, out] = X[n, in] · Wᵀ (+ b). `scratch` is resized as needed.
    void forward(exec_context& ex, const float* x, std::size_t n, float* y, std::vector<float>& scratch) const {
        if (is_compact()) {
            if (is_bf16()) forward_compact(ex, x, n, y, scratch, w16, v16, core16);
            else forward_compact(ex, x, n, y, scratch, w8, v8, core8);
            add_bias(y, n);
            return;
        }
        switch (form) {
            case linear_form::dense:
                gemm(ex, op::none, op::trans, n, out, in, 1.f, x, in, w.data(), in, 0.f, y, out);
                break;
            case linear_form::svd:
                scratch.resize(n * r1);
                gemm(ex, op::none, op::none, n, r1, in, 1.f, x, in, v.data(), r1, 0.f, scratch.data(), r1);
                gemm(ex, op::none, op::trans, n, out, r1, 1.f, scratch.data(), r1, w.data(), r1, 0.f, y, out);
                break;
            case linear_form::tucker2:
                scratch.resize(n * (r1 + r2));
                gemm(ex, op::none, op::none, n, r2, in, 1.f, x, in, v.data(), r2, 0.f, scratch.data(), r2);
                gemm(ex, op::none, op::trans, n, r1, r2, 1.f, scratch.data(), r2, core.data(), r2, 0.f,
                     scratch.data() + n * r2, r1);
                gemm(ex, op::none, op::trans, n, out, r1, 1.f, scratch.data() + n * r2, r1, w.data(), r1, 0.f, y, out);
                break;
        }
        add_bias(y, n);
    }

    /// The equivalent dense weight [out, in] (for tests and folding back).
    std::vector<float> to_dense(exec_context& ex) const {
        if (is_compact()) {
            linear f = widened();
            return f.to_dense(ex);
        }
        if (form == linear_form::dense) return w;
        std::vector<float> d(out * in);
        if (form == linear_form::svd) {
            gemm(ex, op::none, op::trans, out, in, r1, 1.f, w.data(), r1, v.data(), r1, 0.f, d.data(), in);
        } else {
            std::vector<float> t(out * r2);
            gemm(ex, op::none, op::none, out, r2, r1, 1.f, w.data(), r1, core.data(), r2, 0.f, t.data(), r2);
            gemm(ex, op::none, op::trans, out, in, r2, 1.f, t.data(), r2, v.data(), r2, 0.f, d.data(), in);
        }
        return d;
    }

    /// A float32 copy of this layer; of a compact layer, its stored values widened exactly
    /// (bf16) or dequantised (q8).
    linear widened() const {
        if (!is_compact()) return *this;
        return is_bf16() ? widened_from(w16, v16, core16) : widened_from(w8, v8, core8);
    }

private:
    void add_bias(float* y, std::size_t n) const {
        if (!bias.empty())
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < out; ++j) y[i * out + j] += bias[j];
    }

    /// Moves the float factors into compact matrices of type M (bf16_matrix, q8_matrix).
    template <class M>
    void compact(M& cw, M& cv, M& ccore) {
        if (is_compact() || w.empty()) return;
        switch (form) {
            case linear_form::dense: cw = M::from_rows(w.data(), out, in); break;
            case linear_form::svd:
                cw = M::from_rows(w.data(), out, r1);
                cv = M::from_transposed(v.data(), r1, in);
                break;
            case linear_form::tucker2:
                cw = M::from_rows(w.data(), out, r1);
                ccore = M::from_rows(core.data(), r1, r2);
                cv = M::from_transposed(v.data(), r2, in);
                break;
        }
        // assign empty vectors: `w = {}` would pick the initializer_list overload and keep the capacity
        w = std::vector<float>(), v = std::vector<float>(), core = std::vector<float>();
    }

    template <class M>
    linear widened_from(const M& cw, const M& cv, const M& ccore) const {
        linear f = *this;
        f.w16 = {}, f.v16 = {}, f.core16 = {}, f.w8 = {}, f.v8 = {}, f.core8 = {};
        f.w = cw.to_float();
        if (form != linear_form::dense) {
            const auto vt = cv.to_float();  // [r, in] → v [in, r]
            f.v.resize(vt.size());
            for (std::size_t j = 0; j < cv.rows; ++j)
                for (std::size_t i = 0; i < in; ++i) f.v[i * cv.rows + j] = vt[j * in + i];
        }
        if (form == linear_form::tucker2) f.core = ccore.to_float();
        return f;
    }

    template <class M>
    void forward_compact(exec_context& ex, const float* x, std::size_t n, float* y, std::vector<float>& scratch,
                         const M& cw, const M& cv, const M& ccore) const {
        thread_local std::vector<float> tiles;  // widened weight tiles of the GEMM path
        switch (form) {
            case linear_form::dense: matmul_nt(ex, x, in, n, cw, y, out, tiles); break;
            case linear_form::svd:
                scratch.resize(n * r1);
                matmul_nt(ex, x, in, n, cv, scratch.data(), r1, tiles);
                matmul_nt(ex, scratch.data(), r1, n, cw, y, out, tiles);
                break;
            case linear_form::tucker2:
                scratch.resize(n * (r1 + r2));
                matmul_nt(ex, x, in, n, cv, scratch.data(), r2, tiles);
                matmul_nt(ex, scratch.data(), r2, n, ccore, scratch.data() + n * r2, r1, tiles);
                matmul_nt(ex, scratch.data() + n * r2, r1, n, cw, y, out, tiles);
                break;
        }
    }
};

/// Factorises a dense layer at rank r (bias kept) with the library's factorise_weight
/// (lowrank/model/factorise.hpp): svd — truncated SVD, U·diag(s) and V; tucker2 — HOSVD of the
/// matrix (U1, G = U1ᵀWU2, U2). A dense `form` returns the layer unchanged.
inline linear factorise(exec_context& ex, const linear& dense, std::size_t r, linear_form form) {
    if (dense.form != linear_form::dense) throw invalid_argument("factorise: layer is already factorised");
    if (dense.is_compact())
        throw invalid_argument("factorise: layer is stored as bf16/q8 (factorise before to_bf16/to_q8)");
    if (form == linear_form::dense) return dense;
    using B = blas;
    auto W = B::upload<float>(ex.ctx, dense.w.data(), {dense.out, dense.in});
    model::factorise_options opt;
    opt.form = form == linear_form::svd ? factor_form::svd : factor_form::tucker2;
    opt.compute_error = false;
    auto f = model::factorise_weight(ex.ctx, W, r, opt);
    if (f.status != status::ok)
        throw backend_error("factorise: " + f.algorithm + " failed (" + std::string(to_string(f.status)) + ")");
    auto host = [](const auto& t) { return std::vector<float>(t.begin(), t.end()); };
    if (form == linear_form::svd) return linear::svd(host(f.u), host(f.v), dense.out, dense.in, f.rank, dense.bias);
    return linear::tucker2(host(f.u), host(*f.core), host(f.v), dense.out, dense.in, f.rank, f.rank, dense.bias);
}

}  // namespace lowrank::runtime

// Row-wise kernels of the runtime (float32, row-major) and the GEMM entry point.
// GEMMs go through the library's xtensor backend (cblas, OpenBLAS, `threads` threads).
#pragma once

#include "lowrank/backend/xtensor_backend.hpp"
#include "runtime/row_pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <vector>

namespace lowrank::runtime {

using blas = xtensor_backend;

/// Shared execution context: the BLAS context (thread count) and, created on first use, the
/// runtime's own worker pool with the same number of threads.
struct exec_context {
    explicit exec_context(int threads = 2) : ctx(threads), threads(threads) {}
    blas::context ctx;
    int threads;
    row_pool& pool() {
        if (!pool_) pool_ = std::make_unique<row_pool>(unsigned(threads > 0 ? threads : 1));
        return *pool_;
    }

private:
    std::unique_ptr<row_pool> pool_;
};

/// C[m,n] = alpha·op(A)·op(B) + beta·C, row-major with leading dimensions.
inline void gemm(exec_context& ex, op ta, op tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                 const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                 std::size_t ldc) {
    if (m == 0 || n == 0) return;
    blas::gemm<float>(ex.ctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// y = x / sqrt(mean(x²) + eps) · w, for each of `rows` rows of width n.
inline void rms_norm(const float* x, const float* w, float* y, std::size_t rows, std::size_t n, float eps) {
    for (std::size_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        double ss = 0;
        for (std::size_t i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
        const float s = 1.0f / std::sqrt(static_cast<float>(ss / double(n)) + eps);
        for (std::size_t i = 0; i < n; ++i) yr[i] = xr[i] * s * w[i];
    }
}

/// In place: x = (x − mean) / sqrt(var + eps) · w + b, per row (biased variance, as PyTorch).
inline void layer_norm(float* x, const float* w, const float* b, std::size_t rows, std::size_t n, float eps) {
    for (std::size_t r = 0; r < rows; ++r) {
        float* xr = x + r * n;
        double mean = 0, var = 0;
        for (std::size_t i = 0; i < n; ++i) mean += xr[i];
        mean /= double(n);
        for (std::size_t i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
        var /= double(n);
        const float s = static_cast<float>(1.0 / std::sqrt(var + double(eps)));
        const float m = static_cast<float>(mean);
        for (std::size_t i = 0; i < n; ++i) xr[i] = (xr[i] - m) * s * w[i] + b[i];
    }
}

/// In place softmax of the first n entries of a row.
inline void softmax(float* x, std::size_t n) {
    float mx = -std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
    float sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - mx));
    const float inv = 1.0f / sum;
    for (std::size_t i = 0; i < n; ++i) x[i] *= inv;
}

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

/// log Σ exp(x) of a row (double accumulation).
inline double log_sum_exp(const float* x, std::size_t n) {
    float mx = -std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - mx);
    return mx + std::log(s);
}

/// Rotary position embedding tables, Hugging Face "rotate_half" convention: dimension i pairs
/// with i + d/2 and rotates by pos · theta^(−2i/d).
struct rope_table {
    std::size_t dim = 0, max_pos = 0;
    std::vector<float> cos, sin;  ///< [max_pos, dim/2]
    rope_table() = default;
    rope_table(std::size_t d, std::size_t positions, double theta) : dim(d), max_pos(positions) {
        const std::size_t h = d / 2;
        cos.resize(positions * h), sin.resize(positions * h);
        for (std::size_t i = 0; i < h; ++i) {
            // As HF: inv_freq computed in float32, angle = pos·inv_freq in float32.
            const float inv = static_cast<float>(1.0 / std::pow(theta, double(2 * i) / double(d)));
            for (std::size_t p = 0; p < positions; ++p) {
                const float a = static_cast<float>(p) * inv;
                cos[p * h + i] = std::cos(a), sin[p * h + i] = std::sin(a);
            }
        }
    }
    /// Rotates `heads` consecutive head vectors of x (stride dim) at position pos.
    void apply(float* x, std::size_t heads, std::size_t pos) const {
        const std::size_t h = dim / 2;
        const float* c = cos.data() + pos * h;
        const float* s = sin.data() + pos * h;
        for (std::size_t k = 0; k < heads; ++k) {
            float* v = x + k * dim;
            for (std::size_t i = 0; i < h; ++i) {
                const float a = v[i], b = v[i + h];
                v[i] = a * c[i] - b * s[i];
                v[i + h] = b * c[i] + a * s[i];
            }
        }
    }
};

}  // namespace lowrank::runtime

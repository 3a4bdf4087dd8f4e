// bfloat16 weight storage for the runtime: halves the bytes a decode step streams.
//
// Weights are stored as bf16 (the upper 16 bits of an IEEE float32, rounded to nearest even by
// the library's one conversion, lowrank/core/half.hpp);
// activations and accumulation stay float32 (weight-only bf16, like llama.cpp's BF16 path on
// CPUs without native bf16 dot products). A product Y[n, rows] = X[n, cols] · Wᵀ with W a
// row-major [rows, cols] bf16 matrix runs
//   * for n ≤ bf16_kernel_max_tokens (decode): a row-parallel kernel that widens each weight row
//     to float32 in registers and dots it with the n activation rows (AVX2+FMA when the CPU has
//     it, a scalar loop otherwise), rows blocked so W is read once per call, at half the bytes;
//   * for larger n (prefill): W is widened tile by tile into a float32 scratch buffer and each
//     tile goes through the BLAS GEMM, so prefill keeps GEMM speed at the cost of one
//     conversion pass per call.
// Numerics: each weight is rounded once (relative error ≤ 2⁻⁹); sums are float32, as in the
// float32 path, but in a different order.
#pragma once

#include "lowrank/core/half.hpp"
#include "runtime/ops.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LOWRANK_RUNTIME_X86 1
#endif

namespace lowrank::runtime {

/// A row-major [rows, cols] matrix of bf16 values.
struct bf16_matrix {
    std::size_t rows = 0, cols = 0;
    std::vector<std::uint16_t> data;

    bool empty() const { return data.empty(); }
    std::size_t size() const { return data.size(); }
    std::size_t bytes() const { return data.size() * sizeof(std::uint16_t); }

    /// From a row-major [rows, cols] float32 matrix.
    static bf16_matrix from_rows(const float* a, std::size_t rows, std::size_t cols) {
        bf16_matrix m;
        m.rows = rows, m.cols = cols, m.data.resize(rows * cols);
        for (std::size_t i = 0; i < rows * cols; ++i) m.data[i] = float_to_bf16(a[i]);
        return m;
    }
    /// From the transpose of a row-major [cols, rows] float32 matrix.
    static bf16_matrix from_transposed(const float* a, std::size_t rows, std::size_t cols) {
        bf16_matrix m;
        m.rows = rows, m.cols = cols, m.data.resize(rows * cols);
        for (std::size_t i = 0; i < rows; ++i)
            for (std::size_t j = 0; j < cols; ++j) m.data[i * cols + j] = float_to_bf16(a[j * rows + i]);
        return m;
    }
    /// Widens rows [r0, r1) into out (row-major, (r1−r0)·cols floats).
    void widen_rows(std::size_t r0, std::size_t r1, float* out) const;
    std::vector<float> to_float() const {
        std::vector<float> f(rows * cols);
        widen_rows(0, rows, f.data());
        return f;
    }
};

namespace detail {

/// Y[t, r] = Σ_i W[r, i] · X[t, i] for rows r ∈ [r0, r1), tokens t < n (scalar reference).
inline void bf16_rows_scalar(const bf16_matrix& w, const float* x, std::size_t ldx, std::size_t n, float* y,
                             std::size_t ldy, std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint16_t* wr = w.data.data() + r * w.cols;
        for (std::size_t t = 0; t < n; ++t) {
            const float* xt = x + t * ldx;
            float s = 0;
            for (std::size_t i = 0; i < w.cols; ++i) s += bf16_to_float(wr[i]) * xt[i];
            y[t * ldy + r] = s;
        }
    }
}

#ifdef LOWRANK_RUNTIME_X86
__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) inline __m256 widen8(const std::uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/// As bf16_rows_scalar, N tokens at a time (N ≤ 4), two 8-wide chunks per step so each token
/// has two independent FMA chains.
template <std::size_t N>
__attribute__((target("avx2,fma"))) void bf16_rows_avx2(const bf16_matrix& w, const float* x, std::size_t ldx,
                                                        float* y, std::size_t ldy, std::size_t r0, std::size_t r1) {
    const std::size_t cols = w.cols, main = cols / 16 * 16;
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint16_t* wr = w.data.data() + r * cols;
        __m256 a0[N], a1[N];
        for (std::size_t t = 0; t < N; ++t) a0[t] = _mm256_setzero_ps(), a1[t] = _mm256_setzero_ps();
        for (std::size_t i = 0; i < main; i += 16) {
            const __m256 w0 = widen8(wr + i), w1 = widen8(wr + i + 8);
            for (std::size_t t = 0; t < N; ++t) {
                a0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * ldx + i), a0[t]);
                a1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + t * ldx + i + 8), a1[t]);
            }
        }
        for (std::size_t t = 0; t < N; ++t) {
            float s = hsum256(_mm256_add_ps(a0[t], a1[t]));
            for (std::size_t i = main; i < cols; ++i) s += bf16_to_float(wr[i]) * x[t * ldx + i];
            y[t * ldy + r] = s;
        }
    }
}

inline bool cpu_has_avx2_fma() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}
#endif

/// Calls kernel(std::integral_constant<N>, x_t, y_t, b0, b1) for row blocks [b0, b1) of `block`
/// rows covering [r0, r1) and, within each, token groups of N ≤ 4 rows of X starting at token t
/// (x_t = x + t·ldx, y_t = y + t·ldy): each block of W stays in L1 while every group passes over
/// it, so W is streamed from memory once per call. Shared by the compact formats' row kernels.
template <class Kernel>
void by_row_blocks_and_token_groups(std::size_t n, std::size_t r0, std::size_t r1, std::size_t block, const float* x,
                                    std::size_t ldx, float* y, std::size_t ldy, Kernel&& kernel) {
    for (std::size_t b0 = r0; b0 < r1; b0 += block) {
        const std::size_t b1 = std::min(r1, b0 + block);
        for (std::size_t t = 0; t < n;) {
            const std::size_t g = std::min<std::size_t>(4, n - t);
            const float* xt = x + t * ldx;
            float* yt = y + t * ldy;
            switch (g) {
                case 4: kernel(std::integral_constant<std::size_t, 4>{}, xt, yt, b0, b1); break;
                case 3: kernel(std::integral_constant<std::size_t, 3>{}, xt, yt, b0, b1); break;
                case 2: kernel(std::integral_constant<std::size_t, 2>{}, xt, yt, b0, b1); break;
                default: kernel(std::integral_constant<std::size_t, 1>{}, xt, yt, b0, b1); break;
            }
            t += g;
        }
    }
}

/// Rows [r0, r1) for all n tokens (W read once per call: by_row_blocks_and_token_groups).
inline void bf16_rows(const bf16_matrix& w, const float* x, std::size_t ldx, std::size_t n, float* y, std::size_t ldy,
                      std::size_t r0, std::size_t r1) {
#ifdef LOWRANK_RUNTIME_X86
    if (cpu_has_avx2_fma()) {
        const std::size_t block = std::max<std::size_t>(1, 8192 / std::max<std::size_t>(w.cols, 1));
        by_row_blocks_and_token_groups(n, r0, r1, block, x, ldx, y, ldy,
                                       [&](auto N, const float* xt, float* yt, std::size_t b0, std::size_t b1) {
                                           bf16_rows_avx2<decltype(N)::value>(w, xt, ldx, yt, ldy, b0, b1);
                                       });
        return;
    }
#endif
    bf16_rows_scalar(w, x, ldx, n, y, ldy, r0, r1);
}

/// Y[n, w.rows] = X · Wᵀ for a compact matrix W (bf16, q8): for n ≤ kernel_max_tokens the row
/// kernel rows(w, x, ldx, n, y, ldy, r0, r1) on the exec context's row pool; else W widened
/// tile by tile into `scratch` (W::widen_rows) and each tile through the BLAS GEMM.
template <class Matrix, class RowKernel>
void matmul_nt_compact(exec_context& ex, const float* x, std::size_t ldx, std::size_t n, const Matrix& w, float* y,
                       std::size_t ldy, std::vector<float>& scratch, std::size_t kernel_max_tokens, RowKernel&& rows) {
    if (n == 0 || w.rows == 0) return;
    row_pool& pool = ex.pool();
    if (n <= kernel_max_tokens) {
        pool.run(w.rows, [&](std::size_t r0, std::size_t r1) { rows(w, x, ldx, n, y, ldy, r0, r1); });
        return;
    }
    const std::size_t tile = std::max<std::size_t>(64, (std::size_t(1) << 20) / std::max<std::size_t>(w.cols, 1));
    scratch.resize(std::min(tile, w.rows) * w.cols);
    for (std::size_t r0 = 0; r0 < w.rows; r0 += tile) {
        const std::size_t r1 = std::min(w.rows, r0 + tile);
        pool.run(r1 - r0, [&](std::size_t a, std::size_t b) { w.widen_rows(r0 + a, r0 + b, scratch.data() + a * w.cols); });
        gemm(ex, op::none, op::trans, n, r1 - r0, w.cols, 1.f, x, ldx, scratch.data(), w.cols, 0.f, y + r0, ldy);
    }
}

#ifdef LOWRANK_RUNTIME_X86
__attribute__((target("avx2,fma"))) inline void widen_avx2(const std::uint16_t* p, std::size_t count, float* out) {
    std::size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, widen8(p + i));
    for (; i < count; ++i) out[i] = bf16_to_float(p[i]);
}
#endif

/// out[i] = float(p[i]) for i < count.
inline void widen(const std::uint16_t* p, std::size_t count, float* out) {
#ifdef LOWRANK_RUNTIME_X86
    if (cpu_has_avx2_fma()) return widen_avx2(p, count, out);
#endif
    for (std::size_t i = 0; i < count; ++i) out[i] = bf16_to_float(p[i]);
}

}  // namespace detail

inline void bf16_matrix::widen_rows(std::size_t r0, std::size_t r1, float* out) const {
    detail::widen(data.data() + r0 * cols, (r1 - r0) * cols, out);
}

/// Tokens up to which matmul_nt_bf16 uses the row kernel rather than widening tiles for GEMM.
inline constexpr std::size_t bf16_kernel_max_tokens = 32;

/// Y[n, w.rows] (leading dimension ldy) = X[n, w.cols] (leading dimension ldx) · Wᵀ.
/// `scratch` holds the widened tiles of the GEMM path.
inline void matmul_nt_bf16(exec_context& ex, const float* x, std::size_t ldx, std::size_t n,
                           const bf16_matrix& w, float* y, std::size_t ldy, std::vector<float>& scratch) {
    detail::matmul_nt_compact(ex, x, ldx, n, w, y, ldy, scratch, bf16_kernel_max_tokens,
                              [](const auto&... a) { detail::bf16_rows(a...); });
}

}  // namespace lowrank::runtime

// 8-bit block-quantised weight storage for the runtime (`--weights q8`): a little over a
// quarter of float32's bytes, about 56 % of bf16's, for a decode step that streams every weight.
//
// Format (q8_matrix): a row-major [rows, cols] matrix cut, row by row, into blocks of
// q8_block = 32 consecutive values (the last block of a row is shorter when cols is not a
// multiple of 32). Each block stores one float32 scale s = max|w| / 127 and the 8-bit integers
// q = round(w / s) ∈ [−127, 127] (s = 0 and q = 0 for an all-zero block), so each weight is
// w ≈ s·q with |w − s·q| ≤ s/2 — like llama.cpp's Q8_0, with a float32 rather than float16 scale
// (36 bytes per 32 weights instead of 34). Activations and accumulation stay float32
// (weight-only quantisation).
//
// Products Y[n, rows] = X[n, cols] · Wᵀ (matmul_nt_q8) run, as for bf16 (runtime/bf16.hpp),
//   * for n ≤ q8_kernel_max_tokens (decode): a row-parallel kernel that widens each block to
//     float32 in registers (AVX-512 or AVX2+FMA, the widest the CPU has; a scalar loop otherwise)
//     and dots it with up to 4 activation rows at a time, rows blocked so W is read once per call;
//   * for larger n (prefill): W dequantised tile by tile into a float32 scratch buffer, each tile
//     through the BLAS GEMM.
// Numerics: the products are those of the dequantised matrix s·q (float32 sums in another order).
#pragma once

#include "runtime/bf16.hpp"
#include "runtime/ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lowrank::runtime {

inline constexpr std::size_t q8_block = 32;

/// A row-major [rows, cols] matrix of 8-bit block-quantised values (see the file comment).
struct q8_matrix {
    std::size_t rows = 0, cols = 0;
    std::vector<std::int8_t> q;  ///< [rows, cols]
    std::vector<float> scale;    ///< [rows, blocks_per_row()]

    bool empty() const { return q.empty(); }
    /// Elements (rows · cols).
    std::size_t size() const { return q.size(); }
    std::size_t blocks_per_row() const { return (cols + q8_block - 1) / q8_block; }
    /// Bytes as stored (the integers and the scales).
    std::size_t bytes() const { return q.size() + scale.size() * sizeof(float); }

    /// From a row-major [rows, cols] float32 matrix (row i at a + i·ld; ld = cols by default).
    static q8_matrix from_rows(const float* a, std::size_t rows, std::size_t cols) {
        q8_matrix m;
        m.rows = rows, m.cols = cols, m.q.resize(rows * cols), m.scale.resize(rows * m.blocks_per_row());
        for (std::size_t r = 0; r < rows; ++r) m.quantize_row(r, a + r * cols);
        return m;
    }
    /// From the transpose of a row-major [cols, rows] float32 matrix.
    static q8_matrix from_transposed(const float* a, std::size_t rows, std::size_t cols) {
        q8_matrix m;
        m.rows = rows, m.cols = cols, m.q.resize(rows * cols), m.scale.resize(rows * m.blocks_per_row());
        std::vector<float> row(cols);
        for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t j = 0; j < cols; ++j) row[j] = a[j * rows + r];
            m.quantize_row(r, row.data());
        }
        return m;
    }

    /// Dequantises rows [r0, r1) into out (row-major, (r1−r0)·cols floats).
    void widen_rows(std::size_t r0, std::size_t r1, float* out) const {
        const std::size_t nb = blocks_per_row();
        for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t b = 0; b < nb; ++b) {
                const float s = scale[r * nb + b];
                const std::size_t j0 = b * q8_block, j1 = std::min(cols, j0 + q8_block);
                for (std::size_t j = j0; j < j1; ++j) out[(r - r0) * cols + j] = s * static_cast<float>(q[r * cols + j]);
            }
    }
    std::vector<float> to_float() const {
        std::vector<float> f(rows * cols);
        widen_rows(0, rows, f.data());
        return f;
    }

private:
    void quantize_row(std::size_t r, const float* w) {
        const std::size_t nb = blocks_per_row();
        for (std::size_t b = 0; b < nb; ++b) {
            const std::size_t j0 = b * q8_block, j1 = std::min(cols, j0 + q8_block);
            float amax = 0;
            for (std::size_t j = j0; j < j1; ++j) amax = std::max(amax, std::fabs(w[j]));
            const float s = amax / 127.f;
            scale[r * nb + b] = s;
            const float inv = s > 0 ? 1.f / s : 0.f;
            for (std::size_t j = j0; j < j1; ++j)
                q[r * cols + j] = static_cast<std::int8_t>(std::clamp(std::nearbyint(w[j] * inv), -127.f, 127.f));
        }
    }
};

namespace detail {

/// Y[t, r] = Σ_i s·q[r, i] · X[t, i] for rows r ∈ [r0, r1), tokens t < n (scalar reference).
inline void q8_rows_scalar(const q8_matrix& w, const float* x, std::size_t ldx, std::size_t n, float* y,
                           std::size_t ldy, std::size_t r0, std::size_t r1) {
    const std::size_t nb = w.blocks_per_row();
    for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t t = 0; t < n; ++t) {
            const float* xt = x + t * ldx;
            float acc = 0;
            for (std::size_t b = 0; b < nb; ++b) {
                const std::size_t j0 = b * q8_block, j1 = std::min(w.cols, j0 + q8_block);
                float s = 0;
                for (std::size_t j = j0; j < j1; ++j) s += static_cast<float>(w.q[r * w.cols + j]) * xt[j];
                acc += w.scale[r * nb + b] * s;
            }
            y[t * ldy + r] = acc;
        }
}

/// s·(q · x) over the short last block of row r (0 when cols is a multiple of q8_block): the
/// part of a row the vector kernels leave to scalar code.
inline float short_block_dot(const q8_matrix& w, std::size_t r, const float* x) {
    const std::size_t full = w.cols / q8_block;
    if (full * q8_block == w.cols) return 0.f;
    const std::int8_t* qr = w.q.data() + r * w.cols;
    float s = 0;
    for (std::size_t j = full * q8_block; j < w.cols; ++j) s += static_cast<float>(qr[j]) * x[j];
    return w.scale[r * w.blocks_per_row() + full] * s;
}

#ifdef LOWRANK_RUNTIME_X86
__attribute__((target("avx2,fma"))) inline __m256 widen_q8x8(const std::int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

/// As q8_rows_scalar, N tokens at a time (N ≤ 4): each full block widened to four 8-wide float
/// vectors, scaled, and multiply-added into two accumulators per token.
template <std::size_t N>
__attribute__((target("avx2,fma"))) void q8_rows_avx2(const q8_matrix& w, const float* x, std::size_t ldx, float* y,
                                                      std::size_t ldy, std::size_t r0, std::size_t r1) {
    const std::size_t cols = w.cols, nb = w.blocks_per_row(), full = cols / q8_block;
    for (std::size_t r = r0; r < r1; ++r) {
        const std::int8_t* qr = w.q.data() + r * cols;
        const float* sr = w.scale.data() + r * nb;
        __m256 a0[N], a1[N];
        for (std::size_t t = 0; t < N; ++t) a0[t] = _mm256_setzero_ps(), a1[t] = _mm256_setzero_ps();
        for (std::size_t b = 0; b < full; ++b) {
            const __m256 s = _mm256_set1_ps(sr[b]);
            const std::int8_t* qb = qr + b * q8_block;
            const __m256 w0 = _mm256_mul_ps(widen_q8x8(qb), s), w1 = _mm256_mul_ps(widen_q8x8(qb + 8), s);
            const __m256 w2 = _mm256_mul_ps(widen_q8x8(qb + 16), s), w3 = _mm256_mul_ps(widen_q8x8(qb + 24), s);
            const std::size_t i = b * q8_block;
            for (std::size_t t = 0; t < N; ++t) {
                const float* xt = x + t * ldx + i;
                a0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt), a0[t]);
                a1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + 8), a1[t]);
                a0[t] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xt + 16), a0[t]);
                a1[t] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xt + 24), a1[t]);
            }
        }
        for (std::size_t t = 0; t < N; ++t) {
            y[t * ldy + r] = hsum256(_mm256_add_ps(a0[t], a1[t])) + short_block_dot(w, r, x + t * ldx);
        }
    }
}
/// acc[t] += scale · (block · x_t) for one full block (32 weights at qb) and N token rows.
template <std::size_t N>
__attribute__((target("avx512f"), always_inline)) inline void q8_block_avx512(const std::int8_t* qb, float scale,
                                                                               const float* x, std::size_t ldx,
                                                                               __m512 (&acc)[N]) {
    const __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb))));
    const __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb + 16))));
    const __m512 s = _mm512_set1_ps(scale);
    for (std::size_t t = 0; t < N; ++t) {
        const float* xt = x + t * ldx;
        const __m512 p = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), _mm512_mul_ps(w0, _mm512_loadu_ps(xt)));
        acc[t] = _mm512_fmadd_ps(p, s, acc[t]);
    }
}

/// As q8_rows_avx2 with 16-wide vectors: each full block is two vectors, dotted unscaled with
/// the activations and the sum multiply-added with the block's scale (blocks in pairs, one
/// accumulator each, so the two FMA chains overlap) — about half the instructions per weight of
/// the AVX2 kernel.
template <std::size_t N>
__attribute__((target("avx512f"))) void q8_rows_avx512(const q8_matrix& w, const float* x, std::size_t ldx, float* y,
                                                       std::size_t ldy, std::size_t r0, std::size_t r1) {
    const std::size_t cols = w.cols, nb = w.blocks_per_row(), full = cols / q8_block;
    for (std::size_t r = r0; r < r1; ++r) {
        const std::int8_t* qr = w.q.data() + r * cols;
        const float* sr = w.scale.data() + r * nb;
        __m512 a0[N], a1[N];
        for (std::size_t t = 0; t < N; ++t) a0[t] = _mm512_setzero_ps(), a1[t] = _mm512_setzero_ps();
        std::size_t b = 0;
        for (; b + 1 < full; b += 2) {
            q8_block_avx512<N>(qr + b * q8_block, sr[b], x + b * q8_block, ldx, a0);
            q8_block_avx512<N>(qr + (b + 1) * q8_block, sr[b + 1], x + (b + 1) * q8_block, ldx, a1);
        }
        if (b < full) q8_block_avx512<N>(qr + b * q8_block, sr[b], x + b * q8_block, ldx, a0);
        for (std::size_t t = 0; t < N; ++t) {
            y[t * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[t], a1[t])) + short_block_dot(w, r, x + t * ldx);
        }
    }
}

inline bool cpu_has_avx512f() {
    static const bool yes = __builtin_cpu_supports("avx512f");
    return yes;
}
#endif

/// Which q8 row kernel runs: the widest this CPU has (automatic), or one named (tests).
enum class q8_isa { automatic, scalar, avx2, avx512 };

/// True when this CPU can run `isa`'s kernel.
inline bool q8_isa_available(q8_isa isa) {
#ifdef LOWRANK_RUNTIME_X86
    if (isa == q8_isa::avx512) return cpu_has_avx512f();
    if (isa == q8_isa::avx2) return cpu_has_avx2_fma();
#else
    if (isa == q8_isa::avx512 || isa == q8_isa::avx2) return false;
#endif
    return true;
}

/// Rows [r0, r1) for all n tokens (W read once per call: by_row_blocks_and_token_groups).
inline void q8_rows(const q8_matrix& w, const float* x, std::size_t ldx, std::size_t n, float* y, std::size_t ldy,
                    std::size_t r0, std::size_t r1, q8_isa isa = q8_isa::automatic) {
#ifdef LOWRANK_RUNTIME_X86
    if (isa == q8_isa::automatic) isa = cpu_has_avx512f() ? q8_isa::avx512 : cpu_has_avx2_fma() ? q8_isa::avx2 : q8_isa::scalar;
    const std::size_t block = std::max<std::size_t>(1, 16384 / std::max<std::size_t>(w.cols, 1));
    if (isa == q8_isa::avx512) {
        by_row_blocks_and_token_groups(n, r0, r1, block, x, ldx, y, ldy,
                                       [&](auto N, const float* xt, float* yt, std::size_t b0, std::size_t b1) {
                                           q8_rows_avx512<decltype(N)::value>(w, xt, ldx, yt, ldy, b0, b1);
                                       });
        return;
    }
    if (isa == q8_isa::avx2) {
        by_row_blocks_and_token_groups(n, r0, r1, block, x, ldx, y, ldy,
                                       [&](auto N, const float* xt, float* yt, std::size_t b0, std::size_t b1) {
                                           q8_rows_avx2<decltype(N)::value>(w, xt, ldx, yt, ldy, b0, b1);
                                       });
        return;
    }
#endif
    (void)isa;
    q8_rows_scalar(w, x, ldx, n, y, ldy, r0, r1);
}

}  // namespace detail

/// Tokens up to which matmul_nt_q8 uses the row kernel rather than dequantising tiles for GEMM.
inline constexpr std::size_t q8_kernel_max_tokens = 32;

/// Y[n, w.rows] (leading dimension ldy) = X[n, w.cols] (leading dimension ldx) · Wᵀ, W the
/// dequantised matrix. `scratch` holds the dequantised tiles of the GEMM path.
inline void matmul_nt_q8(exec_context& ex, const float* x, std::size_t ldx, std::size_t n, const q8_matrix& w,
                         float* y, std::size_t ldy, std::vector<float>& scratch) {
    detail::matmul_nt_compact(ex, x, ldx, n, w, y, ldy, scratch, q8_kernel_max_tokens,
                              [](const auto&... a) { detail::q8_rows(a...); });
}

/// The same product for either compact format (overloads used by linear and the model).
inline void matmul_nt(exec_context& ex, const float* x, std::size_t ldx, std::size_t n, const bf16_matrix& w, float* y,
                      std::size_t ldy, std::vector<float>& scratch) {
    matmul_nt_bf16(ex, x, ldx, n, w, y, ldy, scratch);
}
inline void matmul_nt(exec_context& ex, const float* x, std::size_t ldx, std::size_t n, const q8_matrix& w, float* y,
                      std::size_t ldy, std::vector<float>& scratch) {
    matmul_nt_q8(ex, x, ldx, n, w, y, ldy, scratch);
}

}  // namespace lowrank::runtime

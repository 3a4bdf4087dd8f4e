// The CPU mode-n product kernel: Y[l] (J×R) = op(A) (J×I) · X[l] (I×R) for l < L over the
// (L, I, R) view of a row-major tensor, with register-blocked SIMD micro-kernels (AVX-512 or
// AVX2+FMA, picked at run time) that read the big operand X in place — no unfolding, no
// packing of X (except a panel at a time where its rows are a multiple of 4 KiB apart, see
// run()) — and split the work over the context's worker threads.
//
// Why not BLAS: a mode product is a GEMM with a small inner dimension (I) and, for every mode
// but the first, a shape BLAS runs poorly — a strided batch of L small GEMMs (middle modes:
// one call per slice, each packing its operands and, with threads, synchronising) or, for the
// last mode, Y (L×J) = X (L×I)·op(A)ᵀ where OpenBLAS packs all of X and runs its kernel with
// the small J as its blocked dimension (profile: 20–28 % of the time in ?gemm_oncopy/itcopy).
// Here only op(A) (J×I, small) is packed, once per call:
//   * R > 1 (first and middle modes): the micro-kernel computes an MR×NR tile of Y[l] (MR rows
//     j, NR = NV·W columns r) as Σ_k op(A)[j, k]·X[l][k, r..r+NR) — a broadcast of the packed
//     op(A) times a vector load from a row of X[l];
//   * R = 1 (last mode): an MR×NR tile of Y (MR rows l, NR columns j) as Σ_k X[l, k]·op(A)[j, k]
//     — a broadcast from MR rows of X times a vector of the packed op(A)ᵀ.
// Each tile runs the whole inner dimension in registers (k blocked by kc for large I, then
// accumulated in Y) and is stored once. Tiles are split into contiguous ranges, one per worker
// thread; each output element is written by one thread.
//
// Numerics: each element is a plain sequential sum over k in the working precision (k-blocks
// summed in order), the accuracy class of a BLAS GEMM; no reassociation across k.
//
// run() returns false (nothing computed) when the CPU has neither AVX-512F nor AVX2+FMA, the
// compiler is not GCC/Clang on x86-64, or the problem is empty; callers then use BLAS.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/backend/detail/worker_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#include <immintrin.h>
#define LOWRANK_MODE_KERNEL_X86 1
#endif

namespace lowrank::detail::mode_kernel {

/// One register-blocked micro-kernel: C[m, 0..NR) (+)= Σ_{k<K} a(m, k) · b[k·b_ks + 0..NR) for
/// m < MR, storing rows m < m_valid; accumulate adds to C. a(m, k) = a[k·MR + m] for the packed
/// variant (a_rs, a_ks unused), a[m·a_rs + k·a_ks] otherwise.
template <class T>
using micro_fn = void (*)(std::size_t K, const T* a, std::ptrdiff_t a_rs, std::ptrdiff_t a_ks, const T* b,
                          std::ptrdiff_t b_ks, T* c, std::ptrdiff_t c_rs, std::size_t m_valid, bool accumulate);

template <class T>
struct micro {
    micro_fn<T> packed = nullptr;  ///< a(m, k) = a[k·MR + m] (op(A) packed in MR-row tiles)
    micro_fn<T> rows = nullptr;    ///< a(m, k) = a[m·a_rs + k] (rows of X read in place)
    std::size_t mr = 0, nr = 0, nv = 0;  ///< tile rows, columns, vectors per row
};

#ifdef LOWRANK_MODE_KERNEL_X86

// Vector traits, each function compiled for its instruction set.
#define LOWRANK_MK_TRAITS(NAME, TARGET, T, V, W_, SET0, LOAD, SET1, FMA, ADD, STORE)                         \
    struct NAME {                                                                                          \
        using value = T;                                                                                   \
        using vec = V;                                                                                     \
        static constexpr std::size_t W = W_;                                                               \
        __attribute__((target(TARGET), always_inline)) static inline V zero() { return SET0(); }           \
        __attribute__((target(TARGET), always_inline)) static inline V load(const T* p) { return LOAD(p); } \
        __attribute__((target(TARGET), always_inline)) static inline V bcast(const T* p) { return SET1(*p); } \
        __attribute__((target(TARGET), always_inline)) static inline V fma(V a, V b, V c) { return FMA(a, b, c); } \
        __attribute__((target(TARGET), always_inline)) static inline V add(V a, V b) { return ADD(a, b); }   \
        __attribute__((target(TARGET), always_inline)) static inline void store(T* p, V v) { STORE(p, v); } \
    };

LOWRANK_MK_TRAITS(avx512_f32, "avx512f", float, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps,
                  _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps)
LOWRANK_MK_TRAITS(avx512_f64, "avx512f", double, __m512d, 8, _mm512_setzero_pd, _mm512_loadu_pd, _mm512_set1_pd,
                  _mm512_fmadd_pd, _mm512_add_pd, _mm512_storeu_pd)
LOWRANK_MK_TRAITS(avx2_f32, "avx2,fma", float, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps,
                  _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps)
LOWRANK_MK_TRAITS(avx2_f64, "avx2,fma", double, __m256d, 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_set1_pd,
                  _mm256_fmadd_pd, _mm256_add_pd, _mm256_storeu_pd)
#undef LOWRANK_MK_TRAITS

// The micro-kernel body, stamped once per instruction set (a template cannot carry a target
// that depends on its parameters). MR×NV accumulators stay in registers for the whole k loop.
#define LOWRANK_MK_KERNEL(NAME, TARGET)                                                                        \
    template <class VT, std::size_t MR, std::size_t NV, bool PACKED>                                           \
    __attribute__((target(TARGET))) void NAME(std::size_t K, const typename VT::value* a, std::ptrdiff_t a_rs,  \
                                              std::ptrdiff_t a_ks, const typename VT::value* b,                 \
                                              std::ptrdiff_t b_ks, typename VT::value* c, std::ptrdiff_t c_rs,  \
                                              std::size_t m_valid, bool accumulate) {                          \
        using V = typename VT::vec;                                                                            \
        constexpr std::size_t W = VT::W;                                                                       \
        V acc[MR][NV];                                                                                         \
        for (std::size_t m = 0; m < MR; ++m)                                                                   \
            for (std::size_t v = 0; v < NV; ++v) acc[m][v] = VT::zero();                                       \
        for (std::size_t k = 0; k < K; ++k) {                                                                  \
            V bv[NV];                                                                                          \
            if constexpr (NV > 1) /* the rows 8 steps ahead (+2–10 % on L2-resident panels) */                \
                for (std::size_t v = 0; v < NV * W * sizeof(typename VT::value); v += 64)                       \
                    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * b_ks) + v, _MM_HINT_T0);                \
            for (std::size_t v = 0; v < NV; ++v) bv[v] = VT::load(b + v * W);                                  \
            for (std::size_t m = 0; m < MR; ++m) {                                                             \
                const V s = VT::bcast(PACKED ? a + m : a + std::ptrdiff_t(m) * a_rs);                           \
                for (std::size_t v = 0; v < NV; ++v) acc[m][v] = VT::fma(s, bv[v], acc[m][v]);                  \
            }                                                                                                  \
            a += PACKED ? std::ptrdiff_t(MR) : a_ks;                                                           \
            b += b_ks;                                                                                         \
        }                                                                                                      \
        for (std::size_t m = 0; m < MR; ++m)                                                                   \
            if (m < m_valid)                                                                                   \
                for (std::size_t v = 0; v < NV; ++v) {                                                         \
                    typename VT::value* p = c + std::ptrdiff_t(m) * c_rs + v * W;                               \
                    VT::store(p, accumulate ? VT::add(VT::load(p), acc[m][v]) : acc[m][v]);                     \
                }                                                                                              \
    }

LOWRANK_MK_KERNEL(kernel_avx512, "avx512f")
LOWRANK_MK_KERNEL(kernel_avx2, "avx2,fma")
#undef LOWRANK_MK_KERNEL

inline bool has_avx512() {
    static const bool yes = __builtin_cpu_supports("avx512f");
    return yes;
}
inline bool has_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}

template <class VT, std::size_t MR, std::size_t NV>
micro<typename VT::value> avx512_micro() {
    return {&kernel_avx512<VT, MR, NV, true>, &kernel_avx512<VT, MR, NV, false>, MR, NV * VT::W, NV};
}
template <class VT, std::size_t MR, std::size_t NV>
micro<typename VT::value> avx2_micro() {
    return {&kernel_avx2<VT, MR, NV, true>, &kernel_avx2<VT, MR, NV, false>, MR, NV * VT::W, NV};
}

/// Every micro-kernel this CPU can run for T: the AVX-512 set (when available), then the AVX2
/// set; within a set the widest vector tile first. AVX-512 tiles keep MR·NV ≤ 24 accumulators
/// (of 32 vector registers), AVX2 tiles MR·NV = 12 (of 16).
template <class T>
std::vector<micro<T>> all_micro_kernels() {
    using F = std::conditional_t<std::is_same_v<T, float>, avx512_f32, avx512_f64>;
    using H = std::conditional_t<std::is_same_v<T, float>, avx2_f32, avx2_f64>;
    std::vector<micro<T>> ks;
    if (has_avx512())
        ks = {avx512_micro<F, 6, 4>(), avx512_micro<F, 8, 3>(), avx512_micro<F, 12, 2>(), avx512_micro<F, 24, 1>()};
    if (has_avx2())
        for (const auto& k : {avx2_micro<H, 4, 3>(), avx2_micro<H, 6, 2>(), avx2_micro<H, 12, 1>()}) ks.push_back(k);
    return ks;
}

/// The kernels run() chooses from: the widest instruction set's.
template <class T>
std::vector<micro<T>> micro_kernels() {
    auto ks = all_micro_kernels<T>();
    if (has_avx512()) ks.resize(4);
    return ks;
}

#else
template <class T>
std::vector<micro<T>> all_micro_kernels() {
    return {};
}
template <class T>
std::vector<micro<T>> micro_kernels() {
    return {};
}
#endif

/// Fraction of useful work of a tile grid: n rows of a dimension covered by tiles of t.
inline double tile_fill(std::size_t n, std::size_t t) {
    return double(n) / double((n + t - 1) / t * t);
}

/// The kernel whose tiles waste least on the two tiled dimensions (rows × vector columns);
/// ties go to the wider vector tile (listed first). One-vector tiles (MR = 12 or 24 rows of
/// broadcasts per vector) only when the columns fit one vector: streaming that many rows runs
/// at a fraction of the others' speed (f64, J = 37: 15 ms against 5 ms).
template <class T>
micro<T> pick(const std::vector<micro<T>>& ks, std::size_t rows, std::size_t cols) {
    micro<T> best;
    double best_fill = -1;
    for (const auto& k : ks) {
        if (k.nv == 1 && cols > k.nr && ks.size() > 1) continue;  // one-vector tile, wider columns
        const double f = tile_fill(rows, k.mr) * tile_fill(cols, k.nr);
        if (f > best_fill + 1e-9) best = k, best_fill = f;
    }
    return best;
}

/// Cache blocking. The tiles of Y are grouped into tasks (R > 1: one NR-column panel of one
/// Y[l], all J rows; R = 1: MR rows of Y, all J columns). A thread takes its tasks in chunks
/// whose Y fits in about y_chunk_bytes (L2), and runs the inner dimension in k-blocks of kc
/// steps over the whole chunk before the next block: the packed op(A) block (kc × J) then stays
/// cached across the chunk's tasks, the chunk's Y while it accumulates, and the operand that a
/// task's tiles share (R > 1: the X panel, kc × NR; R = 1: MR rows of X, MR × kc) in L1 when
/// it is about l1_panel_bytes; at least min_kc steps per block keep the accumulation into Y a
/// small fraction of the loads. Tuning knobs (measured in bench_core), not contracts.
inline std::size_t min_kc = 64;
inline std::size_t l1_panel_bytes = 32768;
inline std::size_t y_chunk_bytes = 262144;

/// k-block length for an operand of `row_bytes` bytes per k step (see l1_panel_bytes); the
/// whole of I when it is at most two such blocks (one pass over Y beats a second one).
inline std::size_t block_k(std::size_t I, std::size_t row_bytes) {
    const std::size_t kc = std::max(min_kc, l1_panel_bytes / std::max<std::size_t>(row_bytes, 1));
    return I <= 2 * kc ? I : kc;
}

/// Tasks per chunk for tasks of `task_bytes` bytes of Y each (see y_chunk_bytes).
inline std::size_t chunk_tasks(std::size_t task_bytes) {
    return std::max<std::size_t>(1, y_chunk_bytes / std::max<std::size_t>(task_bytes, 1));
}

/// Splits [0, n) into `parts` contiguous ranges; returns range `part`.
inline std::pair<std::size_t, std::size_t> share(std::size_t n, unsigned part, unsigned parts) {
    return {n * part / parts, n * (part + 1) / parts};
}

/// Y = X ×_n op(A) over the (L, I, R) view: x is L×I×R, a is op(A) J×I (row-major J×I with
/// leading dimension lda for op::none, I×J for op::trans), y is L×J×R. Returns false, touching
/// nothing, when no SIMD kernel is available. `force` runs one given micro-kernel (tests).
template <class T>
bool run(worker_pool* pool, op a_op, std::size_t L, std::size_t J, std::size_t I, std::size_t R, const T* a,
         std::size_t lda, const T* x, T* y, const micro<T>* force = nullptr) {
    static const std::vector<micro<T>> defaults = micro_kernels<T>();
    const std::vector<micro<T>> forced = force ? std::vector<micro<T>>{*force} : std::vector<micro<T>>{};
    const std::vector<micro<T>>& kernels = force ? forced : defaults;
    if (kernels.empty() || L == 0 || J == 0 || I == 0 || R == 0) return false;
    // Where OpenBLAS's fully packed GEMM measured ahead of the kernel, decline (callers use
    // BLAS). Measured on an AMD EPYC (Zen 4, AVX-512) against OpenBLAS 0.3.21, single thread:
    //  * first mode (L = 1, one well-shaped GEMM (J×I)·(I×R)): a tiny inner dimension (I < 64:
    //    memory-bound, kernel at 72–86 %) or double with J > 16 (kernel at 86–91 % at J = 64);
    //    float is ahead at every J (114–149 % at J = 32, 64; 1.2–3× for J = 6–37 at I = 768);
    //  * last mode (R = 1) with fewer than 96 bytes of J per row (float J < 24, double J < 12):
    //    one vector or less per row of X, the kernel's broadcasts then bound it (BLAS 1.1–3.6×).
    if (!force && L == 1 && R > 1 && (I < 64 || (std::is_same_v<T, double> && J > 16))) return false;
    if (!force && R == 1 && J * sizeof(T) < 96) return false;
    auto opa = [&](std::size_t j, std::size_t k) { return a_op == op::none ? a[j * lda + k] : a[k * lda + j]; };
    const unsigned parts = pool ? pool->size() : 1;
    // Below ~2 MFLOP the threads' wake-up costs more than they save.
    const bool parallel = parts > 1 && 2.0 * double(L) * double(J) * double(I) * double(R) > 2e6;

    if (R == 1) {
        // Last mode: Y (L×J) = X (L×I) · op(A)ᵀ. Tiles: MR rows of X × NR columns of J.
        const micro<T> mk = pick(kernels, L, J);
        const std::size_t MR = mk.mr, NR = mk.nr, panels = (J + NR - 1) / NR;
        std::vector<T> bt(panels * I * NR, T(0));  // op(A)ᵀ panels [p][k][NR], zero-padded columns
        for (std::size_t p = 0; p < panels; ++p)
            for (std::size_t k = 0; k < I; ++k)
                for (std::size_t c = 0; c < NR && p * NR + c < J; ++c) bt[(p * I + k) * NR + c] = opa(p * NR + c, k);
        const std::size_t blocks = (L + MR - 1) / MR, kc = block_k(I, MR * sizeof(T));
        const std::size_t chunk = chunk_tasks(MR * J * sizeof(T));
        auto body = [&](unsigned part) {
            const auto [b0, b1] = share(blocks, part, parallel ? parts : 1);
            std::vector<T> xpad, tile(MR * NR);
            for (std::size_t c0 = b0; c0 < b1; c0 += chunk)
            for (std::size_t k0 = 0; k0 < I; k0 += kc) {
                const std::size_t kn = std::min(kc, I - k0);
                const bool acc = k0 > 0;
                for (std::size_t blk = c0; blk < std::min(b1, c0 + chunk); ++blk) {
                    const std::size_t l0 = blk * MR, mv = std::min(MR, L - l0);
                    const T* xa = x + l0 * I + k0;
                    std::ptrdiff_t xs = std::ptrdiff_t(I);
                    if (mv < MR) {  // last rows: a zero-padded copy so the kernel reads MR rows
                        xpad.assign(MR * kn, T(0));
                        for (std::size_t m = 0; m < mv; ++m) std::memcpy(&xpad[m * kn], xa + m * I, kn * sizeof(T));
                        xa = xpad.data(), xs = std::ptrdiff_t(kn);
                    }
                    for (std::size_t p = 0; p < panels; ++p) {
                        const std::size_t j0 = p * NR, nv = std::min(NR, J - j0);
                        const T* bp = &bt[(p * I + k0) * NR];
                        T* yt = y + l0 * J + j0;
                        if (nv == NR) {
                            mk.rows(kn, xa, xs, 1, bp, std::ptrdiff_t(NR), yt, std::ptrdiff_t(J), mv, acc);
                            continue;
                        }
                        for (std::size_t m = 0; m < mv && acc; ++m) std::memcpy(&tile[m * NR], yt + m * J, nv * sizeof(T));
                        mk.rows(kn, xa, xs, 1, bp, std::ptrdiff_t(NR), tile.data(), std::ptrdiff_t(NR), mv, acc);
                        for (std::size_t m = 0; m < mv; ++m) std::memcpy(yt + m * J, &tile[m * NR], nv * sizeof(T));
                    }
                }
            }
        };
        if (parallel) pool->run(body);
        else body(0);
        return true;
    }

    // First and middle modes: Y[l] (J×R) = op(A) (J×I) · X[l] (I×R). Tiles: MR rows of J × NR
    // columns of R, for every l.
    const micro<T> mk = pick(kernels, J, R);
    const std::size_t MR = mk.mr, NR = mk.nr, jt = (J + MR - 1) / MR;
    std::vector<T> ap(jt * I * MR, T(0));  // op(A) tiles [t][k][MR], zero-padded rows
    for (std::size_t t = 0; t < jt; ++t)
        for (std::size_t k = 0; k < I; ++k)
            for (std::size_t m = 0; m < MR && t * MR + m < J; ++m) ap[(t * I + k) * MR + m] = opa(t * MR + m, k);
    const std::size_t panels = (R + NR - 1) / NR, tasks = L * panels, kc = block_k(I, NR * sizeof(T));
    const std::size_t chunk = chunk_tasks(J * NR * sizeof(T));
    // Rows of X a multiple of 4 KiB apart (the first mode of 128³/256³: 64–256 KiB) map to the
    // same cache sets, so a panel re-read by several tiles does not stay cached: copy it once per
    // k-block instead (256³ float, mode 0, J = 256: 81–105 → 116–119 GFLOP/s, kernel alone;
    // J = 32–64: +3–6 %). Other strides gain nothing from the copy (30×576×576 double mode 1
    // lost ~20 %), so they are read in place.
    const bool pack = jt > 1 && (R * sizeof(T)) % 4096 == 0;
    auto body = [&](unsigned part) {
        const auto [t0, t1] = share(tasks, part, parallel ? parts : 1);
        std::vector<T> bpad, tile(MR * NR);
        for (std::size_t c0 = t0; c0 < t1; c0 += chunk)
        for (std::size_t k0 = 0; k0 < I; k0 += kc) {
            const std::size_t kn = std::min(kc, I - k0);
            const bool acc = k0 > 0;
            for (std::size_t task = c0; task < std::min(t1, c0 + chunk); ++task) {
                const std::size_t l = task / panels, r0 = (task % panels) * NR, nv = std::min(NR, R - r0);
                const T* xb = x + (l * I + k0) * R + r0;
                std::ptrdiff_t xs = std::ptrdiff_t(R);
                if (nv < NR || pack) {  // a contiguous copy of the panel (last columns: zero-padded)
                    bpad.assign(kn * NR, T(0));
                    for (std::size_t k = 0; k < kn; ++k) std::memcpy(&bpad[k * NR], xb + k * R, nv * sizeof(T));
                    xb = bpad.data(), xs = std::ptrdiff_t(NR);
                }
                T* yl = y + l * J * R + r0;
                for (std::size_t t = 0; t < jt; ++t) {
                    const std::size_t mv = std::min(MR, J - t * MR);
                    const T* at = &ap[(t * I + k0) * MR];
                    T* yt = yl + t * MR * R;
                    if (nv == NR) {
                        mk.packed(kn, at, 1, std::ptrdiff_t(MR), xb, xs, yt, std::ptrdiff_t(R), mv, acc);
                        continue;
                    }
                    for (std::size_t m = 0; m < mv && acc; ++m) std::memcpy(&tile[m * NR], yt + m * R, nv * sizeof(T));
                    mk.packed(kn, at, 1, std::ptrdiff_t(MR), xb, xs, tile.data(), std::ptrdiff_t(NR), mv, acc);
                    for (std::size_t m = 0; m < mv; ++m) std::memcpy(yt + m * R, &tile[m * NR], nv * sizeof(T));
                }
            }
        }
    };
    if (parallel) pool->run(body);
    else body(0);
    return true;
}

}  // namespace lowrank::detail::mode_kernel

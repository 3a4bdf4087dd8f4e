// The CUDA backend: cuBLAS and cuSOLVER over device memory, behind the same contract as the
// CPU backends (backend/concept.hpp), so every algorithm of the library (mode-n products,
// exact/Gram/randomized truncated SVD, HOSVD, ST-HOSVD, HOOI, 2-D Tucker) runs on the GPU
// unchanged:
//
//     lowrank::cuda_backend::context ctx;                       // device 0, own stream + handles
//     auto a = lowrank::cuda_backend::upload<float>(ctx, host_ptr, {4096, 11008});
//     auto r = lowrank::truncated_svd(ctx, a, {.trunc = lowrank::truncation::rank(256)});
//     std::vector<float> u_host = r.u.to_host();                 // factors stay on the device
//
// Pointers passed to the operations are device pointers (into cuda_backend::tensor storage),
// except where the contract says "host": svd's singular values, syevd's eigenvalues and
// scale_columns' scale vector. Row-major conventions are mapped onto column-major cuBLAS /
// cuSOLVER by operating on the transpose (see detail/device_ops.hpp, detail/factorizations.hpp).
//
// Host APIs only: a plain C++20 compiler with the CUDA toolkit's include path compiles this
// header; link with lowrank::cuda (cudart, cublas, cusolver). Needs CUDA >= 12.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/cuda/context.hpp"
#include "lowrank/cuda/detail/cublas.hpp"
#include "lowrank/cuda/detail/device_ops.hpp"
#include "lowrank/cuda/detail/factorizations.hpp"
#include "lowrank/cuda/device_tensor.hpp"
#include "lowrank/cuda/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace lowrank {

struct cuda_backend {
    static constexpr const char* name = "cuda";

    /// The execution context (cuda::device_context: stream, cuBLAS/cuSOLVER handles, workspace).
    struct context : cuda::device_context {
        using backend_type = cuda_backend;
        using cuda::device_context::device_context;
    };

    template <class T>
    using tensor = cuda::device_tensor<T>;

    // ---- storage -------------------------------------------------------------------------

    template <class T>
    static tensor<T> empty(context& ctx, const shape_t& s) {
        return tensor<T>(ctx.stream_handle(), s);
    }
    template <class T>
    static tensor<T> zeros(context& ctx, const shape_t& s) {
        tensor<T> t(ctx.stream_handle(), s);
        if (t.bytes()) LOWRANK_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, t.bytes(), ctx.stream()));  // 0.0 is all-zero bits
        return t;
    }
    template <class T>
    static shape_t shape(const tensor<T>& t) {
        return t.shape();
    }
    template <class T>
    static T* data(tensor<T>& t) {
        return t.data();
    }
    template <class T>
    static const T* data(const tensor<T>& t) {
        return t.data();
    }
    template <class T>
    static void reshape(tensor<T>& t, const shape_t& s) {
        t.reshape(s);
    }
    /// Host → device; returns when the copy has completed.
    template <class T>
    static tensor<T> upload(context& ctx, const T* host, const shape_t& s) {
        tensor<T> t(ctx.stream_handle(), s);
        cuda::detail::upload_small(ctx, host, t.size(), t.data());
        return t;
    }
    /// Device → host (numel(shape) elements); returns when the copy has completed.
    template <class T>
    static void download(context& ctx, const tensor<T>& t, T* host) {
        cuda::detail::download_small(ctx, t.data(), t.size(), host);
    }
    template <class T>
    static void copy(context& ctx, std::size_t n, const T* x, T* y) {
        if (n) LOWRANK_CUDA_CHECK(cudaMemcpyAsync(y, x, n * sizeof(T), cudaMemcpyDeviceToDevice, ctx.stream()));
    }
    template <class T>
    static void copy_2d(context& ctx, std::size_t rows, std::size_t cols, const T* src, std::size_t ld_src, T* dst,
                        std::size_t ld_dst) {
        cuda::detail::copy_2d(ctx, rows, cols, src, ld_src, dst, ld_dst);
    }

    // ---- level 3 -------------------------------------------------------------------------

    /// Row-major C = alpha·op(A)·op(B) + beta·C is the column-major Cᵀ = alpha·op(B)ᵀ·op(A)ᵀ
    /// + beta·Cᵀ, and the row-major buffers already are Aᵀ, Bᵀ, Cᵀ in column-major: swap the
    /// operands and the m/n dimensions, keep the transposition flags.
    template <class T>
    static void gemm(context& ctx, op ta, op tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                     std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
        using cuda::detail::to64;
        if (m == 0 || n == 0) return;
        if (k == 0) return cuda::detail::scale_matrix(ctx, m, n, beta, c, ldc);
        cuda::detail::blas::gemm(ctx.cublas(), flag(tb), flag(ta), to64(n), to64(m), to64(k), &alpha, b, to64(ldb), a,
                                 to64(lda), &beta, c, to64(ldc));
    }

    /// Same mapping as gemm, one cuBLAS strided-batched call (chunked at 65535 matrices).
    /// A stride of 0 broadcasts one operand (as mode_product does with its factor).
    template <class T>
    static void gemm_strided_batched(context& ctx, op ta, op tb, std::size_t m, std::size_t n, std::size_t k, T alpha,
                                     const T* a, std::size_t lda, std::size_t stride_a, const T* b, std::size_t ldb,
                                     std::size_t stride_b, T beta, T* c, std::size_t ldc, std::size_t stride_c,
                                     std::size_t batch) {
        using cuda::detail::to64;
        if (m == 0 || n == 0 || batch == 0) return;
        constexpr std::size_t max_batch = 65535;
        for (std::size_t b0 = 0; b0 < batch; b0 += max_batch) {
            const std::size_t nb = std::min(max_batch, batch - b0);
            const T* ab = a + b0 * stride_a;
            const T* bb = b + b0 * stride_b;
            T* cb = c + b0 * stride_c;
            if (k == 0) {
                for (std::size_t i = 0; i < nb; ++i) cuda::detail::scale_matrix(ctx, m, n, beta, cb + i * stride_c, ldc);
                continue;
            }
            cuda::detail::blas::gemm_strided_batched(
                ctx.cublas(), flag(tb), flag(ta), to64(n), to64(m), to64(k), &alpha, bb, to64(ldb),
                static_cast<long long>(stride_b), ab, to64(lda), static_cast<long long>(stride_a), &beta, cb,
                to64(ldc), static_cast<long long>(stride_c), to64(nb));
        }
    }

    /// C (n×n) ← alpha·A·Aᵀ + beta·C (t = none) or alpha·Aᵀ·A + beta·C (t = trans), both
    /// triangles filled. Computed as a full GEMM (cuBLAS's GEMM is faster than its SYRK on
    /// current GPUs and fills both triangles), then symmetrised exactly, C ← (C + Cᵀ)/2, so
    /// rounding differences between the two triangles cannot leak into the eigensolver.
    template <class T>
    static void syrk(context& ctx, op t, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda, T beta,
                     T* c, std::size_t ldc) {
        using cuda::detail::to64;
        if (n == 0) return;
        if (t == op::none)
            gemm(ctx, op::none, op::trans, n, n, k, alpha, a, lda, a, lda, beta, c, ldc);
        else
            gemm(ctx, op::trans, op::none, n, n, k, alpha, a, lda, a, lda, beta, c, ldc);
        if (n == 1) return;
        T* ct = static_cast<T*>(ctx.workspace(n * n * sizeof(T)));
        cuda::detail::transpose(ctx, n, n, c, ldc, ct, n);
        const T half = T(0.5);
        cuda::detail::blas::geam(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, to64(n), to64(n), &half, c, to64(ldc), &half,
                                 ct, to64(n), c, to64(ldc));
    }

    // ---- factorisations (see detail/factorizations.hpp for the column-major mapping) -------

    /// Thin SVD; s is host memory. svd_driver::gesvd → cuSOLVER gesvd. svd_driver::gesdd (the
    /// "fast" driver) → the context's options().fast_svd: gesvdj by default, retried with
    /// gesvd on the original matrix when Jacobi does not converge (mirrors gesdd → gesvd).
    template <class T>
    static int svd(context& ctx, std::size_t m, std::size_t n, T* a, T* s, T* u, T* vt, svd_driver driver) {
        if (std::min(m, n) == 0) return 0;
        if (driver == svd_driver::gesvd || ctx.options().fast_svd == cuda::svd_solver::gesvd)
            return cuda::detail::svd_gesvd(ctx, m, n, a, s, u, vt);
        tensor<T> backup(ctx.stream_handle(), {m * n});
        copy(ctx, m * n, a, backup.data());
        int info = cuda::detail::svd_gesvdj(ctx, m, n, a, s, u, vt);
        if (info > 0) info = cuda::detail::svd_gesvd(ctx, m, n, backup.data(), s, u, vt);
        return info;
    }

    /// Symmetric eigendecomposition; w is host memory (ascending), eigenvector i in row i of a.
    template <class T>
    static int syevd(context& ctx, std::size_t n, T* a, T* w) {
        return cuda::detail::syevd(ctx, n, a, w);
    }

    template <class T>
    static int orthonormalize_columns(context& ctx, std::size_t m, std::size_t n, T* a) {
        return cuda::detail::orthonormalize_columns(ctx, m, n, a);
    }

    /// Cholesky (cuSOLVER potrf on the column-major view; see detail/factorizations.hpp).
    template <class T>
    static int potrf(context& ctx, std::size_t n, T* a) {
        return cuda::detail::potrf(ctx, n, a);
    }

    /// Row-major X (m×n) is the column-major Xᵀ (n×m) and the row-major lower L is the
    /// column-major upper Lᵀ: op(L)⁻¹·X becomes Xᵀ·op(Lᵀ)⁻¹ and X·op(L)⁻¹ becomes op(Lᵀ)⁻¹·Xᵀ,
    /// so the side flips, the fill mode is UPPER, the transposition flag is kept and m/n swap.
    template <class T>
    static void trsm(context& ctx, side s, op t, std::size_t m, std::size_t n, T alpha, const T* l, std::size_t ldl,
                     T* x, std::size_t ldx) {
        using cuda::detail::to64;
        if (m == 0 || n == 0) return;
        cuda::detail::blas::trsm(ctx.cublas(), s == side::left ? CUBLAS_SIDE_RIGHT : CUBLAS_SIDE_LEFT,
                                 CUBLAS_FILL_MODE_UPPER, flag(t), to64(n), to64(m), &alpha, l, to64(ldl), x, to64(ldx));
    }

    // ---- data movement ---------------------------------------------------------------------

    /// b (n×m) ← aᵀ (a is m×n), one cuBLAS geam.
    template <class T>
    static void transpose(context& ctx, std::size_t m, std::size_t n, const T* a, T* b) {
        cuda::detail::transpose(ctx, m, n, a, b);
    }

    /// y(b, a, c) ← x(a, b, c). c = 1 is a transpose (geam); otherwise min(a, b) strided 2-D
    /// copies of rows of c elements.
    template <class T>
    static void swap_outer(context& ctx, std::size_t a, std::size_t b, std::size_t c, const T* x, T* y) {
        if (a == 0 || b == 0 || c == 0) return;
        if (c == 1) return transpose(ctx, a, b, x, y);
        if (a == 1 || b == 1) return copy(ctx, a * b * c, x, y);
        if (a <= b) {
            for (std::size_t i = 0; i < a; ++i)  // X[i] (b×c, ld c) → Y[:, i, :] (b×c, ld a·c)
                cuda::detail::copy_2d(ctx, b, c, x + i * b * c, c, y + i * c, a * c);
        } else {
            for (std::size_t j = 0; j < b; ++j)  // X[:, j, :] (a×c, ld b·c) → Y[j] (a×c, ld c)
                cuda::detail::copy_2d(ctx, a, c, x + j * c, b * c, y + j * a * c, c);
        }
    }

    /// a(:, j) ← d[j]·a(:, j); d is host memory (uploaded into the workspace, then one dgmm on
    /// the column-major n×m view, whose rows are our columns).
    template <class T>
    static void scale_columns(context& ctx, std::size_t m, std::size_t n, T* a, const T* d) {
        using cuda::detail::to64;
        if (m == 0 || n == 0) return;
        T* dd = static_cast<T*>(ctx.workspace(n * sizeof(T)));
        cuda::detail::upload_small(ctx, d, n, dd);
        cuda::detail::blas::dgmm(ctx.cublas(), CUBLAS_SIDE_LEFT, to64(n), to64(m), a, to64(n), dd, 1, a, to64(n));
    }

    // ---- level 1 (results come back to the host: these synchronise the stream) -------------

    template <class T>
    static T nrm2(context& ctx, std::size_t n, const T* x) {
        if (n == 0) return T(0);
        T r{};
        cuda::detail::blas::nrm2(ctx.cublas(), cuda::detail::to64(n), x, &r);
        return r;
    }
    template <class T>
    static T dot(context& ctx, std::size_t n, const T* x, const T* y) {
        if (n == 0) return T(0);
        T r{};
        cuda::detail::blas::dot(ctx.cublas(), cuda::detail::to64(n), x, y, &r);
        return r;
    }
    template <class T>
    static void axpy(context& ctx, std::size_t n, T alpha, const T* x, T* y) {
        if (n) cuda::detail::blas::axpy(ctx.cublas(), cuda::detail::to64(n), &alpha, x, y);
    }
    template <class T>
    static void scal(context& ctx, std::size_t n, T alpha, T* x) {
        if (n) cuda::detail::blas::scal(ctx.cublas(), cuda::detail::to64(n), &alpha, x);
    }

    /// True when no element is NaN or ±Inf. Σ x_i·0 is exactly 0 for finite data and NaN as
    /// soon as one x_i is NaN or Inf (0·Inf = NaN), with no overflow possible — unlike ‖x‖,
    /// which overflows for large finite data. Computed as cuBLAS dots against a zero block
    /// (2^20 elements at a time, results kept on the device, one download at the end).
    template <class T>
    static bool all_finite(context& ctx, std::size_t n, const T* x) {
        using cuda::detail::to64;
        if (n == 0) return true;
        constexpr std::size_t block = std::size_t{1} << 20;
        const std::size_t len = std::min(n, block), chunks = (n + block - 1) / block;
        cuda::detail::workspace_layout lay;
        const auto o_zero = lay.add<T>(len), o_res = lay.add<T>(chunks);
        void* base = ctx.workspace(lay.total());
        T* zero = cuda::detail::at<T>(base, o_zero);
        T* res = cuda::detail::at<T>(base, o_res);
        LOWRANK_CUDA_CHECK(cudaMemsetAsync(zero, 0, len * sizeof(T), ctx.stream()));
        {
            cuda::detail::device_pointer_mode dev_mode(ctx.cublas());
            for (std::size_t i = 0; i < chunks; ++i) {
                const std::size_t off = i * block, cnt = std::min(block, n - off);
                cuda::detail::blas::dot(ctx.cublas(), to64(cnt), x + off, zero, res + i);
            }
        }
        std::vector<T> host(chunks);
        cuda::detail::download_small(ctx, res, chunks, host.data());
        return std::all_of(host.begin(), host.end(), [](T v) { return std::isfinite(v); });
    }

private:
    static cublasOperation_t flag(op o) { return o == op::none ? CUBLAS_OP_N : CUBLAS_OP_T; }
};

static_assert(backend<cuda_backend>);
static_assert(backend_context<cuda_backend::context>);

}  // namespace lowrank

// float/double overloads over the cuBLAS 64-bit-index API (cuBLAS >= 12), each call checked
// (a failure throws backend_error naming the cuBLAS entry point). Column-major, as cuBLAS is;
// the row-major mapping lives in cuda_backend.hpp.
#pragma once

#include "lowrank/cuda/errors.hpp"

#include <cstdint>

#if !defined(CUBLAS_VER_MAJOR) || CUBLAS_VER_MAJOR < 12
#error "lowrank's CUDA backend needs cuBLAS >= 12 (CUDA 12 or newer) for the 64-bit index API"
#endif

namespace lowrank::cuda::detail::blas {

using i64 = std::int64_t;

#define LOWRANK_CUDA_BLAS_OVERLOADS(T, P)                                                                          \
    inline void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, i64 m, i64 n, i64 k,          \
                     const T* alpha, const T* a, i64 lda, const T* b, i64 ldb, const T* beta, T* c, i64 ldc) {   \
        LOWRANK_CUBLAS_CHECK(cublas##P##gemm_64(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));         \
    }                                                                                                              \
    inline void gemm_strided_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, i64 m, i64 n,  \
                                     i64 k, const T* alpha, const T* a, i64 lda, long long sa, const T* b,        \
                                     i64 ldb, long long sb, const T* beta, T* c, i64 ldc, long long sc,           \
                                     i64 batch) {                                                                  \
        LOWRANK_CUBLAS_CHECK(cublas##P##gemmStridedBatched_64(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb,  \
                                                              beta, c, ldc, sc, batch));                           \
    }                                                                                                              \
    inline void geam(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, i64 m, i64 n, const T* alpha, \
                     const T* a, i64 lda, const T* beta, const T* b, i64 ldb, T* c, i64 ldc) {                    \
        LOWRANK_CUBLAS_CHECK(cublas##P##geam_64(h, ta, tb, m, n, alpha, a, lda, beta, b, ldb, c, ldc));            \
    }                                                                                                              \
    inline void dgmm(cublasHandle_t h, cublasSideMode_t side, i64 m, i64 n, const T* a, i64 lda, const T* x,     \
                     i64 incx, T* c, i64 ldc) {                                                                    \
        LOWRANK_CUBLAS_CHECK(cublas##P##dgmm_64(h, side, m, n, a, lda, x, incx, c, ldc));                          \
    }                                                                                                              \
    inline void trsm(cublasHandle_t h, cublasSideMode_t side, cublasFillMode_t uplo, cublasOperation_t t, i64 m, \
                     i64 n, const T* alpha, const T* a, i64 lda, T* b, i64 ldb) {                                  \
        LOWRANK_CUBLAS_CHECK(cublas##P##trsm_64(h, side, uplo, t, CUBLAS_DIAG_NON_UNIT, m, n, alpha, a, lda, b, ldb)); \
    }                                                                                                              \
    inline void nrm2(cublasHandle_t h, i64 n, const T* x, T* result) {                                            \
        LOWRANK_CUBLAS_CHECK(cublas##P##nrm2_64(h, n, x, 1, result));                                              \
    }                                                                                                              \
    inline void dot(cublasHandle_t h, i64 n, const T* x, const T* y, T* result) {                                  \
        LOWRANK_CUBLAS_CHECK(cublas##P##dot_64(h, n, x, 1, y, 1, result));                                         \
    }                                                                                                              \
    inline void axpy(cublasHandle_t h, i64 n, const T* alpha, const T* x, T* y) {                                  \
        LOWRANK_CUBLAS_CHECK(cublas##P##axpy_64(h, n, alpha, x, 1, y, 1));                                         \
    }                                                                                                              \
    inline void scal(cublasHandle_t h, i64 n, const T* alpha, T* x) {                                              \
        LOWRANK_CUBLAS_CHECK(cublas##P##scal_64(h, n, alpha, x, 1));                                               \
    }

LOWRANK_CUDA_BLAS_OVERLOADS(float, S)
LOWRANK_CUDA_BLAS_OVERLOADS(double, D)

#undef LOWRANK_CUDA_BLAS_OVERLOADS

inline cublasOperation_t to_cublas(bool transposed) { return transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace lowrank::cuda::detail::blas

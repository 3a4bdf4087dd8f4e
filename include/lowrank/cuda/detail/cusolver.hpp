// float/double overloads over the cuSOLVER dense (legacy 32-bit) API, each call checked (a
// failure throws backend_error naming the cuSOLVER entry point). Column-major, as cuSOLVER
// is; dimensions go through to_int, which throws backend_error beyond the 32-bit range.
#pragma once

#include "lowrank/cuda/errors.hpp"

#include <climits>
#include <cstddef>
#include <string>

namespace lowrank::cuda::detail::solver {

inline int to_int(std::size_t v, const char* what) {
    if (v > static_cast<std::size_t>(INT_MAX))
        throw backend_error(std::string(what) + ": dimension " + std::to_string(v) +
                            " exceeds cuSOLVER's 32-bit index range");
    return static_cast<int>(v);
}

#define LOWRANK_CUDA_SOLVER_OVERLOADS(T, P)                                                                         \
    inline int gesvd_buffer_size(cusolverDnHandle_t h, int m, int n, const T*) {                                   \
        int lwork = 0;                                                                                              \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##gesvd_bufferSize(h, m, n, &lwork));                                  \
        return lwork;                                                                                               \
    }                                                                                                               \
    inline void gesvd(cusolverDnHandle_t h, signed char jobu, signed char jobvt, int m, int n, T* a, int lda,      \
                      T* s, T* u, int ldu, T* vt, int ldvt, T* work, int lwork, T* rwork, int* info) {             \
        LOWRANK_CUSOLVER_CHECK(                                                                                     \
            cusolverDn##P##gesvd(h, jobu, jobvt, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, rwork, info));     \
    }                                                                                                               \
    inline int gesvdj_buffer_size(cusolverDnHandle_t h, cusolverEigMode_t jobz, int econ, int m, int n,           \
                                  const T* a, int lda, const T* s, const T* u, int ldu, const T* v, int ldv,      \
                                  gesvdjInfo_t params) {                                                            \
        int lwork = 0;                                                                                              \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##gesvdj_bufferSize(h, jobz, econ, m, n, a, lda, s, u, ldu, v, ldv,    \
                                                                &lwork, params));                                   \
        return lwork;                                                                                               \
    }                                                                                                               \
    inline void gesvdj(cusolverDnHandle_t h, cusolverEigMode_t jobz, int econ, int m, int n, T* a, int lda, T* s,  \
                       T* u, int ldu, T* v, int ldv, T* work, int lwork, int* info, gesvdjInfo_t params) {         \
        LOWRANK_CUSOLVER_CHECK(                                                                                     \
            cusolverDn##P##gesvdj(h, jobz, econ, m, n, a, lda, s, u, ldu, v, ldv, work, lwork, info, params));      \
    }                                                                                                               \
    inline int gesvdj_batched_buffer_size(cusolverDnHandle_t h, cusolverEigMode_t jobz, int m, int n, const T* a,  \
                                          int lda, const T* s, const T* u, int ldu, const T* v, int ldv,          \
                                          gesvdjInfo_t params, int batch) {                                         \
        int lwork = 0;                                                                                              \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##gesvdjBatched_bufferSize(h, jobz, m, n, a, lda, s, u, ldu, v, ldv,   \
                                                                       &lwork, params, batch));                     \
        return lwork;                                                                                               \
    }                                                                                                               \
    inline void gesvdj_batched(cusolverDnHandle_t h, cusolverEigMode_t jobz, int m, int n, T* a, int lda, T* s,    \
                               T* u, int ldu, T* v, int ldv, T* work, int lwork, int* info, gesvdjInfo_t params,  \
                               int batch) {                                                                         \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##gesvdjBatched(h, jobz, m, n, a, lda, s, u, ldu, v, ldv, work, lwork, \
                                                            info, params, batch));                                  \
    }                                                                                                               \
    inline int potrf_buffer_size(cusolverDnHandle_t h, int n, T* a, int lda) {                                    \
        int lwork = 0;                                                                                              \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##potrf_bufferSize(h, CUBLAS_FILL_MODE_UPPER, n, a, lda, &lwork));     \
        return lwork;                                                                                               \
    }                                                                                                               \
    inline void potrf(cusolverDnHandle_t h, int n, T* a, int lda, T* work, int lwork, int* info) {                 \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##potrf(h, CUBLAS_FILL_MODE_UPPER, n, a, lda, work, lwork, info));     \
    }                                                                                                               \
    inline int syevd_buffer_size(cusolverDnHandle_t h, int n, const T* a, int lda, const T* w) {                   \
        int lwork = 0;                                                                                              \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##syevd_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, \
                                                               n, a, lda, w, &lwork));                              \
        return lwork;                                                                                               \
    }                                                                                                               \
    inline void syevd(cusolverDnHandle_t h, int n, T* a, int lda, T* w, T* work, int lwork, int* info) {           \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##syevd(h, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, n, a, lda, \
                                                    w, work, lwork, info));                                         \
    }                                                                                                               \
    inline int geqrf_buffer_size(cusolverDnHandle_t h, int m, int n, T* a, int lda) {                              \
        int lwork = 0;                                                                                              \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##geqrf_bufferSize(h, m, n, a, lda, &lwork));                          \
        return lwork;                                                                                               \
    }                                                                                                               \
    inline void geqrf(cusolverDnHandle_t h, int m, int n, T* a, int lda, T* tau, T* work, int lwork, int* info) {  \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##geqrf(h, m, n, a, lda, tau, work, lwork, info));                     \
    }                                                                                                               \
    inline int orgqr_buffer_size(cusolverDnHandle_t h, int m, int n, int k, const T* a, int lda, const T* tau) {   \
        int lwork = 0;                                                                                              \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##orgqr_bufferSize(h, m, n, k, a, lda, tau, &lwork));                  \
        return lwork;                                                                                               \
    }                                                                                                               \
    inline void orgqr(cusolverDnHandle_t h, int m, int n, int k, T* a, int lda, const T* tau, T* work, int lwork,  \
                      int* info) {                                                                                  \
        LOWRANK_CUSOLVER_CHECK(cusolverDn##P##orgqr(h, m, n, k, a, lda, tau, work, lwork, info));                  \
    }

LOWRANK_CUDA_SOLVER_OVERLOADS(float, S)
LOWRANK_CUDA_SOLVER_OVERLOADS(double, D)

#undef LOWRANK_CUDA_SOLVER_OVERLOADS

}  // namespace lowrank::cuda::detail::solver

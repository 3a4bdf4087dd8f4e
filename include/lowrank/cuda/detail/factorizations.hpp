// Dense factorisations on the device through cuSOLVER, with the row-major contracts of
// backend/concept.hpp. cuSOLVER is column-major, so (as in backend/detail/lapack.hpp) each
// routine works on the column-major view of the row-major buffer, which is the transpose:
//
//   SVD (gesvd, needs rows ≥ cols in column-major):
//     n ≥ m: the buffer is the column-major n×m matrix Aᵀ = U' S V'ᵀ, so A = V' S U'ᵀ. gesvd's
//            U' (n×k, ldu = n) is byte for byte our row-major Vt (k×n), and its VT' (k×m,
//            ldvt = k) is our row-major U (m×k): no copies at all.
//     m > n: Aᵀ would be wide, so first transpose (geam) into column-major A (m×n), factor
//            A = U S Vᵀ, and transpose U (column-major m×k) and VT (column-major k×n) back.
//   SVD (gesvdj, any shape, econ): factor the column-major Aᵀ = U' S V'ᵀ; U' (n×k) is our
//            Vt directly and V' (m×k, column-major) is transposed into our U.
//   EIG (syevd): a symmetric matrix is its own transpose; eigenvectors come back as columns of
//            the column-major view, i.e. rows of the row-major buffer, eigenvalues ascending.
//   QR (geqrf + orgqr): cuSOLVER has no gelqf, so transpose the row-major m×n A into column-
//            major A (m×n), form its Q (m×n) in place, and transpose back.
//
// Singular values and eigenvalues are computed into the workspace and copied to the host;
// devInfo > 0 (no convergence) is returned, devInfo < 0 throws backend_error.
#pragma once

#include "lowrank/cuda/detail/cusolver.hpp"
#include "lowrank/cuda/detail/device_ops.hpp"
#include "lowrank/core/errors.hpp"

#include <algorithm>
#include <cstddef>

namespace lowrank::cuda::detail {

/// Thin SVD by QR iteration. a (m×n row-major) is destroyed; s_host gets k = min(m, n)
/// values, u is m×k and vt is k×n (row-major, device).
template <class T>
int svd_gesvd(device_context& ctx, std::size_t m, std::size_t n, T* a, T* s_host, T* u, T* vt) {
    const std::size_t k = std::min(m, n);
    if (k == 0) return 0;
    const bool wide = n >= m;
    // Column-major problem: rows × cols with rows ≥ cols.
    const std::size_t rows = wide ? n : m, cols = wide ? m : n;
    const int r = solver::to_int(rows, "gesvd"), c = solver::to_int(cols, "gesvd");
    (void)solver::to_int(rows * cols, "gesvd");
    const int lwork = solver::gesvd_buffer_size(ctx.cusolver(), r, c, a);

    workspace_layout lay;
    const auto o_s = lay.add<T>(k), o_rwork = lay.add<T>(k), o_work = lay.add<T>(static_cast<std::size_t>(lwork));
    const auto o_at = wide ? 0 : lay.add<T>(m * n), o_vt = wide ? 0 : lay.add<T>(k * n);
    void* base = ctx.workspace(lay.total());
    T* s_dev = at<T>(base, o_s);
    int* info = ctx.dev_info();
    if (wide) {
        solver::gesvd(ctx.cusolver(), 'S', 'S', r, c, a, r, s_dev, vt, r, u, c, at<T>(base, o_work), lwork,
                      at<T>(base, o_rwork), info);
    } else {
        T* acm = at<T>(base, o_at);  // column-major A (m×n, ld m)
        transpose(ctx, m, n, a, acm);
        T* ucm = a;                  // a is free now: column-major U (m×k, ld m) fits in it
        T* vtcm = at<T>(base, o_vt); // column-major VT (k×n, ld k)
        solver::gesvd(ctx.cusolver(), 'S', 'S', r, c, acm, r, s_dev, ucm, r, vtcm, c, at<T>(base, o_work), lwork,
                      at<T>(base, o_rwork), info);
        transpose(ctx, k, m, ucm, u);   // row-major k×m (= column-major U) → row-major m×k
        transpose(ctx, n, k, vtcm, vt); // row-major n×k (= column-major VT) → row-major k×n
    }
    download_small(ctx, s_dev, k, s_host);
    const int h_info = ctx.read_info();
    check_dev_info(h_info, "cusolverDn?gesvd");
    return h_info;
}

/// Thin SVD by one-sided Jacobi (gesvdj, econ); same contract as svd_gesvd. info > 0 means
/// the sweep limit was reached before the tolerance (the factors are then approximate).
template <class T>
int svd_gesvdj(device_context& ctx, std::size_t m, std::size_t n, T* a, T* s_host, T* u, T* vt) {
    const std::size_t k = std::min(m, n);
    if (k == 0) return 0;
    // Column-major problem: the n×m matrix Aᵀ (lda = n).
    const int r = solver::to_int(n, "gesvdj"), c = solver::to_int(m, "gesvdj");
    (void)solver::to_int(m * n, "gesvdj");
    gesvdjInfo_t params = ctx.jacobi_params<T>();
    workspace_layout lay;
    const auto o_s = lay.add<T>(k), o_v = lay.add<T>(m * k);
    void* base0 = ctx.workspace(lay.total());  // sizes only matter for the query below
    const int lwork = solver::gesvdj_buffer_size(ctx.cusolver(), CUSOLVER_EIG_MODE_VECTOR, 1, r, c, a, r,
                                                 at<T>(base0, o_s), vt, r, at<T>(base0, o_v), c, params);
    const auto o_work = lay.add<T>(static_cast<std::size_t>(lwork));
    void* base = ctx.workspace(lay.total());
    T* s_dev = at<T>(base, o_s);
    T* vcm = at<T>(base, o_v);  // column-major V' (m×k, ld m)
    int* info = ctx.dev_info();
    solver::gesvdj(ctx.cusolver(), CUSOLVER_EIG_MODE_VECTOR, 1, r, c, a, r, s_dev, vt, r, vcm, c, at<T>(base, o_work),
                   lwork, info, params);
    transpose(ctx, k, m, vcm, u);  // row-major k×m (= column-major V') → row-major m×k
    download_small(ctx, s_dev, k, s_host);
    const int h_info = ctx.read_info();
    check_dev_info(h_info, "cusolverDn?gesvdj");
    return h_info;
}

/// Symmetric eigendecomposition: eigenvalues ascending into w_host, eigenvector i into row i
/// of the row-major n×n matrix a.
template <class T>
int syevd(device_context& ctx, std::size_t n_, T* a, T* w_host) {
    if (n_ == 0) return 0;
    const int n = solver::to_int(n_, "syevd");
    (void)solver::to_int(n_ * n_, "syevd");
    workspace_layout lay;
    const auto o_w = lay.add<T>(n_);
    void* base0 = ctx.workspace(lay.total());
    const int lwork = solver::syevd_buffer_size(ctx.cusolver(), n, a, n, at<T>(base0, o_w));
    const auto o_work = lay.add<T>(static_cast<std::size_t>(lwork));
    void* base = ctx.workspace(lay.total());
    solver::syevd(ctx.cusolver(), n, a, n, at<T>(base, o_w), at<T>(base, o_work), lwork, ctx.dev_info());
    download_small(ctx, at<T>(base, o_w), n_, w_host);
    const int h_info = ctx.read_info();
    check_dev_info(h_info, "cusolverDn?syevd");
    return h_info;
}

/// Cholesky factorisation of the row-major symmetric n×n matrix a: on return (info 0) a holds
/// the lower-triangular L with A = L·Lᵀ and a zero strict upper triangle. The buffer is the
/// column-major A itself (A is symmetric); potrf(UPPER) writes U (A = UᵀU) into the column-
/// major upper triangle, which is the row-major lower triangle holding L = Uᵀ. The other
/// triangle still holds A and is cleared row by row (host APIs only: no kernel). Returns
/// devInfo (> 0: the leading minor of that order is not positive definite).
template <class T>
int potrf(device_context& ctx, std::size_t n_, T* a) {
    if (n_ == 0) return 0;
    const int n = solver::to_int(n_, "potrf");
    (void)solver::to_int(n_ * n_, "potrf");
    const int lwork = solver::potrf_buffer_size(ctx.cusolver(), n, a, n);
    T* work = static_cast<T*>(ctx.workspace(static_cast<std::size_t>(std::max(lwork, 1)) * sizeof(T)));
    solver::potrf(ctx.cusolver(), n, a, n, work, lwork, ctx.dev_info());
    const int h_info = ctx.read_info();
    check_dev_info(h_info, "cusolverDn?potrf");
    if (h_info == 0)
        for (std::size_t i = 0; i + 1 < n_; ++i)
            LOWRANK_CUDA_CHECK(cudaMemsetAsync(a + i * n_ + i + 1, 0, (n_ - i - 1) * sizeof(T), ctx.stream()));
    return h_info;
}

/// Replaces the row-major m×n matrix a (m ≥ n) by the Q factor of its thin QR.
template <class T>
int orthonormalize_columns(device_context& ctx, std::size_t m_, std::size_t n_, T* a) {
    if (n_ > m_) throw shape_error("orthonormalize_columns: needs rows >= columns");
    if (m_ == 0 || n_ == 0) return 0;
    const int m = solver::to_int(m_, "geqrf"), n = solver::to_int(n_, "geqrf");
    (void)solver::to_int(m_ * n_, "geqrf");
    workspace_layout lay;
    const auto o_q = lay.add<T>(m_ * n_), o_tau = lay.add<T>(n_);
    void* base0 = ctx.workspace(lay.total());
    T* q0 = at<T>(base0, o_q);
    const int lwork = std::max(solver::geqrf_buffer_size(ctx.cusolver(), m, n, q0, m),
                               solver::orgqr_buffer_size(ctx.cusolver(), m, n, n, q0, m, at<T>(base0, o_tau)));
    const auto o_work = lay.add<T>(static_cast<std::size_t>(lwork));
    void* base = ctx.workspace(lay.total());
    T* q = at<T>(base, o_q);  // column-major m×n (ld m)
    T* tau = at<T>(base, o_tau);
    T* work = at<T>(base, o_work);
    int* info = ctx.dev_info(2);
    transpose(ctx, m_, n_, a, q);
    solver::geqrf(ctx.cusolver(), m, n, q, m, tau, work, lwork, info);
    solver::orgqr(ctx.cusolver(), m, n, n, q, m, tau, work, lwork, info + 1);
    transpose(ctx, n_, m_, q, a);  // row-major n×m (= column-major Q) → row-major m×n
    int h_info[2] = {0, 0};
    download_small(ctx, info, 2, h_info);
    check_dev_info(h_info[0], "cusolverDn?geqrf");
    check_dev_info(h_info[1], "cusolverDn?orgqr");
    return 0;
}

}  // namespace lowrank::cuda::detail

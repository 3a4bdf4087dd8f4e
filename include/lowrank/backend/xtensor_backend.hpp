// The default backend: xtensor containers on the host, BLAS/LAPACK through xtensor-blas
// (cxxblas/cxxlapack → OpenBLAS). See backend/concept.hpp for the operation contracts.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/backend/detail/host_ops.hpp"
#include "lowrank/backend/detail/lapack.hpp"
#include "lowrank/backend/detail/mode_kernel.hpp"
#include "lowrank/backend/detail/worker_pool.hpp"

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_threads(void) __attribute__((weak));

namespace lowrank {

struct xtensor_backend : detail::host_backend_ops<xtensor_backend> {
    static constexpr const char* name = "xtensor";

    /// CPU context. `threads` > 0 asks OpenBLAS for that many threads when the context is
    /// made (OpenBLAS keeps the count process-wide); 0 leaves the BLAS default alone. The
    /// backend's own kernels (mode products) run on a pool of the same size — `threads`, or
    /// OpenBLAS's count when 0 — created on first use and shared by copies of the context.
    struct context {
        using backend_type = xtensor_backend;
        int threads = 0;
        context() = default;
        explicit context(int n_threads) : threads(n_threads) {
            if (threads > 0 && openblas_set_num_threads != nullptr) openblas_set_num_threads(threads);
        }
        /// Threads of the backend's own kernels.
        unsigned kernel_threads() const {
            if (threads > 0) return unsigned(threads);
            return openblas_get_num_threads != nullptr ? unsigned(std::max(1, openblas_get_num_threads())) : 1u;
        }
        detail::worker_pool* pool() {
            const unsigned n = kernel_threads();
            if (n <= 1) return nullptr;
            if (!pool_ || pool_->size() != n) pool_ = std::make_shared<detail::worker_pool>(n);
            return pool_.get();
        }

    private:
        std::shared_ptr<detail::worker_pool> pool_;
    };

    template <class T>
    using tensor = xt::xarray<T, xt::layout_type::row_major>;

    template <class T>
    static tensor<T> empty(context&, const shape_t& s) {
        auto t = tensor<T>::from_shape(s);
        advise_huge_pages(t.data(), t.size() * sizeof(T));
        return t;
    }
    template <class T>
    static tensor<T> zeros(context& ctx, const shape_t& s) {
        auto t = empty<T>(ctx, s);
        std::fill(t.begin(), t.end(), T(0));
        return t;
    }
    template <class T>
    static shape_t shape(const tensor<T>& t) {
        return shape_t(t.shape().begin(), t.shape().end());
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
        if (numel(s) != t.size())
            throw shape_error("reshape: cannot view " + std::to_string(t.size()) + " elements as " + to_string(s));
        t.reshape(s);
    }
    template <class T>
    static tensor<T> upload(context& ctx, const T* host, const shape_t& s) {
        auto t = empty<T>(ctx, s);
        if (t.size()) std::memcpy(t.data(), host, t.size() * sizeof(T));
        return t;
    }
    template <class T>
    static void download(context&, const tensor<T>& t, T* host) {
        if (t.size()) std::memcpy(host, t.data(), t.size() * sizeof(T));
    }


    template <class T>
    static void gemm(context&, op ta, op tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                     std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
        using detail::lapack::to_blas_int;
        if (m == 0 || n == 0) return;
        if (k == 0) {  // BLAS leaves C alone only when beta == 1; make the k = 0 case explicit.
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
            return;
        }
        cxxblas::gemm<int>(cxxblas::RowMajor, trans(ta), trans(tb), to_blas_int(m, "gemm"), to_blas_int(n, "gemm"),
                           to_blas_int(k, "gemm"), alpha, a, to_blas_int(lda, "gemm"), b, to_blas_int(ldb, "gemm"),
                           beta, c, to_blas_int(ldc, "gemm"));
    }


    /// Mode-n product kernel (see detail/mode_kernel.hpp): Y[l] = op(A)·X[l] over the (L, I, R)
    /// view, on the context's threads. Returns false when the CPU has no supported SIMD unit
    /// (the caller then uses gemm / gemm_strided_batched).
    template <class T>
    static bool mode_product_kernel(context& ctx, op a_op, std::size_t L, std::size_t J, std::size_t I,
                                    std::size_t R, const T* a, std::size_t lda, const T* x, T* y) {
        return detail::mode_kernel::run(ctx.pool(), a_op, L, J, I, R, a, lda, x, y);
    }

    template <class T>
    static void syrk(context&, op t, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda, T beta,
                     T* c, std::size_t ldc) {
        using detail::lapack::to_blas_int;
        if (n == 0) return;
        if (k == 0) {
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
            return;
        }
        cxxblas::syrk<int>(cxxblas::RowMajor, cxxblas::Upper, trans(t), to_blas_int(n, "syrk"),
                           to_blas_int(k, "syrk"), alpha, a, to_blas_int(lda, "syrk"), beta, c,
                           to_blas_int(ldc, "syrk"));
        for (std::size_t i = 0; i < n; ++i)  // mirror the upper triangle
            for (std::size_t j = 0; j < i; ++j) c[i * ldc + j] = c[j * ldc + i];
    }

    template <class T>
    static int svd(context&, std::size_t m, std::size_t n, T* a, T* s, T* u, T* vt, svd_driver driver) {
        if (driver == svd_driver::gesvd) return detail::lapack::gesvd(m, n, a, s, u, vt);
        std::vector<T> backup(a, a + m * n);  // gesdd destroys a even when it fails
        int info = detail::lapack::gesdd(m, n, a, s, u, vt);
        if (info > 0) info = detail::lapack::gesvd(m, n, backup.data(), s, u, vt);
        return info;
    }

    template <class T>
    static int syevd(context&, std::size_t n, T* a, T* w) {
        return detail::lapack::syevd(n, a, w);
    }

    template <class T>
    static int orthonormalize_columns(context&, std::size_t m, std::size_t n, T* a) {
        if (n > m) throw shape_error("orthonormalize_columns: needs rows >= columns");
        return detail::lapack::orthonormalize_columns(m, n, a);
    }

    template <class T>
    static int potrf(context&, std::size_t n, T* a) {
        return detail::lapack::potrf(n, a);
    }

    /// CBLAS trsm in row-major order (lower-triangular, non-unit L).
    template <class T>
    static void trsm(context&, side s, op t, std::size_t m, std::size_t n, T alpha, const T* l, std::size_t ldl, T* x,
                     std::size_t ldx) {
        using detail::lapack::to_blas_int;
        if (m == 0 || n == 0) return;
        cxxblas::trsm<int>(cxxblas::RowMajor, s == side::left ? cxxblas::Left : cxxblas::Right, cxxblas::Lower,
                           trans(t), cxxblas::NonUnit, to_blas_int(m, "trsm"), to_blas_int(n, "trsm"), alpha, l,
                           to_blas_int(ldl, "trsm"), x, to_blas_int(ldx, "trsm"));
    }

    /// Optional op (linalg/gram_svd.hpp, detail::solve_lower): trsm for an L the caller knows
    /// to be well conditioned, as one GEMM with L⁻¹ (trtri, t³/3 flops) when the solve is thin
    /// — L of order t ≤ 512 and at least t right-hand sides. OpenBLAS 0.3.21's ?trsm runs such
    /// solves at a fraction of GEMM speed (10 % of a rank-64 randomized SVD of 768×768 in
    /// strsm_kernel, for ~1 % of its flops). Forward error O(κ(L)·ε), the class of the
    /// substitution's bound; not used for general L (componentwise it can be worse). Returns
    /// false, touching nothing, when the solve is not thin or L is singular.
    template <class T>
    static bool trsm_via_inverse(context& ctx, side s, op t, std::size_t m, std::size_t n, T alpha, const T* l,
                                 std::size_t ldl, T* x, std::size_t ldx) {
        const std::size_t order = s == side::left ? m : n, other = s == side::left ? n : m;
        if (order == 0 || order > 512 || other < order) return false;
        std::vector<T> inv(order * order), tmp(m * n);
        if (detail::lapack::lower_inverse(order, l, ldl, inv.data()) != 0) return false;
        if (s == side::left)  // X ← op(L)⁻¹ X
            gemm(ctx, t, op::none, m, n, m, alpha, inv.data(), m, x, ldx, T(0), tmp.data(), n);
        else  // X ← X op(L)⁻¹
            gemm(ctx, op::none, t, m, n, n, alpha, x, ldx, inv.data(), n, T(0), tmp.data(), n);
        detail::host::copy_2d(m, n, tmp.data(), n, x, ldx);
        return true;
    }


    template <class T>
    static T nrm2(context&, std::size_t n, const T* x) {
        if (n == 0) return T(0);
        T r{};
        if (detail::host::sum_squares_norm(n, x, r)) return r;
        cxxblas::nrm2<int>(detail::lapack::to_blas_int(n, "nrm2"), x, 1, r);
        return r;
    }
    template <class T>
    static T dot(context&, std::size_t n, const T* x, const T* y) {
        if (n == 0) return T(0);
        T r{};
        cxxblas::dot<int>(detail::lapack::to_blas_int(n, "dot"), x, 1, y, 1, r);
        return r;
    }
    template <class T>
    static void axpy(context&, std::size_t n, T alpha, const T* x, T* y) {
        if (n) cxxblas::axpy<int>(detail::lapack::to_blas_int(n, "axpy"), alpha, x, 1, y, 1);
    }
    template <class T>
    static void scal(context&, std::size_t n, T alpha, T* x) {
        if (n) cxxblas::scal<int>(detail::lapack::to_blas_int(n, "scal"), alpha, x, 1);
    }

private:
    static cxxblas::Transpose trans(op o) { return o == op::none ? cxxblas::NoTrans : cxxblas::Trans; }

    /// Asks the kernel for transparent huge pages on the 2 MiB-aligned interior of a buffer of
    /// at least 4 MiB (as numpy does): a fresh large output is otherwise first-touched in 4 KiB
    /// page faults, measured at +23 % on a 64 MiB mode product. Advisory only; errors ignored.
    static void advise_huge_pages(void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        constexpr std::size_t huge = std::size_t(2) << 20;
        if (bytes < 2 * huge) return;
        const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1);
        const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(huge - 1);
        if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
        (void)p, (void)bytes;
#endif
    }
};

static_assert(backend<xtensor_backend>);

}  // namespace lowrank

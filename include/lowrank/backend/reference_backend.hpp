// The reference backend: std::vector storage and plain loops, no BLAS or LAPACK. It is the
// oracle the test suite checks the other backends against, so it shares no numerical code
// with them (Jacobi SVD and eigensolver, Householder QR; see detail/jacobi.hpp). Slow by
// design: use it for small problems.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/backend/detail/host_ops.hpp"
#include "lowrank/backend/detail/jacobi.hpp"
#include "lowrank/backend/detail/triangular.hpp"

#include <cmath>
#include <vector>

namespace lowrank {

/// Minimal owning dense row-major host tensor.
template <class T>
struct host_tensor {
    using value_type = T;
    shape_t shape;       // dimensions, outermost first
    std::vector<T> data; // numel(shape) elements, C order
};

struct reference_backend : detail::host_backend_ops<reference_backend> {
    static constexpr const char* name = "reference";
    struct context {
        using backend_type = reference_backend;
    };

    template <class T>
    using tensor = host_tensor<T>;

    template <class T>
    static tensor<T> empty(context&, const shape_t& s) {
        return {s, std::vector<T>(numel(s))};
    }
    template <class T>
    static tensor<T> zeros(context&, const shape_t& s) {
        return {s, std::vector<T>(numel(s), T(0))};
    }
    template <class T>
    static shape_t shape(const tensor<T>& t) {
        return t.shape;
    }
    template <class T>
    static T* data(tensor<T>& t) {
        return t.data.data();
    }
    template <class T>
    static const T* data(const tensor<T>& t) {
        return t.data.data();
    }
    template <class T>
    static void reshape(tensor<T>& t, const shape_t& s) {
        if (numel(s) != t.data.size())
            throw shape_error("reshape: cannot view " + std::to_string(t.data.size()) + " elements as " +
                              to_string(s));
        t.shape = s;
    }
    template <class T>
    static tensor<T> upload(context&, const T* host, const shape_t& s) {
        return {s, std::vector<T>(host, host + numel(s))};
    }
    template <class T>
    static void download(context&, const tensor<T>& t, T* host) {
        std::copy(t.data.begin(), t.data.end(), host);
    }


    template <class T>
    static void gemm(context&, op ta, op tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                     std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < n; ++j) {
                T acc = 0;
                for (std::size_t p = 0; p < k; ++p) {
                    const T aip = ta == op::none ? a[i * lda + p] : a[p * lda + i];
                    const T bpj = tb == op::none ? b[p * ldb + j] : b[j * ldb + p];
                    acc += aip * bpj;
                }
                c[i * ldc + j] = alpha * acc + (beta == T(0) ? T(0) : beta * c[i * ldc + j]);
            }
    }
    template <class T>
    static void syrk(context& ctx, op t, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
                     T beta, T* c, std::size_t ldc) {
        gemm(ctx, t, flip(t), n, n, k, alpha, a, lda, a, lda, beta, c, ldc);
    }

    template <class T>
    static int svd(context& ctx, std::size_t m, std::size_t n, T* a, T* s, T* u, T* vt, svd_driver) {
        if (m >= n) return detail::jacobi::tall_svd(m, n, a, u, s, vt);
        // Wide: SVD of aᵀ (n×m) = V S Uᵀ, so u = (its vt)ᵀ and vt = (its u)ᵀ.
        std::vector<T> at(m * n), uu(n * m), vv(m * m);
        detail::host::transpose(m, n, a, at.data());
        const int info = detail::jacobi::tall_svd(n, m, at.data(), uu.data(), s, vv.data());
        detail::host::transpose(m, m, vv.data(), u);   // u (m×m) = vvᵀ
        detail::host::transpose(n, m, uu.data(), vt);  // vt (m×n) = uuᵀ
        (void)ctx;
        return info;
    }
    template <class T>
    static int syevd(context&, std::size_t n, T* a, T* w) {
        return detail::jacobi::symmetric_eigen(n, a, w);
    }
    template <class T>
    static int orthonormalize_columns(context&, std::size_t m, std::size_t n, T* a) {
        if (n > m) throw shape_error("orthonormalize_columns: needs rows >= columns");
        detail::jacobi::householder_q(m, n, a);
        return 0;
    }
    template <class T>
    static int potrf(context&, std::size_t n, T* a) {
        return detail::triangular::cholesky(n, a);
    }
    template <class T>
    static void trsm(context&, side s, op t, std::size_t m, std::size_t n, T alpha, const T* l, std::size_t ldl, T* x,
                     std::size_t ldx) {
        detail::triangular::solve(s, t, m, n, alpha, l, ldl, x, ldx);
    }

    template <class T>
    static T nrm2(context&, std::size_t n, const T* x) {
        // Scaled sum of squares (no overflow for large entries), like reference BLAS.
        T scale = 0, ssq = 1;
        for (std::size_t i = 0; i < n; ++i) {
            const T v = std::abs(x[i]);
            if (v == T(0)) continue;
            if (!std::isfinite(v)) return v;
            if (scale < v) {
                ssq = 1 + ssq * (scale / v) * (scale / v);
                scale = v;
            } else {
                ssq += (v / scale) * (v / scale);
            }
        }
        return scale * std::sqrt(ssq);
    }
    template <class T>
    static T dot(context&, std::size_t n, const T* x, const T* y) {
        T acc = 0;
        for (std::size_t i = 0; i < n; ++i) acc += x[i] * y[i];
        return acc;
    }
    template <class T>
    static void axpy(context&, std::size_t n, T alpha, const T* x, T* y) {
        for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
    }
    template <class T>
    static void scal(context&, std::size_t n, T alpha, T* x) {
        for (std::size_t i = 0; i < n; ++i) x[i] *= alpha;
    }
};

static_assert(backend<reference_backend>);

}  // namespace lowrank

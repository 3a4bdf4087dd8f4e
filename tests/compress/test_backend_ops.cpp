// The backend operations added for compression — potrf (Cholesky) and trsm (triangular solve)
// — checked by their defining properties on host data (L·Lᵀ = A, op(L)·X = alpha·B), on both CPU
// backends (LAPACK/CBLAS and the plain-loop reference) in both precisions, plus agreement
// between the two backends and the not-positive-definite report.
#include "compress_test_util.hpp"

using namespace lrtest;

namespace {

/// SPD matrix A = G Gᵀ + n·I (host, double).
hmat spd(std::size_t n, std::uint64_t seed) {
    hmat g = gaussian_host(n, n, seed);
    hmat a = matmul(g, transpose(g));
    for (std::size_t i = 0; i < n; ++i) a(i, i) += double(n);
    return a;
}

}  // namespace

TEST_CASE_TEMPLATE("potrf: lower L with L·Lᵀ = A, zero upper triangle, positive diagonal", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    for (std::size_t n : {1u, 2u, 7u, 33u}) {
        CAPTURE(n);
        const hmat a = spd(n, 10 + n);
        auto t = upload_host<B, T>(ctx, a);
        REQUIRE(B::potrf(ctx, n, B::data(t)) == 0);
        const auto l = host<B>(ctx, t);
        double worst = 0, scale = 0;
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(l[i * n + i] > T(0));
            for (std::size_t j = i + 1; j < n; ++j) CHECK(l[i * n + j] == T(0));
            for (std::size_t j = 0; j < n; ++j) {
                double acc = 0;
                for (std::size_t k = 0; k < n; ++k) acc += double(l[i * n + k]) * double(l[j * n + k]);
                worst = std::max(worst, std::abs(acc - a(i, j)));
                scale = std::max(scale, std::abs(a(i, j)));
            }
        }
        CHECK(worst <= 50 * eps<T>() * double(n) * scale);
    }
}

TEST_CASE_TEMPLATE("potrf: a matrix that is not positive definite is reported, not thrown", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    // Leading 2×2 minor is PD, the 3×3 one is not (third pivot 1 − 4 < 0).
    std::vector<T> a = {4, 2, 2, 2, 2, 1, 2, 1, -2};
    CHECK(B::potrf(ctx, 3, a.data()) == 3);
    std::vector<T> z(9, T(0));  // the zero matrix fails at order 1
    CHECK(B::potrf(ctx, 3, z.data()) == 1);
    // (NaN input is outside the contract: OpenBLAS's potrf does not flag a NaN pivot.)
}

TEST_CASE_TEMPLATE("trsm: every side and transposition solves op(L)·X = alpha·B (or X·op(L) = alpha·B)", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 6, n = 5, pad = 2;
    for (side s : {side::left, side::right})
        for (op t : {op::none, op::trans}) {
            CAPTURE(int(s));
            CAPTURE(int(t));
            const std::size_t nl = s == side::left ? m : n, ldl = nl + pad, ldx = n + pad;
            // Well-conditioned lower-triangular L (diagonal 2 + |g|), padded leading dimensions.
            hmat g = gaussian_host(nl, ldl, 40);
            std::vector<T> l(nl * ldl, T(0));
            for (std::size_t i = 0; i < nl; ++i)
                for (std::size_t j = 0; j <= i; ++j) l[i * ldl + j] = T(i == j ? 2 + std::abs(g(i, j)) : 0.5 * g(i, j));
            for (std::size_t i = 0; i < nl; ++i)
                for (std::size_t j = i + 1; j < ldl; ++j) l[i * ldl + j] = T(1e30);  // must never be read
            const hmat b = gaussian_host(m, ldx, 41);
            std::vector<T> x(b.a.begin(), b.a.end());
            const T alpha = T(0.5);
            B::trsm(ctx, s, t, m, n, alpha, l.data(), ldl, x.data(), ldx);
            auto L = [&](std::size_t i, std::size_t j) { return j <= i ? double(l[i * ldl + j]) : 0.0; };
            auto opL = [&](std::size_t i, std::size_t j) { return t == op::none ? L(i, j) : L(j, i); };
            double worst = 0;
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < n; ++j) {
                    double acc = 0;
                    if (s == side::left)
                        for (std::size_t k = 0; k < m; ++k) acc += opL(i, k) * double(x[k * ldx + j]);
                    else
                        for (std::size_t k = 0; k < n; ++k) acc += double(x[i * ldx + k]) * opL(k, j);
                    worst = std::max(worst, std::abs(acc - double(alpha) * b(i, j)));
                }
            CHECK(worst <= 100 * eps<T>() * double(nl));
            for (std::size_t i = 0; i < m; ++i)  // padding untouched
                for (std::size_t j = n; j < ldx; ++j) CHECK(double(x[i * ldx + j]) == double(T(b(i, j))));
        }
}

TEST_CASE_TEMPLATE("potrf and trsm: the LAPACK backend agrees with the plain-loop reference", T, float, double) {
    xtensor_backend::context xc;
    reference_backend::context rc;
    const std::size_t n = 24;
    const hmat a = spd(n, 77);
    std::vector<T> lx(a.a.begin(), a.a.end()), lr = lx;
    REQUIRE(xtensor_backend::potrf(xc, n, lx.data()) == 0);
    REQUIRE(reference_backend::potrf(rc, n, lr.data()) == 0);
    double worst = 0;
    for (std::size_t i = 0; i < n * n; ++i) worst = std::max(worst, std::abs(double(lx[i]) - double(lr[i])));
    CHECK(worst <= 100 * eps<T>() * double(n) * std::sqrt(double(n)));
    const hmat b = gaussian_host(n, 3, 78);
    std::vector<T> xx(b.a.begin(), b.a.end()), xr = xx;
    xtensor_backend::trsm(xc, side::left, op::trans, n, 3, T(1), lx.data(), n, xx.data(), 3);
    reference_backend::trsm(rc, side::left, op::trans, n, 3, T(1), lr.data(), n, xr.data(), 3);
    worst = 0;
    for (std::size_t i = 0; i < xx.size(); ++i) worst = std::max(worst, std::abs(double(xx[i]) - double(xr[i])));
    CHECK(worst <= 1000 * eps<T>());
}

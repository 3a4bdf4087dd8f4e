// Truncated SVD properties on matrices with a prescribed spectrum (so the truth is known
// exactly): orthonormal factors, singular values, Eckart–Young (Frobenius error² = Σ of the
// discarded σ², spectral error = σ_{k+1}, checked on the host by power iteration), exact
// reconstruction at full rank, the truncation rules, edge cases, and agreement between the
// xtensor (LAPACK) and reference (Jacobi) backends.
#include "helpers.hpp"

using namespace lrtest;

namespace {

std::vector<double> geometric_spectrum(std::size_t k, double ratio) {
    std::vector<double> s(k);
    for (std::size_t i = 0; i < k; ++i) s[i] = std::pow(ratio, double(i));
    return s;
}

/// Largest singular value of a host m×n matrix by power iteration on MᵀM (double).
template <class T>
double spectral_norm(const std::vector<T>& a, std::size_t m, std::size_t n) {
    std::vector<double> v(n, 1.0), w(m);
    double sigma = 0;
    for (int it = 0; it < 500; ++it) {
        for (std::size_t i = 0; i < m; ++i) {
            w[i] = 0;
            for (std::size_t j = 0; j < n; ++j) w[i] += double(a[i * n + j]) * v[j];
        }
        double nv = 0;
        for (std::size_t j = 0; j < n; ++j) {
            v[j] = 0;
            for (std::size_t i = 0; i < m; ++i) v[j] += double(a[i * n + j]) * w[i];
            nv += v[j] * v[j];
        }
        nv = std::sqrt(nv);
        if (nv == 0) return 0;
        for (auto& x : v) x /= nv;
        sigma = std::sqrt(nv);
    }
    return sigma;
}

const svd_method all_methods[] = {svd_method::exact, svd_method::gram, svd_method::randomized};

}  // namespace

TEST_CASE_TEMPLATE("truncated SVD: orthonormal factors, exact σ, Eckart–Young in Frobenius and spectral norm", C,
                   LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const auto sigma = geometric_spectrum(16, 0.7);
    for (auto [m, n] : {std::pair<std::size_t, std::size_t>{30, 16}, {16, 30}}) {
        auto a = with_spectrum<B, T>(ctx, m, n, sigma, 42);
        const auto ha = host<B>(ctx, a);
        const std::size_t k = 5;
        for (svd_method method : all_methods) {
            CAPTURE(to_string(method));
            CAPTURE(m);
            svd_options opt;
            opt.trunc = truncation::rank(k);
            opt.method = method;
            opt.randomized_fallback = false;  // exercise the randomized path itself
            opt.power_iterations = 4;
            auto r = truncated_svd(ctx, a, opt);
            REQUIRE(r.status == status::ok);
            REQUIRE(r.rank == k);
            CHECK(B::shape(r.u) == shape_t{m, k});
            CHECK(B::shape(r.vt) == shape_t{k, n});
            const auto hu = host<B>(ctx, r.u), hvt = host<B>(ctx, r.vt);
            const double orth_tol = 100 * eps<T>() * double(std::max(m, n));
            CHECK(orthonormality_error(hu, m, k) < orth_tol);
            CHECK(orthonormality_error(transposed(hvt, k, n), n, k) < orth_tol);
            for (std::size_t i = 0; i < k; ++i) CHECK(double(r.s[i]) == doctest::Approx(sigma[i]).epsilon(1e3 * eps<T>()));
            // Eckart–Young: ‖A − A_k‖²_F = Σ_{i≥k} σ_i² and ‖A − A_k‖_2 = σ_k (0-based).
            double tail = 0;
            for (std::size_t i = k; i < sigma.size(); ++i) tail += sigma[i] * sigma[i];
            double total = 0;
            for (double s : sigma) total += s * s;
            const double expect_rel = std::sqrt(tail / total);
            const double rel_tol = std::is_same_v<T, float> ? 2e-3 : 1e-8;
            CHECK(r.rel_error == doctest::Approx(expect_rel).epsilon(rel_tol));
            CHECK(host_residual(ha, hu, r.s, hvt, m, n) == doctest::Approx(expect_rel).epsilon(rel_tol));
            CHECK(r.error_bound == doctest::Approx(expect_rel).epsilon(rel_tol));
            std::vector<double> res(m * n);
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < n; ++j) {
                    double acc = 0;
                    for (std::size_t p = 0; p < k; ++p) acc += double(hu[i * k + p]) * r.s[p] * double(hvt[p * n + j]);
                    res[i * n + j] = double(ha[i * n + j]) - acc;
                }
            CHECK(spectral_norm(res, m, n) == doctest::Approx(sigma[k]).epsilon(std::is_same_v<T, float> ? 1e-3 : 1e-7));
        }
    }
}

TEST_CASE_TEMPLATE("full-rank SVD reconstructs the matrix; zero, rank-deficient and size-1 inputs", C,
                   LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    auto a = gaussian<B, T>(ctx, {9, 7}, 5);
    const auto ha = host<B>(ctx, a);
    for (svd_method method : {svd_method::exact, svd_method::gram}) {
        svd_options opt;
        opt.method = method;
        auto r = truncated_svd(ctx, a, opt);  // default truncation keeps everything
        CHECK(r.rank == 7);
        CHECK(r.rel_error < 1e3 * eps<T>());
        CHECK(r.discarded_energy == 0.0);
    }
    // Zero matrix: factors still orthonormal, error 0, no NaN.
    auto z = B::template zeros<T>(ctx, {6, 4});
    for (svd_method method : all_methods) {
        svd_options opt;
        opt.method = method;
        opt.randomized_fallback = false;
        opt.trunc = truncation::rank(2);
        auto r = truncated_svd(ctx, z, opt);
        CHECK(r.status == status::ok);
        CHECK(r.rel_error == 0.0);
        CHECK(orthonormality_error(host<B>(ctx, r.u), 6, 2) < 1e3 * eps<T>());
        for (T s : r.s) CHECK(s == T(0));
    }
    // Rank-deficient: rank-2 matrix asked for rank 4 keeps orthonormal completions.
    auto d = with_spectrum<B, T>(ctx, 8, 6, {3.0, 1.0}, 77);
    svd_options opt;
    opt.trunc = truncation::rank(4);
    auto r = truncated_svd(ctx, d, opt);
    CHECK(orthonormality_error(host<B>(ctx, r.u), 8, 4) < 1e3 * eps<T>());
    CHECK(r.rel_error < 1e3 * eps<T>());
    // 1 × n and n × 1.
    auto row = gaussian<B, T>(ctx, {1, 5}, 3);
    auto col = gaussian<B, T>(ctx, {5, 1}, 3);
    opt.trunc = truncation::rank(1);
    CHECK(truncated_svd(ctx, row, opt).rel_error < 1e2 * eps<T>());
    CHECK(truncated_svd(ctx, col, opt).s[0] == doctest::Approx(double(frobenius_norm(ctx, col))).epsilon(1e2 * eps<T>()));
}

TEST_CASE_TEMPLATE("truncation policy: relative error picks the minimal rank; caps and min rank combine", C,
                   LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const auto sigma = geometric_spectrum(12, 0.5);
    auto a = with_spectrum<B, T>(ctx, 20, 12, sigma, 3);
    double total = 0;
    for (double s : sigma) total += s * s;
    for (double target : {0.3, 0.05, 0.01, 1e-3}) {
        // Independent choice: smallest r with sqrt(Σ_{i≥r} σ_i² / total) ≤ target.
        std::size_t expect = sigma.size();
        for (std::size_t r = 0; r <= sigma.size(); ++r) {
            double tail = 0;
            for (std::size_t i = r; i < sigma.size(); ++i) tail += sigma[i] * sigma[i];
            if (std::sqrt(tail / total) <= target) {
                expect = std::max<std::size_t>(r, 1);
                break;
            }
        }
        for (svd_method method : {svd_method::exact, svd_method::gram}) {
            svd_options opt;
            opt.method = method;
            opt.randomized_fallback = false;  // exercise the randomized path itself
            opt.trunc = truncation::relative_error(target);
            auto r = truncated_svd(ctx, a, opt);
            CAPTURE(target);
            CHECK(r.rank == expect);
            CHECK(r.rel_error <= target * (1 + 1e-3));
        }
        svd_options both;
        both.trunc = truncation::rank(2).and_relative_error(target);
        CHECK(truncated_svd(ctx, a, both).rank == std::min<std::size_t>(2, expect));
    }
    svd_options floor;
    floor.trunc = truncation::relative_error(0.9).with_min_rank(3);
    CHECK(truncated_svd(ctx, a, floor).rank == 3);
    // Randomized with a cap and an error target: never more than the cap.
    svd_options rnd;
    rnd.method = svd_method::randomized;
    rnd.randomized_fallback = false;
    rnd.trunc = truncation::rank(8).and_relative_error(0.05);
    auto rr = truncated_svd(ctx, a, rnd);
    CHECK(rr.rank <= 8);
    CHECK(rr.rel_error <= 0.05 * (1 + 1e-3));
}

TEST_CASE_TEMPLATE("SVD misuse throws typed errors; NaN/Inf input reports status", C, LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    auto a = gaussian<B, T>(ctx, {6, 4}, 1);
    svd_options opt;
    opt.trunc = truncation::rank(5);
    CHECK_THROWS_AS(truncated_svd(ctx, a, opt), rank_error);
    opt.trunc = truncation::rank(0);
    CHECK_THROWS_AS(truncated_svd(ctx, a, opt), rank_error);
    opt.trunc = truncation::relative_error(-1);
    CHECK_THROWS_AS(truncated_svd(ctx, a, opt), invalid_argument);
    opt.trunc = truncation::relative_error(0.1);
    opt.method = svd_method::randomized;
    CHECK_THROWS_AS(truncated_svd(ctx, a, opt), invalid_argument);
    auto t3 = gaussian<B, T>(ctx, {2, 2, 2}, 1);
    CHECK_THROWS_AS(truncated_svd(ctx, t3, svd_options{}), shape_error);
    for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity()}) {
        auto h = host<B>(ctx, a);
        h[5] = bad;
        auto an = B::template upload<T>(ctx, h.data(), {6, 4});
        for (svd_method method : all_methods) {
            svd_options o;
            o.method = method;
            o.trunc = truncation::rank(2);
            auto r = truncated_svd(ctx, an, o);
            CHECK(r.status == status::nonfinite_input);
            CHECK(r.rank == 0);
        }
    }
}

TEST_CASE_TEMPLATE("randomized SVD is seeded and reaches Eckart–Young on a slowly decaying spectrum", C,
                   LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    std::vector<double> sigma(60);
    for (std::size_t i = 0; i < sigma.size(); ++i) sigma[i] = 1.0 / std::sqrt(1.0 + double(i));  // slow decay
    auto a = with_spectrum<B, T>(ctx, 80, 60, sigma, 8);
    svd_options opt;
    opt.method = svd_method::randomized;
    opt.trunc = truncation::rank(10);
    opt.seed = 1234;
    auto r1 = truncated_svd(ctx, a, opt);
    auto r2 = truncated_svd(ctx, a, opt);
    CHECK(r1.s == r2.s);  // same seed, same result
    double tail = 0, total = 0;
    for (std::size_t i = 0; i < sigma.size(); ++i) {
        total += sigma[i] * sigma[i];
        if (i >= 10) tail += sigma[i] * sigma[i];
    }
    const double optimum = std::sqrt(tail / total);
    CHECK(r1.rel_error >= optimum * (1 - 1e-4));  // cannot beat Eckart–Young
    CHECK(r1.rel_error <= optimum * 1.02);        // within 2% of it
    CHECK(r1.rel_error == doctest::Approx(r1.error_bound).epsilon(std::is_same_v<T, float> ? 1e-3 : 1e-8));
}

TEST_CASE_TEMPLATE("backends agree: LAPACK (xtensor) vs Jacobi (reference) singular values and subspaces", T, double,
                   float) {
    xtensor_backend::context xc;
    reference_backend::context rc;
    auto xa = gaussian<xtensor_backend, T>(xc, {25, 18}, 99);
    auto ha = host<xtensor_backend>(xc, xa);
    auto ra = reference_backend::upload<T>(rc, ha.data(), {25, 18});
    svd_options opt;
    opt.trunc = truncation::rank(6);
    auto x = truncated_svd(xc, xa, opt);
    auto r = truncated_svd(rc, ra, opt);
    for (std::size_t i = 0; i < 6; ++i) CHECK(double(x.s[i]) == doctest::Approx(double(r.s[i])).epsilon(1e2 * eps<T>()));
    CHECK(subspace_distance(host<xtensor_backend>(xc, x.u), r.u.data, 25, 6) < 1e3 * eps<T>() * 10);
    CHECK(subspace_distance(transposed(host<xtensor_backend>(xc, x.vt), 6, 18), transposed(r.vt.data, 6, 18), 18, 6) <
          1e3 * eps<T>() * 10);
}

TEST_CASE("gesvd driver and gesdd agree") {
    xtensor_backend::context ctx;
    auto a = gaussian<xtensor_backend, double>(ctx, {40, 25}, 5);
    svd_options o1, o2;
    o2.driver = svd_driver::gesvd;
    auto r1 = truncated_svd(ctx, a, o1), r2 = truncated_svd(ctx, a, o2);
    for (std::size_t i = 0; i < r1.s.size(); ++i) CHECK(r1.s[i] == doctest::Approx(r2.s[i]).epsilon(1e-12));
}

TEST_CASE("randomized SVD falls back to a deterministic method when the sketch covers half the matrix, and says so") {
    xtensor_backend::context ctx;
    auto a = gaussian<xtensor_backend, double>(ctx, {40, 30}, 3);
    svd_options opt;
    opt.method = svd_method::randomized;
    opt.trunc = truncation::rank(10);  // 2·(10 + 10) ≥ 30
    auto r = truncated_svd(ctx, a, opt);
    CHECK(r.method != svd_method::randomized);
    opt.randomized_fallback = false;
    CHECK(truncated_svd(ctx, a, opt).method == svd_method::randomized);
    // A thin rank of a larger matrix: the randomized method is estimated cheapest and runs.
    auto big = gaussian<xtensor_backend, double>(ctx, {200, 150}, 4);
    opt.randomized_fallback = true;
    opt.trunc = truncation::rank(2);
    CHECK(truncated_svd(ctx, big, opt).method == svd_method::randomized);
}

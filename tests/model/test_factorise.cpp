// factorise_weight and the break-even rule. References: matrices with a prescribed spectrum
// (so the Eckart–Young optimum sqrt(Σ_{i>r} σ_i² / Σ σ_i²) is known exactly), the factors'
// product recomputed on the host in double (independent of the backend's residual code),
// orthonormality of the tucker2 factors, and parameter counts by formula.
#include "core/helpers.hpp"

#include "lowrank/model/factorise.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace {

using namespace lowrank;
using model::factor_method;

// ‖A − Â‖_F / ‖A‖_F with Â = U·Vᵀ (svd form) or U·G·Vᵀ (tucker2 form), all on the host in double.
template <class T>
double host_error(const std::vector<T>& a, const std::vector<T>& u, const std::vector<T>* g, const std::vector<T>& v,
                  std::size_t m, std::size_t n, std::size_t r) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double acc = 0;
            for (std::size_t p = 0; p < r; ++p) {
                double left = 0;
                if (g) {
                    for (std::size_t q = 0; q < r; ++q) left += double(u[i * r + q]) * double((*g)[q * r + p]);
                } else {
                    left = double(u[i * r + p]);
                }
                acc += left * double(v[j * r + p]);
            }
            num += (double(a[i * n + j]) - acc) * (double(a[i * n + j]) - acc);
            den += double(a[i * n + j]) * double(a[i * n + j]);
        }
    return std::sqrt(num / den);
}

}  // namespace

TEST_CASE_TEMPLATE("factorise_weight: every method reaches the Eckart–Young optimum on a prescribed spectrum", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 24, n = 16, r = 5;
    std::vector<double> sigma(n);
    for (std::size_t i = 0; i < n; ++i) sigma[i] = std::pow(0.7, double(i)) + (i < r ? 1.0 : 0.0);
    double all = 0, tail = 0;
    for (std::size_t i = 0; i < n; ++i) all += sigma[i] * sigma[i], tail += i >= r ? sigma[i] * sigma[i] : 0.0;
    const double optimum = std::sqrt(tail / all);
    auto w = lrtest::with_spectrum<B, T>(ctx, m, n, sigma, 11);
    const auto a = lrtest::host<B>(ctx, w);
    const double tol = 200 * lrtest::eps<T>() * double(n) + (std::is_same_v<T, float> ? 1e-4 : 1e-10);
    struct run { factor_form form; factor_method method; };
    for (const auto& c : {run{factor_form::svd, factor_method::automatic}, run{factor_form::svd, factor_method::gram},
                          run{factor_form::svd, factor_method::randomized}, run{factor_form::tucker2, factor_method::hosvd},
                          run{factor_form::tucker2, factor_method::hooi}}) {
        const std::string what = std::string(model::to_string(c.method)) + " " + to_string(c.form);
        CAPTURE(what);
        const auto f = model::factorise_weight(ctx, w, r, c.form, c.method);
        REQUIRE(f.status == status::ok);
        CHECK(f.form == c.form);
        CHECK(f.rank == r);
        CHECK(f.parameters_before == m * n);
        CHECK(f.parameters_after == (c.form == factor_form::svd ? (m + n) * r : m * r + r * r + n * r));
        CHECK(B::shape(f.u) == shape_t{m, r});
        CHECK(B::shape(f.v) == shape_t{n, r});
        CHECK(f.core.has_value() == (c.form == factor_form::tucker2));
        const auto u = lrtest::host<B>(ctx, f.u), v = lrtest::host<B>(ctx, f.v);
        std::vector<T> g;
        if (f.core) g = lrtest::host<B>(ctx, *f.core);
        const double err = host_error(a, u, f.core ? &g : nullptr, v, m, n, r);
        CHECK(err == doctest::Approx(optimum).epsilon(tol));
        CHECK(f.rel_error == doctest::Approx(err).epsilon(tol));
        if (f.algorithm == "truncated_svd(randomized)") {
            CHECK(std::isnan(f.eckart_young));  // it sees only the leading singular values
        } else {
            CHECK(f.eckart_young == doctest::Approx(optimum).epsilon(tol));
        }
        if (f.core) {
            CHECK(lrtest::orthonormality_error(u, m, r) < 100 * lrtest::eps<T>() * m);
            CHECK(lrtest::orthonormality_error(v, n, r) < 100 * lrtest::eps<T>() * n);
        }
        // reconstruct() is the same product.
        const auto x = lrtest::host<B>(ctx, model::reconstruct(ctx, f));
        double d = 0, nx = 0;
        std::vector<T> zero(1);
        for (std::size_t i = 0; i < m * n; ++i) d += (double(x[i]) - a[i]) * (double(x[i]) - a[i]), nx += double(a[i]) * a[i];
        CHECK(std::sqrt(d / nx) == doctest::Approx(err).epsilon(tol));
    }
    // Without the explicit residual: no error, same factors.
    model::factorise_options o;
    o.compute_error = false;
    const auto f = model::factorise_weight(ctx, w, r, o);
    CHECK(std::isnan(f.rel_error));
    CHECK(f.eckart_young == doctest::Approx(optimum).epsilon(tol));
}

TEST_CASE("factorise_weight: misuse throws, numerical trouble is a status") {
    xtensor_backend::context ctx;
    xt::xarray<float> w = xt::ones<float>({6, 4});
    CHECK_THROWS_AS(model::factorise_weight(ctx, w, 0, factor_form::svd), rank_error);
    CHECK_THROWS_AS(model::factorise_weight(ctx, w, 5, factor_form::svd), rank_error);
    CHECK_THROWS_AS(model::factorise_weight(ctx, w, 2, factor_form::svd, factor_method::hooi), invalid_argument);
    CHECK_THROWS_AS(model::factorise_weight(ctx, w, 2, factor_form::tucker2, factor_method::exact), invalid_argument);
    xt::xarray<float> cube = xt::ones<float>({2, 2, 2});
    CHECK_THROWS_AS(model::factorise_weight(ctx, cube, 1, factor_form::svd), shape_error);
    w(1, 1) = std::numeric_limits<float>::quiet_NaN();
    for (auto form : {factor_form::svd, factor_form::tucker2}) {
        const auto f = model::factorise_weight(ctx, w, 2, form);
        CHECK(f.status == status::nonfinite_input);
        CHECK_THROWS_AS(model::reconstruct(ctx, f), invalid_argument);
    }
}

TEST_CASE("saves_parameters is the break-even rule, exhaustively on small shapes") {
    for (std::uint64_t rows = 1; rows <= 40; ++rows)
        for (std::uint64_t cols = 1; cols <= 40; ++cols)
            for (auto form : {factor_form::svd, factor_form::tucker2}) {
                const std::uint64_t be = break_even_rank(rows, cols, form);
                for (std::uint64_t r = 1; r <= std::min(rows, cols); ++r) {
                    const bool by_count = factored_parameters(rows, cols, r, form) < rows * cols;
                    REQUIRE(saves_parameters(rows, cols, r, form) == by_count);
                    REQUIRE(saves_parameters(rows, cols, r, form) == (r <= be));
                }
            }
    // Llama-2-7B q (4096×4096): svd breaks even at 2048 (saves up to 2047), tucker2 lower.
    CHECK(saves_parameters(4096, 4096, 2047, factor_form::svd));
    CHECK_FALSE(saves_parameters(4096, 4096, 2048, factor_form::svd));
    CHECK_FALSE(saves_parameters(4096, 4096, 2047, factor_form::tucker2));
}

TEST_CASE("factorise_weight: the randomized SVD when it runs (a sketch well below half the rank)") {
    using B = xtensor_backend;
    B::context ctx;
    const std::size_t m = 120, n = 90, r = 4;
    std::vector<double> sigma(n);
    for (std::size_t i = 0; i < n; ++i) sigma[i] = i < r ? 10.0 - double(i) : 0.01 * std::pow(0.9, double(i));
    double all = 0, tail = 0;
    for (std::size_t i = 0; i < n; ++i) all += sigma[i] * sigma[i], tail += i >= r ? sigma[i] * sigma[i] : 0.0;
    auto w = lrtest::with_spectrum<B, double>(ctx, m, n, sigma, 5);
    const auto f = model::factorise_weight(ctx, w, r, factor_form::svd, factor_method::randomized);
    REQUIRE(f.status == status::ok);
    CHECK(f.algorithm == "truncated_svd(randomized)");
    CHECK(std::isnan(f.eckart_young));
    // A rank-r approximation is never better than the optimum; with a clear spectral gap and
    // power iterations the randomized one is within a hair of it.
    CHECK(f.rel_error >= std::sqrt(tail / all) * (1 - 1e-9));
    CHECK(f.rel_error <= std::sqrt(tail / all) * 1.001);
}

// Tensor algebra: unfold/fold against the numpy/TensorLy index definition, mode-n products
// against explicit loops (the definition Y[l,j,r] = Σ_i A[j,i] X[l,i,r]) and their algebraic
// identities, Gram matrices of unfoldings, norms and the finiteness check (with their edge cases).
// Reference: the definitions, evaluated in double on the host.
#include "helpers.hpp"

using namespace lrtest;

namespace {

/// Explicit-loop mode-n product on the host (double accumulation).
template <class T>
std::vector<double> naive_mode_product(const std::vector<T>& x, const shape_t& s, const std::vector<T>& a,
                                       std::size_t J, std::size_t n) {
    const std::size_t L = size_before(s, n), I = s[n], R = size_after(s, n);
    std::vector<double> y(L * J * R, 0.0);
    for (std::size_t l = 0; l < L; ++l)
        for (std::size_t j = 0; j < J; ++j)
            for (std::size_t r = 0; r < R; ++r) {
                double acc = 0;
                for (std::size_t i = 0; i < I; ++i) acc += double(a[j * I + i]) * double(x[(l * I + i) * R + r]);
                y[(l * J + j) * R + r] = acc;
            }
    return y;
}

template <class T>
double max_abs_diff(const std::vector<T>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
    return d;
}

}  // namespace

TEST_CASE_TEMPLATE("unfold follows moveaxis(X, n, 0).reshape(I_n, -1) and fold inverts it", C, LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const shape_t s{3, 4, 5, 2};
    auto x = gaussian<B, T>(ctx, s, 7);
    const auto hx = host<B>(ctx, x);
    for (std::size_t n = 0; n < s.size(); ++n) {
        auto m = unfold(ctx, x, n);
        CHECK(B::shape(m) == shape_t{s[n], numel(s) / s[n]});
        const auto hm = host<B>(ctx, m);
        // Column index = C-order index of the remaining modes.
        std::size_t idx[4];
        for (idx[0] = 0; idx[0] < s[0]; ++idx[0])
            for (idx[1] = 0; idx[1] < s[1]; ++idx[1])
                for (idx[2] = 0; idx[2] < s[2]; ++idx[2])
                    for (idx[3] = 0; idx[3] < s[3]; ++idx[3]) {
                        std::size_t col = 0;
                        for (std::size_t k = 0; k < 4; ++k)
                            if (k != n) col = col * s[k] + idx[k];
                        const std::size_t flat = ((idx[0] * s[1] + idx[1]) * s[2] + idx[2]) * s[3] + idx[3];
                        REQUIRE(hm[idx[n] * (numel(s) / s[n]) + col] == hx[flat]);
                    }
        auto back = fold(ctx, m, n, s);
        CHECK(B::shape(back) == s);
        CHECK(host<B>(ctx, back) == hx);
    }
    CHECK_THROWS_AS(unfold(ctx, x, 4), mode_error);
    auto m0 = unfold(ctx, x, 0);
    CHECK_THROWS_AS(fold(ctx, m0, 1, s), shape_error);
}

TEST_CASE_TEMPLATE("mode-n product matches its definition on every mode, plain and transposed", C, LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    for (const shape_t& s : {shape_t{6, 5, 4}, shape_t{3, 1, 4, 2}, shape_t{7}}) {
        auto x = gaussian<B, T>(ctx, s, 11);
        const auto hx = host<B>(ctx, x);
        for (std::size_t n = 0; n < s.size(); ++n) {
            const std::size_t J = 3;
            auto a = gaussian<B, T>(ctx, {J, s[n]}, 100 + n);
            const auto ha = host<B>(ctx, a);
            const auto expect = naive_mode_product(hx, s, ha, J, n);
            auto y = mode_product(ctx, x, a, n);
            shape_t ys = s;
            ys[n] = J;
            CHECK(B::shape(y) == ys);
            const double tol = 50 * eps<T>() * std::sqrt(double(s[n])) * 10;
            CHECK(max_abs_diff(host<B>(ctx, y), expect) < tol);
            // Transposed operand: store Aᵀ (I_n × J) and ask for op::trans.
            auto at = B::template upload<T>(ctx, transposed(ha, J, s[n]).data(), {s[n], J});
            auto yt = mode_product(ctx, x, at, n, op::trans);
            CHECK(max_abs_diff(host<B>(ctx, yt), expect) < tol);
            if (s[n] != J) CHECK_THROWS_AS(mode_product(ctx, x, at, n), shape_error);
        }
        auto bad = gaussian<B, T>(ctx, {2, 2, 2}, 1);
        CHECK_THROWS_AS(mode_product(ctx, x, bad, 0), shape_error);
        auto a = gaussian<B, T>(ctx, {2, s[0]}, 1);
        CHECK_THROWS_AS(mode_product(ctx, x, a, s.size()), mode_error);
    }
}

TEST_CASE_TEMPLATE("mode-product identities: X ×n A ×n B = X ×n (BA); distinct modes commute", C, LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const shape_t s{5, 6, 7};
    auto x = gaussian<B, T>(ctx, s, 3);
    auto a = gaussian<B, T>(ctx, {4, 6}, 4);
    auto b = gaussian<B, T>(ctx, {3, 4}, 5);
    auto ba = B::template empty<T>(ctx, {3, 6});
    B::gemm(ctx, op::none, op::none, 3, 6, 4, T(1), B::data(b), 4, B::data(a), 6, T(0), B::data(ba), 6);
    auto lhs = mode_product(ctx, mode_product(ctx, x, a, 1), b, 1);
    auto rhs = mode_product(ctx, x, ba, 1);
    const double scale = double(frobenius_norm(ctx, rhs));
    CHECK(double(frobenius_distance(ctx, lhs, rhs)) <= 100 * eps<T>() * scale);

    auto c = gaussian<B, T>(ctx, {2, 5}, 6);
    auto d = gaussian<B, T>(ctx, {3, 7}, 7);
    auto cd = mode_product(ctx, mode_product(ctx, x, c, 0), d, 2);
    auto dc = mode_product(ctx, mode_product(ctx, x, d, 2), c, 0);
    CHECK(double(frobenius_distance(ctx, cd, dc)) <= 100 * eps<T>() * double(frobenius_norm(ctx, cd)));
    // multi_mode_product reorders internally; the result must not depend on it.
    auto multi = multi_mode_product(ctx, x, {&c, nullptr, &d});
    CHECK(double(frobenius_distance(ctx, multi, cd)) <= 100 * eps<T>() * double(frobenius_norm(ctx, cd)));
}

TEST_CASE_TEMPLATE("Gram of the unfolding, norms and inner products match explicit sums", C, LOWRANK_TEST_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const shape_t s{4, 3, 5};
    auto x = gaussian<B, T>(ctx, s, 9);
    auto y = gaussian<B, T>(ctx, s, 10);
    const auto hx = host<B>(ctx, x), hy = host<B>(ctx, y);
    double nn = 0, ip = 0;
    for (std::size_t i = 0; i < hx.size(); ++i) {
        nn += double(hx[i]) * hx[i];
        ip += double(hx[i]) * hy[i];
    }
    CHECK(double(frobenius_norm(ctx, x)) == doctest::Approx(std::sqrt(nn)).epsilon(20 * eps<T>()));
    CHECK(double(inner_product(ctx, x, y)) == doctest::Approx(ip).epsilon(1e3 * eps<T>()));
    for (std::size_t n = 0; n < 3; ++n) {
        auto g = host<B>(ctx, unfolding_gram(ctx, x, n));
        auto m = host<B>(ctx, unfold(ctx, x, n));
        const std::size_t I = s[n], cols = numel(s) / I;
        for (std::size_t a = 0; a < I; ++a)
            for (std::size_t b = 0; b < I; ++b) {
                double acc = 0;
                for (std::size_t c = 0; c < cols; ++c) acc += double(m[a * cols + c]) * m[b * cols + c];
                CHECK(double(g[a * I + b]) == doctest::Approx(acc).epsilon(1e3 * eps<T>()).scale(nn));
            }
    }
    auto z = gaussian<B, T>(ctx, {4, 3}, 1);
    CHECK_THROWS_AS(inner_product(ctx, x, z), shape_error);
}

TEST_CASE_TEMPLATE("host norm and finiteness check: fast paths agree with the scaled definition and every edge case", T,
                   double, float) {
    // References: ‖x‖₂ computed in long double with scaling by max|x_i| (the definition, free of
    // overflow), and std::isfinite per element. Lengths that leave remainders after the
    // vector lanes; magnitudes where the fast sum of squares overflows or underflows in double
    // (it must then fall back to BLAS nrm2), zero vectors, and an Inf/NaN at every position.
    // Tolerance 4ε relative, plus one subnormal step for float results below the normal range.
    xtensor_backend::context ctx;
    auto reference = [](const std::vector<T>& v) {
        long double m = 0, s = 0;
        for (T e : v) m = std::max(m, std::fabs((long double)e));
        if (m == 0) return 0.0L;
        for (T e : v) s += ((long double)e / m) * ((long double)e / m);
        return m * std::sqrt(s);
    };
    const bool f64 = std::is_same_v<T, double>;
    for (std::size_t n : {1, 15, 16, 33, 1000}) {
        normal_generator g(n);
        const auto base = g.normals<T>(n);
        for (double scale : {1.0, 1e-30, 1e30, f64 ? 1e-200 : 1e-40, f64 ? 1e200 : 1e36, 0.0}) {
            std::vector<T> v(n);
            for (std::size_t i = 0; i < n; ++i) v[i] = T(double(base[i]) * scale);
            const long double want = reference(v);
            const T got = xtensor_backend::nrm2(ctx, n, v.data());
            CAPTURE(n);
            CAPTURE(scale);
            CHECK(std::isfinite(double(got)));
            CHECK(std::fabs((long double)got - want) <= 4 * eps<T>() * want + std::numeric_limits<T>::denorm_min());
            CHECK(xtensor_backend::all_finite(ctx, n, v.data()));
        }
        for (std::size_t at : {std::size_t(0), n / 2, n - 1})
            for (T bad : {std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                          std::numeric_limits<T>::quiet_NaN()}) {
                std::vector<T> v(base.begin(), base.end());
                v[at] = bad;
                CHECK_FALSE(xtensor_backend::all_finite(ctx, n, v.data()));
                CHECK_FALSE(std::isfinite(double(xtensor_backend::nrm2(ctx, n, v.data()))));
            }
    }
}

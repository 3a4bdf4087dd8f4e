// Whitening properties on generated Grams: S·Sᵀ = H for a full-rank Gram (Cholesky, no ridge);
// rank-deficient, indefinite, zero and NaN Grams give finite, documented results (ridge
// escalation or the eigen fallback, identity, status); the reported defect equals
// ‖S Sᵀ − H‖_F / ‖H‖_F computed explicitly on the host; shrinkage; S⁻¹ undoes S; ASVD's
// diagonal. The whitener runs in float64 on every backend, so only the backend varies.
#include "compress_test_util.hpp"

using namespace lrtest;

namespace {

/// ‖S Sᵀ − H‖_F / ‖H‖_F on the host from the whitener's factor.
template <class B, class W>
double explicit_defect(typename B::context& ctx, const W& s, const std::vector<double>& h) {
    const std::size_t n = s.channels;
    const auto f = host<B>(ctx, s.factor);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double acc = 0;
            for (std::size_t k = 0; k < n; ++k) acc += f[i * n + k] * f[j * n + k];
            num += (acc - h[i * n + j]) * (acc - h[i * n + j]);
            den += h[i * n + j] * h[i * n + j];
        }
    return std::sqrt(num / den);
}

template <class B, class W>
bool factor_finite(typename B::context& ctx, const W& s) {
    for (double v : host<B>(ctx, s.factor))
        if (!std::isfinite(v)) return false;
    return true;
}

}  // namespace

TEST_CASE_TEMPLATE("whitening: a full-rank Gram gives its Cholesky factor, S·Sᵀ = H, no ridge", B, xtensor_backend,
                   reference_backend) {
    typename B::context ctx;
    const std::size_t n = 12;
    const auto h = gram_of_rows(activation_rows(80, n, 1, 2.0));
    const auto s = make_whitener(ctx, std::span<const double>(h), n);
    REQUIRE(s.status == status::ok);
    CHECK(s.kind == whitener_kind::cholesky);
    CHECK(s.ridge == 0);
    CHECK(s.cholesky_attempts == 1);
    CHECK(s.defect == 0);
    CHECK(explicit_defect<B>(ctx, s, h) < 1e-13);
    const auto f = host<B>(ctx, s.factor);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) CHECK(f[i * n + j] == 0.0);  // lower triangular

    // S⁻¹ undoes S: (X·S)·S⁻¹ = X.
    const hmat x = gaussian_host(3, n, 2);
    auto xs = upload_host<B, double>(ctx, x);
    auto y = whiten_right(ctx, s, xs);
    unwhiten_right(ctx, s, y);
    const auto back = host<B>(ctx, y);
    for (std::size_t i = 0; i < back.size(); ++i) CHECK(back[i] == doctest::Approx(x.a[i]).epsilon(1e-9));
}

TEST_CASE_TEMPLATE("whitening: a rank-deficient Gram escalates the ridge or falls back to eigen, finitely", B,
                   xtensor_backend, reference_backend) {
    typename B::context ctx;
    const std::size_t n = 10;
    const auto h = gram_of_rows(activation_rows(4, n, 3));  // rank 4
    const auto s = make_whitener(ctx, std::span<const double>(h), n);
    REQUIRE(s.status == status::ok);
    CHECK((s.kind == whitener_kind::cholesky || s.kind == whitener_kind::eigen));
    CHECK(s.cholesky_attempts >= 2);
    CHECK(factor_finite<B>(ctx, s));
    CHECK(s.defect == doctest::Approx(explicit_defect<B>(ctx, s, h)).epsilon(1e-6));
    CHECK(s.defect < 1e-3);
    if (s.kind == whitener_kind::cholesky) CHECK(s.ridge > 0);

    // Forcing the eigen path: clamped eigenvalues, S Sᵀ = H up to the floor.
    whitening_options eo;
    eo.method = whitening_method::eigen;
    const auto e = make_whitener(ctx, std::span<const double>(h), n, eo);
    REQUIRE(e.status == status::ok);
    CHECK(e.kind == whitener_kind::eigen);
    CHECK(e.clamped == n - 4);
    CHECK(factor_finite<B>(ctx, e));
    CHECK(e.defect == doctest::Approx(explicit_defect<B>(ctx, e, h)).epsilon(1e-4));
    CHECK(e.defect < 1e-8);
    const hmat x = gaussian_host(2, n, 4);
    auto xs = upload_host<B, double>(ctx, x);
    auto y = whiten_right(ctx, e, xs);
    unwhiten_right(ctx, e, y);
    const auto back = host<B>(ctx, y);
    for (std::size_t i = 0; i < back.size(); ++i) CHECK(back[i] == doctest::Approx(x.a[i]).epsilon(1e-6));
}

TEST_CASE_TEMPLATE("whitening: an indefinite matrix uses the eigen fallback with clamped eigenvalues", B,
                   xtensor_backend, reference_backend) {
    typename B::context ctx;
    const std::size_t n = 6;
    auto h = gram_of_rows(activation_rows(30, n, 5, 0.0));
    h[0] -= 40.0;  // push one direction negative (trace stays positive)
    const auto s = make_whitener(ctx, std::span<const double>(h), n);
    REQUIRE(s.status == status::ok);
    CHECK(s.kind == whitener_kind::eigen);
    CHECK(s.min_eigenvalue < 0);
    CHECK(s.clamped >= 1);
    CHECK(factor_finite<B>(ctx, s));
    CHECK(s.defect == doctest::Approx(explicit_defect<B>(ctx, s, h)).epsilon(1e-6));
    CHECK(s.defect > 0);
}

TEST_CASE_TEMPLATE("whitening: zero Gram → identity; NaN/Inf → status; bad options and shapes throw", B,
                   xtensor_backend, reference_backend) {
    typename B::context ctx;
    const std::size_t n = 4;
    std::vector<double> zero(n * n, 0.0);
    const auto s = make_whitener(ctx, std::span<const double>(zero), n);
    CHECK(s.status == status::ok);
    CHECK(s.kind == whitener_kind::identity);
    auto nan = gram_of_rows(activation_rows(8, n, 6));
    nan[5] = std::numeric_limits<double>::quiet_NaN();
    const auto sn = make_whitener(ctx, std::span<const double>(nan), n);
    CHECK(sn.status == status::nonfinite_input);
    auto w = upload_host<B, double>(ctx, gaussian_host(3, n, 7));
    CHECK(whitened_svd(ctx, w, sn).status == status::nonfinite_input);
    CHECK_THROWS_AS(whiten_right(ctx, sn, w), lowrank::invalid_argument);
    CHECK_THROWS_AS(make_whitener(ctx, std::span<const double>(zero), n + 1), shape_error);
    whitening_options bad;
    bad.shrinkage = 1;
    CHECK_THROWS_AS(make_whitener(ctx, std::span<const double>(zero), n, bad), lowrank::invalid_argument);
    bad = {};
    bad.eigen_floor = 0;
    CHECK_THROWS_AS(make_whitener(ctx, std::span<const double>(zero), n, bad), lowrank::invalid_argument);
    auto w5 = upload_host<B, double>(ctx, gaussian_host(3, n + 1, 8));
    CHECK_THROWS_AS(whiten_right(ctx, s, w5), shape_error);
}

TEST_CASE_TEMPLATE("whitening: shrinkage and a fixed ridge give S·Sᵀ = (1 − α)H + (αμ + λ)I, defect in closed form", B,
                   xtensor_backend, reference_backend) {
    typename B::context ctx;
    const std::size_t n = 8;
    const auto h = gram_of_rows(activation_rows(40, n, 9, 1.0));
    double mu = 0;
    for (std::size_t i = 0; i < n; ++i) mu += h[i * n + i] / double(n);
    for (auto method : {whitening_method::cholesky, whitening_method::eigen}) {
        whitening_options o;
        o.method = method;
        o.shrinkage = 0.2;
        o.ridge = 1e-3;
        const auto s = make_whitener(ctx, std::span<const double>(h), n, o);
        REQUIRE(s.status == status::ok);
        std::vector<double> target(h);
        for (auto& v : target) v *= 0.8;
        for (std::size_t i = 0; i < n; ++i) target[i * n + i] += (0.2 + 1e-3) * mu;
        CHECK(explicit_defect<B>(ctx, s, target) < 1e-10);
        CHECK(s.defect == doctest::Approx(explicit_defect<B>(ctx, s, h)).epsilon(1e-8));
        CHECK(s.ridge == doctest::Approx(1e-3 * mu));
    }
}

TEST_CASE_TEMPLATE("ASVD whitener: d_j = max(mean|x_j|, floor·max)^α, identity for silent inputs", B, xtensor_backend,
                   reference_backend) {
    typename B::context ctx;
    const std::vector<double> mean = {4.0, 1.0, 0.0, 0.25};
    asvd_options o;
    o.alpha = 0.5;
    o.floor = 1e-2;
    const auto s = asvd_whitener(ctx, std::span<const double>(mean), o);
    REQUIRE(s.status == status::ok);
    CHECK(s.kind == whitener_kind::diagonal);
    CHECK(s.diagonal[0] == doctest::Approx(2.0));
    CHECK(s.diagonal[1] == doctest::Approx(1.0));
    CHECK(s.diagonal[2] == doctest::Approx(std::sqrt(0.04)));
    CHECK(s.diagonal[3] == doctest::Approx(0.5));
    CHECK(std::isnan(s.defect));
    const std::vector<double> silent(3, 0.0);
    CHECK(asvd_whitener(ctx, std::span<const double>(silent)).kind == whitener_kind::identity);
    const std::vector<double> bad = {1.0, std::numeric_limits<double>::infinity()};
    CHECK(asvd_whitener(ctx, std::span<const double>(bad)).status == status::nonfinite_input);
    const std::vector<double> neg = {1.0, -1.0};
    CHECK_THROWS_AS(asvd_whitener(ctx, std::span<const double>(neg)), lowrank::invalid_argument);
    o.floor = 0;
    CHECK_THROWS_AS(asvd_whitener(ctx, std::span<const double>(mean), o), lowrank::invalid_argument);
    // From statistics: mean |x| = abs_sum / tokens.
    input_stats st = input_stats::zeros(2);
    st.tokens = 4;
    st.abs_sum = {16.0, 4.0};
    const auto fs = asvd_whitener(ctx, st);
    CHECK(fs.diagonal[0] == doctest::Approx(2.0));
    CHECK(fs.diagonal[1] == doctest::Approx(1.0));
}

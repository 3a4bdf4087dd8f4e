// Closed-form refit of the left factor against calibration statistics, checked against a
// direct least-squares solve (Householder QR in float64 on the activations themselves, not the
// normal equations) in the two-stream setting; the objectives it reports against the measured
// ‖A B X − W X̄‖²; the single-stream fixed point of a whitened SVD; degenerate and NaN inputs.
#include "compress_test_util.hpp"

using namespace lrtest;

namespace {

template <class T>
double refit_tol() {
    return std::is_same_v<T, float> ? 1e-4 : 1e-8;
}

/// ‖A B X − W X̄‖²_F over the rows (A = u [m, r], B = vᵀ).
template <class T>
double measured_objective(const hmat& w, const std::vector<T>& u, const std::vector<T>& v, std::size_t r,
                          const hmat& xc, const hmat& xf) {
    const std::size_t m = w.rows, n = w.cols;
    double total = 0;
    std::vector<double> z(r);
    for (std::size_t t = 0; t < xc.rows; ++t) {
        for (std::size_t p = 0; p < r; ++p) {
            z[p] = 0;
            for (std::size_t j = 0; j < n; ++j) z[p] += double(v[j * r + p]) * xc(t, j);
        }
        for (std::size_t i = 0; i < m; ++i) {
            double y = 0, target = 0;
            for (std::size_t p = 0; p < r; ++p) y += double(u[i * r + p]) * z[p];
            for (std::size_t j = 0; j < n; ++j) target += w(i, j) * xf(t, j);
            total += (y - target) * (y - target);
        }
    }
    return total;
}

}  // namespace

TEST_CASE_TEMPLATE("refit: A = W C v (vᵀ H v)⁻¹ equals a direct least-squares solve on the activations", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    using Ctx = typename B::context;
    Ctx ctx;
    const std::size_t m = 7, n = 9, N = 64, r = 4;
    const hmat xf = activation_rows(N, n, 81, 1.0);  // dense-model inputs X̄
    hmat xc = xf;                                     // compressed-prefix inputs X: perturbed
    const hmat noise = gaussian_host(N, n, 82);
    for (std::size_t i = 0; i < xc.a.size(); ++i) xc.a[i] = double(float(xc.a[i] + 0.3 * noise.a[i]));
    hmat w = gaussian_host(m, n, 83);
    for (auto& x : w.a) x = double(float(x));
    // B from a whitened SVD on the compressed inputs (any full-rank B would do).
    stats_accumulator<Ctx> acc(ctx, n, true);
    const auto fc = to_float(xc), ff = to_float(xf);
    REQUIRE(acc.add_pair(fc.data(), ff.data(), N) == status::ok);
    const input_stats st = acc.take();
    auto wt = upload_host<B, T>(ctx, w);
    whitened_svd_options o;
    o.trunc = truncation::rank(r);
    const auto ws = whitened_svd(ctx, wt, make_whitener(ctx, st), o);
    REQUIRE(ws.status == status::ok);
    const auto v = host<B>(ctx, ws.v), u0 = host<B>(ctx, ws.u);

    refit_options ro;
    ro.ridge = 0;
    const auto res = refit_left_factor(ctx, wt, ws.u, ws.v, st, ro);
    REQUIRE(res.status == status::ok);
    CHECK(res.cholesky_attempts == 1);
    CHECK_FALSE(res.pseudo_inverse);
    const auto u = host<B>(ctx, res.u);

    // Direct: min ‖Zᵀ Aᵀ − Yᵀ‖ with Z = B X (r×N), Y = W X̄ (m×N).
    hmat zt{N, r, std::vector<double>(N * r, 0.0)}, yt{N, m, std::vector<double>(N * m, 0.0)};
    for (std::size_t t = 0; t < N; ++t) {
        for (std::size_t p = 0; p < r; ++p)
            for (std::size_t j = 0; j < n; ++j) zt(t, p) += double(v[j * r + p]) * xc(t, j);
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < n; ++j) yt(t, i) += w(i, j) * xf(t, j);
    }
    const hmat at = lstsq(zt, yt);  // r × m
    double worst = 0, top = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t p = 0; p < r; ++p) {
            worst = std::max(worst, std::abs(double(u[i * r + p]) - at(p, i)));
            top = std::max(top, std::abs(at(p, i)));
        }
    CHECK(worst <= refit_tol<T>() * top);

    const double before = measured_objective(w, u0, v, r, xc, xf), after = measured_objective(w, u, v, r, xc, xf);
    const double scale = measured_output_energy(w, xf);
    CHECK(after < before);
    CHECK(std::abs(res.objective_before - before) <= refit_tol<T>() * scale);
    CHECK(std::abs(res.objective_after - after) <= refit_tol<T>() * scale);
    CHECK(res.improvement == doctest::Approx(before - after).epsilon(1e-3));

    // The default ridge changes the answer only at the ridge's scale.
    const auto rr = refit_left_factor(ctx, wt, ws.u, ws.v, st);
    REQUIRE(rr.status == status::ok);
    CHECK(rr.ridge > 0);
    const auto ur = host<B>(ctx, rr.u);
    for (std::size_t i = 0; i < ur.size(); ++i) CHECK(std::abs(double(ur[i]) - double(u[i])) <= 1e-4 * top);
}

TEST_CASE_TEMPLATE("refit: single-stream, a whitened SVD's left factor is already optimal", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    using Ctx = typename B::context;
    Ctx ctx;
    const std::size_t m = 8, n = 10, N = 50, r = 3;
    const hmat x = activation_rows(N, n, 91, 2.0);
    hmat w = gaussian_host(m, n, 92);
    for (auto& e : w.a) e = double(float(e));
    stats_accumulator<Ctx> acc(ctx, n);
    const auto f = to_float(x);
    REQUIRE(acc.add(f.data(), N) == status::ok);
    const input_stats st = acc.take();
    auto wt = upload_host<B, T>(ctx, w);
    whitened_svd_options o;
    o.trunc = truncation::rank(r);
    const auto ws = whitened_svd(ctx, wt, make_whitener(ctx, st), o);
    REQUIRE(ws.status == status::ok);
    const auto res = refit_left_factor(ctx, wt, ws.u, ws.v, st);
    REQUIRE(res.status == status::ok);
    const auto u0 = host<B>(ctx, ws.u), u = host<B>(ctx, res.u);
    double top = 0, worst = 0;
    for (std::size_t i = 0; i < u.size(); ++i) {
        top = std::max(top, std::abs(double(u0[i])));
        worst = std::max(worst, std::abs(double(u[i]) - double(u0[i])));
    }
    CHECK(worst <= 100 * refit_tol<T>() * top);
    CHECK(std::abs(res.improvement) <= 100 * refit_tol<T>() * ws.total_energy);
    // Single-stream objective = the whitened SVD's discarded energy.
    CHECK(res.objective_after == doctest::Approx(ws.discarded_energy).epsilon(1e-3));
}

TEST_CASE_TEMPLATE("refit: degenerate and non-finite inputs", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 4, n = 5, r = 2;
    const auto h = gram_of_rows(activation_rows(20, n, 101));
    auto w = upload_host<B, T>(ctx, gaussian_host(m, n, 102));
    auto u = upload_host<B, T>(ctx, gaussian_host(m, r, 103));
    auto zero_v = B::template zeros<T>(ctx, {n, r});
    const auto res = refit_left_factor(ctx, w, u, zero_v, std::span<const double>(h));
    CHECK(res.status == status::ok);  // B X = 0: every A is optimal, u is kept
    CHECK(host<B>(ctx, res.u) == host<B>(ctx, u));
    CHECK(res.improvement == 0);
    CHECK(std::isnan(res.objective_before));  // no H̄ given

    auto v = upload_host<B, T>(ctx, gaussian_host(n, r, 104));
    auto hn = h;
    hn[3] = std::numeric_limits<double>::quiet_NaN();
    CHECK(refit_left_factor(ctx, w, u, v, std::span<const double>(hn)).status == status::nonfinite_input);
    CHECK_THROWS_AS(refit_left_factor(ctx, w, u, u, std::span<const double>(h)), shape_error);
    const std::vector<double> small(9, 1.0);
    CHECK_THROWS_AS(refit_left_factor(ctx, w, u, v, std::span<const double>(small)), shape_error);
    refit_options bad;
    bad.ridge = -1;
    CHECK_THROWS_AS(refit_left_factor(ctx, w, u, v, std::span<const double>(h), {}, {}, bad), lowrank::invalid_argument);
}

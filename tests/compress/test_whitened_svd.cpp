// Whitened truncated SVD (SVD-LLM) properties on generated weights and activations:
//   • the discarded σ² equal the output error ‖(W − W′)X‖²_F measured on the activation rows
//     themselves (and the Gram-based output_error), for every rank and both σ placements;
//   • W′ has the least output error of any rank-r matrix — in particular at most plain SVD's;
//   • with H = I it is the plain truncated SVD (spectrum and reconstruction);
//   • it is invariant under a rescaling of the input channels, which plain SVD is not;
//   • rank-deficient Grams still give finite factors whose output error stays within the
//     reported discarded energy; ASVD's proxy identity; NaN/Inf and misuse.
// References: host float64 loops over the rows (compress_test_util.hpp), and the library's
// plain truncated_svd (tested against LAPACK/Jacobi in tests/core) for the H = I case.
#include "compress_test_util.hpp"

using namespace lrtest;

namespace {

template <class T>
double whitened_svd_tol() {
    return std::is_same_v<T, float> ? 2e-4 : 1e-10;
}

/// W (host, float-representable) m×n.
hmat weights(std::size_t m, std::size_t n, std::uint64_t seed) {
    hmat w = gaussian_host(m, n, seed);
    for (auto& v : w.a) v = double(float(v));
    return w;
}

/// Host reconstruction u vᵀ [m, n].
template <class T>
hmat reconstruct(const std::vector<T>& u, const std::vector<T>& v, std::size_t m, std::size_t n, std::size_t r) {
    hmat out{m, n, std::vector<double>(m * n, 0.0)};
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j)
            for (std::size_t p = 0; p < r; ++p) out(i, j) += double(u[i * r + p]) * double(v[j * r + p]);
    return out;
}

double max_rel(const hmat& a, const hmat& b) {
    double top = 0, worst = 0;
    for (std::size_t i = 0; i < a.a.size(); ++i) {
        top = std::max(top, std::abs(b.a[i]));
        worst = std::max(worst, std::abs(a.a[i] - b.a[i]));
    }
    return worst / top;
}

}  // namespace

TEST_CASE_TEMPLATE("whitened SVD: discarded σ² = ‖(W − W′)X‖²_F measured on the calibration activations", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 9, n = 12, N = 60;
    const hmat rows = activation_rows(N, n, 11, 2.0), w = weights(m, n, 12);
    const auto h = gram_of_rows(rows);
    const auto s = make_whitener(ctx, std::span<const double>(h), n);
    REQUIRE(s.kind == whitener_kind::cholesky);
    auto wt = upload_host<B, T>(ctx, w);
    const double energy = measured_output_energy(w, rows);
    for (std::size_t r : {1u, 4u, 8u})
        for (sigma_split split : {sigma_split::left, sigma_split::balanced}) {
            CAPTURE(r);
            whitened_svd_options o;
            o.trunc = truncation::rank(r);
            o.split = split;
            const auto res = whitened_svd(ctx, wt, s, o);
            REQUIRE(res.status == status::ok);
            REQUIRE(res.rank == r);
            CHECK(B::shape(res.u) == shape_t{m, r});
            CHECK(B::shape(res.v) == shape_t{n, r});
            CHECK(res.spectrum.size() == m);
            CHECK(res.total_energy == doctest::Approx(energy).epsilon(whitened_svd_tol<T>()));
            const auto u = host<B>(ctx, res.u), v = host<B>(ctx, res.v);
            const double measured = measured_output_error(w, u, v, r, rows);
            CHECK(std::abs(measured - res.discarded_energy) <= whitened_svd_tol<T>() * energy);
            CHECK(res.rel_error == doctest::Approx(std::sqrt(res.discarded_energy / res.total_energy)));
            // The Gram-based output error agrees with the measured one.
            CHECK(std::abs(output_error(ctx, wt, res.u, res.v, std::span<const double>(h)) - measured) <=
                  whitened_svd_tol<T>() * energy);
            // Plain relative error is the explicit ‖W − W′‖_F / ‖W‖_F.
            const hmat wr = reconstruct(u, v, m, n, r);
            double num = 0, den = 0;
            for (std::size_t i = 0; i < w.a.size(); ++i) {
                num += (w.a[i] - wr.a[i]) * (w.a[i] - wr.a[i]);
                den += w.a[i] * w.a[i];
            }
            CHECK(res.plain_rel_error == doctest::Approx(std::sqrt(num / den)).epsilon(10 * whitened_svd_tol<T>()));
            // Optimality: no worse than plain SVD's rank-r output error.
            svd_options po;
            po.trunc = truncation::rank(r);
            const auto plain = truncated_svd(ctx, wt, po);
            auto pu = host<B>(ctx, plain.u);
            const auto pvt = host<B>(ctx, plain.vt);
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t p = 0; p < r; ++p) pu[i * r + p] *= plain.s[p];
            const double plain_err = measured_output_error(w, pu, transposed(pvt, r, n), r, rows);
            CHECK(measured <= plain_err * (1 + whitened_svd_tol<T>()) + whitened_svd_tol<T>() * energy);
        }
    CHECK(output_energy(ctx, wt, std::span<const double>(h)) == doctest::Approx(energy).epsilon(whitened_svd_tol<T>()));
}

TEST_CASE_TEMPLATE("whitened SVD: with H = I it is the plain truncated SVD", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 10, n = 7, r = 3;
    const hmat w = weights(m, n, 21);
    auto wt = upload_host<B, T>(ctx, w);
    std::vector<double> eye(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) eye[i * n + i] = 1;
    svd_options po;
    po.trunc = truncation::rank(r);
    const auto plain = truncated_svd(ctx, wt, po);
    auto pu = host<B>(ctx, plain.u);
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t p = 0; p < r; ++p) pu[i * r + p] *= plain.s[p];
    const hmat ref = reconstruct(pu, transposed(host<B>(ctx, plain.vt), r, n), m, n, r);
    for (const auto& s : {make_whitener(ctx, std::span<const double>(eye), n), identity_whitener(ctx, n)}) {
        whitened_svd_options o;
        o.trunc = truncation::rank(r);
        const auto res = whitened_svd(ctx, wt, s, o);
        REQUIRE(res.status == status::ok);
        for (std::size_t i = 0; i < plain.spectrum.size(); ++i)
            CHECK(res.spectrum[i] == doctest::Approx(double(plain.spectrum[i])).epsilon(whitened_svd_tol<T>()));
        CHECK(max_rel(reconstruct(host<B>(ctx, res.u), host<B>(ctx, res.v), m, n, r), ref) < 10 * whitened_svd_tol<T>());
        CHECK(res.plain_rel_error == doctest::Approx(double(plain.rel_error)).epsilon(10 * whitened_svd_tol<T>()));
    }
}

TEST_CASE_TEMPLATE("whitened SVD: invariant under input-channel scaling, unlike plain SVD", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 8, n = 10, N = 50, r = 4;
    const hmat rows = activation_rows(N, n, 31, 1.0), w = weights(m, n, 32);
    // D = diag(d): W → W D⁻¹, x → D x (so W x is unchanged). d is a power of two so the
    // rescaled data are exact in float too.
    std::vector<double> d(n);
    for (std::size_t j = 0; j < n; ++j) d[j] = std::ldexp(1.0, int(j % 5) - 2);
    hmat w2 = w, rows2 = rows;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) w2(i, j) /= d[j];
    for (std::size_t t = 0; t < N; ++t)
        for (std::size_t j = 0; j < n; ++j) rows2(t, j) *= d[j];
    auto run = [&](const hmat& ww, const hmat& xx, bool whiten) {
        auto h = gram_of_rows(xx);
        auto wt = upload_host<B, T>(ctx, ww);
        const auto s = whiten ? make_whitener(ctx, std::span<const double>(h), n) : identity_whitener(ctx, n);
        whitened_svd_options o;
        o.trunc = truncation::rank(r);
        auto res = whitened_svd(ctx, wt, s, o);
        REQUIRE(res.status == status::ok);
        return std::make_pair(res.spectrum, reconstruct(host<B>(ctx, res.u), host<B>(ctx, res.v), m, n, r));
    };
    const auto [s1, w1r] = run(w, rows, true);
    const auto [s2, w2r] = run(w2, rows2, true);
    for (std::size_t i = 0; i < s1.size(); ++i) CHECK(s2[i] == doctest::Approx(s1[i]).epsilon(whitened_svd_tol<T>()));
    hmat mapped = w1r;  // W′ D⁻¹
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) mapped(i, j) /= d[j];
    CHECK(max_rel(w2r, mapped) < 100 * whitened_svd_tol<T>());

    const auto [p1, p1r] = run(w, rows, false);
    const auto [p2, p2r] = run(w2, rows2, false);
    hmat pmapped = p1r;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) pmapped(i, j) /= d[j];
    CHECK(max_rel(p2r, pmapped) > 1e-2);  // plain SVD changes its answer
    CHECK(std::abs(p2[0] - p1[0]) > 1e-2 * p1[0]);
}

TEST_CASE_TEMPLATE("whitened SVD: relative-error truncation keeps the smallest rank meeting ε", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 12, n = 9;
    const hmat rows = activation_rows(40, n, 41), w = weights(m, n, 42);
    const auto h = gram_of_rows(rows);
    const auto s = make_whitener(ctx, std::span<const double>(h), n);
    auto wt = upload_host<B, T>(ctx, w);
    whitened_svd_options o;
    o.trunc = truncation::relative_error(0.3);
    const auto res = whitened_svd(ctx, wt, s, o);
    REQUIRE(res.status == status::ok);
    const auto curve = loss_curve(res.spectrum);
    CHECK(curve[res.rank] <= 0.09 * res.total_energy * (1 + 1e-9));
    CHECK(curve[res.rank - 1] > 0.09 * res.total_energy);
    CHECK(res.discarded_energy == doctest::Approx(curve[res.rank]));
}

TEST_CASE_TEMPLATE("whitened SVD: rank-deficient calibration data give finite factors within the predicted error", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 6, n = 10, N = 5, r = 3;  // N < n: H has rank 5
    const hmat rows = activation_rows(N, n, 51), w = weights(m, n, 52);
    const auto h = gram_of_rows(rows);
    for (auto method : {whitening_method::cholesky, whitening_method::eigen}) {
        whitening_options wo;
        wo.method = method;
        const auto s = make_whitener(ctx, std::span<const double>(h), n, wo);
        REQUIRE(s.status == status::ok);
        auto wt = upload_host<B, T>(ctx, w);
        whitened_svd_options o;
        o.trunc = truncation::rank(r);
        const auto res = whitened_svd(ctx, wt, s, o);
        REQUIRE(res.status == status::ok);
        const auto u = host<B>(ctx, res.u), v = host<B>(ctx, res.v);
        for (T x : u) CHECK(std::isfinite(x));
        for (T x : v) CHECK(std::isfinite(x));
        // S Sᵀ ⪰ H (ridge/clamp only add), so the true output error is at most the discarded energy.
        const double measured = measured_output_error(w, u, v, r, rows);
        const double energy = measured_output_energy(w, rows);
        CHECK(measured <= res.discarded_energy + 1e3 * whitened_svd_tol<T>() * energy);
    }
}

TEST_CASE_TEMPLATE("ASVD scaling through whitened_svd: discarded energy = ‖(W − W′)·diag(d)‖²_F", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 7, n = 9, r = 3;
    const hmat rows = activation_rows(30, n, 61, 2.0), w = weights(m, n, 62);
    stats_accumulator<typename B::context> acc(ctx, n);
    const auto f = to_float(rows);
    REQUIRE(acc.add(f.data(), rows.rows) == status::ok);
    const auto s = asvd_whitener(ctx, acc.take());
    REQUIRE(s.kind == whitener_kind::diagonal);
    auto wt = upload_host<B, T>(ctx, w);
    whitened_svd_options o;
    o.trunc = truncation::rank(r);
    const auto res = whitened_svd(ctx, wt, s, o);
    REQUIRE(res.status == status::ok);
    CHECK(res.whitener == whitener_kind::diagonal);
    const hmat wr = reconstruct(host<B>(ctx, res.u), host<B>(ctx, res.v), m, n, r);
    double e = 0, total = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            e += std::pow((w(i, j) - wr(i, j)) * s.diagonal[j], 2);
            total += std::pow(w(i, j) * s.diagonal[j], 2);
        }
    CHECK(std::abs(e - res.discarded_energy) <= whitened_svd_tol<T>() * total);
}

TEST_CASE_TEMPLATE("whitened SVD: NaN/Inf weights → status; misuse throws", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    typename B::context ctx;
    const std::size_t m = 4, n = 5;
    hmat w = weights(m, n, 71);
    const auto s = identity_whitener(ctx, n);
    w(1, 2) = std::numeric_limits<double>::infinity();
    auto bad = upload_host<B, T>(ctx, w);
    const auto res = whitened_svd(ctx, bad, s);
    CHECK(res.status == status::nonfinite_input);
    CHECK(B::shape(res.u).empty());  // no factors
    auto good = upload_host<B, T>(ctx, weights(m, n, 72));
    whitened_svd_options o;
    o.trunc = truncation::rank(5);
    CHECK_THROWS_AS(whitened_svd(ctx, good, s, o), rank_error);
    CHECK_THROWS_AS(whitened_svd(ctx, good, identity_whitener(ctx, n + 1)), shape_error);
}

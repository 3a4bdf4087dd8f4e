// The compression operations on the GPU: potrf and trsm against the reference backend (plain
// host loops), and the generic compress/ algorithms — statistics accumulation, whitening
// (Cholesky and eigen paths), whitened SVD, refit — run through cuda_backend and compared with
// the xtensor (LAPACK) backend through invariants (spectra, reconstructions, output errors),
// never entrywise on singular vectors. Every case skips visibly without a device.
#include "cuda_test_util.hpp"

#include "lowrank/compress/refit.hpp"
#include "lowrank/compress/stats.hpp"
#include "lowrank/compress/whitened_svd.hpp"

using namespace lowrank;
using namespace lowrank::test;

namespace {

/// SPD n×n (host): G Gᵀ + n·I.
template <class T>
std::vector<T> spd(std::size_t n, std::uint64_t seed) {
    const auto g = gaussian<T>(n * n, seed);
    std::vector<T> a(n * n, T(0));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double acc = i == j ? double(n) : 0.0;
            for (std::size_t k = 0; k < n; ++k) acc += double(g[i * n + k]) * g[j * n + k];
            a[i * n + j] = T(acc);
        }
    return a;
}

/// Host reconstruction u vᵀ (u m×r, v n×r).
template <class T>
std::vector<double> product(const std::vector<T>& u, const std::vector<T>& v, std::size_t m, std::size_t n, std::size_t r) {
    std::vector<double> w(m * n, 0.0);
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j)
            for (std::size_t p = 0; p < r; ++p) w[i * n + j] += double(u[i * r + p]) * double(v[j * r + p]);
    return w;
}

}  // namespace

TEST_CASE_TEMPLATE("cuda compress: potrf matches the reference Cholesky and reports indefiniteness", T, float, double) {
    LOWRANK_REQUIRE_GPU();
    cb::context ctx;
    reference_backend::context ref;
    const std::size_t n = 37;
    auto a = spd<T>(n, 1);
    auto d = to_device(ctx, a, {n, n});
    REQUIRE(cb::potrf(ctx, n, d.data()) == 0);
    REQUIRE(reference_backend::potrf(ref, n, a.data()) == 0);
    CHECK(max_abs_diff(d.to_host(), a) <= tol<T>(50, double(n)) * (1 + max_abs(a)));
    std::vector<T> bad = {4, 2, 2, 2, 2, 1, 2, 1, -2};
    auto db = to_device(ctx, bad, {3, 3});
    CHECK(cb::potrf(ctx, 3, db.data()) == 3);
}

TEST_CASE_TEMPLATE("cuda compress: trsm matches the reference for every side and transposition", T, float, double) {
    LOWRANK_REQUIRE_GPU();
    cb::context ctx;
    reference_backend::context ref;
    const std::size_t m = 9, n = 7, pad = 3;
    for (side s : {side::left, side::right})
        for (op t : {op::none, op::trans}) {
            const std::size_t nl = s == side::left ? m : n, ldl = nl + pad, ldx = n + pad;
            auto l = gaussian<T>(nl * ldl, 2);
            for (std::size_t i = 0; i < nl; ++i) l[i * ldl + i] = T(3) + std::abs(l[i * ldl + i]);
            auto x = gaussian<T>(m * ldx, 3);
            auto dl = to_device(ctx, l, {l.size()});
            auto dx = to_device(ctx, x, {x.size()});
            cb::trsm(ctx, s, t, m, n, T(0.5), dl.data(), ldl, dx.data(), ldx);
            reference_backend::trsm(ref, s, t, m, n, T(0.5), l.data(), ldl, x.data(), ldx);
            CHECK(max_abs_diff(dx.to_host(), x) <= tol<T>(100, double(nl)) * (1 + max_abs(x)));
        }
}

TEST_CASE_TEMPLATE("cuda compress: statistics, whitening, whitened SVD and refit agree with the xtensor backend", T,
                   float, double) {
    LOWRANK_REQUIRE_GPU();
    cb::context ctx;
    xtensor_backend::context cpu;
    const std::size_t m = 24, n = 32, N = 200, r = 8;
    const auto rows = gaussian<float>(N * n, 4);
    stats_accumulator<cb::context> ga(ctx, n);
    stats_accumulator<xtensor_backend::context> ca(cpu, n);
    REQUIRE(ga.add(rows.data(), N) == status::ok);
    REQUIRE(ca.add(rows.data(), N) == status::ok);
    const input_stats gs = ga.take(), cs = ca.take();
    CHECK(max_abs_diff(gs.gram, cs.gram) <= 1e-12 * max_abs(cs.gram));
    const auto w = gaussian<T>(m * n, 5);
    auto dw = to_device(ctx, w, {m, n});
    auto hw = xtensor_backend::upload<T>(cpu, w.data(), {m, n});
    for (auto method : {whitening_method::cholesky, whitening_method::eigen}) {
        whitening_options wo;
        wo.method = method;
        const auto gwh = make_whitener(ctx, gs, wo);
        const auto cwh = make_whitener(cpu, cs, wo);
        REQUIRE(gwh.status == status::ok);
        CHECK(gwh.kind == cwh.kind);
        whitened_svd_options o;
        o.trunc = truncation::rank(r);
        const auto g = whitened_svd(ctx, dw, gwh, o);
        const auto c = whitened_svd(cpu, hw, cwh, o);
        REQUIRE(g.status == status::ok);
        for (std::size_t i = 0; i < c.spectrum.size(); ++i)
            CHECK(g.spectrum[i] == doctest::Approx(c.spectrum[i]).epsilon(tol<T>(1e3, double(n))));
        CHECK(g.discarded_energy == doctest::Approx(c.discarded_energy).epsilon(tol<T>(1e3, double(n))));
        const auto pg = product(g.u.to_host(), g.v.to_host(), m, n, r);
        std::vector<T> cu(m * r), cv(n * r);
        xtensor_backend::download(cpu, c.u, cu.data());
        xtensor_backend::download(cpu, c.v, cv.data());
        const auto pc = product(cu, cv, m, n, r);
        CHECK(max_abs_diff(pg, pc) <= tol<T>(1e4, double(n)) * (1 + max_abs(pc)));
        const auto gr = refit_left_factor(ctx, dw, g.u, g.v, gs);
        REQUIRE(gr.status == status::ok);
        CHECK(gr.objective_after == doctest::Approx(g.discarded_energy).epsilon(tol<T>(1e4, double(n))));
    }
}

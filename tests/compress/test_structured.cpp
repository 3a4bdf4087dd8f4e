// The structured compressor (compress/structured_*.hpp) against independent references:
// - least squares by Householder QR in float64 on the activation rows themselves
//   (compress_test_util.hpp: lstsq — not the normal equations the library solves);
// - output errors measured token by token on those rows;
// - mathematical properties: keeping everything reproduces the weights, nested kept sets give
//   non-increasing error, the OBS loss path equals the refit error of each kept set;
// - the output-blind magnitude selection as a baseline on constructed cases (OBS must not lose);
// - parameter counts summed matrix by matrix from the shapes.
#include "compress_test_util.hpp"

using namespace lrtest;

namespace {

template <class T>
double structured_tol() {
    return std::is_same_v<T, float> ? 2e-4 : 1e-8;
}

hmat rounded(hmat m) {
    for (auto& x : m.a) x = double(float(x));
    return m;
}

/// Σ_t ‖W′ z_{t,S} − W z_t‖² on the rows (w′ [m, k] host copy in T, kept S).
template <class T>
double measured_refit_error(const hmat& w, const std::vector<T>& w2, const std::vector<std::size_t>& kept,
                            const hmat& z) {
    const std::size_t m = w.rows, n = w.cols, k = kept.size();
    double total = 0;
    for (std::size_t t = 0; t < z.rows; ++t)
        for (std::size_t i = 0; i < m; ++i) {
            double y = 0, y2 = 0;
            for (std::size_t j = 0; j < n; ++j) y += w(i, j) * z(t, j);
            for (std::size_t j = 0; j < k; ++j) y2 += double(w2[i * k + j]) * z(t, kept[j]);
            total += (y - y2) * (y - y2);
        }
    return total;
}

/// Refit error of the kept set from `order` with k channels (ridge 0).
template <class B, class Ctx, class Tensor>
double refit_error_of(Ctx& ctx, const Tensor& wt, const std::vector<double>& gram, const std::vector<std::size_t>& kept) {
    channel_selection_options o;
    o.ridge = 0;
    const auto r = mlp_refit(ctx, wt, std::span<const double>(gram), kept, {}, o);
    REQUIRE(r.status == status::ok);
    return r.output_error;
}

}  // namespace

TEST_CASE_TEMPLATE("structured mlp: keeping every channel reproduces down_proj; the loss path starts at 0", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const std::size_t m = 6, n = 12, N = 80;
    const hmat z = activation_rows(N, n, 11, 1.0);
    const hmat w = rounded(gaussian_host(m, n, 12));
    const auto gram = gram_of_rows(z);
    const auto wt = upload_host<B, T>(ctx, w);
    std::vector<std::size_t> all(n);
    for (std::size_t j = 0; j < n; ++j) all[j] = j;
    channel_selection_options o;
    o.ridge = 0;
    const auto r = mlp_refit(ctx, wt, std::span<const double>(gram), all, {}, o);
    REQUIRE(r.status == status::ok);
    const auto w2 = host<B>(ctx, r.down);
    double worst = 0, top = 0;
    for (std::size_t i = 0; i < m * n; ++i) worst = std::max(worst, std::abs(double(w2[i]) - w.a[i])), top = std::max(top, std::abs(w.a[i]));
    CHECK(worst <= 20 * structured_tol<T>() * top);
    CHECK(std::abs(r.output_error) <= structured_tol<T>() * r.total_energy);
    const auto ord = obs_channel_order(ctx, wt, std::span<const double>(gram), {}, o);
    REQUIRE(ord.status == status::ok);
    CHECK(ord.size() == n);
    CHECK(ord.loss_at(n) == 0.0);
    CHECK(ord.kept(n) == all);
    // Removing everything costs the whole output energy.
    CHECK(ord.loss.back() == doctest::Approx(r.total_energy).epsilon(1e-3));
}

TEST_CASE_TEMPLATE("structured mlp: the down_proj refit equals a QR least-squares solve on the activations", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const std::size_t m = 7, n = 16, N = 96;
    const hmat z = activation_rows(N, n, 21, 1.5);
    const hmat w = rounded(gaussian_host(m, n, 22));
    const auto gram = gram_of_rows(z);
    const auto wt = upload_host<B, T>(ctx, w);
    const std::vector<std::size_t> kept{0, 2, 3, 7, 8, 11, 15};
    channel_selection_options o;
    o.ridge = 0;
    const auto r = mlp_refit(ctx, wt, std::span<const double>(gram), kept, {}, o);
    REQUIRE(r.status == status::ok);
    // Reference: min ‖Z_S Xᵀ − Z Wᵀ‖ over X [m, k] by Householder QR.
    hmat zs{N, kept.size(), std::vector<double>(N * kept.size())}, y{N, m, std::vector<double>(N * m, 0.0)};
    for (std::size_t t = 0; t < N; ++t) {
        for (std::size_t j = 0; j < kept.size(); ++j) zs(t, j) = z(t, kept[j]);
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < n; ++j) y(t, i) += w(i, j) * z(t, j);
    }
    const hmat ref = lstsq(zs, y);  // k × m
    const auto w2 = host<B>(ctx, r.down);
    double worst = 0, top = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < kept.size(); ++j) {
            worst = std::max(worst, std::abs(double(w2[i * kept.size() + j]) - ref(j, i)));
            top = std::max(top, std::abs(ref(j, i)));
        }
    CHECK(worst <= 50 * structured_tol<T>() * top);
    const double measured = measured_refit_error(w, w2, kept, z);
    CHECK(std::abs(r.output_error - measured) <= 10 * structured_tol<T>() * r.total_energy);
    CHECK(r.total_energy == doctest::Approx(measured_output_energy(w, z)).epsilon(1e-5));
    // gate/up lose the pruned rows.
    const hmat g = rounded(gaussian_host(n, 5, 23));
    const auto gs = host<B>(ctx, select_rows(ctx, upload_host<B, T>(ctx, g), kept));
    for (std::size_t i = 0; i < kept.size(); ++i)
        for (std::size_t c = 0; c < 5; ++c) CHECK(double(gs[i * 5 + c]) == g(kept[i], c));
}

TEST_CASE_TEMPLATE("structured mlp: OBS loss path = refit error of each kept set, non-increasing in k", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const std::size_t m = 5, n = 14, N = 100;
    const hmat z = activation_rows(N, n, 31, 1.0);
    const hmat w = rounded(gaussian_host(m, n, 32));
    const auto gram = gram_of_rows(z);
    const auto wt = upload_host<B, T>(ctx, w);
    const double energy = measured_output_energy(w, z);
    for (std::size_t block : {std::size_t(1), std::size_t(4)}) {
        CAPTURE(block);
        channel_selection_options o;
        o.ridge = 0;
        o.block = block;
        const auto ord = obs_channel_order(ctx, wt, std::span<const double>(gram), {}, o);
        REQUIRE(ord.status == status::ok);
        std::vector<std::size_t> seen = ord.removal;
        std::sort(seen.begin(), seen.end());
        for (std::size_t j = 0; j < n; ++j) CHECK(seen[j] == j);
        double prev = std::numeric_limits<double>::infinity();
        for (std::size_t k = 1; k <= n; ++k) {
            CAPTURE(k);
            const auto kept = ord.kept(k);
            const double err = refit_error_of<B>(ctx, wt, gram, kept);
            // Measured on the rows, independent of the library's trace formula.
            const auto r = mlp_refit(ctx, wt, std::span<const double>(gram), kept, {}, o);
            CHECK(std::abs(err - measured_refit_error(w, host<B>(ctx, r.down), kept, z)) <= 20 * structured_tol<T>() * energy);
            CHECK(err <= prev + 10 * structured_tol<T>() * energy);  // nested kept sets: monotone
            prev = err;
            if ((n - k) % block == 0)  // exact at block boundaries
                CHECK(std::abs(ord.loss_at(k) - err) <= 20 * structured_tol<T>() * energy);
            if (k < n) CHECK(ord.loss_at(k) >= ord.loss_at(k + 1));
        }
    }
}

TEST_CASE_TEMPLATE("structured mlp: OBS stopped at k channels keeps the full order's kept(k) and loss path", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const std::size_t m = 5, n = 23, N = 120;
    const hmat z = activation_rows(N, n, 33, 1.0);
    const hmat w = rounded(gaussian_host(m, n, 34));
    const auto gram = gram_of_rows(z);
    const auto wt = upload_host<B, T>(ctx, w);
    for (std::size_t block : {std::size_t(1), std::size_t(4), std::size_t(16)}) {
        channel_selection_options o;
        o.block = block;
        const auto full = obs_channel_order(ctx, wt, std::span<const double>(gram), {}, o);
        REQUIRE(full.status == status::ok);
        for (std::size_t k : {std::size_t(1), std::size_t(5), std::size_t(13), std::size_t(22), n}) {
            CAPTURE(block);
            CAPTURE(k);
            o.stop_at = k;
            const auto cut = obs_channel_order(ctx, wt, std::span<const double>(gram), {}, o);
            REQUIRE(cut.status == status::ok);
            REQUIRE(cut.size() == n);
            CHECK(cut.kept(k) == full.kept(k));  // the same set, chosen by the same steps
            std::vector<std::size_t> seen = cut.removal;
            std::sort(seen.begin(), seen.end());
            for (std::size_t j = 0; j < n; ++j) CHECK(seen[j] == j);
            for (std::size_t i = 0; i + k < n; ++i)  // the removed prefix and its losses are the full order's
                CHECK(cut.removal[i] == full.removal[i]);
            if (k < n && (n - k) % block == 0) CHECK(cut.loss_at(k) == full.loss_at(k));  // exact at block boundaries
            if (k > 1) CHECK(std::isnan(cut.loss_at(k - 1)));                              // not computed past the stop
        }
    }
}

TEST_CASE_TEMPLATE("structured mlp: OBS selection never worse than magnitude selection (constructed cases)", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const std::size_t m = 6, N = 120;
    // Case 1: channels come in near-duplicate pairs (j, j + n/2); magnitude keeps both copies of
    // the strong ones, OBS keeps one and refits. Case 2: a strong channel that is a linear
    // combination of two weak ones (redundant), plus independent channels. Case 3: generic
    // correlated channels over two decades of scale.
    for (int kase = 0; kase < 3; ++kase) {
        CAPTURE(kase);
        const std::size_t n = 12;
        hmat z = activation_rows(N, n, 41 + kase, kase == 2 ? 2.0 : 0.5);
        if (kase == 0) {
            const hmat noise = gaussian_host(N, n, 51);
            for (std::size_t t = 0; t < N; ++t)
                for (std::size_t j = 0; j < n / 2; ++j) z(t, j + n / 2) = double(float(z(t, j) + 0.01 * noise(t, j)));
        } else if (kase == 1) {
            for (std::size_t t = 0; t < N; ++t) z(t, 0) = double(float(3 * z(t, 1) - 2 * z(t, 2)));
        }
        const hmat w = rounded(gaussian_host(m, n, 61 + kase));
        const auto gram = gram_of_rows(z);
        const auto wt = upload_host<B, T>(ctx, w);
        channel_selection_options o;
        o.block = 1;
        const auto obs = obs_channel_order(ctx, wt, std::span<const double>(gram), {}, o);
        const auto mag = magnitude_channel_order(ctx, wt, std::span<const double>(gram));
        REQUIRE(obs.status == status::ok);
        const double energy = measured_output_energy(w, z);
        double gap = 0;
        for (std::size_t k = 2; k < n; k += 2) {
            CAPTURE(k);
            const double eo = refit_error_of<B>(ctx, wt, gram, obs.kept(k));
            const double em = refit_error_of<B>(ctx, wt, gram, mag.kept(k));
            CHECK(eo <= em + 10 * structured_tol<T>() * energy);
            gap = std::max(gap, (em - eo) / energy);
        }
        if (kase == 0) CHECK(gap > 0.01);  // duplicates: magnitude is clearly worse somewhere (2.5 % of the energy here)
    }
}

TEST_CASE_TEMPLATE("structured vo: o refit = QR least squares on the projected o inputs; error exact and monotone in r",
                   C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const attention_heads hd{4, 2, 5};  // 4 q heads, 2 kv groups, head dim 5
    const std::size_t H = 4, G = 2, d = 5, n = H * d, h = 9, m = 7, N = 150;
    const hmat a = activation_rows(N, n, 71, 1.0);  // o-input rows
    const hmat wo = rounded(gaussian_host(m, n, 72));
    const hmat wv = rounded(gaussian_host(G * d, h, 73));
    const auto gram = gram_of_rows(a);
    const auto wot = upload_host<B, T>(ctx, wo), wvt = upload_host<B, T>(ctx, wv);
    std::vector<double> bias(G * d);
    for (std::size_t i = 0; i < bias.size(); ++i) bias[i] = 0.1 * double(i) - 0.3;
    const double energy = measured_output_energy(wo, a);
    vo_options o;
    o.ridge = 0;
    double prev = std::numeric_limits<double>::infinity();
    for (std::size_t r = 1; r <= d; ++r) {
        CAPTURE(r);
        const auto res = vo_reduce(ctx, wvt, wot, std::span<const double>(gram), hd, r, std::span<const double>(bias), o);
        REQUIRE(res.status == status::ok);
        const auto& P = res.projection;  // [G, r, d]
        // Projected inputs a′ = P a, targets y = W_o a.
        hmat ap{N, H * r, std::vector<double>(N * H * r, 0.0)}, y{N, m, std::vector<double>(N * m, 0.0)};
        for (std::size_t t = 0; t < N; ++t) {
            for (std::size_t hh = 0; hh < H; ++hh)
                for (std::size_t i = 0; i < r; ++i)
                    for (std::size_t j = 0; j < d; ++j) ap(t, hh * r + i) += P[((hh / 2) * r + i) * d + j] * a(t, hh * d + j);
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < n; ++j) y(t, i) += wo(i, j) * a(t, j);
        }
        const hmat ref = lstsq(ap, y);  // H·r × m
        const auto o2 = host<B>(ctx, res.o);
        double worst = 0, top = 0, err = 0;
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < H * r; ++j) {
                worst = std::max(worst, std::abs(double(o2[i * H * r + j]) - ref(j, i)));
                top = std::max(top, std::abs(ref(j, i)));
            }
        CHECK(worst <= 1e3 * structured_tol<T>() * top);
        for (std::size_t t = 0; t < N; ++t)
            for (std::size_t i = 0; i < m; ++i) {
                double yy = 0;
                for (std::size_t j = 0; j < H * r; ++j) yy += double(o2[i * H * r + j]) * ap(t, j);
                err += (yy - y(t, i)) * (yy - y(t, i));
            }
        CHECK(std::abs(res.output_error - err) <= 100 * structured_tol<T>() * energy);
        CHECK(res.total_energy == doctest::Approx(energy).epsilon(1e-5));
        CHECK(err <= prev + 100 * structured_tol<T>() * energy);  // nested projections
        prev = err;
        if (r == d) CHECK(err <= 100 * structured_tol<T>() * energy);  // full value dimension: output unchanged
        // v′ = P_g W_v^g and b′ = P_g b_g.
        const auto v2 = host<B>(ctx, res.v);
        REQUIRE(v2.size() == G * r * h);
        for (std::size_t g = 0; g < G; ++g)
            for (std::size_t i = 0; i < r; ++i) {
                double bb = 0;
                for (std::size_t j = 0; j < d; ++j) bb += P[(g * r + i) * d + j] * bias[g * d + j];
                CHECK(res.v_bias[g * r + i] == doctest::Approx(bb).epsilon(1e-9));
                for (std::size_t c = 0; c < h; ++c) {
                    double vv = 0;
                    for (std::size_t j = 0; j < d; ++j) vv += P[(g * r + i) * d + j] * wv(g * d + j, c);
                    CHECK(std::abs(double(v2[(g * r + i) * h + c]) - vv) <= 50 * structured_tol<T>() * (1 + std::abs(vv)));
                }
            }
    }
    CHECK_THROWS_AS(vo_reduce(ctx, wvt, wot, std::span<const double>(gram), hd, 0), rank_error);
    CHECK_THROWS_AS(vo_reduce(ctx, wvt, wot, std::span<const double>(gram), hd, d + 1), rank_error);
    CHECK_THROWS_AS(vo_reduce(ctx, wvt, wot, std::span<const double>(gram), attention_heads{4, 3, 5}, 2), invalid_argument);
}

TEST_CASE("structured plan: exact parameter count, within budget, maximal; SmolLM2-135M shape") {
    const llama_linear_shape s{30, 576, 1536, 9, 3, 64};
    // Dense total summed matrix by matrix: q, k, v, o, gate, up, down.
    auto count = [&](std::size_t I, std::size_t r) {
        std::uint64_t t = 0;
        for (std::size_t l = 0; l < s.layers; ++l) {
            t += std::uint64_t(9 * 64) * 576 + std::uint64_t(3 * 64) * 576;  // q, k
            t += std::uint64_t(3 * r) * 576 + std::uint64_t(576) * (9 * r);  // v, o
            t += 2 * std::uint64_t(I) * 576 + std::uint64_t(576) * I;         // gate, up, down
        }
        return t;
    };
    CHECK(count(1536, 64) == 106168320ull);  // the research notes' total for SmolLM2-135M
    for (double K : {1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.4}) {
        CAPTURE(K);
        const auto p = plan_structured_uniform(s, K);
        CHECK(p.params_before == count(1536, 64));
        CHECK(p.params_after == count(p.mlp_keep, p.value_dim));
        CHECK(p.params_after == structured_params(s, p.mlp_keep, p.value_dim));
        CHECK(p.params_after <= p.budget);
        CHECK(p.budget <= K * double(p.params_before));
        CHECK(p.mlp_keep <= 1536);
        CHECK(p.value_dim <= 64);
        if (p.mlp_keep < 1536) CHECK(count(p.mlp_keep + 1, p.value_dim) > p.budget);  // maximal
        CHECK(p.kept() == doctest::Approx(K).epsilon(3.0 * 576 * 30 / 106168320.0 + 1e-12));
        if (K == 1.0) CHECK((p.mlp_keep == 1536 && p.value_dim == 64 && p.params_after == p.params_before));
    }
    CHECK_THROWS_AS(plan_structured_uniform(s, 0.0), invalid_argument);
    CHECK_THROWS_AS(plan_structured_uniform(s, 1.5), invalid_argument);
    CHECK_THROWS_AS(plan_structured_uniform(s, 0.1), invalid_argument);  // q/k alone are 1/3 of SmolLM2's linears
}

TEST_CASE_TEMPLATE("structured: NaN input gives a status, bad kept sets and shapes throw", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using T = typename C::value;
    LOWRANK_TEST_CONTEXT(B, ctx);
    const std::size_t m = 3, n = 6, N = 30;
    const hmat z = activation_rows(N, n, 91, 0.5);
    hmat w = rounded(gaussian_host(m, n, 92));
    auto gram = gram_of_rows(z);
    const auto wt = upload_host<B, T>(ctx, w);
    CHECK_THROWS_AS(mlp_refit(ctx, wt, std::span<const double>(gram), {}), rank_error);
    CHECK_THROWS_AS(mlp_refit(ctx, wt, std::span<const double>(gram), {3, 1}), rank_error);
    CHECK_THROWS_AS(mlp_refit(ctx, wt, std::span<const double>(gram), {1, 6}), rank_error);
    std::vector<double> small(25, 0.0);
    CHECK_THROWS_AS(obs_channel_order(ctx, wt, std::span<const double>(small)), shape_error);
    gram[7] = std::numeric_limits<double>::quiet_NaN();
    CHECK(obs_channel_order(ctx, wt, std::span<const double>(gram)).status == status::nonfinite_input);
    CHECK(mlp_refit(ctx, wt, std::span<const double>(gram), {0, 1}).status == status::nonfinite_input);
    // A rank-deficient Gram (fewer tokens than channels) still selects and refits (ridge).
    const hmat z2 = activation_rows(3, n, 93, 0.5);
    const auto g2 = gram_of_rows(z2);
    const auto ord = obs_channel_order(ctx, wt, std::span<const double>(g2));
    REQUIRE(ord.status == status::ok);
    const auto r = mlp_refit(ctx, wt, std::span<const double>(g2), ord.kept(3));
    REQUIRE(r.status == status::ok);
    for (double x : host<B>(ctx, r.down)) CHECK(std::isfinite(x));
    CHECK(r.output_error <= 1e-3 * r.total_energy);  // 3 tokens: 3 channels fit them
}

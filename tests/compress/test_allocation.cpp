// Rank allocation: the exact DP equals brute-force enumeration on small problems (convex and
// non-convex curves, dense choices, weights, rank multiples, forced-dense items) at every
// budget; the Lagrangian solver never beats the optimum and its lower bound never exceeds it;
// no allocator exceeds its budget; infeasible budgets and grid limits are clear errors; the
// monotone-argmin DP stage equals the plain loops; the uniform and weighted keep-ratio rules.
#include "compress_test_util.hpp"

#include <functional>

using namespace lrtest;

namespace {

/// Random loss curve of length K + 1: tail sums of random σ² (convex) or a random
/// non-increasing, non-convex sequence.
std::vector<double> random_curve(std::size_t K, bool convex, std::uint64_t seed) {
    normal_generator g(seed);
    std::vector<double> sig(K);
    for (auto& s : sig) s = std::abs(g.normal()) + 0.05;
    std::sort(sig.rbegin(), sig.rend());
    if (convex) return loss_curve(sig);
    std::vector<double> l(K + 1, 0.0);
    for (std::size_t r = K; r-- > 0;) l[r] = l[r + 1] + (g.uniform() < 0.3 ? 3.0 : 0.1) * g.uniform();
    return l;
}

/// The choice set by the rule of allocation.hpp, enumerated independently.
std::vector<allocation_choice> choices_of(const allocation_item& it, const allocation_options& o) {
    std::vector<allocation_choice> c;
    if (!it.keep_dense) {
        const std::size_t be = std::size_t(break_even_rank(it.rows, it.cols, factor_form::svd));
        for (std::size_t r = o.min_rank; r <= std::min(be, it.loss.size() - 1); ++r)
            if (r % o.rank_multiple == 0) c.push_back({false, r, (it.rows + it.cols) * r, it.weight * it.loss[r]});
    }
    if (it.keep_dense || it.allow_dense) c.push_back({true, 0, it.rows * it.cols, it.weight * it.dense_loss});
    return c;
}

/// Least loss over every combination within the budget (+inf when none fits).
double brute_force(const std::vector<allocation_item>& items, std::uint64_t budget, const allocation_options& o) {
    std::vector<std::vector<allocation_choice>> cs;
    for (const auto& it : items) cs.push_back(choices_of(it, o));
    double best = std::numeric_limits<double>::infinity();
    std::function<void(std::size_t, std::uint64_t, double)> rec = [&](std::size_t i, std::uint64_t cost, double loss) {
        if (cost > budget) return;
        if (i == items.size()) {
            best = std::min(best, loss);
            return;
        }
        for (const auto& c : cs[i]) rec(i + 1, cost + c.parameters, loss + c.loss);
    };
    rec(0, 0, 0.0);
    return best;
}

void check_consistent(const std::vector<allocation_item>& items, const allocation_result& r, std::uint64_t budget) {
    REQUIRE(r.choices.size() == items.size());
    std::uint64_t p = 0;
    double l = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& c = r.choices[i];
        const auto& it = items[i];
        CHECK(c.parameters == (c.dense ? it.rows * it.cols : (it.rows + it.cols) * c.rank));
        if (!c.dense) CHECK(c.loss == doctest::Approx(it.weight * it.loss[c.rank]));
        p += c.parameters;
        l += c.loss;
    }
    CHECK(p == r.parameters);
    CHECK(r.parameters <= budget);
    CHECK(l == doctest::Approx(r.loss));
}

}  // namespace

TEST_CASE("allocation: exact DP = brute force, Lagrangian bounded, budget never exceeded (random small problems)") {
    const std::vector<std::pair<std::size_t, std::size_t>> shapes = {{12, 10}, {9, 14}, {16, 6}, {10, 10}};
    for (std::uint64_t trial = 0; trial < 24; ++trial) {
        CAPTURE(trial);
        normal_generator g(1000 + trial);
        std::vector<allocation_item> items;
        for (std::size_t i = 0; i < shapes.size(); ++i) {
            allocation_item it;
            it.name = "m" + std::to_string(i);
            it.rows = shapes[i].first;
            it.cols = shapes[i].second;
            it.loss = random_curve(std::min(it.rows, it.cols), trial % 2 == 0, 7 * trial + i);
            it.weight = trial % 3 == 0 ? 1.0 : 0.2 + 2 * g.uniform();
            it.allow_dense = !(trial % 5 == 1 && i == 0);
            it.keep_dense = trial % 7 == 3 && i == 2;
            it.dense_loss = trial % 4 == 2 ? 0.05 * g.uniform() : 0.0;
            items.push_back(it);
        }
        allocation_options o;
        o.rank_multiple = trial % 6 == 5 ? 2 : 1;
        o.min_rank = trial % 8 == 7 ? 2 : 1;
        std::uint64_t least = 0, most = 0;
        for (const auto& it : items) {
            const auto cs = choices_of(it, o);
            least += cs.front().parameters;
            most += cs.back().parameters;
        }
        for (std::uint64_t budget = least; budget <= most + 5; budget += std::max<std::uint64_t>(1, (most - least) / 37)) {
            CAPTURE(budget);
            const double opt = brute_force(items, budget, o);
            o.method = allocation_method::exact;
            const auto ex = allocate_ranks(items, budget, o);
            check_consistent(items, ex, budget);
            CHECK(ex.optimal);
            CHECK(ex.method == allocation_method::exact);
            CHECK(ex.loss == doctest::Approx(opt).epsilon(1e-12).scale(1.0));
            o.method = allocation_method::lagrangian;
            const auto lg = allocate_ranks(items, budget, o);
            check_consistent(items, lg, budget);
            CHECK(lg.loss >= opt - 1e-12);
            CHECK(lg.lower_bound <= opt + 1e-12);
            if (lg.optimal) CHECK(lg.loss == doctest::Approx(opt).epsilon(1e-12).scale(1.0));
        }
        o.method = allocation_method::automatic;
        CHECK_THROWS_AS(allocate_ranks(items, least - 1, o), infeasible_budget);
    }
}

TEST_CASE("allocation: the monotone-argmin DP stage equals the plain loops on convex curves") {
    for (std::uint64_t trial = 0; trial < 40; ++trial) {
        CAPTURE(trial);
        normal_generator g(500 + trial);
        detail::alloc::item_choices it;
        const std::size_t step = 1 + trial % 5, t0 = trial % 4, J = 3 + trial % 17;
        const auto curve = random_curve(J + 2, true, trial);
        for (std::size_t j = 0; j < J; ++j) {
            it.cost.push_back((t0 + j * step) * 3);  // q = 3
            it.loss.push_back(curve[j + 1]);
            it.rank.push_back(j + 1);
        }
        it.ranked = J;
        if (trial % 3 == 0) {
            it.cost.push_back((t0 + J * step + 2) * 3);
            it.loss.push_back(0.0);
            it.rank.push_back(0);
        }
        const std::size_t cells = 40 + 13 * (trial % 7);
        std::vector<double> prev(cells);
        double v = 10;  // non-increasing in b, with an infinite prefix
        const std::size_t inf_prefix = trial % 6;
        for (std::size_t b = 0; b < cells; ++b) {
            if (b < inf_prefix) {
                prev[b] = detail::alloc::inf;
                continue;
            }
            v -= g.uniform() < 0.5 ? g.uniform() : 0.0;
            prev[b] = v;
        }
        std::vector<double> fast(cells), slow(cells);
        std::vector<std::uint32_t> af(cells), as(cells);
        it.convex = true;
        detail::alloc::dp_stage(it, 3, prev, fast, af.data());
        it.convex = false;
        detail::alloc::dp_stage(it, 3, prev, slow, as.data());
        for (std::size_t b = 0; b < cells; ++b) {
            CAPTURE(b);
            CHECK(fast[b] == slow[b]);
            if (fast[b] < detail::alloc::inf)
                CHECK(prev[b - it.cost[af[b]] / 3] + it.loss[af[b]] == fast[b]);  // the argmin attains it
        }
    }
}

TEST_CASE("allocation: SmolLM2-shaped problem — exact and Lagrangian agree within the certified gap") {
    // 4 layers of SmolLM2-135M's shapes (q, k, v, o, gate, up, down), curves from random spectra.
    const std::vector<std::pair<std::size_t, std::size_t>> role = {{576, 576}, {192, 576}, {192, 576}, {576, 576},
                                                                    {1536, 576}, {1536, 576}, {576, 1536}};
    std::vector<allocation_item> items;
    std::uint64_t dense = 0;
    for (std::size_t l = 0; l < 4; ++l)
        for (std::size_t k = 0; k < role.size(); ++k) {
            allocation_item it;
            it.name = "layers." + std::to_string(l) + "." + std::to_string(k);
            it.rows = role[k].first;
            it.cols = role[k].second;
            it.loss = random_curve(std::min(it.rows, it.cols), true, 100 * l + k);
            it.weight = 1.0 + 0.5 * double(l);
            dense += it.rows * it.cols;
            items.push_back(it);
        }
    for (double keep : {0.5, 0.8, 0.95}) {
        CAPTURE(keep);
        const std::uint64_t budget = std::uint64_t(keep * double(dense));
        allocation_options eo;
        eo.method = allocation_method::exact;
        const auto ex = allocate_ranks(items, budget, eo);
        CHECK(ex.method == allocation_method::exact);
        CHECK(ex.optimal);
        CHECK(ex.quantum % 192 == 0);  // every cost difference is a multiple of 192
        check_consistent(items, ex, budget);
        const auto au = allocate_ranks(items, budget);  // automatic: exact or a proven-optimal Lagrangian
        CHECK(au.optimal);
        CHECK(au.loss == doctest::Approx(ex.loss).epsilon(1e-12));
        allocation_options lo;
        lo.method = allocation_method::lagrangian;
        const auto lg = allocate_ranks(items, budget, lo);
        check_consistent(items, lg, budget);
        CHECK(lg.loss >= ex.loss * (1 - 1e-12));
        CHECK(lg.lower_bound <= ex.loss * (1 + 1e-12));
        CHECK(budget - ex.parameters < 2112);  // the optimum leaves less than one rank step unused
        // The uniform rule at the same keep ratio is feasible and never better than the optimum.
        const auto un = allocate_uniform(items, keep);
        CHECK(un.parameters <= budget);
        CHECK(un.loss >= ex.loss * (1 - 1e-12));
    }
    allocation_options tiny;
    tiny.method = allocation_method::exact;
    tiny.max_cells = 1;
    CHECK_THROWS_AS(allocate_ranks(items, dense / 2, tiny), lowrank::invalid_argument);
    tiny.method = allocation_method::automatic;
    CHECK(allocate_ranks(items, dense / 2, tiny).method == allocation_method::lagrangian);
}

TEST_CASE("allocation: infeasible budgets and malformed items are clear errors") {
    allocation_item a;
    a.name = "layers.0.q";
    a.rows = 8;
    a.cols = 8;
    a.loss = random_curve(8, true, 1);
    const std::string msg = [&] {
        try {
            (void)allocate_ranks({a}, 10);
        } catch (const infeasible_budget& e) {
            return std::string(e.what());
        }
        return std::string();
    }();
    CHECK(msg.find("budget of 10") != std::string::npos);
    CHECK(msg.find("(16") != std::string::npos);  // rank 1 costs 8 + 8
    allocation_item b = a;
    b.loss[3] = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_AS(allocate_ranks({b}, 1000), lowrank::invalid_argument);
    b = a;
    b.loss.resize(1);
    CHECK_THROWS_AS(allocate_ranks({b}, 1000), lowrank::invalid_argument);
    b = a;
    b.allow_dense = false;
    allocation_options o;
    o.min_rank = 7;  // break-even of 8×8 is 3
    CHECK_THROWS_AS(allocate_ranks({b}, 1000, o), lowrank::invalid_argument);
    CHECK_THROWS_AS(allocate_ranks({}, 1000), lowrank::invalid_argument);
    b = a;
    b.weight = -1;
    CHECK_THROWS_AS(allocate_ranks({b}, 1000), lowrank::invalid_argument);
    CHECK_THROWS_AS(allocate_uniform({a}, 0.0), lowrank::invalid_argument);
    CHECK_THROWS_AS(allocate_uniform({a}, 1.5), lowrank::invalid_argument);
    CHECK_THROWS_AS(allocate_weighted_ratio({a}, 10), infeasible_budget);
}

TEST_CASE("allocation: SVD-LLM's uniform rule r = ⌊k·mn/(m+n)⌋ and the weighted keep ratios") {
    std::vector<allocation_item> items;
    for (auto [m, n] : std::vector<std::pair<std::size_t, std::size_t>>{{576, 576}, {192, 576}, {1536, 576}}) {
        allocation_item it;
        it.rows = m;
        it.cols = n;
        items.push_back(it);
    }
    const auto un = allocate_uniform(items, 0.8);
    CHECK(un.choices[0].rank == 230);  // ⌊0.8·331776/1152⌋
    CHECK(un.choices[1].rank == 115);  // ⌊0.8·110592/768⌋
    CHECK(un.choices[2].rank == 335);  // ⌊0.8·884736/2112⌋
    for (std::size_t i = 0; i < items.size(); ++i)
        CHECK(double(un.choices[i].parameters) <= 0.8 * double(items[i].rows * items[i].cols));
    CHECK(std::isnan(un.loss));  // no curves given
    CHECK(un.budget == std::uint64_t(0.8 * double(un.dense_parameters)));
    const auto full = allocate_uniform(items, 1.0);
    for (const auto& c : full.choices) CHECK(c.dense);
    allocation_options o;
    o.rank_multiple = 8;
    CHECK(allocate_uniform(items, 0.8, o).choices[0].rank == 224);

    // Weighted: the more sensitive item keeps a larger share; the budget holds.
    items[0].weight = 3;
    items[1].weight = 1;
    items[2].weight = 1;
    const std::uint64_t budget = std::uint64_t(0.5 * double(un.dense_parameters));
    const auto wr = allocate_weighted_ratio(items, budget);
    CHECK(wr.parameters <= budget);
    CHECK(wr.parameters > budget - 2112);
    auto share = [&](std::size_t i) { return double(wr.choices[i].parameters) / double(items[i].rows * items[i].cols); };
    CHECK(share(0) > 2 * share(1));
    CHECK(share(1) == doctest::Approx(share(2)).epsilon(0.02));
}

TEST_CASE("loss_curve: tail sums of the squared spectrum") {
    const std::vector<float> s = {3, 2, 1};
    const auto l = loss_curve(s);
    REQUIRE(l.size() == 4);
    CHECK(l[0] == 14);
    CHECK(l[1] == 5);
    CHECK(l[2] == 1);
    CHECK(l[3] == 0);
}

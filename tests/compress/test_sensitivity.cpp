// Sensitivity weights (compress/sensitivity.hpp) and the allocation they drive. References:
//   - group_loss_weights against a hand computation (values worked out in the comments);
//   - its defining property on random inputs: every group's weighted reference loss
//     Σ_{j∈g} w_j ℓ_j equals max(s_g, floor);
//   - allocate_ranks (exact solver) with those weights: sensitivities proportional to the
//     groups' own reference losses (s_g = c·Σ_{j∈g} ℓ_j) give all weights c and the same ranks
//     as the unweighted global allocation; raising one group's measured loss never raises
//     that group's optimal (unweighted) loss — a property of any exact optimum of a weighted
//     sum (z, z′ optimal for w < w′ ⇒ (w′ − w)(L_g(z′) − L_g(z)) ≤ 0), checked against the solver;
//     the budget is never exceeded.
#include "compress_test_util.hpp"

#include "lowrank/compress/sensitivity.hpp"

#include <limits>

using namespace lrtest;

namespace {

/// Tail sums of sorted random σ² of length K + 1 (a whitened-SVD loss curve), normalised to L(0) = 1.
std::vector<double> relative_curve(std::size_t K, std::uint64_t seed) {
    normal_generator g(seed);
    std::vector<double> sig(K);
    for (auto& s : sig) s = std::abs(g.normal()) + 0.05;
    std::sort(sig.rbegin(), sig.rend());
    auto l = loss_curve(sig);
    const double l0 = l[0];
    for (auto& v : l) v /= l0;
    return l;
}

/// Three "blocks" of three matrices each, with random relative curves.
std::vector<allocation_item> blocks_of_items(std::uint64_t seed, std::vector<std::size_t>& group) {
    const std::vector<std::pair<std::size_t, std::size_t>> shapes = {{12, 10}, {9, 14}, {16, 6}};
    std::vector<allocation_item> items;
    group.clear();
    for (std::size_t b = 0; b < 3; ++b)
        for (std::size_t i = 0; i < shapes.size(); ++i) {
            allocation_item it;
            it.name = std::to_string(10 * b + i);  // block b, matrix i
            it.rows = shapes[i].first, it.cols = shapes[i].second;
            it.loss = relative_curve(std::min(it.rows, it.cols), seed * 31 + b * 7 + i);
            items.push_back(std::move(it));
            group.push_back(b);
        }
    return items;
}

double group_loss(const std::vector<allocation_item>& items, const std::vector<std::size_t>& group, const allocation_result& r,
                  std::size_t g) {
    double l = 0;
    for (std::size_t i = 0; i < items.size(); ++i)
        if (group[i] == g && !r.choices[i].dense) l += items[i].loss[r.choices[i].rank];
    return l;
}

}  // namespace

TEST_CASE("group_loss_weights: hand computation") {
    // groups 0: items 0, 1 (ℓ 0.2 + 0.3 = 0.5), s = 1.0  → w = 1.0 / 0.5 = 2
    //        1: items 2, 3, 4 (ℓ 0.1 + 0 + 0.3 = 0.4), s = −0.2 → max(−0.2, 0.01) / 0.4 = 0.025
    //        2: item 5 (ℓ 0.5), s = 0.25 → 0.5
    //        3: item 6 (ℓ 0: nothing discarded), s = 0.7 → 0.7 (unscaled)
    //        4: no items, s = 5 (ignored)
    const std::vector<std::size_t> group = {0, 0, 1, 1, 1, 2, 3};
    const std::vector<double> ref = {0.2, 0.3, 0.1, 0.0, 0.3, 0.5, 0.0};
    const std::vector<double> s = {1.0, -0.2, 0.25, 0.7, 5.0};
    const auto w = group_loss_weights(group, ref, s, 0.01);
    const std::vector<double> expect = {2.0, 2.0, 0.025, 0.025, 0.025, 0.5, 0.7};
    REQUIRE(w.size() == expect.size());
    for (std::size_t i = 0; i < w.size(); ++i) CHECK(w[i] == doctest::Approx(expect[i]).epsilon(1e-15));
}

TEST_CASE("group_loss_weights: each group's weighted reference loss equals its measured loss (random inputs)") {
    for (std::uint64_t trial = 0; trial < 20; ++trial) {
        CAPTURE(trial);
        normal_generator g(trial + 77);
        const std::size_t groups = 1 + trial % 6, n = 3 + trial % 11;
        std::vector<std::size_t> group(n);
        std::vector<double> ref(n), s(groups);
        for (std::size_t i = 0; i < n; ++i) group[i] = i % groups, ref[i] = g.uniform() * (trial % 4 == 0 && i == 0 ? 0.0 : 1.0);
        for (auto& v : s) v = g.normal();
        const double floor = 1e-3;
        const auto w = group_loss_weights(group, ref, s, floor);
        std::vector<double> weighted(groups, 0.0), sum(groups, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(w[i] > 0);
            weighted[group[i]] += w[i] * ref[i];
            sum[group[i]] += ref[i];
        }
        for (std::size_t k = 0; k < groups; ++k)
            if (sum[k] > 0) CHECK(weighted[k] == doctest::Approx(std::max(s[k], floor)).epsilon(1e-12));
    }
}

TEST_CASE("group_loss_weights: bad input is a clear error") {
    const std::vector<std::size_t> group = {0, 1};
    const std::vector<double> ref = {0.1, 0.2}, s = {1.0, 2.0};
    CHECK_THROWS_AS(group_loss_weights(group, std::vector<double>{0.1}, s, 1e-3), invalid_argument);
    CHECK_THROWS_AS(group_loss_weights(std::vector<std::size_t>{0, 2}, ref, s, 1e-3), invalid_argument);
    CHECK_THROWS_AS(group_loss_weights(group, std::vector<double>{-0.1, 0.2}, s, 1e-3), invalid_argument);
    CHECK_THROWS_AS(group_loss_weights(group, std::vector<double>{std::nan(""), 0.2}, s, 1e-3), invalid_argument);
    CHECK_THROWS_AS(group_loss_weights(group, ref, std::vector<double>{1.0, std::numeric_limits<double>::infinity()}, 1e-3),
                    invalid_argument);
    CHECK_THROWS_AS(group_loss_weights(group, ref, s, 0.0), invalid_argument);
    CHECK_THROWS_AS(group_loss_weights(group, ref, s, std::nan("")), invalid_argument);
}

TEST_CASE("sensitivity allocation: proportional sensitivities = global; a more sensitive group loses no less; budget kept") {
    for (std::uint64_t trial = 0; trial < 8; ++trial) {
        CAPTURE(trial);
        std::vector<std::size_t> group;
        auto items = blocks_of_items(trial, group);
        std::uint64_t total = 0;
        for (const auto& it : items) total += it.rows * it.cols;
        const double keep = 0.5 + 0.05 * double(trial % 5);
        const auto uni = allocate_uniform(items, keep);
        std::vector<double> ref(items.size(), 0.0), implied(3, 0.0);
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (!uni.choices[i].dense) ref[i] = items[i].loss[uni.choices[i].rank];
            implied[group[i]] += ref[i];
        }
        const auto budget = static_cast<std::uint64_t>(std::floor(keep * double(total)));
        allocation_options o;
        o.method = allocation_method::exact;
        const auto global = allocate_ranks(items, budget, o);

        // s_g = c · (the group's reference loss): weights all c, same allocation as global.
        const double c = 0.37;
        std::vector<double> s(3);
        for (std::size_t k = 0; k < 3; ++k) s[k] = c * implied[k];
        auto w = group_loss_weights(group, ref, s, 1e-12);
        auto weighted = items;
        for (std::size_t i = 0; i < items.size(); ++i) {
            CHECK(w[i] == doctest::Approx(c).epsilon(1e-12));
            weighted[i].weight = w[i];
        }
        const auto same = allocate_ranks(weighted, budget, o);
        CHECK(same.parameters <= budget);
        for (std::size_t i = 0; i < items.size(); ++i) {
            CHECK(same.choices[i].dense == global.choices[i].dense);
            CHECK(same.choices[i].rank == global.choices[i].rank);
        }

        // Group 1 measured 8× more sensitive: its unweighted loss at the optimum does not grow,
        // and the other groups' loss does not shrink in total.
        s[1] *= 8;
        w = group_loss_weights(group, ref, s, 1e-12);
        for (std::size_t i = 0; i < items.size(); ++i) weighted[i].weight = w[i];
        const auto more = allocate_ranks(weighted, budget, o);
        CHECK(more.parameters <= budget);
        CHECK(more.optimal);
        CHECK(group_loss(items, group, more, 1) <= group_loss(items, group, same, 1) + 1e-12);
        CHECK(group_loss(items, group, more, 0) + group_loss(items, group, more, 2) >=
              group_loss(items, group, same, 0) + group_loss(items, group, same, 2) - 1e-12);
    }
}

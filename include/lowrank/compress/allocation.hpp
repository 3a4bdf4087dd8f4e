// Rank allocation under a parameter budget.
//
// Problem. Items i = 1..M are matrices W_i [m_i, n_i]; each has a loss curve L_i(r) (the
// discarded whitened energy at rank r, r = 0..K_i: loss_curve() of a whitened_svd spectrum, or
// any measured curve) and a sensitivity weight w_i ≥ 0. Each item takes one choice:
//   rank r  with r ∈ {multiples of rank_multiple} ∩ [min_rank, cap_i], cost r·(m_i + n_i),
//           loss w_i·L_i(r), where cap_i = min(K_i, break_even_rank(m_i, n_i)) — the largest
//           rank that still stores fewer parameters than the dense matrix;
//   dense   (if allowed) cost m_i·n_i, loss w_i·dense_loss_i (0 by default: exact).
// allocate_ranks minimises Σ loss subject to Σ cost ≤ budget.
//
// Methods and guarantees.
//   lagrangian  convex-hull greedy (Lagrangian relaxation, O(N log N) for N choices in all)
//               plus a repair that spends the leftover budget on the best single-item
//               improvements. Guarantee: never exceeds the budget, and
//               lower_bound ≤ optimum ≤ loss with the (weak-duality) lower_bound reported, so
//               loss − lower_bound bounds the sub-optimality; optimal is set when they meet.
//   exact       the Lagrangian solution, then a Lagrangian reduction and a DP: with the
//               multiplier μ, Δ_i(k) = loss_ik + μ·cost_ik − min_k′(loss_ik′ + μ·cost_ik′) and
//               every allocation z satisfies loss(z) ≥ lower_bound + Σ_i Δ_i(z_i), so choices with
//               Δ_i(k) > loss_lagrangian − lower_bound cannot be part of an optimum and are dropped.
//               The remaining choices go to a multiple-choice knapsack DP over the budget in cells
//               of q = gcd of their costs (each item's cheapest remaining cost moved into an
//               offset), so costs are exact and the result is a global optimum (up to
//               floating-point rounding of the loss sums). A DP stage is O(G log G) for items whose
//               rank losses are convex in r — every tail-energy curve of a sorted spectrum is —
//               (monotone-argmin divide and conquer) and O(G·K) otherwise, for G cells; memory
//               O(√M·G). G must not exceed options.max_cells (else invalid_argument).
//   automatic   the Lagrangian result when it is proven optimal, else exact when its grid fits
//               max_cells, else the Lagrangian result with its bound.
// An infeasible budget (below the cheapest choice of every item) throws infeasible_budget.
//
// Also: allocate_uniform (SVD-LLM's r = ⌊k·m·n/(m+n)⌋ for one keep ratio k) and
// allocate_weighted_ratio (per-item keep ratios ∝ the sensitivity weights, scaled to fit the
// budget). All allocators report per-item choices, total parameters and loss.
#pragma once

#include "lowrank/compress/detail/allocation_solvers.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/parameters.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

/// No allocation fits the parameter budget (the message names the minimum achievable count).
struct infeasible_budget : invalid_argument {
    using invalid_argument::invalid_argument;
};

/// L(r) = Σ_{i>r} σ_i² for r = 0..k (k + 1 values; L(k) = 0): the loss curve of a spectrum
/// σ_1 ≥ … ≥ σ_k (e.g. whitened_svd_result::spectrum), accumulated from the tail in float64.
template <class T>
std::vector<double> loss_curve(std::span<const T> spectrum) {
    std::vector<double> l(spectrum.size() + 1, 0.0);
    for (std::size_t i = spectrum.size(); i-- > 0;) l[i] = l[i + 1] + double(spectrum[i]) * double(spectrum[i]);
    return l;
}
template <class T>
std::vector<double> loss_curve(const std::vector<T>& spectrum) {
    return loss_curve(std::span<const T>(spectrum));
}

/// One matrix to allocate.
struct allocation_item {
    std::string name;           ///< for messages only
    std::size_t rows = 0;       ///< m
    std::size_t cols = 0;       ///< n
    std::vector<double> loss;   ///< L(r), r = 0..K (finite); may be empty for allocate_uniform / keep_dense
    double weight = 1;          ///< sensitivity w ≥ 0 (loss multiplier; a keep-ratio weight in allocate_weighted_ratio)
    bool allow_dense = true;    ///< dense storage is a choice
    bool keep_dense = false;    ///< dense storage is the only choice
    double dense_loss = 0;      ///< loss of the dense choice (before weighting)
};

enum class allocation_method { automatic, exact, lagrangian };

inline const char* to_string(allocation_method m) {
    switch (m) {
        case allocation_method::automatic: return "automatic";
        case allocation_method::exact: return "exact";
        case allocation_method::lagrangian: return "lagrangian";
    }
    return "unknown";
}

struct allocation_options {
    allocation_method method = allocation_method::automatic;
    std::size_t min_rank = 1;                  ///< ≥ 1
    std::size_t rank_multiple = 1;             ///< ≥ 1: ranks are multiples of this
    std::size_t max_cells = std::size_t{1} << 20;  ///< exact DP grid limit (memory ≈ (8√M + 4√M)·cells bytes)
};

/// What one item got.
struct allocation_choice {
    bool dense = false;
    std::size_t rank = 0;          ///< 0 when dense
    std::uint64_t parameters = 0;  ///< r·(m + n) or m·n
    double loss = 0;               ///< weighted loss of the choice (NaN when the item has no curve)
};

struct allocation_result {
    std::vector<allocation_choice> choices;  ///< one per item, in input order
    std::uint64_t parameters = 0;            ///< Σ parameters (≤ budget for allocate_ranks)
    std::uint64_t budget = 0;
    std::uint64_t dense_parameters = 0;      ///< Σ m·n over all items
    double loss = 0;                         ///< Σ weighted loss
    double lower_bound = -std::numeric_limits<double>::infinity();  ///< no feasible allocation has less loss
    bool optimal = false;                    ///< loss is proven minimal
    allocation_method method = allocation_method::automatic;       ///< the solver that ran
    std::uint64_t quantum = 0;               ///< exact: the grid cell q (parameters)
    std::size_t cells = 0;                   ///< exact: G + 1
};

namespace detail::alloc {

inline void validate(const std::vector<allocation_item>& items, const allocation_options& opt, bool need_curves) {
    if (items.empty()) throw invalid_argument("rank allocation: no items");
    if (opt.min_rank == 0) throw invalid_argument("rank allocation: min_rank must be >= 1");
    if (opt.rank_multiple == 0) throw invalid_argument("rank allocation: rank_multiple must be >= 1");
    for (const auto& it : items) {
        const std::string who = "rank allocation: item '" + it.name + "'";
        if (it.rows == 0 || it.cols == 0) throw shape_error(who + " has an empty shape");
        if (!(it.weight >= 0) || !std::isfinite(it.weight)) throw invalid_argument(who + ": weight must be finite and >= 0");
        if (!std::isfinite(it.dense_loss)) throw invalid_argument(who + ": dense_loss must be finite");
        for (double l : it.loss)
            if (!std::isfinite(l)) throw invalid_argument(who + ": the loss curve holds NaN/Inf");
        if (need_curves && !it.keep_dense && it.loss.size() < 2)
            throw invalid_argument(who + ": the loss curve needs L(0) and L(1) at least");
    }
}

/// Largest rank allowed for an item (break-even cap, curve length, dimensions), before
/// rounding to the rank multiple.
inline std::size_t rank_cap(const allocation_item& it) {
    std::size_t cap = static_cast<std::size_t>(break_even_rank(it.rows, it.cols, factor_form::svd));
    if (!it.loss.empty()) cap = std::min(cap, it.loss.size() - 1);
    return cap;
}

inline item_choices build_choices(const allocation_item& it, const allocation_options& opt) {
    item_choices c;
    const std::uint64_t step = static_cast<std::uint64_t>(it.rows) + it.cols;
    if (!it.keep_dense) {
        const std::size_t cap = rank_cap(it), rho = opt.rank_multiple;
        const std::size_t first = (opt.min_rank + rho - 1) / rho * rho;
        for (std::size_t r = first; r <= cap; r += rho) {
            c.cost.push_back(step * r);
            c.loss.push_back(it.weight * it.loss[r]);
            c.rank.push_back(r);
        }
    }
    c.ranked = c.cost.size();
    if (it.keep_dense || it.allow_dense) {
        c.cost.push_back(dense_parameters(it.rows, it.cols));
        c.loss.push_back(it.weight * it.dense_loss);
        c.rank.push_back(0);
    }
    if (c.cost.empty())
        throw invalid_argument("rank allocation: item '" + it.name + "' has no choice: dense is not allowed and no rank in [" +
                               std::to_string(opt.min_rank) + ", " + std::to_string(rank_cap(it)) +
                               "] is a multiple of " + std::to_string(opt.rank_multiple));
    // Convexity of the rank losses (second differences ≥ −tol·scale), tolerance for rounding.
    c.convex = true;
    double scale = 0;
    for (std::size_t k = 0; k < c.ranked; ++k) scale = std::max(scale, std::abs(c.loss[k]));
    for (std::size_t k = 1; k + 1 < c.ranked; ++k)
        if (c.loss[k + 1] - 2 * c.loss[k] + c.loss[k - 1] < -1e-12 * scale) {
            c.convex = false;
            break;
        }
    return c;
}

inline allocation_result fill(const std::vector<allocation_item>& items, const std::vector<item_choices>& ch,
                              const std::vector<std::size_t>& pick, std::uint64_t budget) {
    allocation_result res;
    res.budget = budget;
    res.choices.resize(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::size_t k = pick[i];
        auto& c = res.choices[i];
        c.dense = k >= ch[i].ranked;
        c.rank = ch[i].rank[k];
        c.parameters = ch[i].cost[k];
        c.loss = ch[i].loss[k];
        res.parameters += c.parameters;
        res.loss += c.loss;
        res.dense_parameters += dense_parameters(items[i].rows, items[i].cols);
    }
    return res;
}

}  // namespace detail::alloc

/// Chooses every item's rank (or dense) to minimise the total weighted loss within `budget`
/// parameters — see the header comment for the choice sets, methods and guarantees.
/// Throws invalid_argument / shape_error for malformed items or options (naming the item),
/// infeasible_budget when even the cheapest choices exceed the budget, and invalid_argument for
/// method exact when the grid would exceed max_cells.
inline allocation_result allocate_ranks(const std::vector<allocation_item>& items, std::uint64_t budget,
                                        const allocation_options& opt = {}) {
    namespace da = detail::alloc;
    da::validate(items, opt, true);
    std::vector<da::item_choices> ch;
    ch.reserve(items.size());
    std::uint64_t least = 0;
    for (const auto& it : items) {
        ch.push_back(da::build_choices(it, opt));
        least += ch.back().cost.front();
    }
    if (least > budget)
        throw infeasible_budget("rank allocation: the budget of " + std::to_string(budget) +
                                " parameters is below the least any allocation needs (" + std::to_string(least) +
                                ": every matrix at its smallest rank or dense)");
    // Lagrangian first: a feasible allocation (upper bound) and the multiplier for the bound.
    const da::solution lg = da::solve_lagrangian(ch, budget);
    allocation_result res = da::fill(items, ch, lg.pick, budget);
    res.method = allocation_method::lagrangian;
    res.lower_bound = lg.lower_bound;
    res.optimal = lg.optimal || res.loss <= lg.lower_bound + 1e-12 * std::max(1.0, std::abs(res.loss));
    if (opt.method == allocation_method::lagrangian || (res.optimal && opt.method == allocation_method::automatic))
        return res;
    // Exact: DP over the choices the Lagrangian bound cannot exclude.
    const da::reduction red = da::reduce(ch, lg.mu, res.loss, budget);
    std::uint64_t q = 0, reach = 0;
    for (const auto& it : red.items) {
        for (std::uint64_t c : it.cost) q = std::gcd(q, c);
        reach += it.cost.back();
    }
    const std::uint64_t span = std::min(budget - red.base, reach);
    const std::uint64_t grid = q == 0 ? 1 : span / q + 1;
    if (grid > opt.max_cells) {
        if (opt.method == allocation_method::automatic) return res;
        throw invalid_argument("rank allocation: the exact DP needs " + std::to_string(grid) + " cells of " +
                               std::to_string(q) + " parameters, above max_cells = " + std::to_string(opt.max_cells) +
                               " (raise max_cells or rank_multiple, or use the lagrangian method)");
    }
    da::solution ex;
    if (q == 0)
        ex.pick.assign(ch.size(), 0);  // one choice left per item
    else
        ex = da::solve_exact(red.items, q, static_cast<std::size_t>(grid));
    std::vector<std::size_t> pick(ch.size());
    for (std::size_t i = 0; i < ch.size(); ++i) pick[i] = red.index[i][ex.pick[i]];
    res = da::fill(items, ch, pick, budget);
    res.method = allocation_method::exact;
    res.quantum = q;
    res.cells = static_cast<std::size_t>(grid);
    res.lower_bound = res.loss;  // proven optimal
    res.optimal = true;
    return res;
}

/// SVD-LLM's uniform rule: every factorisable item gets r = ⌊keep·m·n/(m+n)⌋, rounded down to
/// the rank multiple and raised to min_rank; an item is dense when it must be (keep_dense),
/// when keep ≥ 1, or when r would exceed the break-even rank (and dense is allowed).
/// budget = ⌊keep·Σ m·n⌋ is reported, not enforced (min_rank may exceed it). Losses come from
/// the curves when present (NaN otherwise). Throws invalid_argument for keep ∉ (0, 1].
inline allocation_result allocate_uniform(const std::vector<allocation_item>& items, double keep,
                                          const allocation_options& opt = {}) {
    if (!(keep > 0 && keep <= 1)) throw invalid_argument("allocate_uniform: keep ratio must be in (0, 1], got " + std::to_string(keep));
    detail::alloc::validate(items, opt, false);
    allocation_result res;
    res.method = opt.method;
    res.choices.resize(items.size());
    double dense_total = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& it = items[i];
        auto& c = res.choices[i];
        const double mn = double(it.rows) * double(it.cols);
        dense_total += mn;
        const std::size_t be = static_cast<std::size_t>(break_even_rank(it.rows, it.cols, factor_form::svd));
        std::size_t r = static_cast<std::size_t>(std::floor(keep * mn / double(it.rows + it.cols)));
        r = r / opt.rank_multiple * opt.rank_multiple;
        r = std::max(r, opt.min_rank);
        c.dense = it.keep_dense || keep >= 1 || (r > be && it.allow_dense);
        if (!c.dense && r > std::min(it.rows, it.cols))
            throw invalid_argument("allocate_uniform: item '" + it.name + "' cannot be factorised at rank " + std::to_string(r));
        c.rank = c.dense ? 0 : r;
        c.parameters = c.dense ? dense_parameters(it.rows, it.cols) : factored_parameters(it.rows, it.cols, r, factor_form::svd);
        const bool has = c.dense || r < it.loss.size();
        c.loss = !has ? std::numeric_limits<double>::quiet_NaN() : it.weight * (c.dense ? it.dense_loss : it.loss[r]);
        res.parameters += c.parameters;
        res.loss += c.loss;
        res.dense_parameters += dense_parameters(it.rows, it.cols);
    }
    res.budget = static_cast<std::uint64_t>(std::floor(keep * dense_total));
    return res;
}

/// Sensitivity-weighted keep ratios: item i keeps k_i = min(1, t·w_i) of its parameters
/// (rank ⌊k_i·m·n/(m+n)⌋ as in allocate_uniform, dense above the break-even rank), with the
/// largest t (bisection, 200 steps) whose total stays within `budget`. Larger weight = more
/// sensitive = more rank. Total parameters never exceed the budget; throws infeasible_budget
/// when even t = 0 (every item at min_rank or dense if forced) does not fit.
inline allocation_result allocate_weighted_ratio(const std::vector<allocation_item>& items, std::uint64_t budget,
                                                 const allocation_options& opt = {}) {
    detail::alloc::validate(items, opt, false);
    auto at = [&](double t) {
        allocation_result res;
        res.budget = budget;
        res.method = opt.method;
        res.choices.resize(items.size());
        for (std::size_t i = 0; i < items.size(); ++i) {
            const auto& it = items[i];
            auto& c = res.choices[i];
            const double k = std::min(1.0, t * it.weight);
            const std::size_t be = static_cast<std::size_t>(break_even_rank(it.rows, it.cols, factor_form::svd));
            std::size_t r = static_cast<std::size_t>(std::floor(k * double(it.rows) * double(it.cols) / double(it.rows + it.cols)));
            r = std::max(r / opt.rank_multiple * opt.rank_multiple, opt.min_rank);
            c.dense = it.keep_dense || (r > be && it.allow_dense);
            if (!c.dense) r = std::min(r, std::max(opt.min_rank, be / opt.rank_multiple * opt.rank_multiple));
            c.rank = c.dense ? 0 : r;
            c.parameters = c.dense ? dense_parameters(it.rows, it.cols) : factored_parameters(it.rows, it.cols, r, factor_form::svd);
            const bool has = c.dense || r < it.loss.size();
            c.loss = !has ? std::numeric_limits<double>::quiet_NaN() : it.weight * (c.dense ? it.dense_loss : it.loss[r]);
            res.parameters += c.parameters;
            res.loss += c.loss;
            res.dense_parameters += dense_parameters(it.rows, it.cols);
        }
        return res;
    };
    allocation_result lo = at(0);
    if (lo.parameters > budget)
        throw infeasible_budget("allocate_weighted_ratio: the budget of " + std::to_string(budget) +
                                " parameters is below the least this rule allocates (" + std::to_string(lo.parameters) + ")");
    double wmin = std::numeric_limits<double>::infinity();
    for (const auto& it : items)
        if (it.weight > 0) wmin = std::min(wmin, it.weight);
    if (!std::isfinite(wmin)) return lo;  // all weights 0: every item at its minimum
    double tlo = 0, thi = 1 / wmin;       // at thi every weighted item keeps everything
    if (at(thi).parameters <= budget) return at(thi);
    for (int it = 0; it < 200 && thi - tlo > 1e-15 * thi; ++it) {
        const double mid = 0.5 * (tlo + thi);
        (at(mid).parameters <= budget ? tlo : thi) = mid;
    }
    return at(tlo);
}

}  // namespace lowrank

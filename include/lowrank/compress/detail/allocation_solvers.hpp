// Solvers behind compress/allocation.hpp: the exact multiple-choice-knapsack DP over a budget
// grid and the Lagrangian (convex-hull greedy) with repair. Internal; see allocation.hpp for
// the problem statement and the guarantees.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace lowrank::detail::alloc {

inline constexpr double inf = std::numeric_limits<double>::infinity();

/// The choices of one item, sorted by cost: ranks first (ascending, an arithmetic progression
/// rank_first + j·rank_step), then dense (if allowed). cost/loss per choice; loss is weighted.
struct item_choices {
    std::vector<std::uint64_t> cost;
    std::vector<double> loss;
    std::vector<std::size_t> rank;  ///< 0 for the dense choice
    std::size_t ranked = 0;         ///< number of rank choices (the first `ranked` entries)
    bool convex = false;            ///< rank losses convex in j (second differences ≥ −tol)
};

struct solution {
    std::vector<std::size_t> pick;  ///< choice index per item
    double lower_bound = -inf;
    double mu = 0;                  ///< Lagrangian: the multiplier of the lower bound
    bool optimal = false;
};

// ---------------------------------------------------------------------------------------------
// Exact DP. D_i[b] = least loss of items 0..i-1 with total cost ≤ b·q (b = 0..G). Choice k of
// item i occupies cell_k = cost_k / q cells (exact: q divides every cost).
// ---------------------------------------------------------------------------------------------

/// One DP stage: cur[b] = min_k prev[b − cell_k] + loss_k, arg[b] = the minimising k (or
/// none when infeasible). Rank choices with convex losses use a monotone-argmin divide and
/// conquer per residue class of b modulo the rank step (the matrix a[j] + l(row − j) is Monge
/// when l is convex — extended by +∞ outside the rank range — so the leftmost row minima move
/// right monotonically); otherwise plain loops. Only the first `active` cells are computed;
/// the rest repeat cell active − 1 (with "cost ≤ b" semantics D is constant once every choice
/// of every item so far fits), so active = Σ max cells + 1 loses nothing.
inline void dp_stage(const item_choices& it, std::uint64_t q, const std::vector<double>& prev, std::vector<double>& cur,
                     std::uint32_t* arg, std::size_t active = 0) {
    const std::size_t total = prev.size();
    const std::size_t cells = active == 0 ? total : std::min(active, total);
    constexpr std::uint32_t none = ~std::uint32_t{0};
    std::fill(cur.begin(), cur.begin() + static_cast<std::ptrdiff_t>(cells), inf);
    if (arg) std::fill(arg, arg + cells, none);
    auto relax = [&](std::size_t b, double v, std::uint32_t k) {
        if (v < cur[b]) {
            cur[b] = v;
            if (arg) arg[b] = k;
        }
    };
    const std::size_t J = it.ranked;
    if (J > 0) {
        const std::size_t t0 = static_cast<std::size_t>(it.cost[0] / q);
        const std::size_t s = J > 1 ? static_cast<std::size_t>((it.cost[1] - it.cost[0]) / q) : 1;
        if (it.convex && J > 2) {
            // Input cells of one residue class, a[j] = prev[res + j·s], feed output cells
            // res + t0 + row·s with row = j + jj (jj = rank index): a min-plus convolution of a
            // with the convex l, computed row by row with monotone argmins.
            std::vector<double> a, out;
            std::vector<std::size_t> opt;
            struct frame {
                std::size_t lo, hi, olo, ohi;
            };
            std::vector<frame> stack;
            for (std::size_t res = 0; res < s && res < cells; ++res) {
                const std::size_t base = res + t0;
                if (base >= cells) continue;
                const std::size_t len = (cells - 1 - res) / s + 1, len_out = (cells - 1 - base) / s + 1;
                a.resize(len);
                for (std::size_t j = 0; j < len; ++j) a[j] = prev[res + j * s];
                std::size_t first = 0;  // prev is non-increasing in b: the finite part is a suffix
                while (first < len && a[first] == inf) ++first;
                if (first >= len_out) continue;
                out.assign(len_out, inf);
                opt.assign(len_out, 0);
                stack.assign(1, {first, len_out - 1, first, len_out - 1});
                while (!stack.empty()) {
                    const frame f = stack.back();
                    stack.pop_back();
                    const std::size_t mid = f.lo + (f.hi - f.lo) / 2;
                    const std::size_t band_lo = mid >= J - 1 ? mid - (J - 1) : 0;
                    const std::size_t jlo = std::max(f.olo, band_lo), jhi = std::min(f.ohi, mid);
                    double best = inf;
                    std::size_t bj = jlo;
                    for (std::size_t j = jlo; j <= jhi; ++j) {
                        const double v = a[j] + it.loss[mid - j];
                        if (v < best) {
                            best = v;
                            bj = j;
                        }
                    }
                    out[mid] = best;
                    opt[mid] = bj;
                    if (mid > f.lo) stack.push_back({f.lo, mid - 1, f.olo, bj});
                    if (mid < f.hi) stack.push_back({mid + 1, f.hi, bj, f.ohi});
                }
                for (std::size_t row = first; row < len_out; ++row)
                    if (out[row] < inf) relax(base + row * s, out[row], static_cast<std::uint32_t>(row - opt[row]));
            }
        } else {
            for (std::size_t k = 0; k < J; ++k) {
                const std::size_t c = static_cast<std::size_t>(it.cost[k] / q);
                const double l = it.loss[k];
                for (std::size_t b = c; b < cells; ++b) relax(b, prev[b - c] + l, static_cast<std::uint32_t>(k));
            }
        }
    }
    for (std::size_t k = J; k < it.cost.size(); ++k) {  // dense
        const std::size_t c = static_cast<std::size_t>(it.cost[k] / q);
        const double l = it.loss[k];
        for (std::size_t b = c; b < cells; ++b) relax(b, prev[b - c] + l, static_cast<std::uint32_t>(k));
    }
    for (std::size_t b = cells; b < total; ++b) {
        cur[b] = cur[cells - 1];
        if (arg) arg[b] = arg[cells - 1];
    }
}

/// Exact DP over G + 1 cells of size q. Memory is kept to O(√M·G): DP rows are checkpointed
/// every ⌈√M⌉ items and each block's argmin table is recomputed during the backtrack.
inline solution solve_exact(const std::vector<item_choices>& items, std::uint64_t q, std::size_t cells) {
    const std::size_t M = items.size();
    const std::size_t block = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(std::sqrt(double(M)))));
    std::vector<std::size_t> active(M);  // Σ_{k ≤ i} max cells + 1: beyond it D_i is constant
    std::size_t reach = 0;
    for (std::size_t i = 0; i < M; ++i) {
        reach += static_cast<std::size_t>(items[i].cost.back() / q);
        active[i] = std::min(cells, reach + 1);
    }
    std::vector<std::vector<double>> checkpoints;
    std::vector<double> prev(cells, 0.0), cur(cells);
    for (std::size_t i = 0; i < M; ++i) {
        if (i % block == 0) checkpoints.push_back(prev);
        dp_stage(items[i], q, prev, cur, nullptr, active[i]);
        prev.swap(cur);
    }
    solution sol;
    sol.pick.assign(M, 0);
    std::size_t b = cells - 1;
    std::vector<std::uint32_t> args;
    for (std::size_t blk = checkpoints.size(); blk-- > 0;) {
        const std::size_t i0 = blk * block, i1 = std::min(M, i0 + block);
        args.assign((i1 - i0) * cells, 0);
        prev = checkpoints[blk];
        for (std::size_t i = i0; i < i1; ++i) {
            dp_stage(items[i], q, prev, cur, args.data() + (i - i0) * cells, active[i]);
            prev.swap(cur);
        }
        for (std::size_t i = i1; i-- > i0;) {
            const std::uint32_t k = args[(i - i0) * cells + b];
            sol.pick[i] = k;
            b -= static_cast<std::size_t>(items[i].cost[k] / q);
        }
    }
    sol.optimal = true;
    return sol;
}

// ---------------------------------------------------------------------------------------------
// Lagrangian relaxation. For a multiplier μ ≥ 0 every item independently minimises loss + μ·cost
// over its lower convex hull; taking hull segments in order of decreasing gain per parameter
// until the first one that does not fit gives x_L, which minimises Σ loss + μ*·Σ cost (μ* =
// the gain ratio of that segment), hence (Everett) is optimal among allocations costing at most
// cost(x_L), and LB = loss(x_L) − μ*·(budget − cost(x_L)) is a lower bound on the optimum
// (weak duality). Leftover budget is then spent by repeated best single-item improvements.
// ---------------------------------------------------------------------------------------------

inline solution solve_lagrangian(const std::vector<item_choices>& items, std::uint64_t budget) {
    const std::size_t M = items.size();
    struct segment {
        double ratio;
        std::size_t item, from, to;
    };
    std::vector<std::vector<std::size_t>> hulls(M);
    std::vector<segment> segs;
    for (std::size_t i = 0; i < M; ++i) {
        const auto& it = items[i];
        auto& h = hulls[i];
        // Lower hull (Andrew's monotone chain) over points sorted by cost; equal costs keep the
        // smaller loss. Then keep the decreasing part (up to the minimum loss).
        for (std::size_t k = 0; k < it.cost.size(); ++k) {
            if (!h.empty() && it.cost[h.back()] == it.cost[k]) {
                if (it.loss[k] < it.loss[h.back()]) h.pop_back();
                else continue;
            }
            while (h.size() >= 2) {
                const std::size_t a = h[h.size() - 2], b = h.back();
                const double x1 = double(it.cost[b] - it.cost[a]), y1 = it.loss[b] - it.loss[a];
                const double x2 = double(it.cost[k] - it.cost[a]), y2 = it.loss[k] - it.loss[a];
                if (x1 * y2 - y1 * x2 <= 0) h.pop_back();  // b is on or above segment a→k
                else break;
            }
            h.push_back(k);
        }
        std::size_t best = 0;
        for (std::size_t p = 1; p < h.size(); ++p)
            if (it.loss[h[p]] < it.loss[h[best]]) best = p;
        h.resize(best + 1);
        for (std::size_t p = 0; p + 1 < h.size(); ++p) {
            const double dc = double(it.cost[h[p + 1]] - it.cost[h[p]]), dl = it.loss[h[p]] - it.loss[h[p + 1]];
            segs.push_back({dl / dc, i, h[p], h[p + 1]});
        }
    }
    std::stable_sort(segs.begin(), segs.end(), [](const segment& a, const segment& b) { return a.ratio > b.ratio; });
    solution sol;
    sol.pick.resize(M);
    std::uint64_t spent = 0;
    double loss = 0;
    for (std::size_t i = 0; i < M; ++i) {
        sol.pick[i] = hulls[i][0];
        spent += items[i].cost[sol.pick[i]];
        loss += items[i].loss[sol.pick[i]];
    }
    double mu = 0;
    bool stopped = false;
    for (const segment& sg : segs) {
        const auto& it = items[sg.item];
        const std::uint64_t dc = it.cost[sg.to] - it.cost[sg.from];
        if (spent + dc > budget) {
            mu = sg.ratio;
            stopped = true;
            break;
        }
        spent += dc;
        loss += it.loss[sg.to] - it.loss[sg.from];
        sol.pick[sg.item] = sg.to;
    }
    sol.lower_bound = stopped ? loss - mu * double(budget - spent) : loss;
    sol.mu = mu;
    if (!stopped) {  // every item at its least-loss choice: optimal
        sol.optimal = true;
        return sol;
    }
    // Repair: spend the leftover on the single-item change with the largest loss decrease.
    for (;;) {
        const std::uint64_t left = budget - spent;
        double gain = 0;
        std::size_t bi = M, bk = 0;
        for (std::size_t i = 0; i < M; ++i) {
            const auto& it = items[i];
            const std::size_t cur = sol.pick[i];
            for (std::size_t k = 0; k < it.cost.size(); ++k) {
                if (it.cost[k] > it.cost[cur] + left) break;  // sorted by cost
                const double g = it.loss[cur] - it.loss[k];
                if (g > gain) {
                    gain = g;
                    bi = i;
                    bk = k;
                }
            }
        }
        if (bi == M) break;
        spent = spent - items[bi].cost[sol.pick[bi]] + items[bi].cost[bk];
        sol.pick[bi] = bk;
    }
    return sol;
}

// ---------------------------------------------------------------------------------------------
// Lagrangian reduction (exact). For any μ ≥ 0 let m_i = min_k (loss_ik + μ·cost_ik) and
// Δ_i(k) = loss_ik + μ·cost_ik − m_i ≥ 0. Every allocation z within the budget has
//     loss(z) ≥ Σ_i (loss_i(z_i) + μ·cost_i(z_i)) − μ·budget = LB + Σ_i Δ_i(z_i),  LB = Σ m_i − μ·budget,
// so an optimal allocation (loss ≤ UB, the loss of any feasible one) uses only choices with
// Δ_i(k) ≤ UB − LB. Dropping the others keeps every optimum; the DP then runs over the few
// remaining choices, with each item's cheapest remaining cost moved into a base offset.
// ---------------------------------------------------------------------------------------------

struct reduction {
    std::vector<item_choices> items;               ///< kept choices, costs minus the item's base
    std::vector<std::vector<std::size_t>> index;   ///< kept choice → original choice index
    std::uint64_t base = 0;                        ///< Σ of the items' cheapest kept costs
    double lower_bound = -inf;                     ///< LB above
};

inline reduction reduce(const std::vector<item_choices>& items, double mu, double upper, std::uint64_t budget) {
    reduction red;
    std::vector<double> f;
    double sum_m = 0;
    std::vector<double> m(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        m[i] = inf;
        for (std::size_t k = 0; k < items[i].cost.size(); ++k)
            m[i] = std::min(m[i], items[i].loss[k] + mu * double(items[i].cost[k]));
        sum_m += m[i];
    }
    red.lower_bound = sum_m - mu * double(budget);
    const double slack = std::max(0.0, upper - red.lower_bound) +
                         1e-9 * (std::abs(upper) + std::abs(red.lower_bound) + mu * double(budget)) + 1e-300;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& it = items[i];
        item_choices r;
        std::vector<std::size_t> idx;
        for (std::size_t k = 0; k < it.cost.size(); ++k)
            if (it.loss[k] + mu * double(it.cost[k]) - m[i] <= slack) {
                idx.push_back(k);
                r.cost.push_back(it.cost[k]);
                r.loss.push_back(it.loss[k]);
                r.rank.push_back(it.rank[k]);
                if (k < it.ranked) ++r.ranked;
            }
        const std::uint64_t b = r.cost.front();  // sorted by cost; never empty (the minimiser stays)
        for (auto& c : r.cost) c -= b;
        red.base += b;
        // The convex fast path needs consecutive ranks (an arithmetic progression of costs).
        r.convex = it.convex && r.ranked > 2;
        for (std::size_t k = 1; r.convex && k < r.ranked; ++k)
            if (idx[k] != idx[k - 1] + 1) r.convex = false;
        red.items.push_back(std::move(r));
        red.index.push_back(std::move(idx));
    }
    return red;
}

}  // namespace lowrank::detail::alloc

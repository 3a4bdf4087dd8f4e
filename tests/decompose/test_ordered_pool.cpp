// cli::ordered_pool (examples/cli/ordered_pool.hpp), the worker pool of `lowrank decompose`:
// results come back in index order, and with a byte budget the estimated bytes of the tasks
// alive at once (started and not yet finished with by the consumer) never exceed it, whatever
// the thread count. Reference: an independent account kept by the tasks and the consumer
// themselves (atomic counters), not the pool's own bookkeeping; the unbudgeted run shows the
// check can fail.
#include <doctest/doctest.h>

#include "cli/ordered_pool.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

struct run_stats {
    std::uint64_t peak_live = 0;
    bool in_order = true;
};

/// Runs n tasks of the given costs on `threads` workers; the consumer takes them in order and
/// "writes" each for a moment before letting go of it.
run_stats run_pool(const std::vector<std::uint64_t>& cost, std::size_t threads, lowrank::cli::pool_budget budget) {
    std::atomic<std::uint64_t> live{0}, peak{0};
    auto bump = [&](std::uint64_t c) {
        const std::uint64_t now = live.fetch_add(c) + c;
        for (std::uint64_t p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
        }
    };
    lowrank::cli::ordered_pool<std::size_t> pool(
        cost.size(), threads, cost.size(),
        [&](std::size_t i) {
            bump(cost[i]);
            std::this_thread::sleep_for(std::chrono::milliseconds(2 + (i * 7) % 5));
            return i;
        },
        {}, budget);
    run_stats s;
    for (std::size_t i = 0; i < cost.size(); ++i) {
        s.in_order = s.in_order && pool.take(i) == i;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        live.fetch_sub(cost[i]);  // the consumer is done with result i
    }
    pool.stop();
    s.peak_live = peak.load();
    return s;
}

}  // namespace

TEST_CASE("ordered_pool: a byte budget bounds the tasks alive at once, on any thread count, in order") {
    const std::vector<std::uint64_t> cost{30, 10, 50, 20, 20, 40, 10, 10, 60, 30, 5, 25, 45, 15, 35, 20};
    const std::uint64_t budget = 60;
    // Without a budget, 4 workers and an unbounded window hold more than the budget at once.
    CHECK(run_pool(cost, 4, {}).peak_live > budget);
    for (std::size_t threads : {1, 2, 4, 8}) {
        CAPTURE(threads);
        lowrank::cli::pool_budget b{budget, [&](std::size_t i) { return cost[i]; }};
        const run_stats s = run_pool(cost, threads, b);
        CHECK(s.in_order);
        CHECK(s.peak_live <= budget);
        CHECK(s.peak_live >= 60);  // the 60-byte task did run
    }
}

TEST_CASE("ordered_pool: a task over the budget runs alone instead of deadlocking") {
    const std::vector<std::uint64_t> cost{10, 100, 10, 10, 100, 10};
    lowrank::cli::pool_budget b{50, [&](std::size_t i) { return cost[i]; }};
    const run_stats s = run_pool(cost, 4, b);
    CHECK(s.in_order);
    CHECK(s.peak_live <= 100);  // each 100-byte task alone; never beside another task
}

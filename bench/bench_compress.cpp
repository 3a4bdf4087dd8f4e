// Compression building blocks (include/lowrank/compress/), each against a baseline in the same
// run:
//   • rank allocation on SmolLM2-135M's shapes (30 layers × 7 matrices, curves of up to 577
//     ranks) and on Llama-2-7B's (32 × 7, up to 4096 ranks): the exact solver (Lagrangian +
//     reduction + DP) and the Lagrangian solver alone, against the uniform rule (a single pass
//     over the items) as the floor;
//   • whitened truncated SVD of one weight (Cholesky whitener built once) against the plain
//     truncated SVD of the same matrix, and the whitener's construction against one SYRK of the
//     calibration rows (the Gram's own cost).
// Counters: loss relative to the exact optimum (allocations), cells of the DP grid.
//
// Run: build/bench/bench_compress --benchmark_counters_tabular=true
// Timings taken on a loaded machine are only meaningful as ratios within one run.
#include "lowrank/compress/compress.hpp"
#include "lowrank/lowrank.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <vector>

namespace {

using namespace lowrank;
using B = xtensor_backend;

/// Items with a model's linear shapes and convex loss curves from a power-law spectrum
/// σ_i = (1 + i)^-0.6 scaled per item (so items differ).
std::vector<allocation_item> model_items(std::size_t layers, std::size_t d, std::size_t kv, std::size_t ff) {
    const std::vector<std::pair<std::size_t, std::size_t>> role = {{d, d}, {kv, d}, {kv, d}, {d, d},
                                                                    {ff, d}, {ff, d}, {d, ff}};
    std::vector<allocation_item> items;
    for (std::size_t l = 0; l < layers; ++l)
        for (std::size_t k = 0; k < role.size(); ++k) {
            allocation_item it;
            it.rows = role[k].first;
            it.cols = role[k].second;
            const std::size_t K = std::min(it.rows, it.cols);
            std::vector<double> s(K);
            const double scale = 1.0 + 0.1 * double((7 * l + 3 * k) % 11);
            for (std::size_t i = 0; i < K; ++i) s[i] = scale * std::pow(1.0 + double(i), -0.6);
            it.loss = loss_curve(s);
            items.push_back(std::move(it));
        }
    return items;
}

std::uint64_t dense_total(const std::vector<allocation_item>& items) {
    std::uint64_t t = 0;
    for (const auto& it : items) t += it.rows * it.cols;
    return t;
}

const std::vector<allocation_item>& smollm2() {
    static const auto items = model_items(30, 576, 192, 1536);
    return items;
}
const std::vector<allocation_item>& llama7b() {
    static const auto items = model_items(32, 4096, 4096, 11008);
    return items;
}

void run_alloc(benchmark::State& state, const std::vector<allocation_item>& items, allocation_method method,
               std::size_t rank_multiple) {
    const double keep = double(state.range(0)) / 100.0;
    const std::uint64_t budget = std::uint64_t(keep * double(dense_total(items)));
    allocation_options o;
    o.method = method;
    o.rank_multiple = rank_multiple;
    o.max_cells = std::size_t{1} << 22;
    allocation_result r;
    for (auto _ : state) {
        r = allocate_ranks(items, budget, o);
        benchmark::DoNotOptimize(r.loss);
    }
    state.counters["cells"] = double(r.cells);
    state.counters["gap"] = r.loss > 0 ? (r.loss - r.lower_bound) / r.loss : 0.0;
    state.counters["optimal"] = r.optimal ? 1 : 0;
}

void BM_AllocExact_SmolLM2(benchmark::State& s) { run_alloc(s, smollm2(), allocation_method::exact, 1); }
void BM_AllocLagrangian_SmolLM2(benchmark::State& s) { run_alloc(s, smollm2(), allocation_method::lagrangian, 1); }
void BM_AllocLagrangian_7B(benchmark::State& s) { run_alloc(s, llama7b(), allocation_method::lagrangian, 1); }
void BM_AllocExact_7B(benchmark::State& s) { run_alloc(s, llama7b(), allocation_method::exact, 1); }
void BM_AllocExact_7B_step16(benchmark::State& s) { run_alloc(s, llama7b(), allocation_method::exact, 16); }

void BM_AllocUniform_7B(benchmark::State& state) {
    const double keep = double(state.range(0)) / 100.0;
    for (auto _ : state) benchmark::DoNotOptimize(allocate_uniform(llama7b(), keep).parameters);
}

// ---------------------------------------------------------------------------------------
// Whitened SVD vs plain truncated SVD; whitener vs the Gram's SYRK.
// ---------------------------------------------------------------------------------------

struct layer_data {
    B::tensor<float> w;
    std::vector<double> gram;
    std::vector<float> rows;
};

const layer_data& layer(std::size_t m, std::size_t n) {
    static std::map<std::pair<std::size_t, std::size_t>, layer_data> cache;
    auto& d = cache[{m, n}];
    if (d.gram.empty()) {
        normal_generator g(1);
        const std::size_t N = 2 * n;
        d.rows = g.normals<float>(N * n);
        auto wh = g.normals<float>(m * n);
        B::context ctx;
        d.w = B::upload<float>(ctx, wh.data(), {m, n});
        stats_accumulator<B::context> acc(ctx, n);
        (void)acc.add(d.rows.data(), N);
        d.gram = acc.take().gram;
    }
    return d;
}

void BM_WhitenedSvd(benchmark::State& state) {
    const auto m = std::size_t(state.range(0)), n = std::size_t(state.range(1)), r = std::size_t(state.range(2));
    const auto& d = layer(m, n);
    B::context ctx;
    const auto s = make_whitener(ctx, std::span<const double>(d.gram), n);
    whitened_svd_options o;
    o.trunc = truncation::rank(r);
    o.compute_plain_error = false;
    for (auto _ : state) benchmark::DoNotOptimize(whitened_svd(ctx, d.w, s, o).discarded_energy);
}

void BM_PlainSvd(benchmark::State& state) {
    const auto m = std::size_t(state.range(0)), n = std::size_t(state.range(1)), r = std::size_t(state.range(2));
    const auto& d = layer(m, n);
    B::context ctx;
    svd_options o;
    o.trunc = truncation::rank(r);
    o.compute_error = false;
    for (auto _ : state) benchmark::DoNotOptimize(truncated_svd(ctx, d.w, o).discarded_energy);
}

void BM_Whitener(benchmark::State& state) {
    const auto n = std::size_t(state.range(1));
    const auto& d = layer(std::size_t(state.range(0)), n);
    B::context ctx;
    for (auto _ : state) benchmark::DoNotOptimize(make_whitener(ctx, std::span<const double>(d.gram), n).defect);
}

void BM_GramSyrk(benchmark::State& state) {
    const auto n = std::size_t(state.range(1));
    const auto& d = layer(std::size_t(state.range(0)), n);
    B::context ctx;
    for (auto _ : state) {
        stats_accumulator<B::context> acc(ctx, n, false, 2 * n);
        benchmark::DoNotOptimize(acc.add(d.rows.data(), 2 * n));
    }
}

}  // namespace

BENCHMARK(BM_AllocExact_SmolLM2)->Arg(50)->Arg(80)->Arg(90)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AllocLagrangian_SmolLM2)->Arg(50)->Arg(80)->Arg(90)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AllocLagrangian_7B)->Arg(80)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AllocExact_7B)->Arg(80)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AllocExact_7B_step16)->Arg(80)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AllocUniform_7B)->Arg(80)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WhitenedSvd)->Args({576, 576, 230})->Args({1536, 576, 335})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlainSvd)->Args({576, 576, 230})->Args({1536, 576, 335})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Whitener)->Args({576, 576, 0})->Args({576, 1536, 0})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GramSyrk)->Args({576, 576, 0})->Args({576, 1536, 0})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

// Core kernels against their physical baselines, in one run:
//   • mode-n product on every mode of a 3-way tensor vs ONE raw GEMM with the same FLOP count
//     (the ceiling a mode product can reach: it is that GEMM, or a strided batch of it);
//   • exact (gesdd) vs randomized vs Gram truncated SVD on the study's real weight shapes
//     (Llama-2-7B, BERT-base, SmolLM2-135M) built with a slowly decaying spectrum
//     σ_i = 1/sqrt(1+i), so the Eckart–Young optimum is known in closed form;
//   • randomized vs exact SVD at equal error (within 1 % of the optimum), both timed in every
//     iteration on the same matrix: counter speedup = exact time / randomized time;
//   • HOOI and ST-HOSVD on a 3-way tensor.
// Counters: GFLOP/s where a FLOP count is defined, rel_error (achieved ‖A−Â‖/‖A‖) and
// ey_ratio (rel_error / Eckart–Young optimum) for the SVDs.
//
// Run: build/bench/bench_core --benchmark_counters_tabular=true
// (bench/run_core_bench.sh runs the set used in docs/benchmarks.md).
#include "lowrank/lowrank.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>
#include <memory>
#include <tuple>

namespace {

using namespace lowrank;
using B = xtensor_backend;

template <class T>
B::tensor<T> random_tensor(const shape_t& s, std::uint64_t seed) {
    normal_generator g(seed);
    auto h = g.normals<T>(numel(s));
    B::context ctx;
    return B::upload<T>(ctx, h.data(), s);
}

// ---------------------------------------------------------------------------------------
// Mode-n product vs raw GEMM
// ---------------------------------------------------------------------------------------

// Args: I0, I1, I2, J, mode, threads. X is I0×I1×I2, A is J×I_mode; one call allocates Y as the
// library does. Both sides get `threads` threads (the context sets OpenBLAS's count too).
template <class T>
void BM_ModeProduct(benchmark::State& state) {
    const shape_t s{std::size_t(state.range(0)), std::size_t(state.range(1)), std::size_t(state.range(2))};
    const std::size_t J = std::size_t(state.range(3)), mode = std::size_t(state.range(4));
    B::context ctx(int(state.range(5)));
    auto x = random_tensor<T>(s, 1);
    auto a = random_tensor<T>({J, s[mode]}, 2);
    for (auto _ : state) {
        auto y = mode_product(ctx, x, a, mode);
        benchmark::DoNotOptimize(y.data());
    }
    const double flops = 2.0 * double(J) * double(numel(s));
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The same FLOPs as one GEMM of the unfolded shape, (J × I_mode) · (I_mode × rest), into a
// preallocated output: the ceiling a mode product is measured against. Same args.
template <class T>
void BM_RawGemm(benchmark::State& state) {
    const shape_t s{std::size_t(state.range(0)), std::size_t(state.range(1)), std::size_t(state.range(2))};
    const std::size_t J = std::size_t(state.range(3)), mode = std::size_t(state.range(4));
    const std::size_t I = s[mode], rest = numel(s) / I;
    B::context ctx(int(state.range(5)));
    auto x = random_tensor<T>({I, rest}, 1);
    auto a = random_tensor<T>({J, I}, 2);
    auto y = random_tensor<T>({J, rest}, 3);
    for (auto _ : state) {
        B::gemm(ctx, op::none, op::none, J, rest, I, T(1), a.data(), I, x.data(), rest, T(0), y.data(), rest);
        benchmark::DoNotOptimize(y.data());
    }
    const double flops = 2.0 * double(J) * double(numel(s));
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The set of issue 19: 256³ and 128³ cubes and the stacked SmolLM2 q_proj shape 30×576×576 (J = 8
// on its 30-long mode 0, 64 elsewhere), every mode, 1 and 2 threads. Each mode product is
// registered right after its raw GEMM (same args; for cubes the three raw rows coincide) so
// the pair runs back to back and a drifting machine load skews the ratio least.
template <class T>
void register_mode_products(bool f64) {
    const std::vector<std::vector<int64_t>> shapes =
        f64 ? std::vector<std::vector<int64_t>>{{128, 128, 128, 64}, {256, 256, 256, 64}, {30, 576, 576, 64}}
            : std::vector<std::vector<int64_t>>{{256, 256, 256, 64}, {128, 128, 128, 32}, {30, 576, 576, 64}};
    const std::string t = f64 ? "<double>" : "<float>";
    for (int threads : {1, 2})
        for (const auto& sh : shapes)
            for (int mode = 0; mode < 3; ++mode) {
                const int64_t J = sh[0] == 30 && mode == 0 ? 8 : sh[3];
                const std::vector<int64_t> args{sh[0], sh[1], sh[2], J, mode, threads};
                benchmark::RegisterBenchmark(("BM_RawGemm" + t).c_str(), BM_RawGemm<T>)
                    ->Args(args)->UseRealTime()->Unit(benchmark::kMillisecond);
                benchmark::RegisterBenchmark(("BM_ModeProduct" + t).c_str(), BM_ModeProduct<T>)
                    ->Args(args)->UseRealTime()->Unit(benchmark::kMillisecond);
            }
}
[[maybe_unused]] const int mode_products_registered = [] {
    register_mode_products<float>(false);
    register_mode_products<double>(true);
    return 0;
}();

// ---------------------------------------------------------------------------------------
// Truncated SVD on real weight shapes
// ---------------------------------------------------------------------------------------

/// m×n matrix with σ_i = 1/sqrt(1+i) (slow decay), cached per shape across benchmarks.
const B::tensor<float>& spectrum_matrix(std::size_t m, std::size_t n) {
    static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<B::tensor<float>>> cache;
    auto& slot = cache[{m, n}];
    if (!slot) {
        B::context ctx;
        const std::size_t k = std::min(m, n);
        auto u = random_tensor<float>({m, k}, 11), v = random_tensor<float>({n, k}, 12);
        B::orthonormalize_columns(ctx, m, k, u.data());
        B::orthonormalize_columns(ctx, n, k, v.data());
        std::vector<float> s(k);
        for (std::size_t i = 0; i < k; ++i) s[i] = 1.0f / std::sqrt(1.0f + float(i));
        B::scale_columns(ctx, m, k, u.data(), s.data());
        slot = std::make_unique<B::tensor<float>>(B::tensor<float>::from_shape({m, n}));
        B::gemm(ctx, op::none, op::trans, m, n, k, 1.0f, u.data(), k, v.data(), k, 0.0f, slot->data(), n);
    }
    return *slot;
}

double eckart_young_optimum(std::size_t m, std::size_t n, std::size_t r) {
    const std::size_t k = std::min(m, n);
    double tail = 0, total = 0;
    for (std::size_t i = 0; i < k; ++i) {
        const double s2 = 1.0 / (1.0 + double(i));
        total += s2;
        if (i >= r) tail += s2;
    }
    return std::sqrt(tail / total);
}

void BM_TruncatedSVD(benchmark::State& state) {
    const std::size_t m = static_cast<std::size_t>(state.range(0)), n = static_cast<std::size_t>(state.range(1));
    const std::size_t r = static_cast<std::size_t>(state.range(2));
    const auto method = static_cast<svd_method>(state.range(3));
    const auto& a = spectrum_matrix(m, n);
    svd_options opt;
    opt.trunc = truncation::rank(r);
    opt.method = method;
    opt.compute_error = false;  // timed: the decomposition only
    B::context ctx;
    svd_result<B::tensor<float>> res;
    for (auto _ : state) {
        res = truncated_svd(ctx, a, opt);
        benchmark::DoNotOptimize(res.s.data());
    }
    const double rel = relative_residual(ctx, a, res.u, res.s, res.vt, res.norm);
    state.counters["rel_error"] = rel;
    state.counters["ey_ratio"] = rel / eckart_young_optimum(m, n, r);
    state.SetLabel(to_string(method));
}

constexpr int exact = static_cast<int>(svd_method::exact);
constexpr int gram = static_cast<int>(svd_method::gram);
constexpr int randomized = static_cast<int>(svd_method::randomized);

// Small and medium shapes (SmolLM2-135M, BERT-base): every method at a thin and a wide rank.
BENCHMARK(BM_TruncatedSVD)
    ->ArgsProduct({{576}, {576}, {16, 64}, {exact, gram, randomized}})
    ->ArgsProduct({{576}, {1536}, {16, 64}, {exact, gram, randomized}})
    ->ArgsProduct({{192}, {576}, {16, 64}, {exact, gram, randomized}})
    ->ArgsProduct({{768}, {768}, {16, 64}, {exact, gram, randomized}})
    ->ArgsProduct({{768}, {3072}, {16, 64}, {exact, gram, randomized}})
    ->UseRealTime()->Unit(benchmark::kMillisecond);

// Llama-2-7B shapes: the expensive ones run once per repetition.
BENCHMARK(BM_TruncatedSVD)
    ->ArgsProduct({{4096}, {4096}, {256}, {exact, gram, randomized}})
    ->ArgsProduct({{4096}, {11008}, {64, 256}, {randomized}})
    ->ArgsProduct({{11008}, {4096}, {256}, {randomized}})
    ->ArgsProduct({{4096}, {11008}, {256}, {exact, gram}})
    ->Iterations(1)
    ->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------
// Randomized vs exact truncated SVD at equal error, timed side by side
// ---------------------------------------------------------------------------------------

/// One benchmark per (shape, rank, variant) times the exact SVD (gesdd, the Eckart–Young
/// optimum) and the randomized SVD alternately in every iteration on the same matrix, so
/// `speedup` (exact time / randomized time, ratio of the sums) is a same-run ratio that load
/// drift affects equally on both sides. "Equal error": before timing, the randomized run gets
/// the fewest power iterations q ∈ {0 … 8} whose error is within `target` (1 %) of the
/// optimum (counter q; ey_rand is its error / optimum, ey_exact the exact method's, ≈ 1). The
/// deterministic fallback is off: the randomized algorithm itself is measured. Counters
/// exact_ms / rand_ms are per-call means (load-dependent; report the ratio).
void BM_SVDEqualError(benchmark::State& state) {
    const std::size_t m = static_cast<std::size_t>(state.range(0)), n = static_cast<std::size_t>(state.range(1));
    const std::size_t r = static_cast<std::size_t>(state.range(2));
    const auto variant = static_cast<randomized_variant>(state.range(3));
    constexpr double target = 1.01;
    const auto& a = spectrum_matrix(m, n);
    const double optimum = eckart_young_optimum(m, n, r);
    B::context ctx;
    svd_options ex;
    ex.trunc = truncation::rank(r);
    ex.method = svd_method::exact;
    ex.compute_error = false;
    svd_options rd = ex;
    rd.method = svd_method::randomized;
    rd.variant = variant;
    rd.randomized_fallback = false;
    double ey_rand = 0;
    std::size_t passes = 0;
    for (rd.power_iterations = 0; rd.power_iterations <= 8; ++rd.power_iterations) {
        auto res = truncated_svd(ctx, a, rd);
        ey_rand = relative_residual(ctx, a, res.u, res.s, res.vt, res.norm) / optimum;
        passes = res.passes;
        if (ey_rand <= target) break;
    }
    if (ey_rand > target) {
        state.SkipWithError("randomized SVD does not reach 1 % of the optimum within q = 8");
        return;
    }
    svd_result<B::tensor<float>> re, rr;
    double t_exact = 0, t_rand = 0;
    using clock = std::chrono::steady_clock;
    for (auto _ : state) {
        const auto t0 = clock::now();
        re = truncated_svd(ctx, a, ex);
        const auto t1 = clock::now();
        rr = truncated_svd(ctx, a, rd);
        const auto t2 = clock::now();
        benchmark::DoNotOptimize(re.s.data());
        benchmark::DoNotOptimize(rr.s.data());
        const double de = std::chrono::duration<double>(t1 - t0).count(), dr = std::chrono::duration<double>(t2 - t1).count();
        t_exact += de, t_rand += dr;
        state.SetIterationTime(de + dr);
    }
    const double iters = double(state.iterations());
    state.counters["exact_ms"] = 1e3 * t_exact / iters;
    state.counters["rand_ms"] = 1e3 * t_rand / iters;
    state.counters["speedup"] = t_exact / t_rand;
    state.counters["q"] = double(rd.power_iterations);
    state.counters["passes"] = double(passes);
    state.counters["ey_rand"] = relative_residual(ctx, a, rr.u, rr.s, rr.vt, rr.norm) / optimum;
    state.counters["ey_exact"] = relative_residual(ctx, a, re.u, re.s, re.vt, re.norm) / optimum;
    state.SetLabel(to_string(variant));
}

constexpr int krylov = static_cast<int>(randomized_variant::block_krylov);
constexpr int subspace = static_cast<int>(randomized_variant::subspace_iteration);

// The study's small and medium weight shapes (SmolLM2-135M, BERT-base) at thin to wide ranks.
BENCHMARK(BM_SVDEqualError)
    ->ArgsProduct({{576}, {576}, {16, 64, 128}, {krylov, subspace}})
    ->ArgsProduct({{576}, {1536}, {16, 64, 128}, {krylov, subspace}})
    ->ArgsProduct({{1536}, {576}, {64}, {krylov, subspace}})
    ->ArgsProduct({{192}, {576}, {16}, {krylov, subspace}})
    ->ArgsProduct({{768}, {3072}, {16, 64, 256}, {krylov, subspace}})
    ->UseManualTime()->Unit(benchmark::kMillisecond);

// Llama-2-7B shape (exact SVD alone takes tens of seconds): one iteration; run with
// --benchmark_filter=BM_SVDEqualError/4096.
BENCHMARK(BM_SVDEqualError)
    ->ArgsProduct({{4096}, {4096}, {256}, {krylov}})
    ->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------
// Tucker on a 3-way tensor
// ---------------------------------------------------------------------------------------

void BM_Tucker(benchmark::State& state) {
    const std::size_t I = static_cast<std::size_t>(state.range(0)), R = static_cast<std::size_t>(state.range(1));
    const bool use_hooi = state.range(2) != 0;
    auto x = random_tensor<float>({I, I, I}, 5);
    B::context ctx;
    double rel = 0;
    std::size_t iters = 0;
    for (auto _ : state) {
        if (use_hooi) {
            hooi_options<B::tensor<float>> opt;
            opt.trunc = truncation::rank(R);
            opt.max_iterations = 10;
            opt.tol = 1e-6;
            opt.compute_error = false;
            auto t = hooi(ctx, x, opt);
            rel = t.error_history.back();
            iters = t.iterations;
        } else {
            hosvd_options opt;
            opt.trunc = truncation::rank(R);
            opt.compute_error = false;
            auto t = st_hosvd(ctx, x, opt);
            rel = t.error_bound;
        }
    }
    state.counters["rel_error"] = rel;
    state.counters["sweeps"] = double(iters);
    state.SetLabel(use_hooi ? "hooi" : "sthosvd");
}

BENCHMARK(BM_Tucker)->ArgsProduct({{128}, {16, 32}, {0, 1}})->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

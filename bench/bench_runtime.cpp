// Runtime kernels: the bf16- and q8-weight products Y = X·Wᵀ (runtime/bf16.hpp, runtime/q8.hpp)
// against the float32 BLAS GEMM of the same shape (the baseline, measured in the same run), on the SmolLM2-135M
// linear shapes [out, in] and its tied head, for decode (1–4 tokens) and prefill (64 tokens).
// Reported counters: bytes of W read per call and the effective weight bandwidth.
//   build/bench/bench_runtime --benchmark_counters_tabular=true
#include "runtime/bf16.hpp"
#include "runtime/q8.hpp"

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

namespace {

using namespace lowrank::runtime;

struct shape {
    std::size_t out, in;
};
const shape shapes[] = {{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}};

std::vector<float> random(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.f, 0.05f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

void counters(benchmark::State& st, std::size_t weight_bytes) {
    st.counters["W_MB"] = double(weight_bytes) / 1e6;
    st.counters["W_GBps"] = benchmark::Counter(double(weight_bytes) * double(st.iterations()) / 1e9,
                                               benchmark::Counter::kIsRate);
}

void BM_f32_gemm(benchmark::State& st) {
    const shape s = shapes[st.range(0)];
    const std::size_t n = std::size_t(st.range(1));
    const auto w = random(s.out * s.in, 1), x = random(n * s.in, 2);
    std::vector<float> y(n * s.out);
    exec_context ex(int(st.range(2)));
    for (auto _ : st) {
        gemm(ex, lowrank::op::none, lowrank::op::trans, n, s.out, s.in, 1.f, x.data(), s.in, w.data(), s.in, 0.f,
             y.data(), s.out);
        benchmark::DoNotOptimize(y.data());
    }
    counters(st, w.size() * sizeof(float));
}

/// The product with W stored as M (bf16_matrix or q8_matrix); W_MB counts the bytes as stored.
template <class M>
void compact_product(benchmark::State& st) {
    const shape s = shapes[st.range(0)];
    const std::size_t n = std::size_t(st.range(1));
    const auto wf = random(s.out * s.in, 1), x = random(n * s.in, 2);
    const auto w = M::from_rows(wf.data(), s.out, s.in);
    std::vector<float> y(n * s.out), scratch;
    exec_context ex(int(st.range(2)));
    for (auto _ : st) {
        matmul_nt(ex, x.data(), s.in, n, w, y.data(), s.out, scratch);
        benchmark::DoNotOptimize(y.data());
    }
    counters(st, w.bytes());
}
void BM_bf16(benchmark::State& st) { compact_product<bf16_matrix>(st); }
void BM_q8(benchmark::State& st) { compact_product<q8_matrix>(st); }

void args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"shape", "tokens", "threads"});
    for (int s = 0; s < 4; ++s)
        for (int n : {1, 4, 64})
            for (int t : {1, 2}) b->Args({s, n, t});
    b->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_f32_gemm)->Apply(args);
BENCHMARK(BM_bf16)->Apply(args);
BENCHMARK(BM_q8)->Apply(args);

}  // namespace

BENCHMARK_MAIN();

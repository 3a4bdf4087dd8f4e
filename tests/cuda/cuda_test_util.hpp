// Helpers of the CUDA op-level tests: GPU detection with visible skipping and host-side problem
// generators (independent of the GPU code: plain loops and the xtensor/LAPACK backend); the
// comparisons come from the core suite's helpers, which never compare singular vectors
// entrywise. (The algorithm properties run as the core suite itself: test_core_cuda.)
#pragma once

#include "core/helpers.hpp"
#include "lowrank/backend/reference_backend.hpp"
#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/cuda/cuda_backend.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace lowrank::test {

using cb = cuda_backend;
template <class T>
using dtensor = cuda_backend::tensor<T>;

struct gpu_probe {
    int count = 0;
    std::string reason;  // why there is no usable device
    std::string name;    // device 0's name when there is one
    gpu_probe() {
        count = cuda::device_count(&reason);
        if (count > 0) {
            cudaDeviceProp p{};
            if (cudaGetDeviceProperties(&p, 0) == cudaSuccess) name = p.name;
        }
    }
};

inline const gpu_probe& gpu() {
    static const gpu_probe probe;
    return probe;
}

/// Counts skipped cases and prints one summary line when the suite ends.
struct skip_summary {
    std::atomic<int> skipped{0};
    std::atomic<int> ran{0};
    ~skip_summary() {
        if (skipped > 0)
            std::printf("[cuda] %d test case(s) SKIPPED: no CUDA device: %s (host-only cases still ran)\n",
                        skipped.load(), gpu().reason.c_str());
        else if (ran > 0)
            std::printf("[cuda] %d GPU test case(s) ran on %s\n", ran.load(), gpu().name.c_str());
        std::fflush(stdout);
    }
};

inline skip_summary& summary() {
    static skip_summary s;
    return s;
}

}  // namespace lowrank::test

/// First statement of every test case that needs a GPU: without one, reports the skip and
/// returns (the case passes, visibly marked as skipped).
#define LOWRANK_REQUIRE_GPU()                                                               \
    do {                                                                                    \
        if (::lowrank::test::gpu().count == 0) {                                            \
            ++::lowrank::test::summary().skipped;                                           \
            MESSAGE("skipped: no CUDA device: " << ::lowrank::test::gpu().reason);          \
            return;                                                                         \
        }                                                                                   \
        ++::lowrank::test::summary().ran;                                                   \
    } while (0)

namespace lowrank::test {

/// Tolerance for an operation of "size" n in precision T.
template <class T>
double tol(double factor = 1.0, double n = 1.0) {
    return factor * std::max(1.0, n) * static_cast<double>(std::numeric_limits<T>::epsilon());
}

template <class T>
std::vector<T> gaussian(std::size_t count, std::uint64_t seed) {
    normal_generator g(seed);
    return g.template normals<T>(count);
}

template <class T>
dtensor<T> to_device(cb::context& ctx, const std::vector<T>& host, const shape_t& s) {
    return cb::upload<T>(ctx, host.data(), s);
}

/// Row-major m×r matrix with orthonormal columns (host, via LAPACK QR of a Gaussian matrix).
template <class T>
std::vector<T> random_orthonormal(std::size_t m, std::size_t r, std::uint64_t seed) {
    std::vector<T> q = gaussian<T>(m * r, seed);
    xtensor_backend::context cpu;
    xtensor_backend::orthonormalize_columns(cpu, m, r, q.data());
    return q;
}

/// Row-major m×n matrix U·diag(s)·Vᵀ with the prescribed singular values s (descending).
template <class T>
std::vector<T> with_spectrum(std::size_t m, std::size_t n, const std::vector<T>& s, std::uint64_t seed) {
    const std::size_t k = s.size();
    const auto u = random_orthonormal<T>(m, k, seed), v = random_orthonormal<T>(n, k, seed + 1);
    std::vector<T> a(m * n, T(0));
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double acc = 0;
            for (std::size_t l = 0; l < k; ++l) acc += double(u[i * k + l]) * s[l] * double(v[j * k + l]);
            a[i * n + j] = static_cast<T>(acc);
        }
    return a;
}

/// Geometric spectrum s_i = ratio^i (descending).
template <class T>
std::vector<T> geometric(std::size_t k, double ratio) {
    std::vector<T> s(k);
    for (std::size_t i = 0; i < k; ++i) s[i] = static_cast<T>(std::pow(ratio, double(i)));
    return s;
}

// Orthonormality, transposes and subspace distances: the core suite's helpers (one set for
// every backend; subspace_distance is ‖sin Θ‖_F of the principal angles).
using lrtest::transposed;
using lrtest::subspace_distance;
template <class T>
double orthonormality_defect(const std::vector<T>& q, std::size_t m, std::size_t n) {
    return lrtest::orthonormality_error(q, m, n);
}

template <class T>
double max_abs_diff(const std::vector<T>& a, const std::vector<T>& b) {
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
    return worst;
}

template <class T>
double max_abs(const std::vector<T>& a) {
    double worst = 0;
    for (T v : a) worst = std::max(worst, std::abs(double(v)));
    return worst;
}

}  // namespace lowrank::test

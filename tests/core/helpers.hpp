// Shared helpers for the core property tests: backend/type configurations, matrices with a
// prescribed spectrum, orthonormality and subspace measures. Everything is computed on the
// host from downloaded data, so the checks do not trust the backend under test.
//
// One suite, every backend: tests/core builds it for the CPU backends (xtensor, reference);
// tests/cuda compiles the same sources with LOWRANK_TEST_CUDA for cuda_backend, where every case
// skips visibly without a device (LOWRANK_TEST_CONTEXT) and the executable then exits 77.
#pragma once

#include "assets.hpp"
#include "lowrank/lowrank.hpp"
#ifdef LOWRANK_TEST_CUDA
#include "lowrank/cuda/cuda_backend.hpp"
#endif

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace lrtest {

using namespace lowrank;

template <class Backend, class Scalar>
struct config {
    using backend = Backend;
    using value = Scalar;
};

// Every property test runs on both CPU backends in both precisions ...
#define LOWRANK_CPU_CONFIGS                                                                              \
    lrtest::config<lowrank::xtensor_backend, double>, lrtest::config<lowrank::xtensor_backend, float>,   \
        lrtest::config<lowrank::reference_backend, double>, lrtest::config<lowrank::reference_backend, float>
// ... or, built with LOWRANK_TEST_CUDA, on the CUDA backend in both precisions.
#ifdef LOWRANK_TEST_CUDA
#define LOWRANK_TEST_CONFIGS lrtest::config<lowrank::cuda_backend, double>, lrtest::config<lowrank::cuda_backend, float>
// cuSOLVER's Jacobi SVD (gesvdj) and cuBLAS reductions are accurate to a small multiple of LAPACK's.
inline constexpr double backend_slack = 16;
#else
#define LOWRANK_TEST_CONFIGS LOWRANK_CPU_CONFIGS
inline constexpr double backend_slack = 1;
#endif

/// Machine epsilon of T (times the backend's slack): the unit of the suite's tolerances.
template <class T>
double eps() {
    return backend_slack * static_cast<double>(std::numeric_limits<T>::epsilon());
}

/// True when backend B can run here; for CUDA without a device, reports a visible skip.
template <class B>
bool device_ready() {
#ifdef LOWRANK_TEST_CUDA
    if constexpr (std::is_same_v<B, cuda_backend>) {
        static std::string why;
        static const int count = cuda::device_count(&why);
        if (count == 0) {
            ++lowrank_test::skipped_cases();
            MESSAGE("SKIPPED: no CUDA device: " << why);
            return false;
        }
    }
#endif
    return true;
}

/// First statement of a property test: declares the backend context `ctx`, or skips the case
/// (visibly) when the backend has no device.
#define LOWRANK_TEST_CONTEXT(B, ctx)           \
    if (!::lrtest::device_ready<B>()) return; \
    typename B::context ctx

/// A host copy of a backend tensor.
template <class B, class Ctx, class Tensor>
std::vector<typename Tensor::value_type> host(Ctx& ctx, const Tensor& t) {
    std::vector<typename Tensor::value_type> v(numel(B::shape(t)));
    B::download(ctx, t, v.data());
    return v;
}

/// Random Gaussian tensor of the given shape (deterministic in seed).
template <class B, class T>
typename B::template tensor<T> gaussian(typename B::context& ctx, const shape_t& s, std::uint64_t seed) {
    normal_generator g(seed);
    auto h = g.normals<T>(numel(s));
    return B::template upload<T>(ctx, h.data(), s);
}

/// Host m×k matrix with orthonormal columns (Gram–Schmidt in double on a Gaussian matrix).
inline std::vector<double> random_orthonormal(std::size_t m, std::size_t k, std::uint64_t seed) {
    normal_generator g(seed);
    std::vector<double> q(m * k);
    for (auto& x : q) x = g.normal();
    for (std::size_t j = 0; j < k; ++j)
        for (int pass = 0; pass < 2; ++pass) {
            for (std::size_t c = 0; c < j; ++c) {
                double d = 0;
                for (std::size_t i = 0; i < m; ++i) d += q[i * k + c] * q[i * k + j];
                for (std::size_t i = 0; i < m; ++i) q[i * k + j] -= d * q[i * k + c];
            }
            double nrm = 0;
            for (std::size_t i = 0; i < m; ++i) nrm += q[i * k + j] * q[i * k + j];
            nrm = std::sqrt(nrm);
            for (std::size_t i = 0; i < m; ++i) q[i * k + j] /= nrm;
        }
    return q;
}

/// A = U·diag(sigma)·Vᵀ (m×n) with random orthonormal U, V: a matrix whose singular values are
/// exactly (up to rounding) the given ones.
template <class B, class T>
typename B::template tensor<T> with_spectrum(typename B::context& ctx, std::size_t m, std::size_t n,
                                             const std::vector<double>& sigma, std::uint64_t seed) {
    const std::size_t k = sigma.size();
    auto u = random_orthonormal(m, k, seed), v = random_orthonormal(n, k, seed + 1);
    std::vector<T> a(m * n, T(0));
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double acc = 0;
            for (std::size_t p = 0; p < k; ++p) acc += u[i * k + p] * sigma[p] * v[j * k + p];
            a[i * n + j] = static_cast<T>(acc);
        }
    return B::template upload<T>(ctx, a.data(), {m, n});
}

/// max |QᵀQ − I| for a host m×k matrix Q (columns orthonormal?).
template <class T>
double orthonormality_error(const std::vector<T>& q, std::size_t m, std::size_t k) {
    double worst = 0;
    for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = 0; b < k; ++b) {
            double d = 0;
            for (std::size_t i = 0; i < m; ++i) d += double(q[i * k + a]) * double(q[i * k + b]);
            worst = std::max(worst, std::abs(d - (a == b ? 1.0 : 0.0)));
        }
    return worst;
}

/// Transpose of a host rows×cols matrix.
template <class T>
std::vector<T> transposed(const std::vector<T>& a, std::size_t rows, std::size_t cols) {
    std::vector<T> t(a.size());
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
    return t;
}

/// Distance between the column spaces of two host m×k orthonormal matrices: the sine of the
/// largest principal angle, sqrt(1 − σ_min(AᵀB)²), computed as ‖(I − AAᵀ)B‖₂ bounded by the
/// Frobenius norm of the projection residual (an upper bound on the sine, never entrywise).
template <class T>
double subspace_distance(const std::vector<T>& a, const std::vector<T>& b, std::size_t m, std::size_t k) {
    // R = B − A (Aᵀ B)
    std::vector<double> atb(k * k, 0.0);
    for (std::size_t p = 0; p < k; ++p)
        for (std::size_t q = 0; q < k; ++q)
            for (std::size_t i = 0; i < m; ++i) atb[p * k + q] += double(a[i * k + p]) * double(b[i * k + q]);
    double res = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t q = 0; q < k; ++q) {
            double v = double(b[i * k + q]);
            for (std::size_t p = 0; p < k; ++p) v -= double(a[i * k + p]) * atb[p * k + q];
            res += v * v;
        }
    return std::sqrt(res);
}

/// ‖A − U diag(s) Vt‖_F / ‖A‖_F on the host (independent of the backend's residual code).
template <class T>
double host_residual(const std::vector<T>& a, const std::vector<T>& u, const std::vector<T>& s,
                     const std::vector<T>& vt, std::size_t m, std::size_t n) {
    const std::size_t r = s.size();
    double num = 0, den = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double acc = 0;
            for (std::size_t p = 0; p < r; ++p) acc += double(u[i * r + p]) * double(s[p]) * double(vt[p * n + j]);
            const double d = double(a[i * n + j]) - acc;
            num += d * d;
            den += double(a[i * n + j]) * double(a[i * n + j]);
        }
    return den > 0 ? std::sqrt(num / den) : 0.0;
}

}  // namespace lrtest

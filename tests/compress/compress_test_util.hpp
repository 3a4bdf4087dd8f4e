// Helpers of the compress suite: generated activations and weights, and host (float64, plain
// loops) references — Grams summed token by token, output errors measured on the activation
// rows themselves, dense least squares by Householder QR — that share no code with the library.
#pragma once

#include "core/helpers.hpp"
#include "lowrank/compress/compress.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace lrtest {

/// Host row-major matrix (float64).
struct hmat {
    std::size_t rows = 0, cols = 0;
    std::vector<double> a;
    double& operator()(std::size_t i, std::size_t j) { return a[i * cols + j]; }
    double operator()(std::size_t i, std::size_t j) const { return a[i * cols + j]; }
};

inline hmat gaussian_host(std::size_t rows, std::size_t cols, std::uint64_t seed) {
    normal_generator g(seed);
    hmat m{rows, cols, std::vector<double>(rows * cols)};
    for (auto& v : m.a) v = g.normal();
    return m;
}

inline hmat matmul(const hmat& x, const hmat& y) {
    hmat z{x.rows, y.cols, std::vector<double>(x.rows * y.cols, 0.0)};
    for (std::size_t i = 0; i < x.rows; ++i)
        for (std::size_t k = 0; k < x.cols; ++k)
            for (std::size_t j = 0; j < y.cols; ++j) z(i, j) += x(i, k) * y(k, j);
    return z;
}

inline hmat transpose(const hmat& x) {
    hmat t{x.cols, x.rows, std::vector<double>(x.a.size())};
    for (std::size_t i = 0; i < x.rows; ++i)
        for (std::size_t j = 0; j < x.cols; ++j) t(j, i) = x(i, j);
    return t;
}

/// Activation rows [N, n] (token-major, as the runtime hands them over) with correlated channels
/// and per-channel scales spread over `spread` decades, so whitening matters. Values are exactly
/// representable in float (rounded through float), so float and double paths see the same data.
inline hmat activation_rows(std::size_t tokens, std::size_t n, std::uint64_t seed, double spread = 1.0) {
    hmat z = gaussian_host(tokens, n, seed);
    hmat mix = gaussian_host(n, n, seed + 7);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) mix(i, j) = (i == j ? 1.0 : 0.3 * mix(i, j) / std::sqrt(double(n)));
    hmat x = matmul(z, mix);
    for (std::size_t j = 0; j < n; ++j) {
        const double s = std::pow(10.0, spread * (double(j) / double(n > 1 ? n - 1 : 1) - 0.5));
        for (std::size_t t = 0; t < tokens; ++t) x(t, j) = double(float(x(t, j) * s));
    }
    return x;
}

/// H = Σ_t x_t x_tᵀ from rows [N, n], summed token by token in float64.
inline std::vector<double> gram_of_rows(const hmat& rows) {
    const std::size_t n = rows.cols;
    std::vector<double> h(n * n, 0.0);
    for (std::size_t t = 0; t < rows.rows; ++t)
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) h[i * n + j] += rows(t, i) * rows(t, j);
    return h;
}

/// Σ_t a_t b_tᵀ from rows [N, n] of a and b.
inline std::vector<double> cross_of_rows(const hmat& a, const hmat& b) {
    const std::size_t n = a.cols;
    std::vector<double> c(n * n, 0.0);
    for (std::size_t t = 0; t < a.rows; ++t)
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) c[i * n + j] += a(t, i) * b(t, j);
    return c;
}

inline std::vector<float> to_float(const hmat& m) { return std::vector<float>(m.a.begin(), m.a.end()); }

/// Σ_t ‖(W − u vᵀ) x_t‖² measured on the rows themselves (u [m, r], v [n, r]; host copies).
template <class T>
double measured_output_error(const hmat& w, const std::vector<T>& u, const std::vector<T>& v, std::size_t r,
                             const hmat& rows) {
    const std::size_t m = w.rows, n = w.cols;
    hmat e = w;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double acc = 0;
            for (std::size_t p = 0; p < r; ++p) acc += double(u[i * r + p]) * double(v[j * r + p]);
            e(i, j) -= acc;
        }
    double total = 0;
    for (std::size_t t = 0; t < rows.rows; ++t)
        for (std::size_t i = 0; i < m; ++i) {
            double y = 0;
            for (std::size_t j = 0; j < n; ++j) y += e(i, j) * rows(t, j);
            total += y * y;
        }
    return total;
}

/// Σ_t ‖W x_t‖².
inline double measured_output_energy(const hmat& w, const hmat& rows) {
    double total = 0;
    for (std::size_t t = 0; t < rows.rows; ++t)
        for (std::size_t i = 0; i < w.rows; ++i) {
            double y = 0;
            for (std::size_t j = 0; j < w.cols; ++j) y += w(i, j) * rows(t, j);
            total += y * y;
        }
    return total;
}

/// Least-squares solution Z (k×p) of min ‖A Z − B‖_F for A (N×k, full column rank), B (N×p),
/// by Householder QR in float64 (independent of the library's normal-equation route).
inline hmat lstsq(hmat a, hmat b) {
    const std::size_t N = a.rows, k = a.cols, p = b.cols;
    for (std::size_t j = 0; j < k; ++j) {
        double norm = 0;
        for (std::size_t i = j; i < N; ++i) norm += a(i, j) * a(i, j);
        norm = std::sqrt(norm);
        const double alpha = a(j, j) > 0 ? -norm : norm;
        std::vector<double> h(N, 0.0);
        for (std::size_t i = j; i < N; ++i) h[i] = a(i, j);
        h[j] -= alpha;
        double hn = 0;
        for (std::size_t i = j; i < N; ++i) hn += h[i] * h[i];
        if (hn == 0) continue;
        auto reflect = [&](hmat& m, std::size_t c0) {
            for (std::size_t c = c0; c < m.cols; ++c) {
                double d = 0;
                for (std::size_t i = j; i < N; ++i) d += h[i] * m(i, c);
                const double f = 2 * d / hn;
                for (std::size_t i = j; i < N; ++i) m(i, c) -= f * h[i];
            }
        };
        reflect(a, j);
        reflect(b, 0);
    }
    hmat z{k, p, std::vector<double>(k * p, 0.0)};
    for (std::size_t c = 0; c < p; ++c)
        for (std::size_t i = k; i-- > 0;) {
            double v = b(i, c);
            for (std::size_t q = i + 1; q < k; ++q) v -= a(i, q) * z(q, c);
            z(i, c) = v / a(i, i);
        }
    return z;
}

template <class B, class T>
typename B::template tensor<T> upload_host(typename B::context& ctx, const hmat& m) {
    std::vector<T> v(m.a.begin(), m.a.end());
    return B::template upload<T>(ctx, v.data(), {m.rows, m.cols});
}

}  // namespace lrtest

// Small statistics used by the evaluation: means, standard errors, deterministic subsets.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace lowrank::eval {

/// Mean of x (0 for empty input).
inline double mean(const std::vector<double>& x) {
    return x.empty() ? 0.0 : std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
}

/// Standard error of the mean, sqrt(s² / n) with the sample variance s² (n − 1 denominator),
/// as lm-evaluation-harness's mean_stderr. 0 when n < 2.
inline double stderr_of_mean(const std::vector<double>& x) {
    const std::size_t n = x.size();
    if (n < 2) return 0.0;
    const double m = mean(x);
    double ss = 0;
    for (double v : x) ss += (v - m) * (v - m);
    return std::sqrt(ss / double(n - 1) / double(n));
}

/// Weighted mean Σwᵢxᵢ / Σwᵢ and its standard error as a ratio estimator over n units:
/// se² = n / (n − 1) · Σ wᵢ² (xᵢ − x̄)² / (Σ wᵢ)². Used for the per-token NLL of windows that
/// score different numbers of tokens (wᵢ = tokens scored in window i).
struct weighted_estimate {
    double mean = 0, stderr = 0;
};
inline weighted_estimate weighted_mean(const std::vector<double>& x, const std::vector<double>& w) {
    weighted_estimate r;
    const double W = std::accumulate(w.begin(), w.end(), 0.0);
    if (x.empty() || W <= 0) return r;
    for (std::size_t i = 0; i < x.size(); ++i) r.mean += w[i] * x[i];
    r.mean /= W;
    const std::size_t n = x.size();
    if (n < 2) return r;
    double ss = 0;
    for (std::size_t i = 0; i < n; ++i) ss += w[i] * w[i] * (x[i] - r.mean) * (x[i] - r.mean);
    r.stderr = std::sqrt(double(n) / double(n - 1) * ss) / W;
    return r;
}

/// The documents `--limit N` evaluates: the first N of the file, in file order (as
/// lm-evaluation-harness's --limit). Deterministic, independent of threads and of the model.
/// limit = 0 means all.
inline std::vector<std::size_t> limited_indices(std::size_t total, std::size_t limit) {
    const std::size_t n = limit == 0 ? total : std::min(total, limit);
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    return idx;
}

/// Index of the largest element; ties go to the first (numpy.argmax).
inline std::size_t argmax(const std::vector<double>& v) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[best]) best = i;
    return best;
}

/// Unicode code points in a UTF-8 string (Python's len(str), which lm-eval's acc_norm uses).
inline std::size_t utf8_length(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

}  // namespace lowrank::eval

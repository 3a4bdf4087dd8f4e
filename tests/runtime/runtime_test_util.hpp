// Helpers of the runtime tests: random tensors, the asset cache, fixtures.
#pragma once

#include "assets.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace rt_test {

/// The message of the exception `fn` throws ("" if it throws none).
template <class F>
std::string error_of(F&& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

/// The worst |Y[t, r] − Σ_i W[r, i]·X[t, i]| / Σ_i |W[r, i]·X[t, i]| over t < n, r < rows, the
/// reference summed in double: the check of a Y = X·Wᵀ kernel against the weights it holds
/// (W row-major [rows, cols], as widened or dequantised; X with leading dimension ldx, Y ldy).
inline double worst_rel_error_vs_double(const std::vector<float>& w, std::size_t rows, std::size_t cols, const float* x,
                                        std::size_t ldx, std::size_t n, const float* y, std::size_t ldy) {
    double worst = 0;
    for (std::size_t t = 0; t < n; ++t)
        for (std::size_t r = 0; r < rows; ++r) {
            double ref = 0, mag = 0;
            for (std::size_t i = 0; i < cols; ++i) {
                const double p = double(w[r * cols + i]) * x[t * ldx + i];
                ref += p, mag += std::abs(p);
            }
            worst = std::max(worst, std::abs(y[t * ldy + r] - ref) / (mag + 1e-30));
        }
    return worst;
}

inline std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float scale = 0.1f) {
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

/// ${LOWRANK_CACHE:-~/.cache/lowrank}/rel, or "" after a visible skip (a failure with
/// LOWRANK_REQUIRE_ASSETS=1): tests/assets.hpp. Cases that call it belong to the "assets" suite.
inline std::string asset(const std::string& rel, const char* test) { return lowrank_test::asset_path(rel, test); }

inline nlohmann::json fixture(const std::string& name) {
    std::ifstream in(std::string(LOWRANK_RUNTIME_FIXTURES) + "/" + name);
    if (!in) return nullptr;
    return nlohmann::json::parse(in);
}

}  // namespace rt_test

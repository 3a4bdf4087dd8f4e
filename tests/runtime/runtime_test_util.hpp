// Helpers of the runtime tests: random tensors, the asset cache, fixtures.
#pragma once

#include "assets.hpp"

#include <nlohmann/json.hpp>

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

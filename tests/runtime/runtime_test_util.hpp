// Helpers of the runtime tests: random tensors, the asset cache, fixtures.
#pragma once

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

/// ${LOWRANK_CACHE:-~/.cache/lowrank}/rel, or "" (and a SKIPPED line) when it does not exist.
inline std::string asset(const std::string& rel, const char* test) {
    const char* c = std::getenv("LOWRANK_CACHE");
    const char* home = std::getenv("HOME");
    const std::filesystem::path root = c ? std::filesystem::path(c) : std::filesystem::path(home ? home : "/") / ".cache/lowrank";
    const auto p = root / rel;
    if (!std::filesystem::exists(p)) {
        std::cout << "SKIPPED " << test << ": " << p.string() << " not cached (python3 scripts/fetch_assets.py)\n";
        return {};
    }
    return p.string();
}

inline nlohmann::json fixture(const std::string& name) {
    std::ifstream in(std::string(LOWRANK_RUNTIME_FIXTURES) + "/" + name);
    if (!in) return nullptr;
    return nlohmann::json::parse(in);
}

}  // namespace rt_test

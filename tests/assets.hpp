// Downloaded assets in tests (the real models and data sets scripts/fetch_assets.py caches).
//
// A test case that needs one asks asset_path(); when the file is missing the case is skipped
// visibly: a "SKIPPED" line, and the suite's executable exits with skip_exit_code (77) — as it
// does when a case skips for want of a GPU (tests/core/helpers.hpp, CUDA instantiation) — which
// ctest reports as "Skipped" (SKIP_RETURN_CODE, tests/CMakeLists.txt). With the environment
// variable LOWRANK_REQUIRE_ASSETS=1 (scripts/test.sh sets it after fetching the assets) a
// missing asset is a failure instead. Asset cases carry `* doctest::test_suite("assets")`, and
// each suite with such cases is registered twice with ctest — `<suite>` runs everything else,
// `<suite>_assets` only them — so a skip never hides the other cases' results.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace lowrank_test {

inline constexpr int skip_exit_code = 77;

/// How many test cases skipped for want of something outside the tests (an asset, a GPU).
inline std::atomic<int>& skipped_cases() {
    static std::atomic<int> n{0};
    return n;
}

/// True when LOWRANK_REQUIRE_ASSETS=1: a missing asset fails the test.
inline bool assets_required() {
    const char* v = std::getenv("LOWRANK_REQUIRE_ASSETS");
    return v && std::string(v) == "1";
}

/// The asset cache: $LOWRANK_CACHE, else ~/.cache/lowrank.
inline std::filesystem::path cache_dir() {
    if (const char* c = std::getenv("LOWRANK_CACHE"); c && *c) return c;
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home ? home : "/") / ".cache/lowrank";
}

/// `path` when it exists; otherwise "" after recording a skip (or, with LOWRANK_REQUIRE_ASSETS=1,
/// a failure) that names the test and the file.
inline std::string existing_asset(const std::filesystem::path& path, const std::string& test) {
    if (std::filesystem::exists(path)) return path.string();
    const std::string why = test + ": " + path.string() + " not found (python3 scripts/fetch_assets.py)";
    if (assets_required()) {
        FAIL_CHECK("missing asset with LOWRANK_REQUIRE_ASSETS=1: " << why);
    } else {
        ++skipped_cases();
        std::cout << "SKIPPED " << why << "\n";
        MESSAGE("SKIPPED " << why);
    }
    return {};
}

/// cache_dir()/rel when it exists (see existing_asset).
inline std::string asset_path(const std::string& rel, const std::string& test) {
    return existing_asset(cache_dir() / rel, test);
}

/// cache_dir()/rel when it exists; otherwise "" after recording a skip, also with
/// LOWRANK_REQUIRE_ASSETS=1: for assets the README's test command does not fetch (the 1.1 GB
/// Qwen2.5-Coder model, `fetch_assets.py --qwen`), whose absence is not a failed download.
inline std::string optional_asset_path(const std::string& rel, const std::string& test) {
    const auto path = cache_dir() / rel;
    if (std::filesystem::exists(path)) return path.string();
    const std::string why = test + ": " + path.string() + " not found (optional: python3 scripts/fetch_assets.py --qwen)";
    ++skipped_cases();
    std::cout << "SKIPPED " << why << "\n";
    MESSAGE("SKIPPED " << why);
    return {};
}

}  // namespace lowrank_test

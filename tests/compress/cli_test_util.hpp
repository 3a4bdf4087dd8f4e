// Helpers shared by the compress CLI suites (test_compress_cli, _bert, _sensitivity):
// run the `lowrank` CLI with its output captured, expect a refusal, and small checks and
// references on the results.
#pragma once

#include "decompose/decompose_test_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace compress_cli_test {

/// Runs `lowrank ARGS` with stdout+stderr in d/cli.log; returns the exit code, the log in *out.
inline int run(const std::string& args, const dtest::temp_dir& d, std::string* out = nullptr) {
    const int rc = dtest::run_cli(args, d / "cli.log");
    if (out) *out = dtest::read_text(d / "cli.log");
    return rc;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Expects `lowrank ARGS` (run in d) to be refused: a non-zero exit, `needle` in its output and
/// nothing at `out`.
inline void expect_refused(const std::string& args, const dtest::temp_dir& d, const std::string& needle,
                           const std::string& out) {
    std::string log;
    const int rc = run(args, d, &log);
    CAPTURE(args);
    CAPTURE(log);
    CHECK(rc != 0);
    CHECK(contains(log, needle));
    CHECK(!std::filesystem::exists(out));
}

/// The float64 reference statistics of captured input rows (each row one token's n channels):
/// the Gram Σ x xᵀ (row-major n × n) and the per-channel Σ |x|, by plain loops.
template <class Rows>
std::pair<std::vector<double>, std::vector<double>> reference_gram(const Rows& rows) {
    const std::size_t n = rows.empty() ? 0 : rows[0].size();
    std::vector<double> g(n * n, 0.0), a(n, 0.0);
    for (const auto& x : rows)
        for (std::size_t i = 0; i < n; ++i) {
            a[i] += std::abs(x[i]);
            for (std::size_t j = 0; j < n; ++j) g[i * n + j] += x[i] * x[j];
        }
    return {std::move(g), std::move(a)};
}

inline double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

}  // namespace compress_cli_test

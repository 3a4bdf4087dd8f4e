// Helpers shared by the compress CLI suites (test_compress_cli.cpp, test_compress_bert.cpp):
// run the `lowrank` CLI with its output captured, and two small checks on the results.
#pragma once

#include "decompose/decompose_test_util.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace compress_cli_test {

/// Runs `lowrank ARGS` with stdout+stderr in d/cli.log; returns the exit code, the log in *out.
inline int run(const std::string& args, const dtest::temp_dir& d, std::string* out = nullptr) {
    const int rc = dtest::run_cli(args, d / "cli.log");
    if (out) *out = dtest::read_text(d / "cli.log");
    return rc;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

inline double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

}  // namespace compress_cli_test

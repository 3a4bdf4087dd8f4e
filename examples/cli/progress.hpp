// A progress bar on stderr for the long-running subcommands: a redrawn line on a terminal, one
// line per 10% otherwise (logs stay short). Silent when quiet or when there is nothing to do.
#pragma once

#include "cli/common.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace lowrank::cli {

class progress {
public:
    progress(std::string label, std::size_t total, bool quiet)
        : label_(std::move(label)), total_(total), quiet_(quiet), tty_(::isatty(2)), start_(std::chrono::steady_clock::now()) {}

    /// One more item done; `what` names it (cut to 40 characters).
    void step(const std::string& what) {
        ++done_;
        if (quiet_ || total_ == 0) return;
        const int pct = static_cast<int>(100 * done_ / total_);
        if (!tty_ && pct / 10 == last_ / 10 && done_ != total_) return;
        last_ = pct;
        const int width = 30, fill = static_cast<int>(width * done_ / total_);
        std::fprintf(stderr, "%s%s [%s%s] %zu/%zu %5.1fs %s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
                     std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(), done_, total_,
                     seconds_since(start_), what.substr(0, 40).c_str(), tty_ ? "" : "\n");
        if (tty_ && done_ == total_) std::fputc('\n', stderr);
        std::fflush(stderr);
    }

private:
    std::string label_;
    std::size_t total_, done_ = 0;
    bool quiet_, tty_;
    int last_ = -100;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace lowrank::cli

// Efficiency measurement shared by the drivers: repeated timings with warm-up (median and
// spread), peak resident memory, energy from the RAPL powercap counters when they can be read
// (otherwise "unavailable", never an estimate), and a description of the machine.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

extern "C" char* openblas_get_config(void) __attribute__((weak));

namespace lowrank::runtime::measure {

/// Summary of repeated measurements (seconds).
struct timing {
    std::vector<double> samples;
    double median = 0, min = 0, max = 0, q1 = 0, q3 = 0;
    nlohmann::json to_json(double scale = 1.0) const {
        return {{"median", median * scale}, {"min", min * scale}, {"max", max * scale}, {"q1", q1 * scale},
                {"q3", q3 * scale}, {"repeats", samples.size()}};
    }
};

inline timing summarise(std::vector<double> s) {
    timing t;
    t.samples = s;
    if (s.empty()) return t;
    std::sort(s.begin(), s.end());
    auto q = [&](double p) {
        const double x = p * double(s.size() - 1);
        const auto i = static_cast<std::size_t>(x);
        return i + 1 < s.size() ? s[i] + (x - double(i)) * (s[i + 1] - s[i]) : s[i];
    };
    t.median = q(0.5), t.q1 = q(0.25), t.q3 = q(0.75), t.min = s.front(), t.max = s.back();
    return t;
}

/// RAPL package (+ dram) energy counters under /sys/class/powercap; empty when unreadable.
class rapl {
public:
    rapl() {
        for (int i = 0; i < 16; ++i) {
            const std::string d = "/sys/class/powercap/intel-rapl:" + std::to_string(i);
            if (read(d + "/energy_uj")) {
                domains_.push_back(d);
                max_.push_back(read(d + "/max_energy_range_uj").value_or(0));
            }
        }
    }
    bool available() const { return !domains_.empty(); }
    /// Counter snapshot (µJ per domain).
    std::vector<std::uint64_t> snapshot() const {
        std::vector<std::uint64_t> v;
        for (const auto& d : domains_) v.push_back(read(d + "/energy_uj").value_or(0));
        return v;
    }
    /// Joules between two snapshots (handles one wrap-around per domain).
    double joules(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) const {
        double j = 0;
        for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
            j += double(b[i] >= a[i] ? b[i] - a[i] : b[i] + max_[i] - a[i]) * 1e-6;
        return j;
    }

private:
    static std::optional<std::uint64_t> read(const std::string& path) {
        std::ifstream in(path);
        std::uint64_t v = 0;
        if (in >> v) return v;
        return std::nullopt;
    }
    std::vector<std::string> domains_;
    std::vector<std::uint64_t> max_;
};

/// Runs `fn` `warmup` times untimed, then `repeats` times timed; energy per run when RAPL is
/// readable ("unavailable" otherwise).
struct run_result {
    timing time;
    nlohmann::json energy_joules = "unavailable";
};
inline run_result repeat(const std::function<void()>& fn, int warmup, int repeats) {
    for (int i = 0; i < warmup; ++i) fn();
    rapl meter;
    std::vector<double> secs, joules;
    for (int i = 0; i < repeats; ++i) {
        const auto e0 = meter.available() ? meter.snapshot() : std::vector<std::uint64_t>{};
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (meter.available()) joules.push_back(meter.joules(e0, meter.snapshot()));
    }
    run_result r;
    r.time = summarise(secs);
    if (meter.available()) r.energy_joules = summarise(joules).to_json();
    return r;
}

/// Peak resident set size of this process (bytes), from getrusage (ru_maxrss, KiB on Linux).
inline std::uint64_t peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<std::uint64_t>(u.ru_maxrss) * 1024u;
}

/// CPU model, logical cores, BLAS build string.
inline nlohmann::json machine() {
    std::string cpu = "unknown";
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            cpu = line.substr(line.find(':') + 2);
            break;
        }
    std::string blas_cfg = openblas_get_config != nullptr ? std::string(openblas_get_config()) : "unknown BLAS";
    return {{"cpu", cpu}, {"logical_cores", std::thread::hardware_concurrency()}, {"blas", blas_cfg},
            {"rapl", rapl().available() ? "readable" : "unavailable"}};
}

}  // namespace lowrank::runtime::measure

// Helpers shared by the CLI subcommands that read .npy input and write a result directory.
#pragma once

#include "cli/command.hpp"
#include "lowrank/io/npy.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace lowrank::cli {

/// --weights of the Llama-family drivers (llama_weights::store_as).
inline const char* const weights_help =
    "weight storage: f32, bf16 (half the bytes per decode step) or q8 (8-bit blocks of 32 with a float scale, "
    "0.28 of f32's bytes; runtime/q8.hpp)";
inline const std::vector<std::string> weights_choices{"f32", "bf16", "q8"};

/// Parses "5GB", "500MB", "2GiB", "1000000" (bytes) → bytes; 0 or junk → invalid_argument.
inline std::uint64_t parse_byte_size(const std::string& text) {
    std::size_t pos = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(text, &pos);
    } catch (const std::exception&) {
        throw invalid_argument("'" + text + "' is not a size (bytes, or a number with KB/MB/GB/KiB/MiB/GiB)");
    }
    const std::string unit = text.substr(pos);
    static const std::pair<const char*, std::uint64_t> units[] = {
        {"", 1}, {"B", 1}, {"KB", 1000}, {"MB", 1000'000}, {"GB", 1000'000'000}, {"KiB", 1024}, {"MiB", 1024 * 1024},
        {"GiB", 1024ULL * 1024 * 1024}};
    for (const auto& [u, m] : units)
        if (unit == u) {
            if (v == 0 || v > std::numeric_limits<std::uint64_t>::max() / m)
                throw invalid_argument("'" + text + "' is not a positive size");
            return v * m;
        }
    throw invalid_argument("'" + text + "': unknown unit '" + unit + "' (B, KB, MB, GB, KiB, MiB, GiB)");
}

/// Loads a floating-point .npy input ("f4" or "f8", C or Fortran order; returned in C order).
/// Anything else is refused with a message naming the file.
inline npy_array load_float_input(const std::string& path) {
    if (!std::filesystem::exists(path)) throw usage_error(path + ": no such file");
    npy_array a = npy_load(path);
    if (a.dtype != "f4" && a.dtype != "f8")
        throw usage_error(path + ": dtype " + a.dtype + " is not supported (float32 or float64 only)");
    return a;
}

/// The elements of a loaded array as T (which must match its dtype).
template <class T>
std::vector<T> elements_as(const npy_array& a) {
    std::vector<T> v(a.size());
    if (!v.empty()) std::memcpy(v.data(), a.data.data(), v.size() * sizeof(T));
    return v;
}

/// A result directory written all-or-nothing: files go to a hidden staging directory beside
/// the target and are renamed into place by commit(). If commit() is never reached (an
/// error), the staging directory is removed and the target is left as it was.
class output_dir {
public:
    explicit output_dir(std::filesystem::path target) : target_(std::move(target)) {
        namespace fs = std::filesystem;
        if (fs::exists(target_) && !fs::is_directory(target_))
            throw usage_error("--out " + target_.string() + ": exists and is not a directory");
        const fs::path parent = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
        if (!fs::exists(parent)) throw usage_error("--out " + target_.string() + ": parent directory does not exist");
        staging_ = parent / (".lowrank-staging-" + target_.filename().string() + "-" + std::to_string(::getpid()));
        fs::create_directories(staging_);
    }
    output_dir(const output_dir&) = delete;
    output_dir& operator=(const output_dir&) = delete;
    ~output_dir() {
        std::error_code ec;
        std::filesystem::remove_all(staging_, ec);
    }

    /// Path of `name` inside the staging directory.
    std::string path(const std::string& name) const { return (staging_ / name).string(); }

    void write_json(const std::string& name, const nlohmann::json& j) const {
        std::ofstream out(path(name));
        out << j.dump(2) << "\n";
        if (!out) throw io_error(path(name), "could not write");
    }

    /// Moves every staged file into the target directory (created if needed).
    void commit() {
        namespace fs = std::filesystem;
        fs::create_directories(target_);
        for (const auto& e : fs::directory_iterator(staging_)) fs::rename(e.path(), target_ / e.path().filename());
    }

private:
    std::filesystem::path target_, staging_;
};

/// Seconds elapsed since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// JSON number that stays valid JSON for NaN/Inf (null).
inline nlohmann::json json_number(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace lowrank::cli

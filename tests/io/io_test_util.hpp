// Helpers for the io tests: scratch directories and raw file writing.
#pragma once

#include "lowrank/core/errors.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace lowrank::test {

/// A fresh directory under the system temp dir, removed with its contents on destruction.
struct scratch_dir {
    std::filesystem::path path;
    scratch_dir() {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("lowrank_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(std::string_view name) const { return (path / name).string(); }
};

inline void write_bytes(const std::string& path, std::string_view bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

/// Little-endian bytes of an unsigned integer.
inline std::string le(std::uint64_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

/// Raw bytes of a trivially copyable value array.
template <class T>
std::string raw(const T* p, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(p), n * sizeof(T));
}

/// True when the files under `dir` have no leftover atomic-write temp files.
inline bool no_temp_files(const std::filesystem::path& dir) {
    for (auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) return false;
    return true;
}

/// Runs `f` and expects an io_error whose path is `path`, whose message names the file and
/// contains `needle`, and (unless `offset` is npos) whose byte offset is `offset`.
template <class F>
void expect_io_error(F&& f, const std::string& path, const std::string& needle,
                     std::uint64_t offset = io_error::npos) {
    try {
        f();
        FAIL("expected io_error containing '" << needle << "'");
    } catch (const io_error& e) {
        const std::string msg = e.what();
        INFO(msg);
        CHECK(e.path == path);
        CHECK(msg.find(path) != std::string::npos);
        CHECK(msg.find(needle) != std::string::npos);
        if (offset != io_error::npos) CHECK(e.offset == offset);
    }
}

}  // namespace lowrank::test

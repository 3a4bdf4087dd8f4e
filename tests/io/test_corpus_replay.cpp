// Replays the committed fuzz corpus (tests/fuzz/corpus: seeds and every crasher the fuzz smoke
// run ever found) through the same entry points the npy and safetensors fuzzers drive, so a
// fixed parser bug stays fixed in the ordinary test run, sanitizer build included. The
// property checked is the fuzzers' own: each input either parses to a header whose data range
// lies inside the input, or is rejected with a lowrank::error naming the file.
#include "lowrank/io/npy.hpp"
#include "lowrank/io/safetensors.hpp"

#include "io/io_test_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

/// The corpus files whose names start with `prefix`, as (name, bytes).
std::vector<std::pair<std::string, std::string>> corpus(const std::string& prefix) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : std::filesystem::directory_iterator(LOWRANK_FUZZ_CORPUS)) {
        const auto name = e.path().filename().string();
        if (e.is_regular_file() && name.rfind(prefix, 0) == 0)
            out.emplace_back(name, lowrank::test::read_bytes(e.path().string()));
    }
    return out;
}

const std::byte* bytes_of(const std::string& s) { return reinterpret_cast<const std::byte*>(s.data()); }

}  // namespace

TEST_CASE("npy fuzz corpus: every input parses in bounds or is rejected naming the file") {
    const auto inputs = corpus("npy");
    REQUIRE(!inputs.empty());  // the seed at least
    for (const auto& [name, data] : inputs) {
        INFO(name);
        try {
            const auto h = lowrank::parse_npy_header(bytes_of(data), data.size(), name);
            CHECK(h.data_offset <= data.size());
            CHECK(h.data_bytes <= data.size() - h.data_offset);
        } catch (const lowrank::error& e) {
            CHECK(std::string(e.what()).find(name) != std::string::npos);
        }
    }
}

TEST_CASE("safetensors fuzz corpus: every input parses in bounds or is rejected naming the file") {
    const auto inputs = corpus("safetensors");
    REQUIRE(inputs.size() >= 2);  // the seed and the number-overflow crasher
    for (const auto& [name, data] : inputs) {
        INFO(name);
        try {
            const auto h = lowrank::parse_safetensors_header(bytes_of(data), data.size(), name);
            for (const auto& t : h.entries) {
                CHECK(t.begin <= t.end);
                CHECK(h.data_start + t.end <= data.size());
            }
        } catch (const lowrank::error& e) {
            CHECK(std::string(e.what()).find(name) != std::string::npos);
        }
    }
}

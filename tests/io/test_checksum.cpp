// SHA-256 against the FIPS 180-4 / NIST CSHA256 example vectors (independent reference values,
// also what `sha256sum` prints), including the padding edge cases at 55, 56 and 64 bytes
// (values from Python's hashlib), and a file streamed across the 1 MiB block boundary.
#include "io_test_util.hpp"

#include "lowrank/io/checksum.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

TEST_CASE("sha256: FIPS 180-4 example vectors") {
    CHECK(lowrank::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(lowrank::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(lowrank::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // 55 bytes: the length fits the first block; 56: it spills into a second; 64: one full block.
    CHECK(lowrank::sha256_hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK(lowrank::sha256_hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK(lowrank::sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_CASE("sha256_file: one million 'a' (FIPS 180-4), streamed, and a missing file") {
    namespace fs = std::filesystem;
    const fs::path p = fs::temp_directory_path() / ("lowrank_sha256_" + std::to_string(::getpid()) + ".bin");
    {
        std::ofstream out(p, std::ios::binary);
        out << std::string(1000000, 'a') << std::string(1u << 20, 'b');
    }
    const std::string both = std::string(1000000, 'a') + std::string(1u << 20, 'b');
    CHECK(lowrank::sha256_file(p.string()) == lowrank::sha256_hex(both));
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << std::string(1000000, 'a');
    }
    CHECK(lowrank::sha256_file(p.string()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    fs::remove(p);
    CHECK_THROWS_AS(lowrank::sha256_file(p.string()), lowrank::io_error);
}

namespace {
/// Restores the automatic engine choice when a test case ends, whatever it checked.
struct engine_guard {
    explicit engine_guard(lowrank::detail::sha256_engine e) { lowrank::detail::sha256_engine_choice() = e; }
    ~engine_guard() { lowrank::detail::sha256_engine_choice() = lowrank::detail::sha256_engine::automatic; }
};
std::string digest_in_pieces(const std::string& data, std::size_t piece) {
    lowrank::detail::sha256 h;
    for (std::size_t i = 0; i < data.size(); i += piece)
        h.update(reinterpret_cast<const unsigned char*>(data.data()) + i, std::min(piece, data.size() - i));
    return h.hex();
}
}  // namespace

TEST_CASE("sha256: the portable block function gives the NIST digests too") {
    // The automatic engine is SHA-NI where the CPU has it (the case above); this pins the other.
    engine_guard portable(lowrank::detail::sha256_engine::portable);
    CHECK(lowrank::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(lowrank::sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    CHECK(lowrank::sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: automatic and portable engines agree on every length and split") {
    // Pseudo-random bytes (a fixed LCG) of lengths around the block and padding boundaries, fed
    // whole and in pieces of 1, 7, 63, 64, 65 and 1000 bytes: the multi-block path, the partial
    // block carried between calls and the padding must give one digest on both engines.
    std::string data(4099, '\0');
    std::uint32_t x = 12345;
    for (auto& c : data) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
    for (std::size_t len : {0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4096, 4099}) {
        const std::string d = data.substr(0, len);
        std::string reference;
        {
            engine_guard portable(lowrank::detail::sha256_engine::portable);
            reference = digest_in_pieces(d, 1);
        }
        for (std::size_t piece : {1, 7, 63, 64, 65, 1000, 5000}) {
            CAPTURE(len);
            CAPTURE(piece);
            CHECK(digest_in_pieces(d, piece) == reference);
        }
    }
#if defined(__x86_64__)
    MESSAGE("SHA-NI on this CPU: " << (lowrank::detail::cpu_has_sha_ni() ? "yes (both engines compared)"
                                                                          : "no (both calls ran the portable loop)"));
#endif
}

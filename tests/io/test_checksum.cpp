// SHA-256 against the FIPS 180-4 / NIST CSHA256 example vectors (independent reference values,
// also what `sha256sum` prints), including the padding edge cases at 55, 56 and 64 bytes
// (values from Python's hashlib), and a file streamed across the 1 MiB block boundary.
#include "io_test_util.hpp"

#include "lowrank/io/checksum.hpp"

#include <doctest/doctest.h>

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

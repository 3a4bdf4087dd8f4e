// SHA-256 checksums of files and byte strings (FIPS 180-4), for provenance: the decompose
// manifest records the sha256 of every source file and the runtime re-checks them before it
// trusts a factorised file's source model. Files are streamed in 1 MiB blocks.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/io/detail/sha256.hpp"

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace lowrank {

/// Lower-case hex SHA-256 of `bytes`.
inline std::string sha256_hex(std::string_view bytes) {
    detail::sha256 h;
    h.update(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    return h.hex();
}

/// Lower-case hex SHA-256 of a file's bytes; io_error naming the file when it cannot be read.
inline std::string sha256_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error(path, "cannot open for hashing");
    detail::sha256 h;
    std::vector<char> buf(std::size_t{1} << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h.update(reinterpret_cast<const unsigned char*>(buf.data()), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) throw io_error(path, "read failed while hashing");
    return h.hex();
}

}  // namespace lowrank

// Writing a file all-or-nothing: the bytes go to a temporary file beside the destination, which
// is fsync'ed and renamed over it only on commit(); an error (or a writer destroyed without
// commit) leaves the destination as it was and no temporary file behind. Failures throw
// io_error naming the file.
#pragma once

#include "lowrank/io/detail/file.hpp"

#include <string>
#include <string_view>

namespace lowrank {

/// Streaming writer: write(...) any number of times, then commit().
using atomic_file_writer = detail::atomic_writer;

/// Writes `bytes` to `path` atomically.
inline void write_file_atomically(const std::string& path, std::string_view bytes) {
    atomic_file_writer w(path);
    w.write(bytes);
    w.commit();
}

}  // namespace lowrank

// libFuzzer target for the .npy header parser: arbitrary bytes must either parse into a
// header whose data range lies inside the input, or raise lowrank::io_error. Any crash,
// sanitizer report or other exception is a bug. Build: scripts/run_fuzzers.sh.
#include "lowrank/io/npy.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto h = lowrank::parse_npy_header(reinterpret_cast<const std::byte*>(data), size, "fuzz.npy");
        if (h.data_offset > size || h.data_bytes > size - h.data_offset) std::abort();  // must be in bounds
        volatile std::size_t sink = lowrank::numel(h.shape);
        (void)sink;
    } catch (const lowrank::error&) {
    }
    return 0;
}

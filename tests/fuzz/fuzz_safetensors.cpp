// libFuzzer target for the safetensors header parser: arbitrary bytes must either parse into
// entries whose byte ranges lie inside the data section, or raise lowrank::io_error. Any crash,
// sanitizer report or other exception is a bug. Build: scripts/run_fuzzers.sh.
#include "lowrank/io/safetensors.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto h = lowrank::parse_safetensors_header(reinterpret_cast<const std::byte*>(data), size,
                                                                 "fuzz.safetensors");
        for (const auto& e : h.entries) {
            if (e.begin > e.end || h.data_start + e.end > size) std::abort();  // must be in bounds
            volatile std::size_t sink = e.shape.size();
            (void)sink;
        }
    } catch (const lowrank::error&) {
    }
    return 0;
}

// Activation hook of the Llama-family forward (runtime/llama.hpp): an observer that sees, for
// every block, the rows each *distinct* linear-layer input holds — what calibration
// (`lowrank calibrate`, runtime/calibration.hpp) accumulates into Grams.
//
//   input   rows the observer gets          read by      width
//   attn    rms(h) before attention         q, k, v      hidden
//   o       the attention output            o            heads·head_dim
//   mlp     rms(h) before the MLP           gate, up     hidden
//   down    silu(gate) ⊙ up                 down         intermediate
//
// The rows are the forward's own buffers (count rows of `width` floats, row-major, valid only
// during the call; B·T rows of one forward call, sequence-major). With no observer set the
// forward pays one null-pointer test per input per block.
#pragma once

#include <cstddef>
#include <string_view>

namespace lowrank::runtime {

enum class linear_input { attn, o, mlp, down };

inline constexpr linear_input all_linear_inputs[] = {linear_input::attn, linear_input::o, linear_input::mlp,
                                                     linear_input::down};

inline constexpr std::string_view to_string(linear_input i) {
    constexpr std::string_view n[] = {"attn_in", "o_in", "mlp_in", "down_in"};
    return n[static_cast<int>(i)];
}

class activation_observer {
public:
    virtual ~activation_observer() = default;
    /// Block `layer` (0-based) is about to apply the linears that read `which`: `rows` holds
    /// `count` rows of `width` floats.
    virtual void on_input(std::size_t layer, linear_input which, const float* rows, std::size_t count,
                          std::size_t width) = 0;
};

}  // namespace lowrank::runtime

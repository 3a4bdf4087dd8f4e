// GGUF/ggml type tables and scalar conversions (fp16, bf16) shared by the GGUF reader,
// the dequantiser and the writer. Little-endian hosts only (as GGUF itself).
#pragma once

#include "lowrank/core/half.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace lowrank {

static_assert(std::endian::native == std::endian::little,
              "lowrank's GGUF code assumes a little-endian host (as GGUF files are)");

/// ggml tensor element types, numbered as in ggml.h (the numbers are the file format).
enum class ggml_type : std::uint32_t {
    f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
    q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
    iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
    iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
    tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

/// GGUF metadata value types, numbered as in gguf.h.
enum class gguf_value_type : std::uint32_t {
    uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6,
    boolean = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12,
};

/// Block geometry of a ggml type: `block_size` elements are stored in `type_size` bytes.
struct ggml_type_traits {
    std::string_view name;
    std::uint32_t block_size = 0;  ///< elements per block (0: unknown type)
    std::uint32_t type_size = 0;   ///< bytes per block
};

/// Traits of `t`; block_size == 0 when the number is not a type this library knows.
/// Sizes follow ggml-common.h (block_q4_0 = {half d; u8 qs[16]} = 18 bytes, ...).
constexpr ggml_type_traits ggml_traits(ggml_type t) noexcept {
    switch (t) {
        case ggml_type::f32: return {"F32", 1, 4};
        case ggml_type::f16: return {"F16", 1, 2};
        case ggml_type::q4_0: return {"Q4_0", 32, 18};
        case ggml_type::q4_1: return {"Q4_1", 32, 20};
        case ggml_type::q5_0: return {"Q5_0", 32, 22};
        case ggml_type::q5_1: return {"Q5_1", 32, 24};
        case ggml_type::q8_0: return {"Q8_0", 32, 34};
        case ggml_type::q8_1: return {"Q8_1", 32, 36};
        case ggml_type::q2_k: return {"Q2_K", 256, 84};
        case ggml_type::q3_k: return {"Q3_K", 256, 110};
        case ggml_type::q4_k: return {"Q4_K", 256, 144};
        case ggml_type::q5_k: return {"Q5_K", 256, 176};
        case ggml_type::q6_k: return {"Q6_K", 256, 210};
        case ggml_type::q8_k: return {"Q8_K", 256, 292};
        case ggml_type::iq2_xxs: return {"IQ2_XXS", 256, 66};
        case ggml_type::iq2_xs: return {"IQ2_XS", 256, 74};
        case ggml_type::iq3_xxs: return {"IQ3_XXS", 256, 98};
        case ggml_type::iq1_s: return {"IQ1_S", 256, 50};
        case ggml_type::iq4_nl: return {"IQ4_NL", 32, 18};
        case ggml_type::iq3_s: return {"IQ3_S", 256, 110};
        case ggml_type::iq2_s: return {"IQ2_S", 256, 82};
        case ggml_type::iq4_xs: return {"IQ4_XS", 256, 136};
        case ggml_type::i8: return {"I8", 1, 1};
        case ggml_type::i16: return {"I16", 1, 2};
        case ggml_type::i32: return {"I32", 1, 4};
        case ggml_type::i64: return {"I64", 1, 8};
        case ggml_type::f64: return {"F64", 1, 8};
        case ggml_type::iq1_m: return {"IQ1_M", 256, 56};
        case ggml_type::bf16: return {"BF16", 1, 2};
        case ggml_type::tq1_0: return {"TQ1_0", 256, 54};
        case ggml_type::tq2_0: return {"TQ2_0", 256, 66};
        case ggml_type::mxfp4: return {"MXFP4", 32, 17};
    }
    return {};
}

/// Name of a ggml type ("Q4_1"), or "unknown".
constexpr std::string_view to_string(ggml_type t) noexcept {
    auto tr = ggml_traits(t);
    return tr.block_size ? tr.name : std::string_view{"unknown"};
}

/// Size in bytes of one scalar of a metadata value type (0 for string/array/unknown).
constexpr std::uint32_t gguf_scalar_size(gguf_value_type t) noexcept {
    switch (t) {
        case gguf_value_type::uint8: case gguf_value_type::int8: case gguf_value_type::boolean: return 1;
        case gguf_value_type::uint16: case gguf_value_type::int16: return 2;
        case gguf_value_type::uint32: case gguf_value_type::int32: case gguf_value_type::float32: return 4;
        case gguf_value_type::uint64: case gguf_value_type::int64: case gguf_value_type::float64: return 8;
        default: return 0;
    }
}

constexpr std::string_view to_string(gguf_value_type t) noexcept {
    switch (t) {
        case gguf_value_type::uint8: return "u8";
        case gguf_value_type::int8: return "i8";
        case gguf_value_type::uint16: return "u16";
        case gguf_value_type::int16: return "i16";
        case gguf_value_type::uint32: return "u32";
        case gguf_value_type::int32: return "i32";
        case gguf_value_type::float32: return "f32";
        case gguf_value_type::boolean: return "bool";
        case gguf_value_type::string: return "string";
        case gguf_value_type::array: return "array";
        case gguf_value_type::uint64: return "u64";
        case gguf_value_type::int64: return "i64";
        case gguf_value_type::float64: return "f64";
    }
    return "unknown";
}

namespace detail {

/// Unaligned little-endian loads from a byte pointer.
template <class T>
inline T load_le(const unsigned char* p) noexcept {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace detail
}  // namespace lowrank

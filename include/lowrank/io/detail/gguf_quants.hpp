// ggml block dequantisation kernels (one function per type), written from the block layouts
// of ggml-common.h. Arithmetic in binary32, in ggml's order; Out is float or double (the
// binary32 result is widened, except for F64 data which is copied exactly).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "lowrank/core/errors.hpp"
#include "lowrank/io/detail/gguf_types.hpp"

namespace lowrank::detail {

constexpr bool gguf_can_dequantize(ggml_type t) noexcept {
    switch (t) {
        case ggml_type::f32: case ggml_type::f16: case ggml_type::bf16: case ggml_type::f64:
        case ggml_type::i8: case ggml_type::i16: case ggml_type::i32:
        case ggml_type::q4_0: case ggml_type::q4_1: case ggml_type::q5_0: case ggml_type::q5_1:
        case ggml_type::q8_0: case ggml_type::q2_k: case ggml_type::q3_k: case ggml_type::q4_k:
        case ggml_type::q5_k: case ggml_type::q6_k: case ggml_type::q8_k:
            return true;
        default:
            return false;
    }
}

inline float gguf_half(const unsigned char* p) noexcept { return half_to_float(load_le<std::uint16_t>(p)); }

// block_q4_0 {half d; u8 qs[16]}: x[j] = (lo(qs[j]) - 8) * d, x[j+16] = (hi(qs[j]) - 8) * d.
template <class Out>
void gguf_block_q4_0(const unsigned char* b, Out* y) {
    const float d = gguf_half(b);
    const unsigned char* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<Out>(static_cast<float>((qs[j] & 0x0f) - 8) * d);
        y[j + 16] = static_cast<Out>(static_cast<float>((qs[j] >> 4) - 8) * d);
    }
}

// block_q4_1 {half d; half m; u8 qs[16]}: x = q * d + m.
template <class Out>
void gguf_block_q4_1(const unsigned char* b, Out* y) {
    const float d = gguf_half(b), m = gguf_half(b + 2);
    const unsigned char* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
        const float x0 = static_cast<float>(qs[j] & 0x0f) * d;
        const float x1 = static_cast<float>(qs[j] >> 4) * d;
        y[j] = static_cast<Out>(x0 + m);
        y[j + 16] = static_cast<Out>(x1 + m);
    }
}

// block_q5_0 {half d; u8 qh[4]; u8 qs[16]}: 5th bit of element j is bit j of qh (LE u32).
template <class Out>
void gguf_block_q5_0(const unsigned char* b, Out* y) {
    const float d = gguf_half(b);
    const std::uint32_t qh = load_le<std::uint32_t>(b + 2);
    const unsigned char* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
        const int x0 = static_cast<int>((qs[j] & 0x0f) | (((qh >> j) & 1u) << 4)) - 16;
        const int x1 = static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
        y[j] = static_cast<Out>(static_cast<float>(x0) * d);
        y[j + 16] = static_cast<Out>(static_cast<float>(x1) * d);
    }
}

// block_q5_1 {half d; half m; u8 qh[4]; u8 qs[16]}: x = q * d + m.
template <class Out>
void gguf_block_q5_1(const unsigned char* b, Out* y) {
    const float d = gguf_half(b), m = gguf_half(b + 2);
    const std::uint32_t qh = load_le<std::uint32_t>(b + 4);
    const unsigned char* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
        const unsigned x0 = (qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4);
        const unsigned x1 = (qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
        const float p0 = static_cast<float>(x0) * d, p1 = static_cast<float>(x1) * d;
        y[j] = static_cast<Out>(p0 + m);
        y[j + 16] = static_cast<Out>(p1 + m);
    }
}

// block_q8_0 {half d; i8 qs[32]}: x = q * d.
template <class Out>
void gguf_block_q8_0(const unsigned char* b, Out* y) {
    const float d = gguf_half(b);
    for (int j = 0; j < 32; ++j)
        y[j] = static_cast<Out>(static_cast<float>(static_cast<std::int8_t>(b[2 + j])) * d);
}

// block_q2_K {u8 scales[16]; u8 qs[64]; half d; half dmin}: 16 sub-blocks of 16; scale byte:
// low nibble scale, high nibble min. Element (n, j, l) of 128-chunk n, 2-bit plane j, l < 32.
template <class Out>
void gguf_block_q2_k(const unsigned char* b, Out* y) {
    const unsigned char* scales = b;
    const unsigned char* q = b + 16;
    const float d = gguf_half(b + 80), dmin = gguf_half(b + 82);
    for (int n = 0; n < 2; ++n)
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < 32; ++l) {
                const int e = n * 128 + j * 32 + l;
                const unsigned char sc = scales[e / 16];
                const float dl = d * static_cast<float>(sc & 0x0f);
                const float ml = dmin * static_cast<float>(sc >> 4);
                const float p = dl * static_cast<float>((q[n * 32 + l] >> (2 * j)) & 3);
                y[e] = static_cast<Out>(p - ml);
            }
}

// block_q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d}: 16 signed 6-bit scales
// (low 4 bits in scales[0..7] nibbles, high 2 bits in scales[8..11]); q = low2 - (hbit ? 0 : 4).
template <class Out>
void gguf_block_q3_k(const unsigned char* b, Out* y) {
    const unsigned char* hm = b;
    const unsigned char* q = b + 32;
    const unsigned char* s = b + 96;
    const float d = gguf_half(b + 108);
    float dl[16];
    for (int i = 0; i < 16; ++i) {
        const int lo = (s[i % 8] >> (4 * (i / 8))) & 0x0f;
        const int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 0x03;
        dl[i] = d * static_cast<float>((lo | (hi << 4)) - 32);
    }
    for (int n = 0; n < 2; ++n)
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < 32; ++l) {
                const int e = n * 128 + j * 32 + l;
                const int low = (q[n * 32 + l] >> (2 * j)) & 3;
                const int high = (hm[l] >> (e / 32)) & 1;
                y[e] = static_cast<Out>(dl[e / 16] * static_cast<float>(low - (high ? 0 : 4)));
            }
}

// 6-bit scales and mins of Q4_K/Q5_K (ggml get_scale_min_k4), 8 sub-blocks of 32.
inline void gguf_scale_min_k4(const unsigned char* s, int j, int& sc, int& m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// block_q4_K {half d; half dmin; u8 scales[12]; u8 qs[128]}: x = (d*sc)*q - dmin*m.
template <class Out>
void gguf_block_q4_k(const unsigned char* b, Out* y) {
    const float d = gguf_half(b), dmin = gguf_half(b + 2);
    const unsigned char* s = b + 4;
    const unsigned char* q = b + 16;
    for (int g = 0; g < 8; ++g) {
        int sc, m;
        gguf_scale_min_k4(s, g, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) {
            const float p = d1 * static_cast<float>((q[(g / 2) * 32 + l] >> (4 * (g % 2))) & 0x0f);
            y[g * 32 + l] = static_cast<Out>(p - m1);
        }
    }
}

// block_q5_K {half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: 5th bit of element
// g*32+l is bit g of qh[l].
template <class Out>
void gguf_block_q5_k(const unsigned char* b, Out* y) {
    const float d = gguf_half(b), dmin = gguf_half(b + 2);
    const unsigned char* s = b + 4;
    const unsigned char* qh = b + 16;
    const unsigned char* q = b + 48;
    for (int g = 0; g < 8; ++g) {
        int sc, m;
        gguf_scale_min_k4(s, g, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) {
            const int v = ((q[(g / 2) * 32 + l] >> (4 * (g % 2))) & 0x0f) | (((qh[l] >> g) & 1) << 4);
            const float p = d1 * static_cast<float>(v);
            y[g * 32 + l] = static_cast<Out>(p - m1);
        }
    }
}

// block_q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; half d}: x = (d*scale)*(q - 32).
template <class Out>
void gguf_block_q6_k(const unsigned char* b, Out* y) {
    const unsigned char* ql = b;
    const unsigned char* qh = b + 128;
    const unsigned char* sc = b + 192;
    const float d = gguf_half(b + 208);
    for (int n = 0; n < 2; ++n)
        for (int g = 0; g < 4; ++g)  // 32-element group within the 128-chunk
            for (int l = 0; l < 32; ++l) {
                const int e = n * 128 + g * 32 + l;
                const int lo = (ql[n * 64 + (g % 2) * 32 + l] >> (4 * (g / 2))) & 0x0f;
                const int hi = (qh[n * 32 + l] >> (2 * g)) & 0x03;
                const float ds = d * static_cast<float>(static_cast<std::int8_t>(sc[e / 16]));
                y[e] = static_cast<Out>(ds * static_cast<float>((lo | (hi << 4)) - 32));
            }
}

// block_q8_K {float d; i8 qs[256]; i16 bsums[16]}: x = d * q.
template <class Out>
void gguf_block_q8_k(const unsigned char* b, Out* y) {
    const float d = load_le<float>(b);
    for (int j = 0; j < 256; ++j)
        y[j] = static_cast<Out>(d * static_cast<float>(static_cast<std::int8_t>(b[4 + j])));
}

template <class Out>
void gguf_dequantize_row(ggml_type t, const unsigned char* src, std::size_t n, Out* dst) {
    const auto tr = ggml_traits(t);
    if (!gguf_can_dequantize(t))
        throw invalid_argument("cannot dequantize ggml type " + std::string(to_string(t)));
    if (n % tr.block_size != 0)
        throw invalid_argument("dequantize: " + std::to_string(n) + " elements is not a multiple of the " +
                               std::string(tr.name) + " block size");
    const std::size_t nb = n / tr.block_size;
    auto blocks = [&](auto&& kernel) {
        for (std::size_t i = 0; i < nb; ++i) kernel(src + i * tr.type_size, dst + i * tr.block_size);
    };
    switch (t) {
        case ggml_type::f32:
            for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load_le<float>(src + 4 * i));
            return;
        case ggml_type::f64:
            for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load_le<double>(src + 8 * i));
            return;
        case ggml_type::f16:
            for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(gguf_half(src + 2 * i));
            return;
        case ggml_type::bf16:
            for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(bf16_to_float(load_le<std::uint16_t>(src + 2 * i)));
            return;
        case ggml_type::i8:
            for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(static_cast<std::int8_t>(src[i]));
            return;
        case ggml_type::i16:
            for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load_le<std::int16_t>(src + 2 * i));
            return;
        case ggml_type::i32:
            for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load_le<std::int32_t>(src + 4 * i));
            return;
        case ggml_type::q4_0: return blocks(gguf_block_q4_0<Out>);
        case ggml_type::q4_1: return blocks(gguf_block_q4_1<Out>);
        case ggml_type::q5_0: return blocks(gguf_block_q5_0<Out>);
        case ggml_type::q5_1: return blocks(gguf_block_q5_1<Out>);
        case ggml_type::q8_0: return blocks(gguf_block_q8_0<Out>);
        case ggml_type::q2_k: return blocks(gguf_block_q2_k<Out>);
        case ggml_type::q3_k: return blocks(gguf_block_q3_k<Out>);
        case ggml_type::q4_k: return blocks(gguf_block_q4_k<Out>);
        case ggml_type::q5_k: return blocks(gguf_block_q5_k<Out>);
        case ggml_type::q6_k: return blocks(gguf_block_q6_k<Out>);
        case ggml_type::q8_k: return blocks(gguf_block_q8_k<Out>);
        default: break;
    }
    throw invalid_argument("cannot dequantize ggml type " + std::string(to_string(t)));
}

}  // namespace lowrank::detail

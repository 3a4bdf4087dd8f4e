// SHA-256 (FIPS 180-4), streamed: the engine behind lowrank::sha256_file (io/checksum.hpp).
// Whole 64-byte blocks go to the x86 SHA extensions (SHA-NI: sha256rnds2/msg1/msg2, about 5× the
// portable loop) when the CPU has them, checked once at run time; otherwise, and on other
// architectures, to the portable FIPS 180-4 loop. Both give the same digest (tests/io/test_checksum.cpp
// checks each against the NIST vectors and against each other).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LOWRANK_SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace lowrank::detail {

inline constexpr std::uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/// Which block function sha256 uses: `automatic` (SHA-NI when the CPU has it) or `portable`
/// (always the FIPS 180-4 loop). A test hook: process-wide, for comparing the two paths.
enum class sha256_engine { automatic, portable };
inline std::atomic<sha256_engine>& sha256_engine_choice() {
    static std::atomic<sha256_engine> choice{sha256_engine::automatic};
    return choice;
}

#ifdef LOWRANK_SHA256_X86
/// True when the CPU has the SHA extensions and the SSSE3/SSE4.1 shuffles the block function uses.
inline bool cpu_has_sha_ni() {
    static const bool has = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
        const bool ssse3 = (c >> 9) & 1u, sse41 = (c >> 19) & 1u;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        return ssse3 && sse41 && ((b >> 29) & 1u);
    }();
    return has;
}

/// `blocks` 64-byte blocks of `p` into the state h[0..7], with the SHA extensions. The state is
/// kept as the two registers the instructions expect, ABEF and CDGH; each group of four rounds
/// adds K to four schedule words and runs two sha256rnds2 (two rounds each); words 16–63 come
/// from sha256msg1/msg2 over the previous four groups (W[t-16..t-13], W[t-12..t-9], W[t-7..t-4]
/// as an alignr of the last two groups, and W[t-4..t-1]).
__attribute__((target("sha,sse4.1,ssse3"))) inline void sha256_blocks_shani(std::uint32_t* h,
                                                                             const unsigned char* p,
                                                                             std::size_t blocks) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
    __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4));
    const __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    for (; blocks > 0; --blocks, p += 64) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i w[4];
        for (int g = 0; g < 16; ++g) {
            __m128i& cur = w[g & 3];
            if (g < 4) {
                cur = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * g)), byteswap);
            } else {
                const __m128i& prev1 = w[(g + 3) & 3];  // W[t-4..t-1]
                const __m128i& prev2 = w[(g + 2) & 3];  // W[t-8..t-5]
                const __m128i s = _mm_add_epi32(_mm_sha256msg1_epu32(cur, w[(g + 1) & 3]),
                                                _mm_alignr_epi8(prev1, prev2, 4));
                cur = _mm_sha256msg2_epu32(s, prev1);
            }
            const __m128i wk =
                _mm_add_epi32(cur, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sha256_k + 4 * g)));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    hgfe = _mm_alignr_epi8(dchg, feba, 8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h), dcba);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), hgfe);
}
#endif

class sha256 {
public:
    void update(const unsigned char* p, std::size_t n) {
        total_ += n;
        if (fill_ > 0) {
            const std::size_t k = std::min(n, 64 - fill_);
            std::memcpy(block_.data() + fill_, p, k);
            fill_ += k;
            p += k;
            n -= k;
            if (fill_ < 64) return;
            blocks(block_.data(), 1);
            fill_ = 0;
        }
        if (n >= 64) {
            blocks(p, n / 64);
            p += n / 64 * 64;
            n %= 64;
        }
        std::memcpy(block_.data(), p, n);
        fill_ = n;
    }
    std::string hex() {
        // Padding: 0x80, zeros up to 56 mod 64, then the message length in bits, big-endian.
        const std::uint64_t bits = total_ * 8;
        unsigned char pad[128] = {0x80};
        const std::size_t zeros_to = fill_ < 56 ? 56 - fill_ : 120 - fill_;
        for (int i = 0; i < 8; ++i) pad[zeros_to + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
        update(pad, zeros_to + 8);
        std::string out;
        char buf[9];
        for (auto v : h_) {
            std::snprintf(buf, sizeof buf, "%08x", v);
            out += buf;
        }
        return out;
    }

private:
    void blocks(const unsigned char* p, std::size_t count) {
#ifdef LOWRANK_SHA256_X86
        if (sha256_engine_choice().load(std::memory_order_relaxed) == sha256_engine::automatic && cpu_has_sha_ni()) {
            sha256_blocks_shani(h_.data(), p, count);
            return;
        }
#endif
        for (std::size_t i = 0; i < count; ++i) compress(p + 64 * i);
    }
    static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
    void compress(const unsigned char* b) {
        const auto& k = sha256_k;
        std::uint32_t w[64];
        for (int i = 0; i < 16; ++i)
            w[i] = (std::uint32_t(b[4 * i]) << 24) | (std::uint32_t(b[4 * i + 1]) << 16) |
                   (std::uint32_t(b[4 * i + 2]) << 8) | std::uint32_t(b[4 * i + 3]);
        for (int i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        std::uint32_t a = h_[0], bb = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
        for (int i = 0; i < 64; ++i) {
            const std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
            const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
            h = g, g = f, f = e, e = d + t1, d = c, c = bb, bb = a, a = t1 + t2;
        }
        h_[0] += a, h_[1] += bb, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
    }
    std::array<std::uint32_t, 8> h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<unsigned char, 64> block_{};
    std::size_t fill_ = 0;
    std::uint64_t total_ = 0;
};

}  // namespace lowrank::detail

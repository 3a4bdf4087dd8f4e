// The one fp16 and one bf16 conversion (lowrank/core/half.hpp), exhaustively. References: an
// exact rounding computed independently in double arithmetic over the whole binary16 / bfloat16
// grid (every grid point and every midpoint is exact in double), the compiler's _Float16 where it
// has one, and IEEE 754 facts (65504 is the largest half, 2⁻²⁴ the smallest subnormal, ties to
// even). Every one of the 2¹⁶ codes is widened and narrowed back; every float at and around
// every rounding boundary (the midpoints between neighbouring codes, ± one float ulp) is narrowed.
#include "lowrank/core/half.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// Value of a binary16 code by definition: (−1)^s · 2^(e−15) · (1 + m/1024), subnormal 2^−14 · m/1024.
double half_value(std::uint16_t h) {
    const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    const double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0) return s * std::ldexp(double(m), -24);
    if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : s * std::numeric_limits<double>::infinity();
    return s * std::ldexp(1.0 + double(m) / 1024.0, e - 15);
}
double bf16_value(std::uint16_t b) {
    const int e = (b >> 7) & 0xff, m = b & 0x7f;
    const double s = (b & 0x8000) ? -1.0 : 1.0;
    if (e == 0) return s * std::ldexp(double(m), -133);
    if (e == 255) return m ? std::numeric_limits<double>::quiet_NaN() : s * std::numeric_limits<double>::infinity();
    return s * std::ldexp(1.0 + double(m) / 128.0, e - 127);
}

// Round-to-nearest-even onto a grid of non-negative codes 0..top (ascending values), with
// overflow to the code `inf` at and beyond the midpoint between the largest code and the next
// binade step (IEEE: |x| ≥ max + ulp/2 rounds to infinity).
template <class Value>
std::uint16_t nearest_even(double ax, std::uint16_t top, std::uint16_t inf, double overflow_at, Value value) {
    if (ax >= overflow_at) return inf;
    std::uint16_t lo = 0, hi = top;  // largest code with value ≤ ax
    while (lo < hi) {
        const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi + 1) / 2);
        if (value(mid) <= ax) lo = mid;
        else hi = static_cast<std::uint16_t>(mid - 1);
    }
    if (lo == top) return top;
    const double d0 = ax - value(lo), d1 = value(static_cast<std::uint16_t>(lo + 1)) - ax;
    if (d0 < d1) return lo;
    if (d1 < d0) return static_cast<std::uint16_t>(lo + 1);
    return (lo & 1) ? static_cast<std::uint16_t>(lo + 1) : lo;
}

std::uint16_t ref_half(float x) {
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    if (std::isnan(x)) return 0x7e00 | sign;
    return sign | nearest_even(std::fabs(double(x)), 0x7bff, 0x7c00, 65520.0, half_value);
}
std::uint16_t ref_bf16(float x) {
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    if (std::isnan(x)) return 0x7fc0 | sign;
    const double max = bf16_value(0x7f7f), overflow = max + std::ldexp(1.0, 127 - 8);
    return sign | nearest_even(std::fabs(double(x)), 0x7f7f, 0x7f80, overflow, bf16_value);
}

// The floats at and around every rounding boundary of a 16-bit grid: each code's value, the
// midpoints to its neighbours, and one float ulp either side of each.
template <class Value>
std::vector<float> boundary_floats(Value value, std::uint16_t top) {
    std::vector<float> xs;
    auto around = [&](double v) {
        const float f = static_cast<float>(v);
        if (double(f) != v) return;  // every midpoint of both grids is a float; skip anything else
        xs.push_back(f);
        xs.push_back(std::nextafter(f, 0.0f));
        xs.push_back(std::nextafter(f, std::numeric_limits<float>::infinity()));
    };
    for (std::uint32_t c = 0; c <= top; ++c) {
        around(value(static_cast<std::uint16_t>(c)));
        if (c < top) around((value(static_cast<std::uint16_t>(c)) + value(static_cast<std::uint16_t>(c + 1))) / 2);
    }
    return xs;
}

}  // namespace

TEST_CASE("fp16: all 2^16 codes widen exactly and narrow back to themselves") {
    for (std::uint32_t c = 0; c < 65536; ++c) {
        const auto h = static_cast<std::uint16_t>(c);
        const float f = lowrank::half_to_float(h);
        const double v = half_value(h);
        if (std::isnan(v)) {
            REQUIRE(std::isnan(f));
            REQUIRE((lowrank::float_to_half(f) & 0x7e00) == 0x7e00);  // a quiet NaN, sign kept
            REQUIRE((lowrank::float_to_half(f) & 0x8000) == (h & 0x8000));
            continue;
        }
        REQUIRE(double(f) == v);
        REQUIRE(std::signbit(f) == bool(h & 0x8000));
        REQUIRE(lowrank::float_to_half(f) == h);
#ifdef __FLT16_MAX__
        const _Float16 r = static_cast<_Float16>(f);
        std::uint16_t bits;
        std::memcpy(&bits, &r, 2);
        REQUIRE(bits == h);
#endif
    }
}

TEST_CASE("fp16: every rounding boundary rounds to nearest, ties to even, overflow at 65520") {
    const auto xs = boundary_floats(half_value, 0x7bff);
    CHECK(xs.size() > 150000);
    for (float x : xs)
        for (float s : {x, -x}) {
            REQUIRE(lowrank::float_to_half(s) == ref_half(s));
#ifdef __FLT16_MAX__
            const _Float16 r = static_cast<_Float16>(s);
            std::uint16_t bits;
            std::memcpy(&bits, &r, 2);
            REQUIRE(lowrank::float_to_half(s) == bits);
#endif
        }
    CHECK(lowrank::float_to_half(65504.0f) == 0x7bff);
    CHECK(lowrank::float_to_half(std::nextafter(65520.0f, 0.0f)) == 0x7bff);
    CHECK(lowrank::float_to_half(65520.0f) == 0x7c00);
    CHECK(lowrank::float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);      // tie -> even
    CHECK(lowrank::float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie -> even
    CHECK(lowrank::float_to_half(std::ldexp(1.0f, -25)) == 0x0000);            // half the smallest subnormal
    CHECK(lowrank::float_to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
    CHECK(lowrank::float_to_half(std::numeric_limits<float>::infinity()) == 0x7c00);
    CHECK(lowrank::float_to_half(-std::numeric_limits<float>::denorm_min()) == 0x8000);
}

TEST_CASE("bf16: all 2^16 codes widen exactly and narrow back; every boundary rounds to nearest even") {
    for (std::uint32_t c = 0; c < 65536; ++c) {
        const auto b = static_cast<std::uint16_t>(c);
        const float f = lowrank::bf16_to_float(b);
        REQUIRE(std::bit_cast<std::uint32_t>(f) == (c << 16));  // bf16 is the top half of a float
        const double v = bf16_value(b);
        if (std::isnan(v)) {
            REQUIRE((lowrank::float_to_bf16(f) & 0x7fc0) == 0x7fc0);  // a quiet NaN
            continue;
        }
        REQUIRE(double(f) == v);
        REQUIRE(lowrank::float_to_bf16(f) == b);
    }
    for (float x : boundary_floats(bf16_value, 0x7f7f))
        for (float s : {x, -x}) REQUIRE(lowrank::float_to_bf16(s) == ref_bf16(s));
    CHECK(lowrank::float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);      // tie -> even
    CHECK(lowrank::float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);  // tie -> even
    CHECK(lowrank::float_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);  // rounds past the largest bf16
}

// UTF-8 decoding and the Unicode character classes the tokenizers need (tables generated from
// the Unicode database by scripts/make_unicode_tables.py).
#pragma once

#include "runtime/unicode_tables.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lowrank::runtime::unicode {

/// Decodes one code point at s[i]; advances i. Invalid bytes decode as themselves
/// (0x80..0xFF, i.e. treated like Latin-1) so that nothing is ever dropped.
inline std::uint32_t next(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    auto cont = [&](std::size_t k) {
        return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    };
    auto cb = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
    if (b0 < 0x80) { ++i; return b0; }
    if ((b0 & 0xE0) == 0xC0 && cont(1)) { std::uint32_t c = ((b0 & 0x1Fu) << 6) | cb(1); i += 2; return c; }
    if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
        std::uint32_t c = ((b0 & 0x0Fu) << 12) | (cb(1) << 6) | cb(2); i += 3; return c;
    }
    if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
        std::uint32_t c = ((b0 & 0x07u) << 18) | (cb(1) << 12) | (cb(2) << 6) | cb(3); i += 4; return c;
    }
    ++i;
    return b0;
}

/// Code points of a UTF-8 string with their byte offsets (offsets has one extra entry: size).
struct decoded {
    std::vector<std::uint32_t> cps;
    std::vector<std::size_t> offsets;
};
inline decoded decode(std::string_view s) {
    decoded d;
    d.cps.reserve(s.size());
    d.offsets.reserve(s.size() + 1);
    for (std::size_t i = 0; i < s.size();) {
        d.offsets.push_back(i);
        d.cps.push_back(next(s, i));
    }
    d.offsets.push_back(s.size());
    return d;
}

inline void append_utf8(std::string& out, std::uint32_t c) {
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0x800) { out += static_cast<char>(0xC0 | (c >> 6)); out += static_cast<char>(0x80 | (c & 0x3F)); }
    else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

inline bool in(std::span<const unicode_tables::code_range> table, std::uint32_t c) {
    auto it = std::upper_bound(table.begin(), table.end(), c,
                               [](std::uint32_t v, const unicode_tables::code_range& r) { return v < r.first; });
    return it != table.begin() && c <= std::prev(it)->last;
}

inline bool is_letter(std::uint32_t c) {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return in(unicode_tables::letter, c);
}
inline bool is_number(std::uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return in(unicode_tables::number, c);
}
inline bool is_punctuation(std::uint32_t c) { return in(unicode_tables::punctuation, c); }
inline bool is_nonspacing_mark(std::uint32_t c) { return in(unicode_tables::nonspacing_mark, c); }
/// General category C* (Cc, Cf, Cs, Co, Cn).
inline bool is_other(std::uint32_t c) { return in(unicode_tables::other, c); }
/// The Unicode White_Space property (what \s matches in Oniguruma/Rust regexes).
inline bool is_whitespace(std::uint32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace lowrank::runtime::unicode

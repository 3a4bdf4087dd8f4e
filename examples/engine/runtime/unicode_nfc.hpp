// Unicode Normalization Form C (UAX #15), for tokenizers that normalise their input to NFC
// (Qwen2's tokenizer.json: "normalizer": {"type": "NFC"}).
//
//   nfc(s) = canonical composition of the canonical ordering of the full canonical
//            decomposition of s
//   1. decompose: every code point by its full canonical decomposition (tables), Hangul
//      syllables algorithmically (S → L V [T]);
//   2. order: within each run of non-starters (canonical combining class ccc > 0), a stable
//      sort by ccc;
//   3. compose: left to right, a character C combines with the last starter S when C is not
//      blocked from S (no character between them has ccc = 0 or ccc ≥ ccc(C)) and (S, C) is a
//      primary composite pair (composition exclusions never are; Hangul L+V and LV+T
//      algorithmically).
// Tables: unicode_nfc_tables.hpp (Unicode 14.0 from Python's unicodedata; regenerate with
// scripts/make_unicode_tables.py nfc). Code points of later Unicode versions pass through
// unchanged. Text containing nothing at or above U+0300 is already NFC and returned as is (the
// generator checks that this shortcut is exact). Invalid UTF-8 bytes decode as Latin-1 code
// points (runtime/unicode.hpp) and are re-encoded as such.
#pragma once

#include "runtime/unicode.hpp"
#include "runtime/unicode_nfc_tables.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lowrank::runtime::unicode {

namespace nfc_detail {

inline constexpr std::uint32_t hangul_s = 0xAC00, hangul_l = 0x1100, hangul_v = 0x1161, hangul_t = 0x11A7;
inline constexpr std::uint32_t hangul_lcount = 19, hangul_vcount = 21, hangul_tcount = 28;
inline constexpr std::uint32_t hangul_ncount = hangul_vcount * hangul_tcount, hangul_scount = hangul_lcount * hangul_ncount;

inline std::uint8_t ccc(std::uint32_t c) {
    if (c < 0x300) return 0;
    const auto& t = unicode_nfc_tables::combining;
    auto it = std::upper_bound(std::begin(t), std::end(t), c,
                               [](std::uint32_t v, const unicode_nfc_tables::combining_run& r) { return v < r.first; });
    return it != std::begin(t) && c <= std::prev(it)->last ? std::prev(it)->ccc : 0;
}

inline void decompose(std::uint32_t c, std::vector<std::uint32_t>& out) {
    if (c >= hangul_s && c < hangul_s + hangul_scount) {
        const std::uint32_t s = c - hangul_s;
        out.push_back(hangul_l + s / hangul_ncount);
        out.push_back(hangul_v + (s % hangul_ncount) / hangul_tcount);
        if (s % hangul_tcount) out.push_back(hangul_t + s % hangul_tcount);
        return;
    }
    const auto& t = unicode_nfc_tables::decompositions;
    auto it = std::lower_bound(std::begin(t), std::end(t), c,
                               [](const unicode_nfc_tables::decomposition& d, std::uint32_t v) { return d.cp < v; });
    if (it == std::end(t) || it->cp != c) {
        out.push_back(c);
        return;
    }
    const std::uint32_t* d = unicode_nfc_tables::decomposition_data + it->offset;
    out.insert(out.end(), d, d + it->length);
}

/// The primary composite of (a, b), or 0.
inline std::uint32_t compose(std::uint32_t a, std::uint32_t b) {
    if (a >= hangul_l && a < hangul_l + hangul_lcount && b >= hangul_v && b < hangul_v + hangul_vcount)
        return hangul_s + ((a - hangul_l) * hangul_vcount + (b - hangul_v)) * hangul_tcount;
    if (a >= hangul_s && a < hangul_s + hangul_scount && (a - hangul_s) % hangul_tcount == 0 && b > hangul_t &&
        b < hangul_t + hangul_tcount)
        return a + (b - hangul_t);
    const auto& t = unicode_nfc_tables::compositions;
    auto it = std::lower_bound(std::begin(t), std::end(t), std::pair{a, b},
                               [](const unicode_nfc_tables::composition& p, const std::pair<std::uint32_t, std::uint32_t>& v) {
                                   return p.first < v.first || (p.first == v.first && p.second < v.second);
                               });
    return it != std::end(t) && it->first == a && it->second == b ? it->composite : 0;
}

}  // namespace nfc_detail

/// True when `s` certainly is NFC without normalising: no code point at or above U+0300.
inline bool nfc_quick_yes(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) { ++i; continue; }
        if (next(s, i) >= 0x300) return false;  // advances i
    }
    return true;
}

/// NFC of a sequence of code points.
inline std::vector<std::uint32_t> nfc(const std::vector<std::uint32_t>& in) {
    using namespace nfc_detail;
    std::vector<std::uint32_t> d;
    d.reserve(in.size() + in.size() / 4);
    for (std::uint32_t c : in) decompose(c, d);
    // canonical ordering: stable insertion sort inside each run of non-starters
    std::vector<std::uint8_t> cls(d.size());
    for (std::size_t i = 0; i < d.size(); ++i) cls[i] = ccc(d[i]);
    for (std::size_t i = 1; i < d.size(); ++i)
        for (std::size_t j = i; j > 0 && cls[j] != 0 && cls[j - 1] > cls[j]; --j) {
            std::swap(d[j], d[j - 1]);
            std::swap(cls[j], cls[j - 1]);
        }
    // canonical composition; `last` is the class of the last character kept after the starter
    // (0: none, i.e. the next character is adjacent to the starter; 256: no starter yet)
    std::vector<std::uint32_t> out;
    out.reserve(d.size());
    std::size_t starter = 0;
    int last = 256;
    for (std::size_t i = 0; i < d.size(); ++i) {
        const int k = cls[i];
        if (last != 256 && (last == 0 || last < k))  // not blocked from the starter
            if (const std::uint32_t c = compose(out[starter], d[i])) {
                out[starter] = c;
                continue;
            }
        if (k == 0) {
            starter = out.size();
            last = 0;
        } else if (last != 256) {
            last = k;
        }
        out.push_back(d[i]);
    }
    return out;
}

/// NFC of UTF-8 text.
inline std::string nfc(std::string_view s) {
    if (nfc_quick_yes(s)) return std::string(s);
    const auto cps = nfc(decode(s).cps);
    std::string out;
    out.reserve(s.size());
    for (std::uint32_t c : cps) append_utf8(out, c);
    return out;
}

}  // namespace lowrank::runtime::unicode

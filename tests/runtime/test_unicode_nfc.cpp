// Unicode NFC (runtime/unicode_nfc.hpp) against Unicode's own conformance data:
// NormalizationTest.txt (Unicode 15.0, Debian unicode-data), reduced by
// scripts/make_runtime_fixtures.py nfc to the lines whose code points the tables' Unicode version
// (14.0) assigns: Part 0 (specific cases), Part 1 (every character with a decomposition: those
// NFC changes as pairs, the rest as ranges that must come back unchanged), Part 2 (canonical
// ordering, every 4th line), Part 3 (PRI #29). Plus hand-checked properties: idempotence, the
// ASCII/Latin-1 shortcut, Hangul, and invalid UTF-8 passing through.
#include <doctest/doctest.h>

#include "runtime/unicode_nfc.hpp"
#include "runtime_test_util.hpp"

#include <map>
#include <sstream>

using namespace lowrank::runtime;

namespace {

std::vector<std::uint32_t> hex_cps(const std::string& s) {
    std::vector<std::uint32_t> v;
    std::istringstream in(s);
    for (std::string h; in >> h;) v.push_back(static_cast<std::uint32_t>(std::stoul(h, nullptr, 16)));
    return v;
}

std::string utf8(const std::vector<std::uint32_t>& cps) {
    std::string s;
    for (auto c : cps) unicode::append_utf8(s, c);
    return s;
}

}  // namespace

TEST_CASE("nfc: Unicode NormalizationTest.txt (c2 == NFC(c1)), every part") {
    const auto fx = rt_test::fixture("nfc_normalization_test.json");
    REQUIRE_MESSAGE(fx != nullptr, "committed fixture nfc_normalization_test.json is missing");
    std::map<std::string, std::pair<std::size_t, std::size_t>> per_part;  // part -> (equal, total)
    for (const auto& c : fx["cases"]) {
        const std::string part = c[0];
        const auto in = hex_cps(c[1]), want = hex_cps(c[2]);
        CAPTURE(part);
        CAPTURE(c[1].get<std::string>());
        const auto got = unicode::nfc(in);
        CHECK(got == want);
        CHECK(unicode::nfc(utf8(in)) == utf8(want));  // the UTF-8 entry point
        CHECK(unicode::nfc(want) == want);             // idempotent
        auto& p = per_part[part];
        p.first += got == want, ++p.second;
    }
    std::size_t stable = 0, stable_ok = 0;
    for (const auto& r : fx["part1_nfc_stable"]) {
        for (std::uint32_t cp = r[0]; cp <= r[1].get<std::uint32_t>(); ++cp) {
            const std::vector<std::uint32_t> one{cp};
            const bool ok = unicode::nfc(one) == one;
            CHECK_MESSAGE(ok, "U+" << std::hex << cp << " must be NFC-stable");
            ++stable, stable_ok += ok;
        }
    }
    for (const auto& [part, n] : per_part) MESSAGE("NormalizationTest " << part << ": " << n.first << "/" << n.second);
    MESSAGE("NormalizationTest Part1 NFC-stable characters: " << stable_ok << "/" << stable);
    CHECK(per_part.size() == 4);
    CHECK(stable > 15000);  // Hangul syllables and the precomposed letters
}

TEST_CASE("nfc: hand-checked cases and the shortcut") {
    // e + COMBINING ACUTE → é; OHM SIGN → GREEK CAPITAL OMEGA (singleton); ANGSTROM SIGN → Å
    CHECK(unicode::nfc(std::string("cafe\xCC\x81")) == "caf\xC3\xA9");
    CHECK(unicode::nfc(std::string("\xE2\x84\xA6")) == "\xCE\xA9");
    CHECK(unicode::nfc(std::string("\xE2\x84\xAB")) == "\xC3\x85");
    // Hangul: L V T jamo compose to one syllable (U+1100 U+1161 U+11A8 → U+AC01)
    CHECK(unicode::nfc(std::vector<std::uint32_t>{0x1100, 0x1161, 0x11A8}) == std::vector<std::uint32_t>{0xAC01});
    // Composition exclusion: DEVANAGARI LETTER QA (U+0958) decomposes and stays decomposed
    CHECK(unicode::nfc(std::vector<std::uint32_t>{0x958}) == std::vector<std::uint32_t>{0x915, 0x93C});
    // Reordering: a + dot below (220) after circumflex (230) → ậ (U+1EAD)
    CHECK(unicode::nfc(std::vector<std::uint32_t>{'a', 0x302, 0x323}) == std::vector<std::uint32_t>{0x1EAD});
    // Blocked: a starter between the base and the mark prevents composition
    CHECK(unicode::nfc(std::vector<std::uint32_t>{'e', 'x', 0x301}) == std::vector<std::uint32_t>{'e', 'x', 0x301});
    // A leading combining mark stays as it is
    CHECK(unicode::nfc(std::vector<std::uint32_t>{0x301, 'e'}) == std::vector<std::uint32_t>{0x301, 'e'});
    // Text below U+0300 (code, ASCII, Latin-1) comes back byte-identical; so does invalid UTF-8
    const std::string code = "def f(x):\n\treturn x**2  # caf\xC3\xA9\r\n";
    CHECK(unicode::nfc_quick_yes(code));
    CHECK(unicode::nfc(code) == code);
    CHECK(unicode::nfc(std::string("\xFF\xFEok")) == "\xFF\xFEok");
    CHECK(unicode::nfc(std::string()).empty());
    CHECK_FALSE(unicode::nfc_quick_yes("caf\x65\xCC\x81"));
}

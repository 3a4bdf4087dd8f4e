// Untrusted text inputs of the CLI (calibration text, perplexity on a user's file): read whole,
// refused with a usage_error naming the argument, the file and (for bad UTF-8) the byte offset.
// Also the sha256 that identifies a model in provenance records.
#pragma once

#include "cli/command.hpp"
#include "lowrank/io/checksum.hpp"
#include "lowrank/model/source.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace lowrank::cli {

/// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no
/// overlong forms, no surrogates, nothing above U+10FFFF), or npos when `s` is valid.
inline std::size_t first_invalid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t len;
        std::uint32_t lo = 0x80, hi = 0xBF;  // range of the second byte
        if (b < 0x80) { ++i; continue; }
        if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b >= 0xE0 && b <= 0xEF) len = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        else if (b >= 0xF0 && b <= 0xF4) len = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        else return i;
        if (i + len > s.size()) return i;
        for (std::size_t k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) return i;
        }
        i += len;
    }
    return std::string_view::npos;
}

/// The whole of text file `path` given by argument `arg` (e.g. "--text"). usage_error when it is
/// missing, unreadable, a directory, empty, or not valid UTF-8 (naming the byte offset).
inline std::string read_utf8_text(const std::string& path, const std::string& arg) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw usage_error(arg + " " + path + ": no such file");
    if (std::filesystem::is_directory(path, ec)) throw usage_error(arg + " " + path + ": is a directory, not a text file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw usage_error(arg + " " + path + ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    if (text.empty()) throw usage_error(arg + " " + path + ": the file is empty");
    if (const auto bad = first_invalid_utf8(text); bad != std::string_view::npos)
        throw usage_error(arg + " " + path + ": not valid UTF-8 (byte offset " + std::to_string(bad) + ")");
    return text;
}

/// The sha256 identifying a model: its file's sha256 for a one-file model (GGUF, .safetensors,
/// factorised file, a directory with one model.safetensors); for a sharded model the sha256 of
/// the lines "<sha256>  <file name>\n" of its weight files in order.
inline std::string model_sha256(const model::model_source& m) {
    const auto& files = m.files();
    if (files.size() == 1) return sha256_file(files[0]);
    std::string lines;
    for (const auto& f : files) lines += sha256_file(f) + "  " + std::filesystem::path(f).filename().string() + "\n";
    return sha256_hex(lines);
}

}  // namespace lowrank::cli

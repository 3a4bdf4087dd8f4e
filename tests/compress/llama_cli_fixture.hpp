// The tiny Llama the compress CLI suites run on (test_compress_cli.cpp,
// test_compress_sensitivity.cpp): tests/decompose's generator (hidden 16, 3 layers, GQA 4/2)
// written as a Hugging Face directory with the hf_smollm2_tiny fixture tokenizer, a short
// calibration text, and a fixture that calibrates it once (windows × context, seed).
#pragma once

#include "compress/cli_test_util.hpp"
#include "decompose/decompose_test_util.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace compress_cli_test {

namespace fs = std::filesystem;

inline constexpr std::size_t windows = 5, context = 16;
inline constexpr std::uint64_t seed = 3;

inline const char* calib_text =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
    "the rightful property of some one or other of their daughters. My dear Mr. Bennet, said his lady to him one "
    "day, have you heard that Netherfield Park is let at last? Mr. Bennet replied that he had not.";

/// Tiny Llama directory (weights scaled to a sane range) with the fixture tokenizer.
inline std::vector<dtest::tiny_tensor> write_tiny(const fs::path& dir, unsigned s) {
    const fs::path fx = fs::path(LOWRANK_RUNTIME_FIXTURES) / "hf_smollm2_tiny";
    const std::size_t vocab = 3252;  // the fixture tokenizer's vocabulary
    auto ts = dtest::tiny_llama(s, vocab);
    for (auto& t : ts)
        for (auto& x : t.data) x = t.shape.size() == 1 ? 1.f + 0.1f * x : 0.3f * x;
    dtest::write_tiny_hf(dir, ts);
    nlohmann::json cfg = dtest::tiny_config();
    cfg["vocab_size"] = vocab;
    std::ofstream(dir / "config.json") << cfg.dump(2);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(fx / f, dir / f);
    return ts;
}

/// Entries of `dir` whose names start with a dot (staging / temporary leftovers).
inline std::size_t hidden_entries(const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().rfind('.', 0) == 0;
    return n;
}

struct fixture {
    dtest::temp_dir d{"compress-cli"};
    std::vector<dtest::tiny_tensor> ts;
    std::string model, text, stats;
    fixture() {
        ts = write_tiny(d.path / "tiny", 7);
        model = (d.path / "tiny").string();
        text = d / "calib.txt";
        dtest::write_text(text, calib_text);
        stats = d / "stats.safetensors";
        const std::string args = "calibrate " + model + " --text " + text + " --windows " + std::to_string(windows) +
                                 " --context " + std::to_string(context) + " --seed " + std::to_string(seed) + " --out " +
                                 stats + " --quiet";
        std::string log;
        REQUIRE_MESSAGE(run(args, d, &log) == 0, log);
    }
};

}  // namespace compress_cli_test

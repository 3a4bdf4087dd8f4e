// The work of `lowrank calibrate` (cmd_calibrate.cpp; Llama-family decoders and BERT encoders), shared with `lowrank compress
// --calib-text` (cmd_compress.cpp): validate the arguments, run the model over the windows
// (runtime/calibration.hpp) and write the statistics file atomically (stats_writer: temp +
// rename). Every bad input is a usage_error naming the argument and file; nothing is written
// then.
#pragma once

#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/text_input.hpp"

#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/compress/stats_file.hpp"
#include "runtime/calibration.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/measure.hpp"
#include "runtime/wordpiece_tokenizer.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#ifndef LOWRANK_VERSION
#define LOWRANK_VERSION "unknown"
#endif

namespace lowrank::cli::calibration {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct request {
    std::string model, text, out, source;
    std::size_t windows = 64, context = 512;
    std::uint64_t seed = 0;
    int threads = 2;
    bool quiet = false;
    std::string text_arg = "--text";  ///< the text's argument name in messages
};

/// Progress on stderr: a redrawn line on a terminal, one line per 10% otherwise.
inline void show(std::size_t done, std::size_t total, double seconds, bool quiet, const char* unit = "windows") {
    static int last = -1;
    if (quiet) return;
    const bool tty = ::isatty(2);
    const int pct = static_cast<int>(100 * done / total);
    if (!tty && pct / 10 == last / 10 && done != total) return;
    last = pct;
    const int width = 30, fill = static_cast<int>(width * done / total);
    std::fprintf(stderr, "%scalibrate [%s%s] %zu/%zu %s %6.1fs%s", tty ? "\r\033[K" : "", std::string(fill, '#').c_str(),
                 std::string(width - fill, '.').c_str(), done, total, unit, seconds, tty && done != total ? "" : "\n");
    std::fflush(stderr);
}

/// Runs the calibration `a` describes and writes a.out; returns 0.
inline int run(const request& a) {
    const auto t0 = std::chrono::steady_clock::now();
    if (a.windows == 0) throw usage_error("calibrate: --windows must be at least 1");
    if (a.context < 2) throw usage_error("calibrate: --context must be at least 2 tokens");
    if (a.threads < 1) throw usage_error("calibrate: --threads must be at least 1");
    std::error_code ec;
    if (!fs::exists(a.model, ec)) throw usage_error("calibrate: " + a.model + ": no such file or directory");
    const std::string text = cli::read_utf8_text(a.text, "calibrate: " + a.text_arg);
    const fs::path out_abs = fs::absolute(a.out);
    if (!fs::is_directory(out_abs.parent_path(), ec))
        throw usage_error("calibrate: --out " + a.out + ": parent directory does not exist");
    if (fs::is_directory(a.out, ec)) throw usage_error("calibrate: --out " + a.out + " is a directory");
    const model::model_source ms = model::model_source::open(a.model);
    {
        std::vector<fs::path> inputs(ms.files().begin(), ms.files().end());
        inputs.push_back(a.text);
        inputs.push_back(a.model);
        for (const auto& p : inputs)
            if (fs::exists(a.out, ec) && fs::equivalent(a.out, p, ec))
                throw usage_error("calibrate: --out " + a.out + " is an input (" + p.string() + "); refusing to overwrite it");
    }
    const bool bert = runtime::is_bert_model(a.model, a.source);
    if (!bert && !model::is_decoder(ms.family()))
        throw usage_error("calibrate: " + a.model + " is a " + std::string(model::to_string(ms.family())) +
                          " model; calibration runs Llama-family decoders and BERT encoders");
    const std::string model_sha = cli::model_sha256(ms);
    const std::string text_sha = sha256_hex(text);
    auto too_short = [&](std::size_t tokens, const std::string& what) {
        return usage_error("calibrate: " + a.text_arg + " " + a.text + " gives " + std::to_string(tokens) + " tokens (" +
                           what + "), fewer than one window of --context " + std::to_string(a.context));
    };
    auto too_long = [&](std::size_t limit, const std::string& what) {
        return usage_error("calibrate: --context " + std::to_string(a.context) + " exceeds the model's " + what + " of " +
                           std::to_string(limit) + " tokens");
    };
    auto progress = [&](std::size_t d, std::size_t t) { show(d, t, cli::seconds_since(t0), a.quiet); };

    xtensor_backend::context ctx;
    std::size_t layers = 0, stream_tokens = 0;
    runtime::input_widths widths{};
    std::vector<std::size_t> starts;
    nlohmann::json extra;
    // The statistics file, declared once the windows are known (written block by block).
    auto open_writer = [&]() {
        stats_provenance prov;
        prov.model_sha256 = model_sha;
        prov.text_sha256 = text_sha;
        prov.windows = a.windows;
        prov.context = a.context;
        prov.seed = a.seed;
        prov.mode = "dense";
        prov.extra = extra;
        prov.extra["model"] = fs::absolute(a.model).string();
        prov.extra["text"] = fs::absolute(a.text).string();
        prov.extra["text_tokens"] = stream_tokens;
        prov.extra["sampler"] = "mt19937_64(seed), unbiased rejection into [0, text_tokens - window]";
        prov.extra["starts"] = starts;
        prov.extra["lowrank_version"] = LOWRANK_VERSION;
        std::vector<stats_entry> inputs;
        for (std::size_t l = 0; l < layers; ++l)
            for (auto in : runtime::all_linear_inputs)
                inputs.push_back({runtime::calibration_input_name(l, in), widths[static_cast<std::size_t>(in)], false});
        return stats_writer(a.out, prov, inputs);
    };
    auto nonfinite = [](const std::string& input) {
        return usage_error("calibrate: the model produced NaN/Inf activations at " + input + "; no statistics written");
    };
    if (bert) {
        runtime::opened_bert o = runtime::open_bert(a.model, a.source);
        bool lower = true;
        if (std::ifstream tc(fs::path(o.dir) / "tokenizer_config.json"); tc) lower = json::parse(tc).value("do_lower_case", true);
        const auto tok = runtime::wordpiece_tokenizer::from_vocab_file((fs::path(o.dir) / "vocab.txt").string(), lower);
        runtime::bert_model model(std::move(o.weights), a.threads);
        const auto& cfg = model.config();
        if (a.context > cfg.max_positions) throw too_long(cfg.max_positions, "max_position_embeddings");
        if (a.context < 3) throw usage_error("calibrate: --context must be at least 3 tokens for a BERT model ([CLS] x [SEP])");
        auto ids = tok.encode(text, SIZE_MAX);  // [CLS] pieces [SEP]: the stream is the pieces
        ids.erase(ids.begin());
        ids.pop_back();
        stream_tokens = ids.size();
        if (ids.size() < a.context - 2) throw too_short(ids.size(), "WordPiece, [CLS]/[SEP] not counted; a window holds --context - 2");
        starts = runtime::calibration_starts(ids.size(), a.context - 2, a.windows, a.seed);
        layers = cfg.layers;
        widths = runtime::calibration_widths(cfg);
        if (!a.quiet)
            std::fprintf(stderr, "calibrate: %s (BERT), %zu layers; %zu text tokens; %zu windows x %zu tokens\n", a.model.c_str(),
                         layers, ids.size(), a.windows, a.context);
        runtime::calibration_observer<xtensor_backend::context> obs(ctx, layers, widths);
        runtime::run_calibration(model, obs, ids, tok.cls(), tok.sep(), starts, a.context, progress);
        if (!obs.nonfinite().empty()) throw nonfinite(obs.nonfinite());
        extra = {{"model_kind", o.source ? "factorized" : "hf"},
                 {"stream", "WordPiece tokens of the text (no special tokens); window = [CLS] + context-2 tokens + [SEP]"},
                 {"names", "model.layers.<l>.{attn_in: query/key/value, o_in: attention.output.dense, mlp_in: intermediate.dense, "
                           "down_in: output.dense}"}};
        stats_writer w = open_writer();
        for (std::size_t l = 0; l < layers; ++l)
            for (auto in : runtime::all_linear_inputs) w.write(runtime::calibration_input_name(l, in), obs.take(l, in));
        w.commit();
    } else {
        runtime::opened_llama o = runtime::open_llama(a.model, a.source, std::max<std::size_t>(4096, a.context));
        const runtime::gguf_tokenizer tok = runtime::open_llama_tokenizer(o);
        runtime::llama_model model(std::move(o.weights), a.threads);
        const auto& cfg = model.config();
        if (a.context > cfg.context) throw too_long(cfg.context, "context");
        std::vector<int> ids{tok.bos() >= 0 ? tok.bos() : tok.eos()};
        const auto enc = tok.encode(text, false);
        ids.insert(ids.end(), enc.begin(), enc.end());
        stream_tokens = ids.size();
        if (ids.size() < a.context) throw too_short(ids.size(), "BOS included");
        starts = runtime::calibration_starts(ids.size(), a.context, a.windows, a.seed);
        layers = cfg.layers;
        widths = runtime::calibration_widths(cfg);
        if (!a.quiet)
            std::fprintf(stderr, "calibrate: %s, %zu layers; %zu text tokens; %zu windows x %zu tokens\n", a.model.c_str(),
                         layers, ids.size(), a.windows, a.context);
        extra = {{"model_kind", o.source ? "factorized" : o.gguf ? "gguf" : "hf"},
                 {"stream", "BOS + tokens(text), no special-token parsing"},
                 {"names", "model.layers.<l>.{attn_in: q/k/v, o_in: o, mlp_in: gate/up, down_in: down}"},
                 {"pass", "layer-streaming (runtime::run_streaming_calibration): one block's statistics in memory at a time"}};
        // Block by block into the (temporary) file: one block's Grams in memory at a time. A
        // NaN/Inf stops the pass; the writer, never committed, leaves nothing behind.
        stats_writer w = open_writer();
        const std::string bad = runtime::run_streaming_calibration(
            ctx, model, ids, starts, a.context,
            [&](std::size_t l, std::vector<input_stats>& st) {
                for (auto in : runtime::all_linear_inputs)
                    w.write(runtime::calibration_input_name(l, in), st[static_cast<std::size_t>(in)]);
            },
            [&](std::size_t d, std::size_t t) { show(d, t, cli::seconds_since(t0), a.quiet, "blocks"); });
        if (!bad.empty()) throw nonfinite(bad);
        w.commit();
    }
    std::printf("wrote %s: %zu inputs, %zu tokens each (%zu windows x %zu), model sha256 %s\n", a.out.c_str(), layers * 4,
                a.windows * a.context, a.windows, a.context, model_sha.c_str());
    std::printf("seconds: %.1f, peak RSS %.0f MB\n", cli::seconds_since(t0), runtime::measure::peak_rss_bytes() / 1048576.0);
    return 0;
}

}  // namespace lowrank::cli::calibration

// `lowrank compress --method struct`: the structured compressor (MLP channel pruning with OBS
// selection + down_proj refit, per-kv-group value-dimension reduction + o_proj refit, q/k
// untouched, uniform plan; include/lowrank/compress/structured.hpp,
// runtime/structured_compress.hpp) as one entry of cmd_compress.cpp's method table.
//
// The output is a factorised file (io/factorized.hpp) in which no tensor is factorised: v/o/
// gate/up/down (and a v bias) are dense with their new shapes, every other tensor as stored
// (GGUF: dequantised to F32, q/k rows in the Hugging Face order, like `decompose`). The runtime
// reads each layer's intermediate size and value head dim from those shapes
// (load_options::shapes_from_tensors), so generate / eval / bench-model run it. The manifest
// records, per rewritten tensor, its shape before/after and the layer's relative output error
// on the calibration statistics. Only --alloc uniform; no --keep-dense and no --fold (the
// pruned model is already dense, and the fold writers keep the source's shapes).
//
// Memory: the dense float32 model plus one layer's statistics (this loads the whole model; fine
// for the sizes the CLI targets now, not a streaming design).
#pragma once

#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/decompose_output.hpp"
#include "cli/progress.hpp"

#include "lowrank/compress/stats_file.hpp"
#include "lowrank/io/atomic_file.hpp"
#include "lowrank/io/checksum.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/model/source.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/measure.hpp"
#include "runtime/structured_compress.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

namespace lowrank::cli::structured {

struct request {
    std::string model;                      ///< MODEL argument (GGUF, .safetensors, HF directory)
    const model::model_source& m;
    const stats_file& stats;                ///< inputs "model.layers.<l>.<o_in|down_in>"
    double keep = 0.8;
    std::string out;
    std::string alloc = "uniform", keep_dense;
    bool fold = false, quiet = false;
    unsigned threads = 1;
    std::string json_out, command;
    nlohmann::json calibration = nullptr;   ///< the statistics' provenance (manifest)
    std::chrono::steady_clock::time_point t0;
};

inline int run(const request& q) {
    namespace fs = std::filesystem;
    using json = nlohmann::json;
    if (q.alloc != "uniform")
        throw usage_error("compress: --method struct supports --alloc uniform only (the prototype's global allocation "
                          "of channels lost to uniform; docs/compress.md)");
    if (!q.keep_dense.empty()) throw usage_error("compress: --method struct does not take --keep-dense");
    if (q.fold) throw usage_error("compress: --method struct writes a dense model already; --fold is not supported");
    const bool gguf = q.m.format() == model::source_format::gguf;

    // The dense float32 weights, compressed in memory.
    runtime::opened_llama o = runtime::open_llama(q.model);
    runtime::llama_weights& w = o.weights;
    const std::size_t L = w.cfg.layers;
    runtime::structured_compress_options opt;
    opt.keep = q.keep;
    opt.threads = static_cast<int>(q.threads ? q.threads : 1);
    runtime::structured_compress_report rep;
    {
        progress bar("struct", L, q.quiet);
        try {
            rep = runtime::compress_structured(
                w,
                [&](std::size_t l, const std::string& input) {
                    return q.stats.load("model.layers." + std::to_string(l) + "." + input);
                },
                opt, [&](std::size_t done, std::size_t) { bar.step("layer " + std::to_string(done - 1)); });
        } catch (const invalid_argument& e) {
            throw usage_error(std::string("compress: ") + e.what());
        }
    }

    // Which tensors are rewritten: (layer, role, kind) → the new dense data.
    auto replacement = [&](const model::tensor_entry& t) -> const runtime::linear* {
        if (t.cls.layer < 0 || static_cast<std::size_t>(t.cls.layer) >= L) return nullptr;
        auto& b = w.blocks[static_cast<std::size_t>(t.cls.layer)];
        using R = model::role;
        switch (t.cls.role) {
            case R::v: return &b.v;
            case R::o: return &b.o;
            case R::gate: return &b.gate;
            case R::up: return &b.up;
            case R::down: return &b.down;
            default: return nullptr;
        }
    };

    json sources = json::array();
    for (const auto& f : q.m.files())
        sources.push_back({{"path", fs::absolute(f).string()}, {"bytes", fs::file_size(f)}, {"sha256", sha256_file(f)}});
    decompose::manifest man;
    char kbuf[32];
    std::snprintf(kbuf, sizeof kbuf, "%.4g", q.keep);
    man.extra["gamma_id"] = std::string("compress-struct-uniform-K") + kbuf;
    man.extra["method"] = "struct";
    man.extra["form"] = "dense";
    man.extra["per_layer_shapes"] = true;  // the runtime takes I′ and r from the tensors' shapes
    man.extra["source"] = {{"path", fs::absolute(q.model).string()}, {"format", gguf ? "gguf" : "safetensors"},
                           {"files", sources}, {"sha256", sources.size() == 1 ? sources[0]["sha256"] : json(nullptr)}};
    man.extra["layout"] = gguf ? "hugging_face (GGUF q/k rows un-permuted)" : "as stored (Hugging Face)";
    json layers = json::array();
    for (const auto& lr : rep.layers)
        layers.push_back({{"layer", lr.layer},
                          {"intermediate", lr.mlp_keep},
                          {"value_dim", lr.value_dim},
                          {"down_rel_output_error", json_number(lr.mlp_rel_error)},
                          {"o_rel_output_error", json_number(lr.vo_rel_error)}});
    man.extra["compress"] = {{"method", "struct"},
                             {"alloc", "uniform"},
                             {"keep_target", q.keep},
                             {"keep_achieved", rep.plan.kept()},
                             {"linear_parameters_before", rep.plan.params_before},
                             {"linear_parameters_after", rep.plan.params_after},
                             {"linear_budget", rep.plan.budget},
                             {"intermediate", rep.plan.mlp_keep},
                             {"value_dim", rep.plan.value_dim},
                             {"layers", layers},
                             {"calibration", q.calibration},
                             {"command", q.command}};

    factorized_writer fw(q.out);
    std::uint64_t removed = 0;
    for (const auto& t : q.m.tensors()) {
        const runtime::linear* l = replacement(t);
        const bool bias = l && t.cls.kind == model::tensor_kind::bias;
        if (l && (t.cls.kind == model::tensor_kind::weight || bias)) {
            model::tensor_entry e = t;
            e.shape = bias ? shape_t{l->bias.size()} : shape_t{l->out, l->in};
            const std::vector<float>& data = bias ? l->bias : l->w;
            json info = {{"layer", t.cls.layer},
                         {"role", std::string(model::to_string(t.cls.role))},
                         {"method", "struct"},
                         {"form", "dense"},
                         {"shape_before", t.shape}};
            const std::uint64_t before = numel(t.shape), after = numel(e.shape);
            removed += before - after;
            fw.add_dense(t.name, safetensors_dtype::F32, e.shape, std::as_bytes(std::span<const float>(data)),
                         man.record(e, info), t.dtype);
        } else if (gguf) {
            const std::vector<float> d = q.m.load_f32(t.name);
            fw.add_dense(t.name, safetensors_dtype::F32, t.shape, std::as_bytes(std::span<const float>(d)),
                         man.record(t, json::object()), t.dtype);
        } else {
            const tensor_view v = q.m.safetensors()->view(t.name);
            fw.add_dense(t.name, v.dtype, t.shape, v.bytes, man.record(t, json::object()));
        }
    }
    man.before += removed;  // record() counted the new shapes; "before" is the source's
    man.finish({{"path", fs::absolute(q.out).string()}, {"kind", "factorized"}, {"format", "safetensors"}}, q.t0);
    fw.commit(man.extra);
    json doc = fw.manifest();
    for (auto it = man.extra.begin(); it != man.extra.end(); ++it) doc[it.key()] = it.value();
    write_file_atomically(decompose::manifest_path(q.out, false), doc.dump(2) + "\n");

    const double secs = seconds_since(q.t0);
    const double rss = static_cast<double>(runtime::measure::peak_rss_bytes()) / 1048576.0;
    const json summary = {{"model", fs::absolute(q.model).string()},
                          {"out", fs::absolute(q.out).string()},
                          {"method", "struct"},
                          {"alloc", "uniform"},
                          {"keep_target", q.keep},
                          {"keep_achieved", rep.plan.kept()},
                          {"linear_parameters", {{"before", rep.plan.params_before}, {"after", rep.plan.params_after}}},
                          {"parameters", {{"before", man.before}, {"after", man.after}}},
                          {"intermediate", rep.plan.mlp_keep},
                          {"value_dim", rep.plan.value_dim},
                          {"seconds", secs},
                          {"peak_rss_mb", rss}};
    if (!q.json_out.empty()) write_file_atomically(q.json_out, summary.dump(2) + "\n");
    std::printf("%s: struct, uniform: MLP %zu of %zu channels, value dim %zu of %zu, every layer\n", q.model.c_str(),
                rep.plan.mlp_keep, w.cfg.intermediate, rep.plan.value_dim, w.cfg.head_dim);
    std::printf("linear parameters: %llu -> %llu (K = %.4f, target %.4f)\n",
                static_cast<unsigned long long>(rep.plan.params_before), static_cast<unsigned long long>(rep.plan.params_after),
                rep.plan.kept(), q.keep);
    double me = 0, ve = 0;
    for (const auto& lr : rep.layers) me += lr.mlp_rel_error, ve += lr.vo_rel_error;
    if (!rep.layers.empty())
        std::printf("mean relative output error: down_proj %.4f, o_proj %.4f\n", me / double(rep.layers.size()),
                    ve / double(rep.layers.size()));
    std::printf("seconds: %.1f, peak RSS %.0f MB\n", secs, rss);
    std::printf("wrote %s and %s\n", q.out.c_str(), decompose::manifest_path(q.out, false).c_str());
    return 0;
}

}  // namespace lowrank::cli::structured

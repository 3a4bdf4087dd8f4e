// The outputs of `lowrank decompose` (cmd_decompose.cpp): where they go, the manifest, and the
// three writers — a factorised file (io/factorized.hpp), a folded GGUF, a folded safetensors
// file or Hugging Face directory. Every writer streams the tensors in file order, pulling each
// decomposed one from the worker pool as it is written; every output is atomic (temp + rename,
// or a staged directory).
#pragma once

#include "cli/command.hpp"
#include "cli/common.hpp"

#include "lowrank/io/atomic_file.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/io/gguf_writer.hpp"
#include "lowrank/io/safetensors.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lowrank::cli::decompose {

namespace fs = std::filesystem;
using json = nlohmann::json;

inline bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// One tensor's work: factorised u, core, v; or (fold, or a GGUF tensor only dequantised) the
/// dense tensor in `a`; `info` is its manifest record (empty for an untouched tensor).
struct task_result {
    std::vector<float> a, core, b;
    json info = json::object();
};

/// ./<stem>.lowrank.safetensors, or with --fold <stem>.lowrank-folded.{gguf,safetensors} or the
/// directory <stem>-lowrank-folded for a Hugging Face directory.
inline std::string default_out(const std::string& model, bool fold, const model::model_source& m) {
    std::string stem = fs::path(model).filename().string();
    if (stem.empty() || stem == ".") stem = fs::path(model).parent_path().filename().string();
    for (const char* ext : {".gguf", ".safetensors", ".json"})
        if (ends_with(stem, ext)) stem.resize(stem.size() - std::string(ext).size());
    if (!fold) return stem + ".lowrank.safetensors";
    if (m.format() == model::source_format::gguf) return stem + ".lowrank-folded.gguf";
    return m.is_directory() ? stem + "-lowrank-folded" : stem + ".lowrank-folded.safetensors";
}

/// <out minus extension>.manifest.json, or lowrank_manifest.json inside an output directory.
inline std::string manifest_path(const std::string& out, bool is_dir) {
    if (is_dir) return (fs::path(out) / "lowrank_manifest.json").string();
    std::string s = out;
    for (const char* ext : {".safetensors", ".gguf"})
        if (ends_with(s, ext)) s.resize(s.size() - std::string(ext).size());
    return s + ".manifest.json";
}

/// usage_error ("<command>: --out … is the input …") when `out` is the input or one of its files.
inline void refuse_overwriting_input(const std::string& out, const model::model_source& m, const std::string& command) {
    std::error_code ec;
    const fs::path o = fs::weakly_canonical(fs::absolute(out), ec);
    auto same = [&](const fs::path& p) {
        std::error_code e2;
        return fs::weakly_canonical(fs::absolute(p), e2) == o || (fs::exists(out, e2) && fs::equivalent(out, p, e2));
    };
    std::vector<fs::path> inputs(m.files().begin(), m.files().end());
    inputs.push_back(m.path());
    if (m.is_directory())
        for (const auto& e : fs::directory_iterator(m.path())) inputs.push_back(e.path());
    for (const auto& p : inputs)
        if (same(p)) throw usage_error(command + ": --out " + out + " is the input " + p.string() + "; refusing to overwrite it");
}

/// The manifest: one record per tensor (name, shape, dtype + the factorisation's record), the
/// totals (parameters before/after, relative errors) and the run's fields (`extra`).
struct manifest {
    json extra = json::object();  ///< γ, source, method, device, ... (set by the caller)
    json records = json::array();
    std::uint64_t before = 0, after = 0;
    std::size_t decomposed = 0;
    double err_min = INFINITY, err_max = -INFINITY, err_sum = 0;

    json record(const model::tensor_entry& t, json info) {
        info["name"] = t.name;
        info["shape"] = t.shape;
        info["dtype"] = t.dtype;
        before += numel(t.shape);
        if (info.contains("parameters_after")) {
            ++decomposed;
            after += info["parameters_after"].get<std::uint64_t>();
            const double e = info["rel_error"].is_number() ? info["rel_error"].get<double>() : NAN;
            err_min = std::min(err_min, e), err_max = std::max(err_max, e), err_sum += e;
        } else {
            after += numel(t.shape);
        }
        records.push_back(info);
        return info;
    }
    double reduction() const { return before ? 1.0 - static_cast<double>(after) / static_cast<double>(before) : 0.0; }
    double err_mean() const { return decomposed ? err_sum / static_cast<double>(decomposed) : NAN; }
    /// Totals and the output's description into `extra`.
    void finish(json output, std::chrono::steady_clock::time_point t0) {
        extra["output"] = std::move(output);
        extra["parameters"] = {{"before", before}, {"after", after}, {"reduction", reduction()}};
        extra["decomposed_tensors"] = decomposed;
        extra["rel_error"] = {{"min", json_number(err_min)}, {"max", json_number(err_max)}, {"mean", json_number(err_mean())}};
        extra["seconds"] = seconds_since(t0);
    }
    /// The stand-alone manifest document of a folded output.
    json document() const {
        json man = extra;
        man["format"] = "lowrank.decompose.manifest";
        man["tensors"] = records;
        return man;
    }
};

/// What the writers need: the model, the rank of each tensor (0: untouched) and its result.
struct job {
    const model::model_source& m;
    const std::vector<std::size_t>& rank_of;
    std::function<task_result(std::size_t)> take;  ///< the result of tensor i (blocks until it is ready)
    std::string out;
    std::chrono::steady_clock::time_point t0;
    /// --layers I..J: tensor i is written only when in_part[i] (empty: every tensor). When
    /// man.extra has a "shard" block, its "source_order" lists the written tensors' indices.
    std::vector<char> in_part = {};
};

/// Factorised safetensors file (+ its manifest beside it): decomposed weights as factors,
/// untouched tensors as stored (GGUF: dequantised to F32).
inline void write_factorized(const job& j, factor_form form, manifest& man) {
    const auto& ts = j.m.tensors();
    const bool gguf = j.m.format() == model::source_format::gguf;
    factorized_writer w(j.out);
    json source_order = json::array();
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const auto& t = ts[i];
        if (!j.in_part.empty() && !j.in_part[i]) continue;
        source_order.push_back(i);
        if (j.rank_of[i] > 0) {
            task_result r = j.take(i);
            w.add_factored(t.name, t.shape, form, j.rank_of[i], r.a, r.core, r.b, t.dtype, man.record(t, r.info));
        } else if (gguf) {
            task_result r = j.take(i);
            w.add_dense(t.name, safetensors_dtype::F32, t.shape, std::as_bytes(std::span<const float>(r.a)),
                        man.record(t, json::object()), t.dtype);
        } else {
            const tensor_view v = j.m.safetensors()->view(t.name);
            w.add_dense(t.name, v.dtype, t.shape, v.bytes, man.record(t, json::object()));
            j.m.release_pages(t.name);  // copied: its source pages need not stay resident
        }
    }
    if (man.extra.contains("shard")) man.extra["shard"]["source_order"] = source_order;
    man.finish({{"path", fs::absolute(j.out).string()}, {"kind", "factorized"}, {"format", "safetensors"}}, j.t0);
    w.commit(man.extra);
    json doc = w.manifest();
    for (auto it = man.extra.begin(); it != man.extra.end(); ++it) doc[it.key()] = it.value();
    write_file_atomically(manifest_path(j.out, false), doc.dump(2) + "\n");
}

/// Folded GGUF: the input's metadata, untouched tensors copied verbatim, reconstructed ones as
/// F32 or F16 with Llama q/k rows re-permuted to the converter's order.
inline void write_gguf_folded(const job& j, const std::string& fold_dtype, manifest& man) {
    const gguf_file& g = *j.m.gguf();
    const auto& ts = j.m.tensors();
    std::vector<gguf_write_tensor> ws;
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const gguf_tensor_info& t = g.tensors[i];  // model_source lists GGUF tensors in file order
        if (j.rank_of[i] == 0) {
            ws.push_back(gguf_copy_tensor(g, t));
            continue;
        }
        gguf_write_tensor w;
        w.name = t.name;
        w.shape = t.shape;
        w.type = fold_dtype == "f16" ? ggml_type::f16 : ggml_type::f32;
        w.permute_heads = j.m.gguf_qk_heads(t.name);  // back to the converter's row order
        w.produce = [&j, &man, &ts, i] {
            task_result r = j.take(i);
            man.record(ts[i], r.info);
            return std::move(r.a);
        };
        ws.push_back(std::move(w));
    }
    write_gguf(j.out, g.metadata, ws);
    for (std::size_t i = 0; i < ts.size(); ++i)  // untouched tensors' records, after the write
        if (j.rank_of[i] == 0) man.record(ts[i], json::object());
    man.finish({{"path", fs::absolute(j.out).string()}, {"kind", "folded"}, {"format", "gguf"},
                {"reconstructed_type", fold_dtype}},
               j.t0);
    write_file_atomically(manifest_path(j.out, false), man.document().dump(2) + "\n");
}

/// Folded safetensors (original names and dtypes, input __metadata__ kept plus γ's id): a file,
/// or for a Hugging Face directory a directory with model.safetensors and the input's
/// config/tokenizer files.
inline void write_safetensors_folded(const job& j, bool dir_out, const std::string& gamma_id, const std::string& method,
                                     manifest& man) {
    const auto& ts = j.m.tensors();
    const safetensors_model& st = *j.m.safetensors();
    std::optional<output_dir> dir;
    std::string st_path = j.out;
    if (dir_out) {
        dir.emplace(j.out);
        st_path = dir->path("model.safetensors");
    }
    std::vector<safetensors_spec> specs;
    for (const auto& t : ts) specs.push_back({t.name, st.find(t.name)->dtype, t.shape});
    std::map<std::string, std::string> md = st.metadata();
    if (!md.count("format")) md["format"] = "pt";  // Hugging Face transformers expects it
    md["lowrank.gamma_id"] = gamma_id;
    md["lowrank.method"] = method;
    safetensors_writer w(st_path, specs, md);
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const tensor_view v = st.view(ts[i].name);
        if (j.rank_of[i] == 0) {
            w.write(v.bytes);
            j.m.release_pages(ts[i].name);  // copied: its source pages need not stay resident
            man.record(ts[i], json::object());
            continue;
        }
        task_result r = j.take(i);
        w.write(std::span<const std::byte>(from_float(r.a, v.dtype)));
        man.record(ts[i], r.info);
    }
    w.commit();
    man.finish({{"path", fs::absolute(j.out).string()}, {"kind", "folded"}, {"format", "safetensors"}}, j.t0);
    if (!dir) {
        write_file_atomically(manifest_path(j.out, false), man.document().dump(2) + "\n");
        return;
    }
    for (const auto& e : fs::directory_iterator(j.m.directory())) {
        const std::string n = e.path().filename().string();
        if (!e.is_regular_file() || ends_with(n, ".safetensors") || ends_with(n, ".safetensors.index.json") ||
            n == "lowrank_manifest.json")
            continue;
        fs::copy_file(e.path(), dir->path(n), fs::copy_options::overwrite_existing);
    }
    dir->write_json("lowrank_manifest.json", man.document());
    dir->commit();
}

}  // namespace lowrank::cli::decompose

// Implementation of export_hf (runtime/hf_export.hpp).
#pragma once

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>

#include <stdlib.h>
#include <sys/stat.h>

namespace lowrank::runtime {

namespace detail {

/// Where the export came from: the factorised file and its sha256, or for a factorised directory
/// each of its files (shards and lowrank_manifest.json) with theirs.
inline nlohmann::json factorized_provenance(const factorized_model& fm) {
    namespace fs = std::filesystem;
    nlohmann::json p{{"path", fs::absolute(fm.path()).string()}};
    if (!fm.is_directory()) {
        p["sha256"] = sha256_file(fm.path());
        return p;
    }
    nlohmann::json files = nlohmann::json::array();
    std::vector<std::string> paths;
    for (const auto* f : fm.storage().files()) paths.push_back(f->path());
    paths.push_back((fs::path(fm.path()) / factorized_manifest_file).string());
    for (const auto& f : paths) files.push_back({{"name", fs::path(f).filename().string()}, {"sha256", sha256_file(f)}});
    p["files"] = files;
    return p;
}


/// One tensor of the export: where its data comes from.
struct hf_out_tensor {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::F32;
    shape_t shape;
    const factorized_tensor* src = nullptr;
    char part = 'd';  ///< 'd' dense copy, 'v' vᵀ, 'c' core, 'u' u (or u·core when folding)
    std::uint64_t bytes() const { return numel(shape) * dtype_size(dtype); }
};

/// The float32 data of a factor part (C order, shape of the output tensor).
inline std::vector<float> factor_data(exec_context& ex, const hf_out_tensor& t, bool fold) {
    const factorized_tensor& f = *t.src;
    const std::size_t out = f.shape[0], in = f.shape[1], r = f.rank;
    if (t.part == 'v') {  // stored [in, r] → [r, in]
        const std::vector<float> v = to_float(f.v);
        std::vector<float> vt(r * in);
        for (std::size_t i = 0; i < in; ++i)
            for (std::size_t k = 0; k < r; ++k) vt[k * in + i] = v[i * r + k];
        return vt;
    }
    if (t.part == 'c') return to_float(*f.core);
    std::vector<float> u = to_float(f.u);
    if (!fold || !f.core) return u;
    const std::vector<float> g = to_float(*f.core);
    std::vector<float> ug(out * r);
    gemm(ex, op::none, op::none, out, r, r, 1.f, u.data(), r, g.data(), r, 0.f, ug.data(), r);
    return ug;
}

inline void write_text_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream o(p, std::ios::binary);
    o << text;
    o.close();
    if (!o) throw io_error(p.string(), "could not write");
}

/// True when `inner` is `outer` or lies inside it (after resolving what exists).
inline bool path_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path a = fs::weakly_canonical(inner, ec), b = fs::weakly_canonical(outer, ec);
    auto ia = a.begin(), ib = b.begin();
    for (; ib != b.end(); ++ia, ++ib)
        if (ia == a.end() || *ia != *ib) return false;
    return true;
}

/// A staging directory removed by the destructor unless released.
struct staging_dir {
    std::filesystem::path path;
    explicit staging_dir(const std::filesystem::path& target) {
        std::string tmpl = (target.parent_path() / ("." + target.filename().string() + ".lowrank-export-XXXXXX")).string();
        if (!::mkdtemp(tmpl.data())) throw io_error(target.string(), "cannot create a staging directory beside it");
        path = tmpl;
        const mode_t mask = ::umask(0);  // mkdtemp makes 0700: give the directory the usual permissions
        ::umask(mask);
        ::chmod(tmpl.c_str(), 0777 & ~mask);
    }
    staging_dir(const staging_dir&) = delete;
    staging_dir& operator=(const staging_dir&) = delete;
    ~staging_dir() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
};

}  // namespace detail

inline hf_export_result export_hf(const std::string& path, const hf_export_options& opt) {
    namespace fs = std::filesystem;
    using nlohmann::json;
    if (opt.out.empty()) throw invalid_argument("export_hf: no output directory (--out)");
    if (opt.modeling_py.empty()) throw invalid_argument("export_hf: no modelling file text");
    if (opt.shard_bytes == 0) throw invalid_argument("export_hf: shard size (--shard-size) must be positive");
    const fs::path target = fs::absolute(opt.out).lexically_normal();
    std::error_code ec;
    const fs::path parent = target.parent_path();
    if (!fs::is_directory(parent, ec)) throw io_error(target.string(), "parent directory does not exist");
    if (fs::exists(fs::symlink_status(target, ec))) {
        if (!opt.overwrite) throw io_error(target.string(), "exists (use --overwrite to replace it)");
        if (!fs::is_directory(target)) throw io_error(target.string(), "exists and is not a directory; not replaced");
    }

    const model::model_source ms = model::model_source::open(path);
    if (!ms.factorized()) throw io_error(path, "not a lowrank factorised file (lowrank decompose writes them)");
    const factorized_model& fm = *ms.factorized();
    const factorized_source src = locate_source(fm, opt.source_override);
    for (const fs::path& in : {fs::path(path), fs::path(src.path)})
        if (detail::path_within(in, target))
            throw io_error(target.string(), "is or contains the input " + in.string() + "; choose another --out");

    // Family, configuration and validation (the runtime's builders over names and shapes only).
    hf_export_result r;
    std::set<std::string> used;
    const weight_source shapes = detail::shape_only_source(fm, used);
    json config;
    std::optional<model::model_source> gs;  // a GGUF source (metadata and tokenizer; its weights are not read)
    const gguf_file* g = nullptr;
    std::size_t context = 0;
    model::family fam = model::family::llama;
    const std::string cfg_path = (fs::path(src.path) / "config.json").string();
    if (src.format == "gguf") {
        gs = model::model_source::open(src.path);
        g = gs->gguf();
        if (!g) throw io_error(src.path, "not a GGUF file, but the manifest says the source was GGUF");
        fam = gs->family();
        const llama_weights w = build_llama(llama_config_from_gguf(*g, std::numeric_limits<std::size_t>::max()), shapes,
                                            llama_names::gguf);
        config = detail::hf_config_from_gguf(*g, fam, w.cfg, w.cfg.tied);
        context = w.cfg.context;
    } else {
        config = read_hf_config(src.path);
        fam = source_family(config, src.path);
        if (fam == model::family::bert) {
            build_bert(bert_config_from_hf(config, cfg_path), shapes);
        } else {
            const llama_weights w = build_llama(llama_config_from_hf(config, cfg_path, std::numeric_limits<std::size_t>::max()),
                                                shapes, llama_names::hugging_face);
            config["tie_word_embeddings"] = w.cfg.tied;  // what the weights are, whatever the default
        }
    }
    // The modelling file has classes for the families themselves; a model the model layer reads as
    // one of them under another name (Mistral → llama) is not exported as that family.
    const std::string named = g ? g->architecture() : config.value("model_type", std::string{});
    if (!named.empty() && model::parse_family(named) != fam)
        throw architecture_error((g ? src.path : cfg_path) + ": '" + named + "' is read as the " +
                                 std::string(model::to_string(fam)) + " family, but export-hf writes only llama, qwen2 "
                                 "and bert models (its modelling file has no class for '" + named + "')");
    r.family = std::string(model::to_string(fam));
    const bool bert = fam == model::family::bert;
    r.model_class = bert ? "LowRankBertModel" : fam == model::family::qwen2 ? "LowRankQwen2ForCausalLM" : "LowRankLlamaForCausalLM";

    auto hf_name = [&](const std::string& n) -> std::string {
        if (!g) return model::hf_tensor_name(n, fam);
        std::string h = model::hf_name_of_gguf(n);
        if (h.empty()) throw io_error(fm.path(), "tensor '" + n + "' is not a Llama/Qwen2 GGUF tensor name");
        return h;
    };

    // The output tensors, in the file's order.
    std::vector<detail::hf_out_tensor> items;
    json modules = json::object();
    std::set<std::string> seen;
    for (const factorized_tensor& t : fm.tensors()) {
        if (!used.count(t.name)) {
            const bool buffer = t.name.ends_with("position_ids") || t.name.ends_with("rotary_emb.inv_freq");
            const bool pooler = bert && (hf_name(t.name) == "pooler.dense.weight" || hf_name(t.name) == "pooler.dense.bias");
            if (buffer && !t.factored) {
                r.dropped.push_back(t.name);
                r.dropped_buffer_elements += numel(t.shape);
                continue;
            }
            if (!pooler)
                throw io_error(fm.path(), "tensor '" + t.name + "' is not part of the " + r.family +
                                              " model described by " + (g ? src.path : cfg_path));
            const std::size_t h = config.value("hidden_size", std::size_t{0});
            const shape_t want = hf_name(t.name).ends_with(".weight") ? shape_t{h, h} : shape_t{h};
            if (t.shape != want)
                throw io_error(fm.path(), "tensor '" + t.name + "' has shape " + shape_text(t.shape) + ", expected " +
                                              shape_text(want));
        }
        const std::string name = hf_name(t.name);
        if (!t.factored) {
            if (!seen.insert(name).second) throw io_error(fm.path(), "tensor '" + t.name + "' maps to '" + name + "' twice");
            items.push_back({name, t.dense.dtype, t.shape, &t, 'd'});
            continue;
        }
        if (!name.ends_with(".weight"))
            throw io_error(fm.path(), "tensor '" + t.name + "' is factorised but is not a linear layer's weight");
        const std::string module = name.substr(0, name.size() - 7);
        const bool core = t.form == factor_form::tucker2;
        const bool keep = core && opt.keep_core;
        modules[module] = {{"rank", t.rank}, {"form", to_string(t.form)}, {"core", keep}};
        const std::size_t out = t.shape[0], in = t.shape[1], rk = t.rank;
        const std::tuple<const char*, char, shape_t> parts[] = {
            {".lowrank_v.weight", 'v', {rk, in}}, {".lowrank_core.weight", 'c', {rk, rk}}, {".lowrank_u.weight", 'u', {out, rk}}};
        for (const auto& [suffix, part, shape] : parts) {
            if (part == 'c' && !keep) continue;
            if (!seen.insert(module + suffix).second) throw io_error(fm.path(), "tensor '" + t.name + "' maps to a name twice");
            items.push_back({module + suffix, safetensors_dtype::F32, shape, &t, part});
        }
        if (core && !keep) r.folded_core_parameters += rk * rk;
        ++r.factorised;
    }
    for (const auto& it : items) r.parameters += numel(it.shape);
    r.file_parameters = fm.parameters_after();
    if (r.parameters + r.folded_core_parameters + r.dropped_buffer_elements != r.file_parameters)
        throw error("export_hf: " + path + ": parameter accounting does not add up (a bug in lowrank, not in the file)");
    r.tensors = items.size();

    // Shards: greedy in file order, at most shard_bytes each (a bigger tensor alone).
    std::vector<std::vector<std::size_t>> shards;
    std::uint64_t fill = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::uint64_t b = items[i].bytes();
        if (shards.empty() || (fill + b > opt.shard_bytes && fill > 0)) shards.emplace_back(), fill = 0;
        shards.back().push_back(i);
        fill += b;
        r.bytes += b;
    }
    r.shards = shards.size();

    // config.json
    json lr = {{"format", "lowrank.hf"},
               {"version", 1},
               {"family", r.family},
               {"tucker_core", opt.keep_core ? "kept" : "folded"},
               {"modules", modules},
               {"method", fm.manifest().value("method", json())},
               {"gamma_id", fm.manifest().value("gamma_id", json())},
               {"source", fm.manifest().value("source", json())},
               {"factorized_file", detail::factorized_provenance(fm)},
               {"parameters",
                {{"dense", fm.parameters_before()},
                 {"factorized_file", r.file_parameters},
                 {"export", r.parameters},
                 {"folded_core", r.folded_core_parameters},
                 {"dropped_buffers", r.dropped_buffer_elements}}},
               {"dropped", r.dropped}};
    for (auto it = opt.extra.begin(); it != opt.extra.end(); ++it) lr[it.key()] = it.value();
    r.lowrank = lr;
    config["lowrank"] = lr;
    config["architectures"] = json::array({r.model_class});
    config["auto_map"] = {{bert ? "AutoModel" : "AutoModelForCausalLM", "modeling_lowrank." + r.model_class}};
    config["torch_dtype"] = "float32";
    config["dtype"] = "float32";

    detail::staging_dir stage(target);
    detail::write_text_file(stage.path / "config.json", config.dump(2) + "\n");
    detail::write_text_file(stage.path / "modeling_lowrank.py", opt.modeling_py);
    detail::write_text_file(stage.path / "lowrank_manifest.json", fm.manifest().dump(2) + "\n");
    if (fm.manifest().contains("recipe") && fm.manifest()["recipe"].is_object())  // decompose's recipe (design/recipe.hpp)
        detail::write_text_file(stage.path / "lowrank_recipe.json", fm.manifest()["recipe"].dump(2) + "\n");
    if (g) {
        detail::write_text_file(stage.path / "tokenizer.json", tokenizer_json_from_gguf(*g).dump() + "\n");
        detail::write_text_file(stage.path / "tokenizer_config.json", tokenizer_config_from_gguf(*g, context).dump(2) + "\n");
        r.tokenizer = "written from the GGUF vocabulary of " + src.path;
    } else {
        std::vector<std::string> copied;
        for (const char* n : detail::hf_tokenizer_files)
            if (fs::is_regular_file(fs::path(src.path) / n, ec)) {
                fs::copy_file(fs::path(src.path) / n, stage.path / n);
                copied.push_back(n);
            }
        r.tokenizer = copied.empty() ? "none found in " + src.path : "copied from " + src.path;
    }

    // Tensor data, shard by shard.
    exec_context ex(opt.threads);
    json weight_map = json::object();
    std::size_t done = 0;
    for (std::size_t s = 0; s < shards.size(); ++s) {
        char fname[64];
        std::snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
        std::vector<safetensors_spec> specs;
        for (std::size_t i : shards[s]) specs.push_back({items[i].name, items[i].dtype, items[i].shape});
        safetensors_writer w((stage.path / fname).string(), specs, {{"format", "pt"}});
        for (std::size_t i : shards[s]) {
            if (opt.progress) opt.progress(done, items.size());
            const auto& it = items[i];
            if (it.part == 'd') w.write(it.src->dense.bytes);
            else w.write(detail::factor_data(ex, it, !opt.keep_core));
            weight_map[it.name] = fname;
            ++done;
        }
        w.commit();
    }
    if (opt.progress) opt.progress(done, items.size());
    const json index = {{"metadata", {{"total_size", r.bytes}, {"total_parameters", r.parameters}}}, {"weight_map", weight_map}};
    detail::write_text_file(stage.path / "model.safetensors.index.json", index.dump(2) + "\n");

    detail::commit_directory(stage.path, target, opt.overwrite);
    stage.path.clear();
    return r;
}

}  // namespace lowrank::runtime

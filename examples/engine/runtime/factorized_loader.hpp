// Opening the drivers' MODEL argument, whatever it is: a GGUF file, a Hugging Face directory, or
// a lowrank factorised file written by `lowrank decompose` (include/lowrank/io/factorized.hpp).
// The kind is detected from the content by the model layer (model::detect_file_kind: GGUF magic,
// safetensors header with format "lowrank.factorized"), never from the extension, and every model
// file — the MODEL argument and a factorised file's source — is opened by model::model_source;
// the family is the model layer's too (model::family_of_config / the GGUF architecture).
//
// What a factorised file holds: every weight tensor of the model — each decomposed weight as its
// factors, every other tensor dense (GGUF input: dequantised to F32 with q/k rows already in the
// Hugging Face order, GGUF names kept; safetensors input: original names and dtypes) — plus a
// manifest. It holds no hyperparameters and no tokenizer. Those are read from the *source model*
// the manifest records (`source.path`: the GGUF file, or the HF directory / .safetensors file
// whose directory has config.json and the tokenizer files), or from a path given instead
// (`source_override`, the CLI's --source). Before anything is read from it, every source file
// whose sha256 the manifest records is hashed and compared; a missing or changed source is an
// io_error naming the factorised file and the source file. The source's weights are not read.
//
// Linear layers whose weight is factorised are built in svd / tucker2 form directly from the
// stored factors (runtime/weight_source.hpp); all dense tensors come from the factorised file;
// every shape is checked against the source's configuration — except that a file whose manifest
// has "per_layer_shapes": true (`lowrank compress --method struct`) takes each layer's MLP
// intermediate size and value head dim from its tensors (load_options::shapes_from_tensors).
#pragma once

#include "lowrank/io/checksum.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/model/source.hpp"
#include "runtime/bert.hpp"
#include "runtime/llama_loader.hpp"
#include "runtime/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace lowrank::runtime {

/// What a MODEL argument is, from its content: model::detect_file_kind (the model layer's one
/// sniffer; io_error naming the file when it does not exist or cannot be opened).
using model_file_kind = model::file_kind;
inline model_file_kind detect_model_file(const std::string& path) { return model::detect_file_kind(path); }

/// The source model of a factorised file, located and verified.
struct factorized_source {
    std::string format;  ///< "gguf" or "safetensors" (the source's format)
    std::string path;    ///< gguf: the GGUF file; safetensors: the directory with config.json
    bool verified = false;  ///< every recorded sha256 matched (false: the manifest recorded none)
};

/// Locates the source model of `fm` (the manifest's source.path, or `source_override`) and
/// checks the sha256 of each file the manifest lists (an override is matched by file name: a
/// directory holds the recorded files under their names; a file stands for the single one).
inline factorized_source locate_source(const factorized_model& fm, const std::string& source_override = {}) {
    namespace fs = std::filesystem;
    const nlohmann::json& man = fm.manifest();
    const std::string& file = fm.path();
    const nlohmann::json src = man.contains("source") && man["source"].is_object() ? man["source"] : nlohmann::json::object();
    factorized_source s;
    s.format = src.value("format", std::string{});
    std::string recorded;
    if (src.contains("path") && src["path"].is_string()) recorded = src["path"].get<std::string>();
    const std::string path = source_override.empty() ? recorded : source_override;
    if (path.empty())
        throw io_error(file, "the manifest records no source model (needed for the configuration and the tokenizer); "
                             "give it with --source");
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw io_error(file, "source model " + path + (source_override.empty() ? " (recorded in the manifest)" : "") +
                                 " does not exist; give its location with --source");
    if (s.format.empty()) s.format = detect_model_file(path) == model_file_kind::gguf ? "gguf" : "safetensors";
    if (s.format != "gguf" && s.format != "safetensors")
        throw io_error(file, "manifest: unknown source format '" + s.format + "'");
    if (s.format == "gguf") {
        if (detect_model_file(path) != model_file_kind::gguf)
            throw io_error(file, "source model " + path + " is not a GGUF file, but the manifest says the source was GGUF");
        const std::string layout = man.value("layout", std::string("hugging_face"));
        if (layout.rfind("hugging_face", 0) != 0)
            throw io_error(file, "manifest: layout '" + layout + "' is not the Hugging Face row order");
    }
    s.path = s.format == "gguf" || fs::is_directory(path) ? path : fs::path(path).parent_path().string();
    if (s.path.empty()) s.path = ".";
    // Hashes: each recorded file, at its recorded path or (override) under the override.
    const nlohmann::json files = src.contains("files") && src["files"].is_array() ? src["files"] : nlohmann::json::array();
    std::size_t checked = 0;
    for (const auto& f : files) {
        if (!f.is_object() || !f.contains("sha256") || !f["sha256"].is_string()) continue;
        const std::string rec = f.value("path", std::string{});
        std::string at = rec;
        if (!source_override.empty())
            at = fs::is_directory(source_override) ? (fs::path(source_override) / fs::path(rec).filename()).string()
                                                   : source_override;
        if (!fs::exists(at, ec))
            throw io_error(file, "source file " + at + " (sha256 recorded in the manifest) does not exist; give the "
                                 "source model's location with --source");
        const std::string got = sha256_file(at);
        const std::string want = f["sha256"].get<std::string>();
        if (got != want)
            throw io_error(file, "source file " + at + " has sha256 " + got + ", but the manifest records " + want +
                                     ": the source model changed since it was decomposed");
        ++checked;
    }
    s.verified = checked > 0;
    return s;
}

/// The family of a factorised file's Hugging Face source (its config.json, read from `dir`):
/// architecture_error naming the config.json when it is not a supported family.
inline model::family source_family(const nlohmann::json& cfg, const std::string& dir) {
    try {
        return model::family_from_config(cfg);
    } catch (const architecture_error& e) {
        throw architecture_error((std::filesystem::path(dir) / "config.json").string() + ": " + e.what());
    }
}

/// A Llama-family model opened from any MODEL argument.
struct opened_llama {
    llama_weights weights;
    model_file_kind kind = model_file_kind::unknown;
    std::optional<gguf_file> gguf;  ///< the GGUF with the tokenizer (the model, or the factorised file's source)
    std::optional<factorized_source> source;  ///< factorised file: its source model
    nlohmann::json manifest;        ///< factorised file: the manifest (null otherwise)
    std::size_t factorised_layers = 0;
    std::string hf_dir;             ///< the Hugging Face directory with the tokenizer files (when not GGUF)
};

/// Opens a GGUF file, a Hugging Face directory or a factorised file of a Llama-family model.
inline opened_llama open_llama(const std::string& path, const std::string& source_override = {},
                               std::size_t max_context = 4096, const load_options& opt = {}) {
    opened_llama o;
    o.kind = detect_model_file(path);
    switch (o.kind) {
        case model_file_kind::gguf: {
            const model::model_source ms = model::model_source::open(path);
            o.weights = load_llama(ms, max_context, opt);
            o.gguf = *ms.gguf();
            break;
        }
        case model_file_kind::hf_directory:
            o.weights = load_llama_hf(path, max_context, opt);
            o.hf_dir = path;
            break;
        case model_file_kind::factorized: {
            const model::model_source ms = model::model_source::open(path);
            const factorized_model& fm = *ms.factorized();
            o.source = locate_source(fm, source_override);
            o.manifest = fm.manifest();
            const weight_source src = weight_source_of(ms);
            load_options fo = opt;
            // Structured (pruned) models declare per-layer sizes; otherwise every shape must be
            // the source configuration's (which catches a source of another shape).
            const auto& man = fm.manifest();
            fo.shapes_from_tensors = man.contains("per_layer_shapes") && man["per_layer_shapes"].is_boolean() &&
                                     man["per_layer_shapes"].get<bool>();
            if (o.source->format == "gguf") {
                const model::model_source gs = model::model_source::open(o.source->path);  // the source's metadata only
                if (!gs.gguf()) throw io_error(o.source->path, "not a GGUF file");
                o.gguf = *gs.gguf();
                o.weights = build_llama(llama_config_from_gguf(*o.gguf, max_context), src, llama_names::gguf, fo);
            } else {
                const nlohmann::json cfg = read_hf_config(o.source->path);
                if (source_family(cfg, o.source->path) == model::family::bert)
                    throw io_error(path, "a factorised BERT model, not a Llama-family one (use embed or eval)");
                o.weights = build_llama(llama_config_from_hf(cfg, o.source->path + "/config.json", max_context), src,
                                        llama_names::hugging_face, fo);
                o.hf_dir = o.source->path;
            }
            for (const auto& t : fm.tensors()) o.factorised_layers += t.factored;
            break;
        }
        case model_file_kind::safetensors:
            throw io_error(path, "a plain safetensors file is not a model here: give its Hugging Face directory, a "
                                 "GGUF file or a lowrank factorised file");
        default: throw io_error(path, "not a GGUF file, a lowrank factorised file or a model directory");
    }
    return o;
}

/// The tokenizer of an opened Llama-family model: from its GGUF metadata (the model or the
/// factorised file's GGUF source), else from its Hugging Face directory (tokenizer.json or
/// tokenizer.model; see gguf_tokenizer::from_hf_dir). Throws naming the file on failure.
inline gguf_tokenizer open_llama_tokenizer(const opened_llama& o) {
    if (o.gguf) return gguf_tokenizer::from_gguf(*o.gguf);
    if (o.hf_dir.empty()) throw invalid_argument("open_llama_tokenizer: the model has no GGUF file and no directory");
    return gguf_tokenizer::from_hf_dir(o.hf_dir);
}

/// A BERT model opened from a Hugging Face directory or a factorised file.
struct opened_bert {
    bert_weights weights;
    model_file_kind kind = model_file_kind::unknown;
    std::string dir;  ///< the directory with config.json, vocab.txt, tokenizer_config.json
    std::optional<factorized_source> source;
    nlohmann::json manifest;
    std::size_t factorised_layers = 0;
};

/// True when `path` is a factorised file whose source is a BERT model (model::family_of_config
/// of its config.json), or a directory whose config says so. Never throws on a source it cannot find.
inline bool is_bert_model(const std::string& path, const std::string& source_override = {}) {
    namespace fs = std::filesystem;
    try {
        const auto kind = detect_model_file(path);
        std::string dir;
        if (kind == model_file_kind::hf_directory) dir = path;
        else if (kind == model_file_kind::factorized) {
            const model::model_source ms = model::model_source::open(path);
            const nlohmann::json& man = ms.factorized()->manifest();
            const auto& src = man.contains("source") ? man["source"] : nlohmann::json::object();
            if (src.value("format", std::string{}) == "gguf") return false;
            std::string p = source_override.empty() ? src.value("path", std::string{}) : source_override;
            if (p.empty()) return false;
            dir = fs::is_directory(p) ? p : fs::path(p).parent_path().string();
        } else {
            return false;
        }
        std::ifstream in(fs::path(dir) / "config.json");
        if (!in) return false;
        return model::family_of_config(nlohmann::json::parse(in)) == model::family::bert;
    } catch (const std::exception&) {
        return false;
    }
}

/// Opens a BERT Hugging Face directory or a factorised file of a BERT model.
inline opened_bert open_bert(const std::string& path, const std::string& source_override = {}) {
    opened_bert o;
    o.kind = detect_model_file(path);
    if (o.kind == model_file_kind::hf_directory) {
        o.dir = path;
        o.weights = load_bert_hf(path);
        return o;
    }
    if (o.kind != model_file_kind::factorized)
        throw io_error(path, "not a BERT model directory or a lowrank factorised file of one");
    const model::model_source ms = model::model_source::open(path);
    const factorized_model& fm = *ms.factorized();
    o.source = locate_source(fm, source_override);
    if (o.source->format != "safetensors") throw io_error(path, "the source model is a GGUF file, not a BERT directory");
    o.manifest = fm.manifest();
    o.dir = o.source->path;
    const std::string cp = (std::filesystem::path(o.dir) / "config.json").string();
    const nlohmann::json cfg = read_hf_config(o.dir);
    if (source_family(cfg, o.dir) != model::family::bert)
        throw io_error(path, "the source model (" + cp + ") is not a BERT model");
    o.weights = build_bert(bert_config_from_hf(cfg, cp), weight_source_of(ms));
    for (const auto& t : fm.tensors()) o.factorised_layers += t.factored;
    return o;
}

}  // namespace lowrank::runtime

// model_source: the one opener of model files. Every tool that reads a model's weights (inspect,
// decompose, the runtime loaders) opens it here and sees the same thing:
//
//   path given                          format        tensors                    family from
//   a file starting "GGUF" (or *.gguf)  gguf          the GGUF tensors           general.architecture
//   a .safetensors file                 safetensors   its tensors                config.json beside it,
//   a *.safetensors.index.json          safetensors   every shard's tensors        else the tensor names
//   a Hugging Face directory            safetensors   model.safetensors / index
//   a lowrank factorised file           factorized    the original tensors       the tensor names
//                                                     (dense or factorised)
// The kind comes from the content (GGUF magic, a safetensors header whose metadata says format
// "lowrank.factorized"); a file named *.gguf that is neither is read as GGUF, so that the error
// says what is wrong with it.
//
// Tensors are listed in file order (shard by shard, data order), each with its PyTorch shape
// ([out, in] for a weight), its stored dtype's name and its classification (model/names.hpp).
// load_f32() reads one tensor as float32, C order: GGUF tensors dequantised and, by default,
// Llama q/k rows un-permuted to the Hugging Face order; a factorised weight reconstructed.
// architecture() reads the design-space description from config.json or the GGUF metadata.
//
// Files are untrusted: everything is validated by the io/ readers, and every failure is a typed
// lowrank error naming the file (io_error; architecture_error for an unknown family). A
// model_source is cheap to copy (copies share the open files, which stay mapped while any copy
// lives). Nothing is ever written.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"
#include "lowrank/design/architecture.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"
#include "lowrank/io/safetensors.hpp"
#include "lowrank/model/architecture.hpp"
#include "lowrank/model/family.hpp"
#include "lowrank/model/names.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lowrank::model {

enum class source_format { gguf, safetensors, factorized };

inline constexpr std::string_view to_string(source_format f) {
    constexpr std::string_view n[] = {"gguf", "safetensors", "factorized"};
    return n[static_cast<int>(f)];
}

/// One tensor of a model file.
struct tensor_entry {
    std::string name;
    shape_t shape;      ///< PyTorch order: [out, in] for a weight
    std::string dtype;  ///< as stored: "F32", "BF16", "Q4_1", ... (factorised file: the original's)
    tensor_class cls;   ///< kind, role, layer (model/names.hpp)
};

class model_source {
public:
    /// Opens `path` (see the table above). Throws io_error naming the file when it does not
    /// exist or cannot be read, architecture_error when its family is not supported.
    static model_source open(const std::string& path) {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (!fs::exists(path, ec)) throw io_error(path, "no such file or directory");
        const bool file = !fs::is_directory(path, ec);
        if (file && is_gguf(path)) return from_gguf(read_gguf(path));
        auto s = std::make_shared<state>();
        s->path = path;
        if (file && factorized_model::is_factorized(path)) {
            s->format = source_format::factorized;
            s->fm.emplace(path);
            s->files = {path};
            s->dir = fs::path(path).parent_path();
            for (const auto& t : s->fm->tensors()) s->tensors.push_back({t.name, t.shape, t.dtype, {}});
            s->set_family(family_from_names(s->names()), "tensor names");
            return model_source(std::move(s));
        }
        if (file && has_gguf_extension(path)) return from_gguf(read_gguf(path));  // reports what is wrong with it
        s->format = source_format::safetensors;
        s->hf_dir = !file;
        s->st.emplace(safetensors_model::open(path));
        for (const auto* f : s->st->files()) s->files.push_back(f->path());
        s->dir = s->hf_dir ? fs::path(path) : fs::path(path).parent_path();
        for (const auto* f : s->st->files())
            for (const auto& e : f->entries()) s->tensors.push_back({e.name, e.shape, std::string(to_string(e.dtype)), {}});
        const fs::path config = s->dir / "config.json";
        if (fs::exists(config, ec)) {
            std::ifstream in(config);
            if (!in) throw io_error(config.string(), "cannot open");
            try {
                s->config = nlohmann::json::parse(in);
            } catch (const nlohmann::json::exception& e) {
                throw io_error(config.string(), std::string("not valid JSON: ") + e.what());
            }
            s->set_family(family_from_config(*s->config), config.string());
        } else {
            s->set_family(family_from_names(s->names()), "tensor names (no config.json)");
        }
        return model_source(std::move(s));
    }

    /// A source over an already parsed GGUF file (shares its mapping).
    static model_source from_gguf(gguf_file f) {
        auto s = std::make_shared<state>();
        s->path = f.path;
        s->format = source_format::gguf;
        s->files = {f.path};
        s->dir = std::filesystem::path(f.path).parent_path();
        s->gguf.emplace(std::move(f));
        for (const auto& t : s->gguf->tensors)
            s->tensors.push_back({t.name, shape_t(t.shape.begin(), t.shape.end()), std::string(to_string(t.type)), {}});
        const std::string a = s->gguf->architecture();
        s->set_family(family_from_name(a.empty() ? "(no general.architecture)" : a), "general.architecture = " + a);
        return model_source(std::move(s));
    }

    /// True when the file starts with the GGUF magic (the name does not matter).
    static bool is_gguf(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        char magic[4] = {};
        in.read(magic, 4);
        return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
    }

    static bool has_gguf_extension(const std::string& path) {
        return path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
    }

    const std::string& path() const { return s_->path; }
    source_format format() const { return s_->format; }
    /// True for a Hugging Face model directory.
    bool is_directory() const { return s_->hf_dir; }
    /// The directory with config.json and the tokenizer files ("" for a file in the working directory).
    const std::filesystem::path& directory() const { return s_->dir; }
    /// The files holding the weights (for provenance hashes), in order.
    const std::vector<std::string>& files() const { return s_->files; }
    model::family family() const { return s_->fam; }
    /// Where the family was read: "general.architecture = llama", a config.json path, "tensor names ...".
    const std::string& family_source() const { return s_->family_source; }
    /// The parsed config.json beside a safetensors model, if there is one.
    const nlohmann::json* config() const { return s_->config ? &*s_->config : nullptr; }

    const std::vector<tensor_entry>& tensors() const { return s_->tensors; }
    const tensor_entry* find(const std::string& name) const {
        auto it = s_->index.find(name);
        return it == s_->index.end() ? nullptr : &s_->tensors[it->second];
    }
    bool contains(const std::string& name) const { return find(name) != nullptr; }
    /// The tensor `name`; io_error naming the file when absent.
    const tensor_entry& tensor(const std::string& name) const {
        if (const auto* t = find(name)) return *t;
        throw io_error(s_->path, "tensor '" + name + "' is missing");
    }
    /// Layers, the decomposable weights by (layer, role), unknown and missing tensors.
    const model_layout& layout() const { return s_->layout; }

    /// The design-space description the files give (config.json or GGUF metadata), named `name`
    /// (default: model_type / general.architecture). Throws architecture_error when the model
    /// has no such description (a factorised file, a safetensors file without config.json, a
    /// BERT GGUF file), and invalid_argument / io_error for a malformed one.
    design::architecture architecture(std::string name = {}) const {
        if (s_->config) return architecture_from_config(*s_->config, std::move(name));
        if (s_->gguf) return architecture_from_gguf(*s_->gguf, std::move(name));
        throw architecture_error(s_->path + ": no config.json or GGUF metadata describes the model's architecture");
    }

    /// Tensor `name` as float32, C order in its PyTorch shape. GGUF: dequantised, in `layout`
    /// (Hugging Face row order by default). Factorised file: a factorised weight is reconstructed.
    std::vector<float> load_f32(const std::string& name, gguf_layout layout = gguf_layout::hugging_face) const {
        (void)tensor(name);  // io_error when absent
        if (s_->gguf) return load_tensor(*s_->gguf, s_->gguf->tensor(name), layout);
        if (s_->fm) return to_dense(s_->fm->at(name));
        return to_float(s_->st->view(name));
    }

    /// The underlying reader (null when the source has another format).
    const gguf_file* gguf() const { return s_->gguf ? &*s_->gguf : nullptr; }
    const safetensors_model* safetensors() const { return s_->st ? &*s_->st : nullptr; }
    const factorized_model* factorized() const { return s_->fm ? &*s_->fm : nullptr; }

private:
    struct state {
        std::string path;
        source_format format = source_format::safetensors;
        bool hf_dir = false;
        std::filesystem::path dir;
        std::vector<std::string> files;
        model::family fam = model::family::llama;
        std::string family_source;
        std::optional<nlohmann::json> config;
        std::optional<gguf_file> gguf;
        std::optional<safetensors_model> st;
        std::optional<factorized_model> fm;
        std::vector<tensor_entry> tensors;
        std::map<std::string, std::size_t> index;
        model_layout layout;

        std::vector<std::string> names() const {
            std::vector<std::string> n;
            for (const auto& t : tensors) n.push_back(t.name);
            return n;
        }
        void set_family(model::family f, std::string from) {
            fam = f;
            family_source = std::move(from);
            for (std::size_t i = 0; i < tensors.size(); ++i) {
                tensors[i].cls = classify_tensor(f, tensors[i].name);
                index[tensors[i].name] = i;
            }
            layout = layout_of(f, names());
        }
    };
    explicit model_source(std::shared_ptr<const state> s) : s_(std::move(s)) {}
    std::shared_ptr<const state> s_;
};

}  // namespace lowrank::model

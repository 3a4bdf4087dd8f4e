// model_source: the one opener of model files. Every tool that reads a model's weights (inspect,
// decompose, the runtime loaders) opens it here and sees the same thing:
//
//   path given                          format        tensors                    family from
//   a file starting "GGUF"              gguf          the GGUF tensors           general.architecture
//   a .safetensors file                 safetensors   its tensors                config.json beside it,
//   a *.safetensors.index.json          safetensors   every shard's tensors        else the tensor names
//   a Hugging Face directory            safetensors   model.safetensors / index
//   a lowrank factorised file           factorized    the original tensors       the tensor names
//                                                     (dense or factorised)
//   a lowrank factorised directory      factorized    the same, over its shards  the tensor names
//     (`lowrank merge`'s: lowrank_manifest.json + an index with format lowrank.factorized)
// The kind comes from the content (detect_file_kind: GGUF magic, a safetensors header whose
// metadata says format "lowrank.factorized"), never from the name; only a file that is none of
// these and is named *.gguf is read as GGUF, so that the error says what is wrong with it.
//
// Tensors are listed in file order (shard by shard, data order), each with its PyTorch shape
// ([out, in] for a weight), its stored dtype's name and its classification (model/names.hpp).
// load_f32() reads one tensor as float32, C order: GGUF tensors dequantised and, by default,
// q/k rows un-permuted to the Hugging Face order for the families whose GGUF converters
// interleave them (family_info::gguf_qk_interleaved: llama, including general.architecture
// "mistral"); a factorised weight reconstructed.
// architecture() reads the design-space description from config.json or the GGUF metadata.
//
// Files are untrusted: everything is validated by the io/ readers, and every failure is a typed
// lowrank error naming the file (io_error; architecture_error, prefixed with the file the family
// was read from, for an unknown family). A
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

/// What a path holds, judged from its content.
enum class file_kind {
    gguf,          ///< starts with the GGUF magic
    hf_directory,  ///< a directory (a Hugging Face model directory, if anything)
    safetensors,   ///< a safetensors file (its header parses)
    factorized,    ///< a safetensors file whose metadata says format "lowrank.factorized", or a
                   ///< factorised directory (`lowrank merge`'s output; factorized_model::is_factorized)
    unknown,       ///< none of these (e.g. a *.safetensors.index.json, or junk)
};

/// What `path` is, from its content (never its name). Throws io_error naming the file when it
/// does not exist or cannot be opened; a file whose content is none of the above is `unknown`.
inline file_kind detect_file_kind(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec))
        return factorized_model::is_factorized(path) ? file_kind::factorized : file_kind::hf_directory;
    if (!fs::exists(path, ec)) throw io_error(path, "no such file or directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error(path, "cannot open");
    char magic[4] = {};
    in.read(magic, 4);
    if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) return file_kind::gguf;
    in.close();
    try {
        const safetensors_file f(path);
        const auto it = f.metadata().find("format");
        return it != f.metadata().end() && it->second == factorized_format ? file_kind::factorized : file_kind::safetensors;
    } catch (const error&) {
        return file_kind::unknown;
    }
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
        const file_kind kind = detect_file_kind(path);
        if (kind == file_kind::gguf || (kind == file_kind::unknown && has_gguf_extension(path)))
            return from_gguf(read_gguf(path));  // (a broken *.gguf: read_gguf says what is wrong with it)
        auto s = std::make_shared<state>();
        s->path = path;
        if (kind == file_kind::factorized) {
            s->format = source_format::factorized;
            s->fm.emplace(path);
            for (const auto* f : s->fm->storage().files()) s->files.push_back(f->path());
            s->dir = s->fm->is_directory() ? fs::path(path) : fs::path(path).parent_path();
            for (const auto& t : s->fm->tensors()) s->tensors.push_back({t.name, t.shape, t.dtype, {}});
            s->set_family(named(path, [&] { return family_from_names(s->names()); }), "tensor names");
            return model_source(std::move(s));
        }
        s->format = source_format::safetensors;
        s->hf_dir = kind == file_kind::hf_directory;
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
            s->set_family(named(config.string(), [&] { return family_from_config(*s->config); }), config.string());
        } else {
            s->set_family(named(path, [&] { return family_from_names(s->names()); }), "tensor names (no config.json)");
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
        s->set_family(named(s->path, [&] { return family_from_name(a.empty() ? "(no general.architecture)" : a); }),
                      "general.architecture = " + a);
        return model_source(std::move(s));
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
        if (s_->gguf) return load_tensor(*s_->gguf, s_->gguf->tensor(name), layout, traits(s_->fam).gguf_qk_interleaved);
        if (s_->fm) return to_dense(s_->fm->at(name));
        return to_float(s_->st->view(name));
    }

    /// Releases the resident pages of tensor `name`'s stored bytes (after they have been read,
    /// e.g. by load_f32): they are clean pages of a read-only file mapping, so this only lowers
    /// the process's resident set (RssFile); a later read maps them back from the file. Bounds
    /// the memory of a pass over a model larger than RAM. No-op for a GGUF image the caller
    /// parsed from its own buffer. Never throws on a present tensor.
    void release_pages(const std::string& name) const {
        (void)tensor(name);  // io_error when absent
        if (s_->gguf) {
            if (!s_->gguf->file_mapped) return;
            const auto b = s_->gguf->tensor_bytes(s_->gguf->tensor(name));
            lowrank::detail::release_mapped_pages(b.data(), b.size());
        } else if (s_->fm) {
            const auto& t = s_->fm->at(name);
            for (const tensor_view* v : {&t.dense, &t.u, &t.v}) lowrank::detail::release_mapped_pages(v->bytes.data(), v->bytes.size());
            if (t.core) lowrank::detail::release_mapped_pages(t.core->bytes.data(), t.core->bytes.size());
        } else {
            const auto b = s_->st->view(name).bytes;
            lowrank::detail::release_mapped_pages(b.data(), b.size());
        }
    }

    /// GGUF: the head count by which the file's converter interleaved tensor `name`'s rows (q/k of
    /// a family with family_info::gguf_qk_interleaved), to re-permute rows written back to GGUF;
    /// 0 when they are stored as in Hugging Face, or the source is not GGUF.
    std::uint32_t gguf_qk_heads(const std::string& name) const {
        if (!s_->gguf || !traits(s_->fam).gguf_qk_interleaved) return 0;
        return interleaved_qk_heads(*s_->gguf, s_->gguf->tensor(name));
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
    /// fn(), with an architecture_error's message prefixed by `file` (where the family was read).
    template <class Fn>
    static model::family named(const std::string& file, Fn&& fn) {
        try {
            return fn();
        } catch (const architecture_error& e) {
            throw architecture_error(file + ": " + e.what());
        }
    }
    std::shared_ptr<const state> s_;
};

/// Parameter counts of a model file: all, the decomposable weights, and per tensor kind.
struct parameter_counts {
    std::uint64_t total = 0, decomposable = 0;
    std::map<tensor_kind, std::uint64_t> by_kind;
};

inline parameter_counts count_parameters(const model_source& m) {
    parameter_counts c;
    for (const auto& t : m.tensors()) {
        const std::uint64_t n = numel(t.shape);
        c.total += n;
        if (t.cls.decomposable()) c.decomposable += n;
        c.by_kind[t.cls.kind] += n;
    }
    return c;
}

}  // namespace lowrank::model

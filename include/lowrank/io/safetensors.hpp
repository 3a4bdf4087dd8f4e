// safetensors files: memory-mapped reader with zero-copy views, sharded checkpoints
// (model.safetensors.index.json), conversion to float/double, and an atomic writer.
//
//   auto m = lowrank::safetensors_model::open("path/to/hf_dir");   // or a .safetensors / index .json
//   for (const auto& name : m.names()) {
//       lowrank::tensor_view t = m.view(name);         // bytes in the mmap, no copy
//       std::vector<float> w = lowrank::to_float(t);   // F32/F16/BF16/F64/ints -> float
//   }
//
// Files are untrusted: see detail/safetensors_header.hpp for what is validated. Every problem
// throws lowrank::io_error naming the file, the byte offset and the tensor. Shapes are as
// stored, which for Hugging Face checkpoints is already PyTorch [out, in].
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"
#include "lowrank/io/detail/file.hpp"
#include "lowrank/core/half.hpp"
#include "lowrank/io/detail/safetensors_header.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace lowrank {

namespace detail {

/// The JSON document in file `path`; io_error naming the file (and, for a syntax error, the byte
/// offset) otherwise. Messages: "cannot open <what_open>", "<what> is not valid JSON: …",
/// "<what> JSON cannot be represented: …" (e.g. a number too large).
inline nlohmann::json read_json_file(const std::string& path, const std::string& what_open, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error(path, "cannot open " + what_open);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw io_error(path, e.byte > 0 ? e.byte - 1 : 0, what + " is not valid JSON: " + e.what());
    } catch (const nlohmann::json::exception& e) {
        throw io_error(path, 0, what + " JSON cannot be represented: " + e.what());
    }
}

}  // namespace detail

/// A parsed safetensors header: its length, where the data starts, the entries (sorted by their
/// begin offset) and the __metadata__ strings.
using safetensors_header = detail::safetensors_header;

/// Parses and validates the header of an in-memory safetensors file of `size` bytes exactly as
/// safetensors_file does: on success every entry's [begin, end) lies inside the data section;
/// otherwise io_error naming `name` and the byte offset. (For bytes already in memory: fuzzers.)
inline safetensors_header parse_safetensors_header(const std::byte* p, std::uint64_t size, const std::string& name) {
    return detail::parse_safetensors_header(p, size, name);
}

/// A tensor's bytes inside a mapped file (valid while the owning file/model lives).
struct tensor_view {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::F32;
    shape_t shape;                     ///< as stored; PyTorch [out, in] for linear weights
    std::span<const std::byte> bytes;  ///< numel(shape) * dtype_size(dtype) bytes, C order, little-endian
    std::string file;                  ///< the file it lives in
    std::uint64_t file_offset = 0;     ///< where its data starts in that file

    std::size_t size() const { return numel(shape); }
};

/// Converts a tensor of any dtype to T (float or double), writing size() elements to `out`.
template <class T>
void convert_to(const tensor_view& t, T* out) {
    static_assert(std::is_floating_point_v<T>);
    const std::size_t n = t.size();
    const std::byte* src = t.bytes.data();
    auto each = [&](auto tag) {
        using S = decltype(tag);
        for (std::size_t i = 0; i < n; ++i) {
            S v;
            std::memcpy(&v, src + i * sizeof(S), sizeof(S));
            out[i] = static_cast<T>(v);
        }
    };
    auto each16 = [&](auto fn) {
        for (std::size_t i = 0; i < n; ++i) {
            std::uint16_t v;
            std::memcpy(&v, src + 2 * i, 2);
            out[i] = static_cast<T>(fn(v));
        }
    };
    switch (t.dtype) {
        case safetensors_dtype::BOOL:
            for (std::size_t i = 0; i < n; ++i) out[i] = src[i] != std::byte{0} ? T(1) : T(0);
            break;
        case safetensors_dtype::U8: each(std::uint8_t{}); break;
        case safetensors_dtype::I8: each(std::int8_t{}); break;
        case safetensors_dtype::U16: each(std::uint16_t{}); break;
        case safetensors_dtype::I16: each(std::int16_t{}); break;
        case safetensors_dtype::F16: each16(half_to_float); break;
        case safetensors_dtype::BF16: each16(bf16_to_float); break;
        case safetensors_dtype::U32: each(std::uint32_t{}); break;
        case safetensors_dtype::I32: each(std::int32_t{}); break;
        case safetensors_dtype::F32: each(float{}); break;
        case safetensors_dtype::U64: each(std::uint64_t{}); break;
        case safetensors_dtype::I64: each(std::int64_t{}); break;
        case safetensors_dtype::F64: each(double{}); break;
    }
}

/// The tensor converted to float (C order, same shape).
inline std::vector<float> to_float(const tensor_view& t) {
    std::vector<float> v(t.size());
    convert_to(t, v.data());
    return v;
}
inline std::vector<double> to_double(const tensor_view& t) {
    std::vector<double> v(t.size());
    convert_to(t, v.data());
    return v;
}

/// The bytes of `v` stored as `dtype` (F32, F16, BF16 rounded to nearest even, or F64), little
/// endian; the inverse of to_float. Throws invalid_argument for the integer dtypes.
inline std::vector<std::byte> from_float(std::span<const float> v, safetensors_dtype dtype) {
    std::vector<std::byte> out(v.size() * dtype_size(dtype));
    auto put16 = [&](std::size_t i, std::uint16_t h) { std::memcpy(out.data() + 2 * i, &h, 2); };
    switch (dtype) {
        case safetensors_dtype::F32:
            if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
            break;
        case safetensors_dtype::F16:
            for (std::size_t i = 0; i < v.size(); ++i) put16(i, float_to_half(v[i]));
            break;
        case safetensors_dtype::BF16:
            for (std::size_t i = 0; i < v.size(); ++i) put16(i, float_to_bf16(v[i]));
            break;
        case safetensors_dtype::F64:
            for (std::size_t i = 0; i < v.size(); ++i) {
                const double x = v[i];
                std::memcpy(out.data() + 8 * i, &x, 8);
            }
            break;
        default: throw invalid_argument("from_float: cannot store floats as " + std::string(to_string(dtype)));
    }
    return out;
}

/// One memory-mapped .safetensors file. Move-only; views borrow its mapping.
class safetensors_file {
public:
    explicit safetensors_file(const std::string& path) : map_(path) {
        header_ = detail::parse_safetensors_header(map_.data(), map_.size(), path);
        for (std::size_t i = 0; i < header_.entries.size(); ++i) index_[header_.entries[i].name] = i;
    }

    const std::string& path() const { return map_.path(); }
    /// Tensor entries in data order.
    const std::vector<safetensors_entry>& entries() const { return header_.entries; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    /// File offset of the data section (8 + header length).
    std::uint64_t data_start() const { return header_.data_start; }

    const safetensors_entry* find(const std::string& name) const {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &header_.entries[it->second];
    }
    bool contains(const std::string& name) const { return find(name) != nullptr; }

    /// Zero-copy view of a tensor; io_error when the file has no tensor of that name.
    tensor_view view(const std::string& name) const {
        const safetensors_entry* e = find(name);
        if (!e) throw io_error(path(), "no tensor named '" + name + "'");
        return view(*e);
    }
    tensor_view view(const safetensors_entry& e) const {
        const std::byte* base = map_.data() + header_.data_start;
        return {e.name, e.dtype, e.shape, {base + e.begin, static_cast<std::size_t>(e.end - e.begin)}, path(),
                header_.data_start + e.begin};
    }

private:
    detail::readonly_map map_;
    detail::safetensors_header header_;
    std::map<std::string, std::size_t> index_;
};

/// A checkpoint: one .safetensors file or several shards listed by an index JSON
/// ({"metadata": {...}, "weight_map": {"tensor": "shard file", ...}}).
class safetensors_model {
public:
    /// Opens `path`: a .safetensors file, a *.safetensors.index.json, or a directory holding
    /// model.safetensors.index.json or model.safetensors.
    static safetensors_model open(const std::string& path) {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (fs::is_directory(path, ec)) {
            const fs::path dir(path);
            if (fs::exists(dir / "model.safetensors.index.json")) return open_index((dir / "model.safetensors.index.json").string());
            if (fs::exists(dir / "model.safetensors")) return open((dir / "model.safetensors").string());
            throw io_error(path, "directory holds neither model.safetensors.index.json nor model.safetensors");
        }
        if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return open_index(path);
        safetensors_model m;
        m.files_.push_back(std::make_unique<safetensors_file>(path));
        for (const auto& e : m.files_[0]->entries()) m.where_[e.name] = 0;
        m.metadata_ = m.files_[0]->metadata();
        return m;
    }

    /// Opens a sharded checkpoint from its index JSON. Shard names must be plain file names
    /// in the index's directory; every tensor must be in the shard the index names, and every
    /// tensor of a shard must be listed in the index.
    static safetensors_model open_index(const std::string& index_path) {
        namespace fs = std::filesystem;
        const nlohmann::json j = detail::read_json_file(index_path, "the safetensors index", "index");
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            throw io_error(index_path, 0, "index has no \"weight_map\" object");
        safetensors_model m;
        if (j.contains("metadata") && j["metadata"].is_object())
            for (auto it = j["metadata"].begin(); it != j["metadata"].end(); ++it)
                m.metadata_[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
        const fs::path dir = fs::path(index_path).parent_path();
        std::map<std::string, std::size_t> shard_of_file;
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it.value().is_string())
                throw io_error(index_path, "weight_map entry for '" + it.key() + "' is not a file name");
            const std::string shard = it.value().get<std::string>();
            if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
                shard == "." || shard == "..")
                throw io_error(index_path, "weight_map entry for '" + it.key() + "' names '" + shard +
                                               "', which is not a plain file name in the index's directory");
            auto [pos, inserted] = shard_of_file.try_emplace(shard, m.files_.size());
            if (inserted) m.files_.push_back(std::make_unique<safetensors_file>((dir / shard).string()));
            const safetensors_file& f = *m.files_[pos->second];
            if (!f.contains(it.key()))
                throw io_error(f.path(), "the index " + index_path + " places tensor '" + it.key() +
                                             "' in this shard, which does not hold it");
            m.where_[it.key()] = pos->second;
        }
        for (const auto& f : m.files_)
            for (const auto& e : f->entries())
                if (m.where_.find(e.name) == m.where_.end())
                    throw io_error(f->path(), e.header_at, "tensor '" + e.name + "' is not listed in the index " + index_path);
        return m;
    }

    /// Tensor names, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> v;
        v.reserve(where_.size());
        for (const auto& [k, _] : where_) v.push_back(k);
        return v;
    }
    std::size_t size() const { return where_.size(); }
    bool contains(const std::string& name) const { return where_.count(name) != 0; }
    tensor_view view(const std::string& name) const {
        auto it = where_.find(name);
        if (it == where_.end()) throw io_error(files_.empty() ? "" : files_[0]->path(), "no tensor named '" + name + "'");
        return files_[it->second]->view(name);
    }
    /// The entry (dtype, shape, offsets) of a tensor; nullptr when absent.
    const safetensors_entry* find(const std::string& name) const {
        auto it = where_.find(name);
        return it == where_.end() ? nullptr : files_[it->second]->find(name);
    }
    /// __metadata__ of a single file, or the index's "metadata" (non-string values as JSON text).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    /// The shard files, in the order first named by the index.
    std::vector<const safetensors_file*> files() const {
        std::vector<const safetensors_file*> v;
        for (const auto& f : files_) v.push_back(f.get());
        return v;
    }

private:
    std::vector<std::unique_ptr<safetensors_file>> files_;
    std::map<std::string, std::size_t> where_;  // tensor name -> index into files_
    std::map<std::string, std::string> metadata_;
};

/// Declaration of one tensor to write.
struct safetensors_spec {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::F32;
    shape_t shape;
};

/// Streaming writer: the header is written from the declared specs, then each tensor's bytes
/// in declaration order (one tensor in memory at a time), then commit() renames the temp file
/// to `path`. Destroyed without commit(), it leaves nothing under `path`.
class safetensors_writer {
public:
    safetensors_writer(std::string path, std::vector<safetensors_spec> specs,
                       const std::map<std::string, std::string>& metadata = {})
        : path_(std::move(path)), out_(path_) {
        std::uint64_t pos = 0;
        std::map<std::string, int> seen;
        for (auto& s : specs) {
            if (s.name.empty() || s.name == "__metadata__")
                throw invalid_argument("safetensors_writer: invalid tensor name '" + s.name + "'");
            if (seen[s.name]++) throw invalid_argument("safetensors_writer: duplicate tensor name '" + s.name + "'");
            const std::size_t n = numel(s.shape);
            if (n > static_cast<std::size_t>(-1) / dtype_size(s.dtype))
                throw shape_error("safetensors_writer: tensor '" + s.name + "' byte size overflows");
            safetensors_entry e{s.name, s.dtype, s.shape, pos, pos + n * dtype_size(s.dtype), 0};
            pos = e.end;
            entries_.push_back(std::move(e));
        }
        std::string header;
        try {
            header = detail::safetensors_header_text(entries_, metadata);
        } catch (const nlohmann::json::exception& e) {
            throw invalid_argument(std::string("safetensors_writer: names and metadata must be valid UTF-8: ") + e.what());
        }
        out_.write(detail::le_bytes(header.size()));
        out_.write(header);
    }

    /// Writes the next declared tensor's bytes (exactly numel * dtype_size of its spec).
    void write(std::span<const std::byte> data) {
        if (next_ >= entries_.size()) throw invalid_argument("safetensors_writer: more tensors written than declared");
        const auto& e = entries_[next_];
        if (data.size() != e.end - e.begin)
            throw shape_error("safetensors_writer: tensor '" + e.name + "' needs " + std::to_string(e.end - e.begin) +
                              " bytes, got " + std::to_string(data.size()));
        out_.write(data.data(), data.size());
        ++next_;
    }
    template <class T>
    void write(const std::vector<T>& v) {
        write(std::as_bytes(std::span<const T>(v)));
    }
    /// Name of the tensor write() expects next.
    const std::string& next_name() const { return entries_.at(next_).name; }

    void commit() {
        if (next_ != entries_.size())
            throw invalid_argument("safetensors_writer: " + std::to_string(entries_.size() - next_) +
                                   " declared tensors were not written (next: '" + entries_[next_].name + "')");
        out_.commit();
    }

private:
    std::string path_;
    detail::atomic_writer out_;
    std::vector<safetensors_entry> entries_;
    std::size_t next_ = 0;
};

/// A tensor to save in one call: spec plus its bytes.
struct safetensors_tensor {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::F32;
    shape_t shape;
    std::span<const std::byte> bytes;
};

/// Writes all `tensors` (in the given order) to `path` atomically.
inline void safetensors_save(const std::string& path, const std::vector<safetensors_tensor>& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
    std::vector<safetensors_spec> specs;
    for (const auto& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
    safetensors_writer w(path, std::move(specs), metadata);
    for (const auto& t : tensors) w.write(t.bytes);
    w.commit();
}

}  // namespace lowrank

// The factorised model format: a safetensors file in which each decomposed weight is replaced
// by its low-rank factors under self-describing names, every other tensor is kept under its
// own name, and `__metadata__` carries a JSON manifest.
//
// Names. For a decomposed weight called N (`model.layers.3.self_attn.q_proj.weight`,
// `blk.3.attn_q.weight`, ...) let B be N without a trailing ".weight" (N itself otherwise).
// With W of shape [out, in] (PyTorch order) and rank r:
//   form "tucker2"  B.lowrank.u     [out, r]  U1, orthonormal columns
//                   B.lowrank.core  [r, r]    G
//                   B.lowrank.v     [in, r]   U2, orthonormal columns     W ≈ u · core · vᵀ
//   form "svd"      B.lowrank.u     [out, r]  U·diag(s)  (singular values folded into u)
//                   B.lowrank.v     [in, r]   V, orthonormal columns      W ≈ u · vᵀ
// So a factorised linear layer y = W x runs as y = u (core (vᵀ x)). Factors are F32 (any float
// dtype is accepted on reading). Both factors keep the dense dimension first, so `v` is the
// transpose of the usual Vt.
//
// Metadata (all strings, as safetensors requires):
//   "format"            "lowrank.factorized"
//   "lowrank.version"   "1"
//   "lowrank.manifest"  JSON text: an object whose "tensors" array lists every original tensor
//                       in file order, {"name", "shape", "dtype"} plus, when decomposed,
//                       {"form", "rank", "factors": {"u", "core"?, "v"}} and
//                       "parameters_before"/"parameters_after"; the writer's caller adds any
//                       other fields (the `lowrank decompose` manifest: γ, source, errors, ...).
//
// The writer streams: each tensor's bytes go to an unlinked temporary data file as they are
// produced (one tensor in memory at a time); commit() writes header + data to a temp file
// beside the target and renames it, so nothing appears under the final name unless the whole
// file was written. The reader validates the manifest against the file (every factor present,
// shapes consistent, no tensor unaccounted for) and throws io_error naming the file otherwise.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace lowrank {

inline constexpr const char* factorized_format = "lowrank.factorized";

/// B of the naming rule: `name` without a trailing ".weight".
inline std::string factor_base(const std::string& name) {
    const std::string w = ".weight";
    if (name.size() > w.size() && name.compare(name.size() - w.size(), w.size(), w) == 0)
        return name.substr(0, name.size() - w.size());
    return name;
}
/// Name of factor `part` ("u", "core" or "v") of the weight called `name`.
inline std::string factor_name(const std::string& name, const std::string& part) {
    return factor_base(name) + ".lowrank." + part;
}

/// One original tensor as the reader sees it: dense, or factorised.
struct factorized_tensor {
    std::string name;                 ///< original name
    shape_t shape;                    ///< original shape ([out, in] for a weight)
    std::string dtype;                ///< original dtype name ("F32", "BF16", "Q4_1", ...)
    bool factored = false;
    factor_form form = factor_form::svd;
    std::size_t rank = 0;             ///< r (factored only)
    tensor_view dense;                ///< !factored: the tensor itself
    tensor_view u;                    ///< [out, r]
    std::optional<tensor_view> core;  ///< [r, r], tucker2 form only
    tensor_view v;                    ///< [in, r]
    nlohmann::json info;              ///< the manifest entry (errors, seconds, ... when present)

    std::uint64_t parameters_before() const { return numel(shape); }
    std::uint64_t parameters_after() const {
        return factored ? factored_parameters(shape[0], shape[1], rank, form) : numel(shape);
    }
};

/// Reconstructs W (C order, [out, in]) from the factors, or converts the dense tensor to float.
std::vector<float> to_dense(const factorized_tensor& t);

/// The file, in a factorised model directory, that holds the whole manifest.
inline constexpr const char* factorized_manifest_file = "lowrank_manifest.json";

/// A factorised model opened for reading (memory-mapped; views borrow the mappings). Either
///  - a single factorised file (the format above), or
///  - a factorised directory, as `lowrank merge` writes it: shards model-0000k-of-0000n.safetensors,
///    each a factorised file of its own (its manifest lists the original tensors it stores),
///    model.safetensors.index.json (Hugging Face sharded layout, weight_map over the stored names)
///    and lowrank_manifest.json (the whole manifest: every original tensor in source order plus
///    the decomposition's fields). A directory is factorised when it holds lowrank_manifest.json
///    and an index whose metadata says format "lowrank.factorized" (a folded Hugging Face output
///    directory holds a lowrank_manifest.json too, and stays a plain model directory).
///    The whole manifest must agree with the shards': every tensor listed once in exactly one
///    shard, with the same record; io_error naming the file that disagrees otherwise.
/// Either way the reader validates every manifest record against the stored tensors (every factor
/// present with the right shape, no stored tensor unaccounted for) and throws io_error naming
/// the file otherwise.
class factorized_model {
public:
    explicit factorized_model(const std::string& path);

    /// True when `path` is a safetensors file whose metadata says format lowrank.factorized, or a
    /// factorised directory (see above). Never throws.
    static bool is_factorized(const std::string& path);

    /// The path opened (the file, or the directory).
    const std::string& path() const { return path_; }
    /// True for a factorised directory.
    bool is_directory() const { return directory_; }
    const nlohmann::json& manifest() const { return manifest_; }
    /// Original tensors, in manifest (file) order.
    const std::vector<factorized_tensor>& tensors() const { return tensors_; }
    const factorized_tensor& at(const std::string& name) const;
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    /// The stored tensors (factors and dense tensors) under their stored names, over every file.
    const safetensors_model& storage() const { return storage_; }

    std::uint64_t parameters_before() const;
    std::uint64_t parameters_after() const;

private:
    void check_directory_manifest() const;
    std::string path_;
    bool directory_ = false;
    safetensors_model storage_;
    nlohmann::json manifest_;
    std::vector<factorized_tensor> tensors_;
    std::map<std::string, std::size_t> index_;
};

/// Streaming writer of a factorised file. Add tensors in the order they should appear, then
/// commit(extra) with the caller's manifest fields. Destroyed without commit(), it leaves
/// nothing behind (the data file is unlinked from creation on).
class factorized_writer {
public:
    explicit factorized_writer(std::string path);
    factorized_writer(const factorized_writer&) = delete;
    factorized_writer& operator=(const factorized_writer&) = delete;
    ~factorized_writer();

    /// An untouched tensor, written as `dtype` with the given bytes (numel(shape)·size bytes).
    /// `info` is merged into its manifest entry; `source_dtype` defaults to dtype's name.
    void add_dense(const std::string& name, safetensors_dtype dtype, const shape_t& shape,
                   std::span<const std::byte> bytes, nlohmann::json info = nlohmann::json::object(),
                   std::string source_dtype = {});
    /// A decomposed weight of shape [out, in]: u [out, r], core [r, r] (tucker2 form only,
    /// else empty), v [in, r], all C order.
    void add_factored(const std::string& name, const shape_t& shape, factor_form form, std::size_t rank,
                      std::span<const float> u, std::span<const float> core, std::span<const float> v,
                      std::string source_dtype, nlohmann::json info = nlohmann::json::object());

    /// The manifest so far ("tensors" plus totals).
    nlohmann::json manifest() const;
    /// Writes the file: header with `extra` merged into the manifest, then the data; renames.
    void commit(const nlohmann::json& extra = nlohmann::json::object());

private:
    void append(const std::string& name, safetensors_dtype dtype, const shape_t& shape, std::span<const std::byte> b);
    std::string path_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::vector<safetensors_entry> entries_;
    nlohmann::json tensors_ = nlohmann::json::array();
    std::uint64_t before_ = 0, after_ = 0;
};

}  // namespace lowrank

#include "lowrank/io/detail/factorized_impl.hpp"

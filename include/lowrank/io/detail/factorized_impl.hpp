// Implementation of lowrank/io/factorized.hpp (included at its end).
#pragma once

#include "lowrank/io/factorized.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace lowrank {

namespace detail {

inline nlohmann::json factorized_manifest_of(const safetensors_file& f) {
    const auto& md = f.metadata();
    auto fmt = md.find("format");
    auto man = md.find("lowrank.manifest");
    if (fmt == md.end() || fmt->second != factorized_format || man == md.end())
        throw io_error(f.path(), 8, "not a lowrank factorised file (__metadata__ lacks format \"lowrank.factorized\" "
                                    "and \"lowrank.manifest\")");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(man->second);
    } catch (const nlohmann::json::exception& e) {
        throw io_error(f.path(), 8, std::string("lowrank.manifest is not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("tensors") || !j["tensors"].is_array())
        throw io_error(f.path(), 8, "lowrank.manifest has no \"tensors\" array");
    return j;
}

inline bool is_float_dtype(safetensors_dtype d) {
    return d == safetensors_dtype::F32 || d == safetensors_dtype::F16 || d == safetensors_dtype::BF16 ||
           d == safetensors_dtype::F64;
}


/// The whole manifest of a factorised directory (its lowrank_manifest.json), shaped like a file's.
inline nlohmann::json factorized_directory_manifest(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / factorized_manifest_file).string();
    nlohmann::json j = read_json_file(path, "the manifest", "the manifest");
    if (!j.is_object() || !j.contains("tensors") || !j["tensors"].is_array())
        throw io_error(path, 0, "the manifest has no \"tensors\" array");
    return j;
}

}  // namespace detail

inline bool factorized_model::is_factorized(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        // What `lowrank merge` writes: lowrank_manifest.json, and an index whose metadata says
        // format lowrank.factorized (a folded Hugging Face directory has a manifest too, but a
        // plain index or model.safetensors).
        const auto dir = std::filesystem::path(path);
        if (!std::filesystem::is_regular_file(dir / factorized_manifest_file, ec)) return false;
        std::ifstream in(dir / "model.safetensors.index.json", std::ios::binary);
        if (!in) return false;
        const auto j = nlohmann::json::parse(in, nullptr, false);
        return j.is_object() && j.contains("metadata") && j["metadata"].is_object() &&
               j["metadata"].value("format", std::string{}) == factorized_format;
    }
    try {
        safetensors_file f(path);
        auto it = f.metadata().find("format");
        return it != f.metadata().end() && it->second == factorized_format;
    } catch (const error&) {
        return false;
    }
}

inline factorized_model::factorized_model(const std::string& path) : path_(path) {
    std::error_code ec;
    directory_ = std::filesystem::is_directory(path, ec);
    if (directory_) {
        const auto dir = std::filesystem::path(path), index = dir / "model.safetensors.index.json";
        auto not_factorised = [&] {
            throw io_error(path, "not a lowrank factorised directory (it needs " + std::string(factorized_manifest_file) +
                                     " and a model.safetensors.index.json whose metadata says format \"" +
                                     factorized_format + "\", as `lowrank merge` writes them)");
        };
        if (!std::filesystem::is_regular_file(dir / factorized_manifest_file, ec) ||
            !std::filesystem::is_regular_file(index, ec))
            not_factorised();
        storage_ = safetensors_model::open_index(index.string());
        const auto format = storage_.metadata().find("format");
        if (format == storage_.metadata().end() || format->second != factorized_format) not_factorised();
        manifest_ = detail::factorized_directory_manifest(path);
        check_directory_manifest();
    } else {
        storage_ = safetensors_model::open(path);
        manifest_ = detail::factorized_manifest_of(*storage_.files().front());
    }
    // Errors about a record name the file that holds the record: the file, or lowrank_manifest.json.
    const std::string record_file =
        directory_ ? (std::filesystem::path(path) / factorized_manifest_file).string() : path;
    std::set<std::string> used;
    auto fail = [&](const std::string& who, const std::string& what) {
        throw io_error(record_file, directory_ ? 0 : 8, "lowrank.manifest: tensor '" + who + "': " + what);
    };
    // Factors must be float; an untouched dense tensor keeps its own dtype (e.g. BERT's int64
    // embeddings.position_ids).
    auto need = [&](const std::string& who, const std::string& name, const shape_t& shape, bool factor = true) {
        const char* what = factor ? "factor" : "tensor";
        const safetensors_entry* e = storage_.find(name);
        if (!e) fail(who, std::string(what) + " '" + name + "' is missing from the " + (directory_ ? "directory" : "file"));
        if (e->shape != shape)
            fail(who, std::string(what) + " '" + name + "' has shape " + to_string(e->shape) + ", expected " + to_string(shape));
        if (factor && !detail::is_float_dtype(e->dtype)) fail(who, "factor '" + name + "' is not a float tensor");
        if (!used.insert(name).second) fail(who, "factor '" + name + "' is used twice");
        return storage_.view(name);
    };
    for (const auto& j : manifest_["tensors"]) {
        factorized_tensor t;
        try {
            t.name = j.at("name").get<std::string>();
            for (const auto& d : j.at("shape")) t.shape.push_back(d.get<std::size_t>());
            t.dtype = j.value("dtype", std::string{});
            t.factored = j.contains("factors");
            if (t.factored) {
                const std::string form = j.at("form").get<std::string>();
                if (form != "svd" && form != "tucker2") fail(t.name, "unknown form '" + form + "'");
                t.form = form == "svd" ? factor_form::svd : factor_form::tucker2;
                t.rank = j.at("rank").get<std::size_t>();
            }
        } catch (const nlohmann::json::exception& e) {
            fail(t.name, std::string("malformed entry: ") + e.what());
        }
        if (index_.count(t.name)) fail(t.name, "listed twice");
        if (t.factored) {
            if (t.shape.size() != 2) fail(t.name, "a factorised tensor must be a matrix");
            if (t.rank == 0 || t.rank > std::min(t.shape[0], t.shape[1]))
                fail(t.name, "rank " + std::to_string(t.rank) + " outside [1, min(out, in)]");
            const auto& fs = j["factors"];
            const std::size_t r = t.rank;
            try {
                t.u = need(t.name, fs.at("u").get<std::string>(), {t.shape[0], r});
                t.v = need(t.name, fs.at("v").get<std::string>(), {t.shape[1], r});
                if (t.form == factor_form::tucker2) t.core = need(t.name, fs.at("core").get<std::string>(), {r, r});
            } catch (const nlohmann::json::exception& e) {
                fail(t.name, std::string("malformed factors: ") + e.what());
            }
        } else {
            t.dense = need(t.name, t.name, t.shape, false);
        }
        t.info = j;
        index_[t.name] = tensors_.size();
        tensors_.push_back(std::move(t));
    }
    for (const auto* f : storage_.files())
        for (const auto& e : f->entries())
            if (!used.count(e.name))
                throw io_error(f->path(), e.header_at, "tensor '" + e.name + "' is not described by lowrank.manifest");
}

inline void factorized_model::check_directory_manifest() const {
    // Each shard is a factorised file of its own; together the shards' records are the whole
    // manifest's, each once and equal (so a stale or edited lowrank_manifest.json is caught).
    const std::string whole = (std::filesystem::path(path_) / factorized_manifest_file).string();
    std::map<std::string, std::pair<const nlohmann::json*, std::string>> in_shards;  // name -> record, shard
    std::vector<nlohmann::json> shard_manifests;
    for (const auto* f : storage_.files()) shard_manifests.push_back(detail::factorized_manifest_of(*f));
    for (std::size_t k = 0; k < shard_manifests.size(); ++k) {
        const std::string& shard = storage_.files()[k]->path();
        for (const auto& r : shard_manifests[k]["tensors"]) {
            const std::string name = r.is_object() ? r.value("name", std::string{}) : std::string{};
            if (name.empty()) throw io_error(shard, 8, "lowrank.manifest: a tensor record has no name");
            auto [it, fresh] = in_shards.try_emplace(name, &r, shard);
            if (!fresh)
                throw io_error(shard, 8, "lowrank.manifest: tensor '" + name + "' is also listed by " + it->second.second);
        }
    }
    std::set<std::string> listed;
    for (const auto& r : manifest_["tensors"]) {
        const std::string name = r.is_object() ? r.value("name", std::string{}) : std::string{};
        auto it = in_shards.find(name);
        if (it == in_shards.end())
            throw io_error(whole, "tensor '" + name + "' is in no shard's manifest (the directory is incomplete, or "
                                  "this manifest belongs to another model)");
        if (*it->second.first != r)
            throw io_error(whole, "tensor '" + name + "': the record differs from the one in " + it->second.second);
        listed.insert(name);
    }
    for (const auto& [name, where] : in_shards)
        if (!listed.count(name))
            throw io_error(where.second, 8, "lowrank.manifest: tensor '" + name + "' is not in " + whole);
}

inline const factorized_tensor& factorized_model::at(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) throw io_error(path(), "no tensor named '" + name + "'");
    return tensors_[it->second];
}

inline std::uint64_t factorized_model::parameters_before() const {
    std::uint64_t n = 0;
    for (const auto& t : tensors_) n += t.parameters_before();
    return n;
}
inline std::uint64_t factorized_model::parameters_after() const {
    std::uint64_t n = 0;
    for (const auto& t : tensors_) n += t.parameters_after();
    return n;
}

inline std::vector<float> to_dense(const factorized_tensor& t) {
    if (!t.factored) return to_float(t.dense);
    const std::size_t m = t.shape[0], n = t.shape[1], r = t.rank;
    std::vector<double> u(m * r), v(n * r);
    convert_to(t.u, u.data());
    convert_to(t.v, v.data());
    if (t.core) {  // u <- u · core
        std::vector<double> g(r * r), uc(m * r, 0.0);
        convert_to(*t.core, g.data());
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t k = 0; k < r; ++k) {
                const double a = u[i * r + k];
                for (std::size_t j = 0; j < r; ++j) uc[i * r + j] += a * g[k * r + j];
            }
        u.swap(uc);
    }
    std::vector<float> w(m * n);
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double s = 0;
            const double* a = &u[i * r];
            const double* b = &v[j * r];
            for (std::size_t k = 0; k < r; ++k) s += a[k] * b[k];
            w[i * n + j] = static_cast<float>(s);
        }
    return w;
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

inline factorized_writer::factorized_writer(std::string path) : path_(std::move(path)) {
    std::string tmp = path_ + ".data.XXXXXX";
    fd_ = ::mkstemp(tmp.data());
    if (fd_ < 0) throw io_error(path_, "cannot create temporary data file " + tmp + ": " + detail::errno_text(errno));
    ::unlink(tmp.c_str());  // anonymous from now on: nothing is left behind, whatever happens
}

inline factorized_writer::~factorized_writer() {
    if (fd_ >= 0) ::close(fd_);
}

inline void factorized_writer::append(const std::string& name, safetensors_dtype dtype, const shape_t& shape,
                                      std::span<const std::byte> b) {
    if (name.empty() || name == "__metadata__")
        throw invalid_argument("factorized_writer: invalid tensor name '" + name + "'");
    for (const auto& e : entries_)
        if (e.name == name) throw invalid_argument("factorized_writer: duplicate tensor name '" + name + "'");
    if (b.size() != numel(shape) * dtype_size(dtype))
        throw shape_error("factorized_writer: tensor '" + name + "' needs " +
                          std::to_string(numel(shape) * dtype_size(dtype)) + " bytes, got " + std::to_string(b.size()));
    const char* p = reinterpret_cast<const char*>(b.data());
    std::size_t n = b.size();
    while (n > 0) {
        const ssize_t w = ::write(fd_, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) throw io_error(path_, size_, "write of temporary data failed: " + detail::errno_text(errno));
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    entries_.push_back({name, dtype, shape, size_, size_ + b.size(), 0});
    size_ += b.size();
}

inline void factorized_writer::add_dense(const std::string& name, safetensors_dtype dtype, const shape_t& shape,
                                         std::span<const std::byte> bytes, nlohmann::json info, std::string source_dtype) {
    append(name, dtype, shape, bytes);
    info["name"] = name;
    info["shape"] = shape;
    info["dtype"] = source_dtype.empty() ? std::string(to_string(dtype)) : source_dtype;
    before_ += numel(shape);
    after_ += numel(shape);
    tensors_.push_back(std::move(info));
}

inline void factorized_writer::add_factored(const std::string& name, const shape_t& shape, factor_form form,
                                            std::size_t rank, std::span<const float> u, std::span<const float> core,
                                            std::span<const float> v, std::string source_dtype, nlohmann::json info) {
    if (shape.size() != 2) throw shape_error("factorized_writer: '" + name + "' is not a matrix");
    if (rank == 0 || rank > std::min(shape[0], shape[1]))
        throw rank_error("factorized_writer: '" + name + "': rank " + std::to_string(rank) + " outside [1, min(out, in)]");
    if (form == factor_form::svd && !core.empty())
        throw invalid_argument("factorized_writer: '" + name + "': svd form has no core");
    const std::string un = factor_name(name, "u"), cn = factor_name(name, "core"), vn = factor_name(name, "v");
    append(un, safetensors_dtype::F32, {shape[0], rank}, std::as_bytes(u));
    if (form == factor_form::tucker2) append(cn, safetensors_dtype::F32, {rank, rank}, std::as_bytes(core));
    append(vn, safetensors_dtype::F32, {shape[1], rank}, std::as_bytes(v));
    info["name"] = name;
    info["shape"] = shape;
    info["dtype"] = source_dtype;
    info["form"] = to_string(form);
    info["rank"] = rank;
    info["factors"] = form == factor_form::tucker2 ? nlohmann::json{{"u", un}, {"core", cn}, {"v", vn}}
                                                   : nlohmann::json{{"u", un}, {"v", vn}};
    info["parameters_before"] = dense_parameters(shape[0], shape[1]);
    info["parameters_after"] = factored_parameters(shape[0], shape[1], rank, form);
    before_ += dense_parameters(shape[0], shape[1]);
    after_ += factored_parameters(shape[0], shape[1], rank, form);
    tensors_.push_back(std::move(info));
}

inline nlohmann::json factorized_writer::manifest() const {
    nlohmann::json j;
    j["format"] = "lowrank.factorized.manifest";
    j["version"] = 1;
    j["parameters"] = {{"before", before_}, {"after", after_},
                       {"reduction", before_ ? 1.0 - static_cast<double>(after_) / static_cast<double>(before_) : 0.0}};
    j["tensors"] = tensors_;
    return j;
}

inline void factorized_writer::commit(const nlohmann::json& extra) {
    nlohmann::json man = manifest();
    if (extra.is_object())
        for (auto it = extra.begin(); it != extra.end(); ++it)
            if (it.key() != "tensors") man[it.key()] = it.value();
    std::map<std::string, std::string> md{{"format", factorized_format},
                                          {"lowrank.version", "1"},
                                          {"lowrank.manifest", man.dump()}};
    std::string header;
    try {
        header = detail::safetensors_header_text(entries_, md);
    } catch (const nlohmann::json::exception& e) {
        throw invalid_argument(std::string("factorized_writer: names and metadata must be valid UTF-8: ") + e.what());
    }
    detail::atomic_writer out(path_);
    out.write(detail::le_bytes(header.size()));
    out.write(header);
    std::vector<char> buf(std::size_t{8} << 20);
    std::uint64_t pos = 0;
    while (pos < size_) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size_ - pos));
        const ssize_t k = ::pread(fd_, buf.data(), want, static_cast<off_t>(pos));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) throw io_error(path_, pos, "read of temporary data failed: " + detail::errno_text(errno));
        out.write(buf.data(), static_cast<std::size_t>(k));
        pos += static_cast<std::uint64_t>(k);
    }
    out.commit();
}

}  // namespace lowrank

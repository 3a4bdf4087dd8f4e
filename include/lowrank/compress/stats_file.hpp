// STATS.safetensors: calibration statistics on disk (one file per calibration run), written
// input by input as calibration streams through the model, read input by input.
//
// Layout: a safetensors file (io/safetensors.hpp) holding, for every declared input NAME (an
// opaque string chosen by the caller, e.g. "model.layers.3.attn_in"), in declaration order:
//   NAME.gram      F64 [n, n]   H = Σ x xᵀ
//   NAME.abs_sum   F64 [n]      Σ |x|
//   NAME.tokens    U64 [1]      N
//   NAME.cross     F64 [n, n]   C = Σ x̄ xᵀ       (two-stream inputs only)
//   NAME.ref_gram  F64 [n, n]   H̄ = Σ x̄ x̄ᵀ      (two-stream inputs only)
// (sums, not means; compress/stats.hpp has the maths). __metadata__:
//   "format"           "lowrank.calibration_stats"
//   "lowrank.version"  "1"
//   "lowrank.stats"    JSON {"model_sha256", "text_sha256", "windows", "context", "seed", "mode",
//                            "extra": {...}, "inputs": [{"name", "channels", "two_stream"}, ...]}
//
// Writing streams: the declared inputs fix the header, each write() appends one input's
// tensors (one input in memory at a time), commit() renames the temporary file into place, so
// a failed or abandoned calibration leaves nothing under the final name.
//
// Reading is strict (files are untrusted): the header, manifest and tensor list are checked
// when the file is opened (format, version, sha256 strings, every tensor present with the
// declared dtype and shape, nothing extra); load(name) checks the data: NaN/Inf, a Gram that is
// not symmetric (|G_ij − G_ji| > 1e-9·max_k G_kk) or has a negative diagonal, a negative abs_sum,
// a zero token count. Every problem is an io_error naming the file, the byte offset and the
// tensor.
#pragma once

#include "lowrank/compress/stats.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

inline constexpr const char* stats_format = "lowrank.calibration_stats";

/// Where the statistics come from (recorded in the file, checked by require_model).
struct stats_provenance {
    std::string model_sha256;    ///< 64 hex digits: the model file the statistics were computed on
    std::string text_sha256;     ///< 64 hex digits: the calibration text
    std::uint64_t windows = 0;   ///< number of windows run
    std::uint64_t context = 0;   ///< tokens per window
    std::uint64_t seed = 0;      ///< window-sampling seed
    std::string mode = "dense";  ///< "dense" (inputs of the dense model) or "sequential" (compressed prefix)
    nlohmann::json extra = nlohmann::json::object();  ///< the caller's fields (paths, stride, tool version, ...)
};

/// One declared input of a stats file.
struct stats_entry {
    std::string name;
    std::size_t channels = 0;  ///< n
    bool two_stream = false;   ///< cross and ref_gram present
};

namespace detail::stats_io {

inline bool is_sha256(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

inline std::vector<std::string> parts(const stats_entry& e) {
    std::vector<std::string> p{e.name + ".gram", e.name + ".abs_sum", e.name + ".tokens"};
    if (e.two_stream) {
        p.push_back(e.name + ".cross");
        p.push_back(e.name + ".ref_gram");
    }
    return p;
}

inline std::vector<safetensors_spec> specs(const std::vector<stats_entry>& inputs) {
    std::vector<safetensors_spec> s;
    for (const auto& e : inputs) {
        const std::size_t n = e.channels;
        s.push_back({e.name + ".gram", safetensors_dtype::F64, {n, n}});
        s.push_back({e.name + ".abs_sum", safetensors_dtype::F64, {n}});
        s.push_back({e.name + ".tokens", safetensors_dtype::U64, {1}});
        if (e.two_stream) {
            s.push_back({e.name + ".cross", safetensors_dtype::F64, {n, n}});
            s.push_back({e.name + ".ref_gram", safetensors_dtype::F64, {n, n}});
        }
    }
    return s;
}

inline nlohmann::json manifest(const stats_provenance& p, const std::vector<stats_entry>& inputs) {
    nlohmann::json j = {{"model_sha256", p.model_sha256}, {"text_sha256", p.text_sha256}, {"windows", p.windows},
                        {"context", p.context},           {"seed", p.seed},               {"mode", p.mode},
                        {"extra", p.extra}};
    j["inputs"] = nlohmann::json::array();
    for (const auto& e : inputs)
        j["inputs"].push_back({{"name", e.name}, {"channels", e.channels}, {"two_stream", e.two_stream}});
    return j;
}

}  // namespace detail::stats_io

/// Streaming writer of a stats file (see the header comment). Throws invalid_argument for a
/// bad provenance (sha256 not 64 lowercase hex digits, mode not dense/sequential), empty or
/// duplicate input names, or 0 channels; io_error when the file cannot be written.
class stats_writer {
public:
    stats_writer(std::string path, const stats_provenance& prov, std::vector<stats_entry> inputs)
        : inputs_(std::move(inputs)),
          out_(std::move(path), detail::stats_io::specs(check(prov, inputs_)),
               {{"format", stats_format},
                {"lowrank.version", "1"},
                {"lowrank.stats", detail::stats_io::manifest(prov, inputs_).dump()}}) {}

    /// Name of the input write() expects next (empty when all are written).
    std::string next_name() const { return next_ < inputs_.size() ? inputs_[next_].name : std::string(); }

    /// Appends the statistics of the next declared input. Throws invalid_argument when `name`
    /// is not the next declared input, the channel count or mode differs, the token count is 0
    /// or any value is NaN/Inf (nothing is written then).
    void write(const std::string& name, const input_stats& s) {
        if (next_ >= inputs_.size()) throw invalid_argument("stats_writer: every declared input is written already");
        const stats_entry& e = inputs_[next_];
        const std::string who = "stats_writer: input '" + name + "'";
        if (name != e.name) throw invalid_argument(who + " written out of order; expected '" + e.name + "'");
        s.validate_shape(who);
        if (s.channels != e.channels || s.two_stream() != e.two_stream)
            throw invalid_argument(who + " has " + std::to_string(s.channels) + " channels" +
                                   (s.two_stream() ? " (two-stream)" : "") + ", declared " + std::to_string(e.channels) +
                                   (e.two_stream ? " (two-stream)" : ""));
        if (s.tokens == 0) throw invalid_argument(who + " has no tokens");
        for (const auto* v : {&s.gram, &s.abs_sum, &s.cross, &s.ref_gram})
            if (!detail::compress::all_finite(std::span<const double>(*v)))
                throw invalid_argument(who + " holds NaN/Inf statistics");
        out_.write(s.gram);
        out_.write(s.abs_sum);
        out_.write(std::vector<std::uint64_t>{s.tokens});
        if (e.two_stream) {
            out_.write(s.cross);
            out_.write(s.ref_gram);
        }
        ++next_;
    }

    /// Renames the complete file into place (invalid_argument if inputs are missing).
    void commit() { out_.commit(); }

private:
    static const std::vector<stats_entry>& check(const stats_provenance& p, const std::vector<stats_entry>& inputs) {
        using detail::stats_io::is_sha256;
        if (!is_sha256(p.model_sha256))
            throw invalid_argument("stats_writer: model_sha256 must be 64 lowercase hex digits, got '" + p.model_sha256 + "'");
        if (!is_sha256(p.text_sha256))
            throw invalid_argument("stats_writer: text_sha256 must be 64 lowercase hex digits, got '" + p.text_sha256 + "'");
        if (p.mode != "dense" && p.mode != "sequential")
            throw invalid_argument("stats_writer: mode must be \"dense\" or \"sequential\", got '" + p.mode + "'");
        if (!p.extra.is_object()) throw invalid_argument("stats_writer: extra must be a JSON object");
        if (inputs.empty()) throw invalid_argument("stats_writer: no inputs declared");
        for (const auto& e : inputs) {
            if (e.name.empty()) throw invalid_argument("stats_writer: empty input name");
            if (e.channels == 0) throw invalid_argument("stats_writer: input '" + e.name + "' has 0 channels");
        }
        return inputs;  // duplicate tensor names are refused by safetensors_writer
    }

    std::vector<stats_entry> inputs_;
    safetensors_writer out_;
    std::size_t next_ = 0;
};

/// A stats file opened for reading (memory-mapped; load() copies one input out at a time).
class stats_file {
public:
    explicit stats_file(const std::string& path) : file_(path) {
        const auto& md = file_.metadata();
        auto meta = [&](const char* key) -> std::string {
            auto it = md.find(key);
            if (it == md.end()) throw io_error(path, 8, std::string("not a calibration stats file: no metadata \"") + key + "\"");
            return it->second;
        };
        if (meta("format") != stats_format)
            throw io_error(path, 8, "not a calibration stats file: format is '" + meta("format") + "'");
        if (meta("lowrank.version") != "1")
            throw io_error(path, 8, "unsupported calibration stats version '" + meta("lowrank.version") + "'");
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(meta("lowrank.stats"));
        } catch (const nlohmann::json::exception& e) {
            throw io_error(path, 8, std::string("the stats manifest is not valid JSON: ") + e.what());
        }
        parse_manifest(j);
        std::map<std::string, int> expected;
        for (const auto& e : inputs_) {
            for (const auto& t : detail::stats_io::parts(e)) expected[t] = 1;
            index_[e.name] = &e - inputs_.data();
        }
        for (const auto& s : detail::stats_io::specs(inputs_)) {
            const safetensors_entry* t = file_.find(s.name);
            if (!t) throw io_error(path, 8, "tensor '" + s.name + "' declared by the manifest is missing");
            if (t->dtype != s.dtype || t->shape != s.shape)
                throw io_error(path, t->header_at,
                               "tensor '" + s.name + "' is " + std::string(to_string(t->dtype)) + " " + to_string(t->shape) +
                                   ", expected " + std::string(to_string(s.dtype)) + " " + to_string(s.shape));
        }
        for (const auto& t : file_.entries())
            if (!expected.count(t.name))
                throw io_error(path, t.header_at, "tensor '" + t.name + "' is not part of any declared input");
    }

    const std::string& path() const { return file_.path(); }
    const stats_provenance& provenance() const { return prov_; }
    /// Declared inputs, in file order.
    const std::vector<stats_entry>& inputs() const { return inputs_; }
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    /// The declared input `name` (io_error when absent).
    const stats_entry& entry(const std::string& name) const {
        auto it = index_.find(name);
        if (it == index_.end()) throw io_error(path(), "no statistics for input '" + name + "'");
        return inputs_[it->second];
    }

    /// Loads and validates one input's statistics (see the header comment). The Grams are
    /// returned exactly symmetrised ((G + Gᵀ)/2) after the symmetry check.
    input_stats load(const std::string& name) const {
        const stats_entry& e = entry(name);
        const std::size_t n = e.channels;
        input_stats s;
        s.channels = n;
        s.gram = gram(e.name + ".gram", n, true);
        s.abs_sum = values(e.name + ".abs_sum");
        for (std::size_t j = 0; j < n; ++j)
            if (s.abs_sum[j] < 0) fail(e.name + ".abs_sum", "entry " + std::to_string(j) + " is negative");
        const tensor_view tv = file_.view(e.name + ".tokens");
        std::memcpy(&s.tokens, tv.bytes.data(), sizeof(std::uint64_t));
        if (s.tokens == 0) fail(e.name + ".tokens", "the token count is 0");
        if (e.two_stream) {
            s.cross = gram(e.name + ".cross", n, false);
            s.ref_gram = gram(e.name + ".ref_gram", n, true);
        }
        return s;
    }

    /// Throws io_error unless the statistics were computed on the model with this sha256.
    void require_model(const std::string& model_sha256) const {
        if (model_sha256 != prov_.model_sha256)
            throw io_error(path(), "the statistics were computed for the model with sha256 " + prov_.model_sha256 +
                                       ", not for this model (sha256 " + model_sha256 + ")");
    }

private:
    [[noreturn]] void fail(const std::string& tensor, const std::string& what) const {
        const safetensors_entry* t = file_.find(tensor);
        throw io_error(path(), t ? file_.data_start() + t->begin : io_error::npos, "tensor '" + tensor + "': " + what);
    }

    std::vector<double> values(const std::string& tensor) const {
        std::vector<double> v = to_double(file_.view(tensor));
        for (std::size_t i = 0; i < v.size(); ++i)
            if (!std::isfinite(v[i])) fail(tensor, "holds NaN/Inf (element " + std::to_string(i) + ")");
        return v;
    }

    std::vector<double> gram(const std::string& tensor, std::size_t n, bool symmetric) const {
        std::vector<double> g = values(tensor);
        if (!symmetric) return g;
        double top = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (g[i * n + i] < 0) fail(tensor, "diagonal entry " + std::to_string(i) + " is negative");
            top = std::max(top, g[i * n + i]);
        }
        const double tol = 1e-9 * top;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = i + 1; j < n; ++j) {
                const double d = std::abs(g[i * n + j] - g[j * n + i]);
                if (d > tol)
                    fail(tensor, "is not symmetric: |G[" + std::to_string(i) + "," + std::to_string(j) + "] - G[" +
                                     std::to_string(j) + "," + std::to_string(i) + "]| = " + std::to_string(d));
                g[i * n + j] = g[j * n + i] = 0.5 * (g[i * n + j] + g[j * n + i]);
            }
        return g;
    }

    void parse_manifest(const nlohmann::json& j) {
        const std::string& p = path();
        auto bad = [&](const std::string& what) { throw io_error(p, 8, "stats manifest: " + what); };
        if (!j.is_object()) bad("not a JSON object");
        auto str = [&](const char* k) {
            if (!j.contains(k) || !j[k].is_string()) bad(std::string("\"") + k + "\" missing or not a string");
            return j[k].get<std::string>();
        };
        auto u64 = [&](const char* k) {
            if (!j.contains(k) || !j[k].is_number_unsigned()) bad(std::string("\"") + k + "\" missing or not a count");
            return j[k].get<std::uint64_t>();
        };
        prov_.model_sha256 = str("model_sha256");
        prov_.text_sha256 = str("text_sha256");
        if (!detail::stats_io::is_sha256(prov_.model_sha256)) bad("model_sha256 is not 64 lowercase hex digits");
        if (!detail::stats_io::is_sha256(prov_.text_sha256)) bad("text_sha256 is not 64 lowercase hex digits");
        prov_.windows = u64("windows");
        prov_.context = u64("context");
        prov_.seed = u64("seed");
        prov_.mode = str("mode");
        if (prov_.mode != "dense" && prov_.mode != "sequential") bad("mode '" + prov_.mode + "' is not dense/sequential");
        if (j.contains("extra")) {
            if (!j["extra"].is_object()) bad("\"extra\" is not an object");
            prov_.extra = j["extra"];
        }
        if (!j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].empty()) bad("\"inputs\" missing or empty");
        for (const auto& e : j["inputs"]) {
            if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("channels") ||
                !e["channels"].is_number_unsigned() || !e.contains("two_stream") || !e["two_stream"].is_boolean())
                bad("an input entry lacks name/channels/two_stream");
            stats_entry se{e["name"].get<std::string>(), e["channels"].get<std::size_t>(), e["two_stream"].get<bool>()};
            if (se.name.empty() || se.channels == 0) bad("input '" + se.name + "' has an empty name or 0 channels");
            if (se.channels > (std::size_t{1} << 20)) bad("input '" + se.name + "' declares an absurd channel count");
            for (const auto& o : inputs_)
                if (o.name == se.name) bad("input '" + se.name + "' is declared twice");
            inputs_.push_back(std::move(se));
        }
    }

    safetensors_file file_;
    stats_provenance prov_;
    std::vector<stats_entry> inputs_;
    std::map<std::string, std::size_t> index_;
};

}  // namespace lowrank

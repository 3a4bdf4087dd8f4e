// `lowrank merge PART... --out DIR [--max-shard-size BYTES]` (docs/scale.md §3). Combines the
// parts that `lowrank decompose --layers I..J` writes into one factorised model directory in the
// Hugging Face sharded layout, which factorized_model (hence the runtime, `inspect`, `eval`,
// `bench-model` and `export-hf`) opens like a factorised file:
//
//   DIR/model-0000k-of-0000n.safetensors  stored tensors in the source's order, one weight's
//                                         u/core/v never split; each file's __metadata__ says
//                                         format lowrank.factorized and carries the manifest of
//                                         the tensors it holds (so each file is valid alone)
//   DIR/model.safetensors.index.json      {"metadata": {"total_size", "format"}, "weight_map"}
//   DIR/lowrank_manifest.json             the whole manifest (every original tensor in source
//                                         order, totals, γ, source, the parts merged)
//
// A part is a factorised file whose manifest has
//   "shard": {"layers": [I, J], "model_layers": L, "source_order": [position of each stored
//             original tensor in the source's file order, in the part's manifest order]}
// The parts must share the source, γ id, method and L, and agree on the sha256 of every source
// file they both hashed (a part hashes only the files holding its tensors; the directory's
// manifest lists the union); their ranges must tile 1..L exactly. Refused otherwise, naming the parts. Output is atomic (staging directory, rename).
// Tensor bytes are copied from the parts' memory maps one at a time (no tensor is converted), and
// each tensor's pages are released once copied, so the resident set stays small.
#include "cli/command.hpp"
#include "cli/common.hpp"

#include "lowrank/io/factorized.hpp"
#include "lowrank/io/safetensors.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cmd_merge {

namespace fs = std::filesystem;
using namespace lowrank;
using json = nlohmann::json;
using cli::usage_error;

struct merge_args {
    std::vector<std::string> parts;
    std::string out;
    std::uint64_t max_shard_bytes = 5'000'000'000ULL;
};

struct part {
    std::string path;
    std::optional<model::model_source> ms;  // opened by the model layer
    const factorized_model* fm = nullptr;   // ms's factorised file
    std::size_t first = 0, last = 0, layers = 0;
};

struct item {  // one original tensor, in the source's order
    std::size_t order = 0;
    const part* from = nullptr;
    const factorized_tensor* t = nullptr;
    std::vector<std::string> stored;  // the names it is stored under (dense: itself; factored: u, core?, v)
    std::uint64_t bytes = 0;
};

std::string range_text(std::size_t a, std::size_t b) { return std::to_string(a) + ".." + std::to_string(b); }

/// The fields every part must agree on (the source files each part hashed are checked apart:
/// a part records only the files holding its tensors).
json identity(const json& m) {
    const json src = m.contains("source") && m["source"].is_object() ? m["source"] : json::object();
    return {{"gamma_id", m.value("gamma_id", std::string{})}, {"method", m.value("method", std::string{})},
            {"form", m.value("form", std::string{})}, {"source", src.value("path", std::string{})},
            {"model_layers", m.contains("shard") ? m["shard"].value("model_layers", 0) : 0}};
}

/// The union of the parts' source files (first appearance, parts in layer order); refuses two
/// parts that record different sha256 for one file.
json source_files(const std::vector<part>& parts) {
    json all = json::array();
    std::map<std::string, std::pair<std::string, std::string>> seen;  // path -> sha256, part
    for (const auto& p : parts) {
        const json& m = p.fm->manifest();
        if (!m.contains("source") || !m["source"].contains("files")) continue;
        for (const auto& f : m["source"]["files"]) {
            const std::string path = f.value("path", std::string{}), sha = f.value("sha256", std::string{});
            auto [it, fresh] = seen.try_emplace(path, sha, p.path);
            if (fresh) all.push_back(f);
            else if (it->second.first != sha)
                throw usage_error("merge: " + p.path + " and " + it->second.second + " record different sha256 for source file " +
                                  path + ": the source changed between the parts");
        }
    }
    return all;
}

part open_part(const std::string& path) {
    part p;
    p.path = path;
    std::error_code ec;
    if (!fs::exists(path, ec) || model::detect_file_kind(path) != model::file_kind::factorized)
        throw usage_error("merge: " + path + " is not a lowrank factorised file");
    p.ms = model::model_source::open(path);
    p.fm = p.ms->factorized();
    const json& m = p.fm->manifest();
    if (!m.contains("shard") || !m["shard"].is_object())
        throw usage_error("merge: " + path + " is a whole factorised model, not a part (its manifest has no \"shard\"; "
                          "write parts with `lowrank decompose --layers I..J`)");
    const json& s = m["shard"];
    try {
        const auto r = s.at("layers").get<std::vector<std::size_t>>();
        if (r.size() != 2 || r[0] < 1 || r[1] < r[0]) throw std::runtime_error("bad range");
        p.first = r[0], p.last = r[1];
        p.layers = s.at("model_layers").get<std::size_t>();
        if (p.last > p.layers) throw std::runtime_error("range past the model's layers");
        if (s.at("source_order").size() != p.fm->tensors().size())
            throw std::runtime_error("source_order does not list every tensor");
    } catch (const std::exception& e) {
        throw io_error(path, std::string("manifest \"shard\" block is malformed: ") + e.what());
    }
    return p;
}

int run(const merge_args& a) {
    if (a.parts.empty()) throw usage_error("merge: no parts given");
    std::vector<part> parts;
    for (const auto& p : a.parts) parts.push_back(open_part(p));
    const json id0 = identity(parts[0].fm->manifest());
    for (const auto& p : parts) {
        const json id = identity(p.fm->manifest());
        for (auto it = id0.begin(); it != id0.end(); ++it)
            if (id[it.key()] != it.value())
                throw usage_error("merge: " + p.path + " and " + parts[0].path + " differ in " + it.key() + " (" +
                                  id[it.key()].dump() + " vs " + it.value().dump() + "): not parts of one decomposition");
    }
    std::sort(parts.begin(), parts.end(), [](const part& x, const part& y) { return x.first < y.first; });
    const json sources = source_files(parts);
    std::size_t next = 1;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const part& p = parts[i];
        if (p.first < next)
            throw usage_error("merge: parts " + parts[i - 1].path + " and " + p.path + " both hold layers " +
                              range_text(p.first, std::min(p.last, next - 1)));
        if (p.first > next)
            throw usage_error("merge: layers " + range_text(next, p.first - 1) + " are in no part");
        next = p.last + 1;
    }
    if (next <= parts[0].layers) throw usage_error("merge: layers " + range_text(next, parts[0].layers) + " are in no part");

    // Every original tensor once, in source order.
    std::vector<item> items;
    std::map<std::string, std::string> seen;
    for (const auto& p : parts) {
        const auto& order = p.fm->manifest()["shard"]["source_order"];
        for (std::size_t k = 0; k < p.fm->tensors().size(); ++k) {
            const factorized_tensor& t = p.fm->tensors()[k];
            if (auto [it, fresh] = seen.emplace(t.name, p.path); !fresh)
                throw usage_error("merge: tensor " + t.name + " is in both " + it->second + " and " + p.path);
            item x{order[k].get<std::size_t>(), &p, &t, {}, 0};
            if (t.factored) {
                x.stored.push_back(factor_name(t.name, "u"));
                if (t.core) x.stored.push_back(factor_name(t.name, "core"));
                x.stored.push_back(factor_name(t.name, "v"));
            } else {
                x.stored.push_back(t.name);
            }
            for (const auto& s : x.stored) x.bytes += p.fm->storage().view(s).bytes.size();
            items.push_back(std::move(x));
        }
    }
    std::sort(items.begin(), items.end(), [](const item& x, const item& y) { return x.order < y.order; });
    for (std::size_t i = 1; i < items.size(); ++i)
        if (items[i].order == items[i - 1].order)
            throw usage_error("merge: " + items[i].t->name + " and " + items[i - 1].t->name + " claim the same source position");

    // Output files: consecutive tensors up to max_shard_bytes each.
    std::vector<std::vector<const item*>> files(1);
    std::uint64_t size = 0, total = 0;
    for (const auto& x : items) {
        if (!files.back().empty() && size + x.bytes > a.max_shard_bytes) files.emplace_back(), size = 0;
        files.back().push_back(&x);
        size += x.bytes, total += x.bytes;
    }
    cli::output_dir dir(a.out);
    const std::size_t n = files.size();
    json weight_map = json::object(), all = json::array();
    std::uint64_t before = 0, after = 0;
    char fname[64];
    for (std::size_t k = 0; k < n; ++k) {
        std::snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", k + 1, n);
        std::vector<safetensors_spec> specs;
        json man_tensors = json::array();
        for (const item* x : files[k]) {
            for (const auto& s : x->stored) {
                const tensor_view v = x->from->fm->storage().view(s);
                specs.push_back({s, v.dtype, v.shape});
                weight_map[s] = fname;
            }
            man_tensors.push_back(x->t->info);
            all.push_back(x->t->info);
            before += x->t->parameters_before(), after += x->t->parameters_after();
        }
        json fm = {{"tensors", man_tensors}, {"file", {{"index", k + 1}, {"of", n}}}};
        safetensors_writer w(dir.path(fname), specs,
                             {{"format", factorized_format}, {"lowrank.version", "1"}, {"lowrank.manifest", fm.dump()}});
        for (const item* x : files[k]) {
            for (const auto& s : x->stored) w.write(x->from->fm->storage().view(s).bytes);
            x->from->ms->release_pages(x->t->name);  // copied: the part's pages need not stay resident
        }
        w.commit();
    }
    json man = parts[0].fm->manifest();
    man.erase("shard");
    if (man.contains("source") && man["source"].is_object()) man["source"]["files"] = sources;
    man["tensors"] = all;
    man["parameters"] = {{"before", before}, {"after", after},
                         {"reduction", before ? 1.0 - static_cast<double>(after) / static_cast<double>(before) : 0.0}};
    json merged = json::array();
    for (const auto& p : parts)
        merged.push_back({{"path", fs::absolute(p.path).string()}, {"layers", {p.first, p.last}}});
    man["merged_from"] = merged;
    man["output"] = {{"path", fs::absolute(a.out).string()}, {"kind", "factorized"}, {"format", "safetensors-sharded"}};
    dir.write_json("model.safetensors.index.json",
                   {{"metadata", {{"total_size", total}, {"format", factorized_format}}}, {"weight_map", weight_map}});
    dir.write_json(factorized_manifest_file, man);
    dir.commit();
    std::printf("merged %zu parts (layers 1..%zu, %zu tensors) into %s: %zu files, %llu bytes\n", parts.size(),
                parts[0].layers, items.size(), a.out.c_str(), n, static_cast<unsigned long long>(total));
    return 0;
}

const lowrank::cli::registrar reg("merge", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("merge", "Combine factorised parts (decompose --layers) into one sharded factorised model "
                                            "directory");
    auto a = std::make_shared<merge_args>();
    sub->add_option("PART", a->parts, "factorised part files")->required();
    sub->add_option("--out", a->out, "output directory")->required();
    sub->add_option("--max-shard-size", a->max_shard_bytes, "bytes per output file (default 5e9)")
        ->check(CLI::PositiveNumber);
    sub->callback([a, exit_code] { *exit_code = run(*a); });
});

}  // namespace cmd_merge

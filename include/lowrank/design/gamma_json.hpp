// γ as data: the JSON form of a configuration, its canonical text and its stable id.
//
//   {
//     "format": "lowrank.gamma", "version": 1,
//     "model": "llama2-7b",
//     "method": "tucker2",                       // or "svd"
//     "indexing": 1,                             // base of the layer numbers below: 0 or 1 (required)
//     "layers": [3, 18, 32],                     // Decomp_Layers
//     "tensors": ["q","k","v","o","gate","up","down"],   // Decomp_Tensors by role name
//     "ranks": {"q": 1, "k": 1, ...},            // one rank per chosen tensor, all chosen layers
//     "pruned_ranks": [{"layer": 3, "tensor": "q", "rank": 8}, ...],   // or: explicit PR triples
//     "id": "g-…"                                 // optional; checked when present
//   }
// "ranks" and "pruned_ranks" may be combined (a pair given twice is a duplicate error). The writer
// emits "ranks" when every chosen tensor has one rank across layers, else "pruned_ranks".
// The stable id is FNV-1a (64-bit) of the canonical form: the writer's output with indexing 0
// and no "id", dumped without whitespace (nlohmann::json sorts object keys). It depends only on
// the configuration, not on the indexing base or the key order of the file it came from.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/design/architecture.hpp"
#include "lowrank/design/configuration.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <string>

namespace lowrank::design {

namespace detail {
inline nlohmann::json gamma_body(const architecture& arch, const configuration& g, int base) {
    const auto specs = arch.tensors();
    nlohmann::json j;
    j["format"] = "lowrank.gamma";
    j["version"] = 1;
    j["model"] = g.model.empty() ? arch.name : g.model;
    j["method"] = to_string(g.method);
    j["indexing"] = base;
    j["layers"] = nlohmann::json::array();
    for (auto l : g.layers) j["layers"].push_back(l + static_cast<std::uint64_t>(base));
    j["tensors"] = nlohmann::json::array();
    for (auto k : g.tensors) j["tensors"].push_back(specs.at(k).role_name());
    // Per-role form when each chosen tensor has a single rank over all chosen layers.
    std::map<std::size_t, std::uint64_t> per_role;
    bool uniform_per_role = true;
    for (const auto& t : g.ranks) {
        auto [it, inserted] = per_role.emplace(t.tensor, t.rank);
        if (!inserted && it->second != t.rank) uniform_per_role = false;
    }
    if (uniform_per_role) {
        j["ranks"] = nlohmann::json::object();
        for (auto [k, p] : per_role) j["ranks"][specs.at(k).role_name()] = p;
    } else {
        j["pruned_ranks"] = nlohmann::json::array();
        for (const auto& t : g.ranks)
            j["pruned_ranks"].push_back({{"layer", t.layer + static_cast<std::uint64_t>(base)},
                                         {"tensor", specs.at(t.tensor).role_name()},
                                         {"rank", t.rank}});
    }
    return j;
}
}  // namespace detail

/// Canonical text of γ (0-based, no id, compact, sorted keys). γ must be valid for `arch`.
inline std::string canonical_json(const architecture& arch, const configuration& g) {
    validate(arch, g);
    return detail::gamma_body(arch, g, 0).dump();
}

/// Stable id of γ: "g-" + 16 hex digits of FNV-1a-64 over canonical_json().
inline std::string stable_id(const architecture& arch, const configuration& g) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : canonical_json(arch, g)) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[19];
    std::snprintf(buf, sizeof buf, "g-%016llx", static_cast<unsigned long long>(h));
    return buf;
}

/// JSON document for γ with layer numbers in base `indexing_base` (0 or 1), including its id.
inline nlohmann::json to_json(const architecture& arch, const configuration& g, int indexing_base = 0) {
    if (indexing_base != 0 && indexing_base != 1) throw invalid_argument("to_json: indexing base must be 0 or 1");
    validate(arch, g);
    auto j = detail::gamma_body(arch, g, indexing_base);
    j["id"] = stable_id(arch, g);
    return j;
}

/// Parses and validates a γ document against `arch`. Throws invalid_argument (rank_error for
/// rank problems) naming the offending field: unknown role, layer out of range in the stated
/// base, rank 0 or above the tensor's rank, duplicates, missing coverage, wrong model or id.
inline configuration from_json(const architecture& arch, const nlohmann::json& j) {
    auto fail = [](const std::string& what) -> configuration { throw invalid_argument("gamma: " + what); };
    if (!j.is_object()) return fail("expected a JSON object");
    static const char* known[] = {"format", "version", "model", "method", "indexing", "layers",
                                  "tensors", "ranks", "pruned_ranks", "id"};
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool ok = false;
        for (auto* k : known) ok = ok || it.key() == k;
        if (!ok) fail("unknown field '" + it.key() + "'");
    }
    if (j.contains("format") && j.at("format") != "lowrank.gamma") fail("field 'format' must be \"lowrank.gamma\"");
    if (j.contains("version") && j.at("version") != 1) fail("unsupported version " + j.at("version").dump());
    if (!j.contains("indexing")) fail("missing field 'indexing' (the base of layer numbers: 0 or 1)");
    const auto& ib = j.at("indexing");
    if (!ib.is_number_integer() || (ib.get<std::int64_t>() != 0 && ib.get<std::int64_t>() != 1))
        fail("field 'indexing' must be 0 or 1, got " + ib.dump());
    const std::int64_t base = ib.get<std::int64_t>();

    configuration g;
    if (!j.contains("model") || !j.at("model").is_string()) fail("missing or non-string field 'model'");
    g.model = j.at("model").get<std::string>();
    if (g.model != arch.name) fail("model '" + g.model + "' does not match architecture '" + arch.name + "'");
    const std::string method = j.contains("method") && j.at("method").is_string() ? j.at("method").get<std::string>() : "";
    if (method == "tucker2") g.method = factor_form::tucker2;
    else if (method == "svd") g.method = factor_form::svd;
    else fail("field 'method' must be \"tucker2\" or \"svd\", got " + (j.contains("method") ? j.at("method").dump() : "nothing"));

    auto layer_of = [&](const nlohmann::json& v, const std::string& where) -> std::uint64_t {
        if (!v.is_number_integer()) fail(where + ": layer must be an integer, got " + v.dump());
        const std::int64_t l = v.get<std::int64_t>();
        if (l < base || l >= static_cast<std::int64_t>(arch.layers) + base)
            fail(where + ": layer " + std::to_string(l) + " out of range [" + std::to_string(base) + ", " +
                 std::to_string(static_cast<std::int64_t>(arch.layers) + base - 1) + "] (indexing " +
                 std::to_string(base) + ")");
        return static_cast<std::uint64_t>(l - base);
    };
    auto role_of = [&](const nlohmann::json& v, const std::string& where) -> std::size_t {
        if (!v.is_string()) fail(where + ": tensor must be a role name, got " + v.dump());
        try {
            return arch.role_index(v.get<std::string>());
        } catch (const invalid_argument& e) {
            fail(where + ": " + e.what());
        }
        return 0;
    };
    auto rank_of = [&](const nlohmann::json& v, const std::string& where) -> std::uint64_t {
        if (!v.is_number_integer()) fail(where + ": rank must be an integer, got " + v.dump());
        if (v.get<std::int64_t>() <= 0) throw rank_error("gamma: " + where + ": rank must be positive, got " + v.dump());
        return v.get<std::uint64_t>();
    };

    if (!j.contains("layers") || !j.at("layers").is_array()) fail("missing or non-array field 'layers'");
    for (const auto& v : j.at("layers")) g.layers.push_back(layer_of(v, "layers"));
    if (!j.contains("tensors") || !j.at("tensors").is_array()) fail("missing or non-array field 'tensors'");
    for (const auto& v : j.at("tensors")) g.tensors.push_back(role_of(v, "tensors"));

    if (j.contains("ranks")) {
        if (!j.at("ranks").is_object()) fail("field 'ranks' must be an object {role: rank}");
        for (auto it = j.at("ranks").begin(); it != j.at("ranks").end(); ++it) {
            const std::size_t k = role_of(it.key(), "ranks");
            if (std::find(g.tensors.begin(), g.tensors.end(), k) == g.tensors.end())
                fail("ranks: tensor '" + it.key() + "' is not in 'tensors'");
            const std::uint64_t p = rank_of(it.value(), "ranks." + it.key());
            for (auto l : g.layers) g.ranks.push_back({l, k, p});
        }
    }
    if (j.contains("pruned_ranks")) {
        if (!j.at("pruned_ranks").is_array()) fail("field 'pruned_ranks' must be an array");
        for (const auto& e : j.at("pruned_ranks")) {
            if (!e.is_object() || !e.contains("layer") || !e.contains("tensor") || !e.contains("rank"))
                fail("pruned_ranks: each entry needs 'layer', 'tensor' and 'rank', got " + e.dump());
            g.ranks.push_back({layer_of(e.at("layer"), "pruned_ranks"), role_of(e.at("tensor"), "pruned_ranks"),
                               rank_of(e.at("rank"), "pruned_ranks")});
        }
    }
    g.normalise();
    if (auto why = invalid_reason(arch, g)) {
        // Report layer numbers in the file's base.
        std::string msg = "gamma: " + *why + (base == 1 ? " (layer numbers above are 0-based)" : "");
        if (why->find("rank ") == 0) throw rank_error(msg);
        throw invalid_argument(msg);
    }
    if (j.contains("id") && j.at("id") != stable_id(arch, g))
        fail("field 'id' " + j.at("id").dump() + " does not match the configuration (expected \"" + stable_id(arch, g) + "\")");
    return g;
}

}  // namespace lowrank::design

// Compression recipes: the settings of a compression run as a small JSON document, saved beside
// every output and accepted as input, so an output can be reproduced from its recipe alone
// (schema and examples: docs/interop.md, "Recipes"). In the style of llm-compressor's recipes:
// regular expressions over Hugging Face module names choose what is compressed.
//
//   {"format": "lowrank.recipe", "version": 1,
//    "method": "svd",                                  // svd | tucker2 | hooi (decompose); a compressor
//                                                      //   may define its own names ("whitened_svd", ...)
//    "targets": ["model\\.layers\\.\\d+\\.mlp\\..*"],  // module names to compress (ECMAScript regex, full match)
//    "ignore": ["model\\.layers\\.0\\..*"],            // module names never compressed (wins over targets)
//    "rank": 64 | "keep_ratio": 0.5,                   // exactly one: the rank, or the parameter fraction kept
//    "overrides": [{"targets": [...], "rank": 32}],    // optional, first match wins over the default
//    "calibration": {...},                             // optional, recorded as given (compressors read it)
//    "source": {...}}                                  // optional provenance (the model it was made for)
//
// Module names are the Hugging Face ones without ".weight": "model.layers.3.self_attn.q_proj",
// "encoder.layer.0.attention.self.query" (model_module_name builds them for any file, GGUF too).
// keep_ratio ρ ∈ (0, 1]: the largest rank whose factors hold at most ρ of the dense weight's
// parameters (svd form: r(m + n) ≤ ρ·m·n; tucker2: r(m + n) + r² ≤ ρ·m·n), at least 1.
// Anything malformed — unknown key, wrong type, both or neither of rank/keep_ratio, a regex that
// does not compile — throws invalid_argument naming the field. Nothing here prints or reads files.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/parameters.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace lowrank::design {

inline constexpr const char* recipe_format = "lowrank.recipe";

/// One rank rule: modules matching `targets` get `rank` or `keep_ratio`.
struct recipe_rule {
    std::vector<std::string> targets;
    std::optional<std::uint64_t> rank;
    std::optional<double> keep_ratio;
};

struct recipe {
    std::string method = "svd";
    std::vector<std::string> targets, ignore;
    recipe_rule rule;                    ///< the default (its targets are `targets`)
    std::vector<recipe_rule> overrides;  ///< first matching override wins
    nlohmann::json calibration;          ///< null when absent
    nlohmann::json source;               ///< null when absent
};

namespace detail {
inline bool regex_full_match(const std::string& pattern, const std::string& text) {
    return std::regex_match(text, std::regex(pattern, std::regex::ECMAScript));
}
inline std::vector<std::string> regex_list(const nlohmann::json& j, const std::string& field) {
    if (!j.is_array()) throw invalid_argument("recipe: '" + field + "' must be an array of regular expressions");
    std::vector<std::string> out;
    for (const auto& e : j) {
        if (!e.is_string()) throw invalid_argument("recipe: '" + field + "' must hold strings");
        try {
            std::regex(e.get<std::string>(), std::regex::ECMAScript);
        } catch (const std::regex_error& x) {
            throw invalid_argument("recipe: '" + field + "': '" + e.get<std::string>() + "' is not a regular expression (" +
                                   x.what() + ")");
        }
        out.push_back(e.get<std::string>());
    }
    return out;
}
inline void read_amount(const nlohmann::json& j, recipe_rule& r, const std::string& where) {
    if (j.contains("rank") == j.contains("keep_ratio"))
        throw invalid_argument("recipe: " + where + " needs exactly one of 'rank' and 'keep_ratio'");
    if (j.contains("rank")) {
        if (!j["rank"].is_number_integer() || j["rank"].get<std::int64_t>() <= 0)
            throw invalid_argument("recipe: " + where + ".rank must be a positive integer");
        r.rank = j["rank"].get<std::uint64_t>();
    } else {
        if (!j["keep_ratio"].is_number() || !(j["keep_ratio"].get<double>() > 0) || j["keep_ratio"].get<double>() > 1)
            throw invalid_argument("recipe: " + where + ".keep_ratio must be a number in (0, 1]");
        r.keep_ratio = j["keep_ratio"].get<double>();
    }
}
}  // namespace detail

/// Parses and validates a recipe document.
inline recipe recipe_from_json(const nlohmann::json& j) {
    if (!j.is_object()) throw invalid_argument("recipe: not a JSON object");
    static const std::set<std::string> keys{"format", "version", "method", "targets", "ignore", "rank", "keep_ratio",
                                            "overrides", "calibration", "source", "comment"};
    for (auto it = j.begin(); it != j.end(); ++it)
        if (!keys.count(it.key())) throw invalid_argument("recipe: unknown field '" + it.key() + "'");
    if (j.value("format", std::string()) != recipe_format)
        throw invalid_argument(std::string("recipe: 'format' must be \"") + recipe_format + "\"");
    if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != 1)
        throw invalid_argument("recipe: 'version' must be 1");
    recipe r;
    if (j.contains("method")) {
        if (!j["method"].is_string() || j["method"].get<std::string>().empty())
            throw invalid_argument("recipe: 'method' must be a non-empty string");
        r.method = j["method"].get<std::string>();
    }
    if (!j.contains("targets")) throw invalid_argument("recipe: 'targets' is missing");
    r.targets = detail::regex_list(j["targets"], "targets");
    if (r.targets.empty()) throw invalid_argument("recipe: 'targets' is empty");
    if (j.contains("ignore")) r.ignore = detail::regex_list(j["ignore"], "ignore");
    r.rule.targets = r.targets;
    detail::read_amount(j, r.rule, "the recipe");
    if (j.contains("overrides")) {
        if (!j["overrides"].is_array()) throw invalid_argument("recipe: 'overrides' must be an array");
        for (std::size_t i = 0; i < j["overrides"].size(); ++i) {
            const auto& o = j["overrides"][i];
            const std::string where = "overrides[" + std::to_string(i) + "]";
            if (!o.is_object() || !o.contains("targets")) throw invalid_argument("recipe: " + where + " needs 'targets'");
            for (auto it = o.begin(); it != o.end(); ++it)
                if (it.key() != "targets" && it.key() != "rank" && it.key() != "keep_ratio")
                    throw invalid_argument("recipe: " + where + ": unknown field '" + it.key() + "'");
            recipe_rule rule;
            rule.targets = detail::regex_list(o["targets"], where + ".targets");
            detail::read_amount(o, rule, where);
            r.overrides.push_back(std::move(rule));
        }
    }
    r.calibration = j.value("calibration", nlohmann::json());
    r.source = j.value("source", nlohmann::json());
    return r;
}

/// The canonical JSON of a recipe (what is saved beside outputs).
inline nlohmann::json to_json(const recipe& r) {
    auto amount = [](nlohmann::json& j, const recipe_rule& rule) {
        if (rule.rank) j["rank"] = *rule.rank;
        else j["keep_ratio"] = *rule.keep_ratio;
    };
    nlohmann::json j = {{"format", recipe_format}, {"version", 1}, {"method", r.method}, {"targets", r.targets},
                        {"ignore", r.ignore}};
    amount(j, r.rule);
    if (!r.overrides.empty()) {
        j["overrides"] = nlohmann::json::array();
        for (const auto& o : r.overrides) {
            nlohmann::json e = {{"targets", o.targets}};
            amount(e, o);
            j["overrides"].push_back(e);
        }
    }
    if (!r.calibration.is_null()) j["calibration"] = r.calibration;
    if (!r.source.is_null()) j["source"] = r.source;
    return j;
}

/// The rule that applies to `module` (nullptr: the module is not compressed).
inline const recipe_rule* recipe_rule_for(const recipe& r, const std::string& module) {
    auto any = [&](const std::vector<std::string>& ps) {
        return std::any_of(ps.begin(), ps.end(), [&](const std::string& p) { return detail::regex_full_match(p, module); });
    };
    if (any(r.ignore)) return nullptr;
    for (const auto& o : r.overrides)
        if (any(o.targets)) return &o;
    return any(r.targets) ? &r.rule : nullptr;
}

/// The rank a rule gives an [m, n] weight in `form` (keep_ratio: the largest rank whose factors
/// hold at most ρ·m·n parameters, at least 1; rank: as given, capped at min(m, n)).
inline std::uint64_t recipe_rank(const recipe_rule& rule, std::uint64_t m, std::uint64_t n, factor_form form) {
    const std::uint64_t cap = std::min(m, n);
    if (rule.rank) return std::min(*rule.rank, cap);
    const double budget = *rule.keep_ratio * double(m) * double(n);
    std::uint64_t r = 1;
    while (r < cap && double(factored_parameters(m, n, r + 1, form)) <= budget) ++r;
    return r;
}

/// The recipe that reproduces an explicit assignment {module → rank}: one override per distinct
/// rank, module names escaped as literal regexes.
inline recipe recipe_from_ranks(const std::string& method, const std::vector<std::pair<std::string, std::uint64_t>>& ranks) {
    auto escape = [](const std::string& s) {
        std::string e;
        for (char c : s) {
            if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) e += '\\';
            e += c;
        }
        return e;
    };
    recipe r;
    r.method = method;
    std::vector<std::pair<std::uint64_t, std::vector<std::string>>> by_rank;
    for (const auto& [module, rank] : ranks) {
        r.targets.push_back(escape(module));
        auto it = std::find_if(by_rank.begin(), by_rank.end(), [&](const auto& p) { return p.first == rank; });
        if (it == by_rank.end()) by_rank.push_back({rank, {escape(module)}});
        else it->second.push_back(escape(module));
    }
    if (by_rank.empty()) throw invalid_argument("recipe_from_ranks: no module");
    r.rule.targets = r.targets;
    r.rule.rank = by_rank.front().first;
    for (std::size_t i = 1; i < by_rank.size(); ++i) r.overrides.push_back({by_rank[i].second, by_rank[i].first, {}});
    return r;
}

}  // namespace lowrank::design

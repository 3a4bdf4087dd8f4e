// The results schema shared by every evaluation driver (docs/eval.md describes it field by
// field) and a validator the tests and scripts/results_table.py rely on.
//
// {
//   "schema": "lowrank.eval.results", "schema_version": 1,
//   "model":  {"path", "sha256", "kind": "gguf"|"factorized"|"hf"|"bert", "parameters"},
//   "gamma":  null | {"id", "path", "config": {...γ JSON...}},
//   "method": "dense" | "svd" | "tucker2" | ...,
//   "tasks":  {NAME: {"metrics": {METRIC: {"value", "stderr"}}, "samples": n, "total": N,
//                     "limit": L|null, "chance": c|null, "dataset": {"file", "sha256"}, "settings": {...}}},
//   "efficiency": {"latency_ms": x|"unavailable", "throughput_tok_s": x|"unavailable",
//                  "peak_rss_mb": x|"unavailable", "weights_mb": x|"unavailable", "energy_j": x|"unavailable", ...},
//   "machine": {"hostname", "cpu", "cores", "threads"},
//   "software": {"lowrank_version", "git_commit"},
//   "command": "...", "started": ISO-8601, "wall_time_s": x
// }
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace lowrank::eval {

inline constexpr const char* results_schema = "lowrank.eval.results";
inline constexpr int results_schema_version = 1;

/// {"value", "stderr"} with NaN/Inf written as null.
inline nlohmann::json metric(double value, double stderr) {
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    return {{"value", num(value)}, {"stderr", num(stderr)}};
}

/// Every way `j` departs from the schema (empty when valid).
inline std::vector<std::string> validate_results(const nlohmann::json& j) {
    std::vector<std::string> e;
    auto need = [&](const nlohmann::json& o, const char* key, const std::string& where) -> bool {
        if (!o.is_object() || !o.contains(key)) {
            e.push_back(where + ": missing \"" + key + "\"");
            return false;
        }
        return true;
    };
    auto number_or_unavailable = [&](const nlohmann::json& v, const std::string& where) {
        if (!(v.is_number() || (v.is_string() && v == "unavailable")))
            e.push_back(where + ": must be a number or \"unavailable\"");
    };
    if (!j.is_object()) return {"results: not a JSON object"};
    if (need(j, "schema", "results") && j["schema"] != results_schema) e.push_back("schema: not " + std::string(results_schema));
    if (need(j, "schema_version", "results") && j["schema_version"] != results_schema_version) e.push_back("schema_version: not 1");
    if (need(j, "model", "results")) {
        for (const char* k : {"path", "sha256", "kind"}) need(j["model"], k, "model");
        if (j["model"].contains("sha256") && !(j["model"]["sha256"].is_string() && j["model"]["sha256"].get<std::string>().size() == 64))
            e.push_back("model.sha256: not a 64-digit hex string");
    }
    if (need(j, "gamma", "results") && !j["gamma"].is_null()) {
        need(j["gamma"], "id", "gamma");
        need(j["gamma"], "config", "gamma");
    }
    if (need(j, "method", "results") && !j["method"].is_string()) e.push_back("method: not a string");
    if (need(j, "tasks", "results")) {
        if (!j["tasks"].is_object() || j["tasks"].empty()) e.push_back("tasks: must be a non-empty object");
        else
            for (const auto& [name, t] : j["tasks"].items()) {
                const std::string w = "tasks." + name;
                if (need(t, "metrics", w)) {
                    if (!t["metrics"].is_object() || t["metrics"].empty()) e.push_back(w + ".metrics: empty");
                    else
                        for (const auto& [m, v] : t["metrics"].items()) {
                            if (!v.is_object() || !v.contains("value") || !v.contains("stderr"))
                                e.push_back(w + ".metrics." + m + ": needs value and stderr");
                            else if (!(v["value"].is_number() || v["value"].is_null()) || !(v["stderr"].is_number() || v["stderr"].is_null()))
                                e.push_back(w + ".metrics." + m + ": value/stderr must be numbers (or null)");
                        }
                }
                if (need(t, "samples", w) && !t["samples"].is_number_unsigned()) e.push_back(w + ".samples: not a count");
                if (need(t, "dataset", w)) {
                    need(t["dataset"], "file", w + ".dataset");
                    if (need(t["dataset"], "sha256", w + ".dataset") &&
                        !(t["dataset"]["sha256"].is_string() && t["dataset"]["sha256"].get<std::string>().size() == 64))
                        e.push_back(w + ".dataset.sha256: not a 64-digit hex string");
                }
            }
    }
    if (need(j, "efficiency", "results"))
        for (const char* k : {"latency_ms", "throughput_tok_s", "peak_rss_mb", "energy_j"})
            if (need(j["efficiency"], k, "efficiency")) number_or_unavailable(j["efficiency"][k], std::string("efficiency.") + k);
    if (need(j, "machine", "results")) need(j["machine"], "cores", "machine");
    if (need(j, "software", "results")) {
        need(j["software"], "lowrank_version", "software");
        need(j["software"], "git_commit", "software");
    }
    if (need(j, "wall_time_s", "results") && !j["wall_time_s"].is_number()) e.push_back("wall_time_s: not a number");
    return e;
}

}  // namespace lowrank::eval

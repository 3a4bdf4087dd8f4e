// `lowrank eval --output-path DIR [--log-samples]`: the results in the layout lm-evaluation-harness
// (0.4.x) writes, so scripts that glob results_*.json / samples_*.jsonl read ours unchanged.
//
//   DIR/<model name sanitised>/results_<date id>.json    (DIR ending in ".json": that name + _<date id>)
//   DIR/<model name sanitised>/samples_<task>_<date id>.jsonl   (--log-samples)
//
// where the model name is the MODEL argument with lm-eval's sanitize_model_name (runs of
// "<>:/|\?*[] and quotes → "__") and the date id is datetime.now().isoformat() with ':' → '-'.
// results_*.json follows lm_eval/result_schema.py's EvalResults: results[task] holds
// "name", "alias", "sample_len" and "<metric>,<filter>" / "<metric>_stderr,<filter>" numbers
// (filter "none"; GSM8K "strict-match" / "flexible-extract"); plus group_subtasks, configs (string
// values only, as the schema types them), versions (lm-eval's task versions), n-shot,
// higher_is_better, n-samples {original, effective}, config {model "lowrank", model_args, limit,
// ...}, git_hash, date, model_source/model_name/model_name_sanitized, start/end time,
// total_evaluation_time_seconds. Task names are lm-eval's (lambada → lambada_openai); our own
// tasks keep our names (ppl:austen → lowrank_ppl_austen, BERT mrpc/sst2/agreement → lowrank_*).
// A samples line is lm-eval's SampleResult: doc_id, doc (our data row), target (the gold index
// as a string), arguments {"gen_args_i": {"arg_0": context, "arg_1": continuation}}, resps /
// filtered_resps as strings [[log p, is_greedy]] per request (lm-eval's sanitize_list form),
// filter, metrics, doc/prompt/target hashes (sha256 as lm-eval's hash_string), and the per-
// document acc / acc_norm. Writing is atomic per file; nothing here prints.
#pragma once

#include "lowrank/io/atomic_file.hpp"
#include "lowrank/io/checksum.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lowrank::eval {

/// Lower-case hex sha256 of a string (lm-eval's hash_string).
inline std::string sha256_text(const std::string& s) { return sha256_hex(s); }

/// lm-eval's name of one of our tasks, its version, output type and metrics (higher is better).
struct lm_eval_task_info {
    std::string name;
    double version = 1.0;
    std::string output_type;
    std::map<std::string, bool> higher_is_better;
};

inline lm_eval_task_info lm_eval_task(const std::string& ours) {
    if (ours == "lambada") return {"lambada_openai", 1.0, "loglikelihood", {{"acc", true}, {"perplexity", false}}};
    if (ours == "gsm8k") return {"gsm8k", 3.0, "generate_until", {{"exact_match", true}}};
    if (ours == "boolq") return {"boolq", 2.0, "multiple_choice", {{"acc", true}}};
    if (ours == "mmlu") return {"mmlu", 2.0, "multiple_choice", {{"acc", true}}};
    if (ours == "winogrande") return {"winogrande", 1.0, "multiple_choice", {{"acc", true}}};
    if (ours == "arc_easy" || ours == "arc_challenge" || ours == "hellaswag" || ours == "piqa" || ours == "openbookqa")
        return {ours, 1.0, "multiple_choice", {{"acc", true}, {"acc_norm", true}}};
    std::string n = "lowrank_" + ours;
    for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    return {n, 1.0, ours.rfind("ppl:", 0) == 0 ? "loglikelihood_rolling" : "lowrank", {}};
}

/// lm_eval.utils.sanitize_model_name.
inline std::string lm_eval_sanitize_model_name(const std::string& s) {
    std::string out;
    bool run = false;
    for (char c : s) {
        const bool bad = std::string_view("\"<>:/|\\?*[]").find(c) != std::string_view::npos;
        if (bad && !run) out += "__";
        if (!bad) out += c;
        run = bad;
    }
    return out;
}

/// datetime.now().isoformat() with ':' replaced by '-' (lm-eval's date id), local time.
inline std::string lm_eval_date_id() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const long us = static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%S", std::localtime(&t));
    char full[80];
    std::snprintf(full, sizeof full, "%s.%06ld", buf, us);
    return full;
}

/// One metric (our {value, stderr}) as lm-eval's "<m>,<filter>" and "<m>_stderr,<filter>"; an
/// undefined value or stderr (null) is left out (EvalResults types both as numbers).
inline void lm_eval_metric(nlohmann::json& out, const std::string& m, const std::string& filter, const nlohmann::json& v) {
    if (!v.is_object() || !v.value("value", nlohmann::json()).is_number()) return;  // undefined: left out
    out[m + "," + filter] = v["value"];
    if (const auto se = v.value("stderr", nlohmann::json()); se.is_number()) out[m + "_stderr," + filter] = se;
}

/// Our results document (docs/eval.md schema) in lm-eval's EvalResults layout.
inline nlohmann::json lm_eval_results(const nlohmann::json& res, const std::string& model_arg, std::size_t limit_arg,
                                      double start_unix, double end_unix) {
    using nlohmann::json;
    json out = {{"results", json::object()}, {"group_subtasks", json::object()}, {"configs", json::object()},
                {"versions", json::object()}, {"n-shot", json::object()}, {"higher_is_better", json::object()},
                {"n-samples", json::object()}};
    const json tasks = res.value("tasks", json::object());
    for (auto it = tasks.begin(); it != tasks.end(); ++it) {
        const auto info = lm_eval_task(it.key());
        const json& t = it.value();
        const json metrics = t.value("metrics", json::object());
        json r = {{"name", info.name}, {"alias", info.name}, {"sample_len", t.value("samples", 0)}};
        json hib = json::object();
        for (auto m = metrics.begin(); m != metrics.end(); ++m) {
            std::string name = m.key(), filter = "none";
            if (name == "exact_match_strict") name = "exact_match", filter = "strict-match";
            if (name == "exact_match_flexible") name = "exact_match", filter = "flexible-extract";
            lm_eval_metric(r, name, filter, m.value());
            const auto h = info.higher_is_better.find(name);
            hib[name] = h != info.higher_is_better.end() ? json(h->second)
                        : name == "perplexity" || name == "nll_per_token" || name == "bits_per_byte" ||
                                  name == "kl_divergence" || name == "ppl_ratio" || name == "perplexity_base"
                            ? json(false)
                            : json(true);
        }
        out["results"][info.name] = r;
        out["group_subtasks"][info.name] = json::array();
        const int shots = t.value("settings", json::object()).value("num_fewshot", 0);
        const json ds = t.value("dataset", json::object());
        out["configs"][info.name] = {{"task", info.name},
                                     {"output_type", info.output_type},
                                     {"dataset_path", "lowrank eval-data/" + ds.value("file", std::string())},
                                     {"dataset_sha256", ds.value("sha256", std::string())},
                                     {"description", "scored by lowrank eval (" + it.key() + "), lm-evaluation-harness v0.4 semantics"}};
        out["versions"][info.name] = info.version;
        out["n-shot"][info.name] = shots;
        out["higher_is_better"][info.name] = hib;
        out["n-samples"][info.name] = {{"original", t.value("total", 0)}, {"effective", t.value("samples", 0)}};
    }
    const json model = res.value("model", json::object());
    const std::string name = model_arg;
    const json limit = limit_arg ? json(limit_arg) : json(nullptr);  // lm-eval's --limit: documents per task
    out["config"] = {{"model", "lowrank"},
                     {"model_args", "pretrained=" + name + ",weights=" + model.value("weights", std::string("f32"))},
                     {"model_num_parameters", model.value("parameters", 0)},
                     {"model_dtype", model.value("weights", std::string("f32")) == "bf16" ? "torch.bfloat16" : "torch.float32"},
                     {"batch_size", "1"},
                     {"batch_sizes", json::array()},
                     {"device", "cpu"},
                     {"use_cache", nullptr},
                     {"limit", limit},
                     {"bootstrap_iters", 0},
                     {"gen_kwargs", nullptr}};
    out["git_hash"] = res.value("software", json::object()).value("git_commit", std::string("unknown")).substr(0, 7);
    out["date"] = start_unix;
    out["lowrank_version"] = res.value("software", json::object()).value("lowrank_version", std::string("unknown"));
    out["model_source"] = "lowrank";
    out["model_name"] = name;
    out["model_name_sanitized"] = lm_eval_sanitize_model_name(name);
    out["system_instruction"] = nullptr;
    out["system_instruction_sha"] = nullptr;
    out["fewshot_as_multiturn"] = false;
    out["chat_template"] = nullptr;
    out["chat_template_sha"] = nullptr;
    out["task_hashes"] = json::object();
    out["start_time"] = start_unix;
    out["end_time"] = end_unix;
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.6f", end_unix - start_unix);
    out["total_evaluation_time_seconds"] = secs;
    out["lowrank_results"] = {{"schema", res.value("schema", std::string())}, {"gamma", res.value("gamma", json())},
                              {"method", res.value("method", json())}, {"model", model}};
    return out;
}

/// Python's repr of a float as lm-eval's sanitize_list writes it (str(x)); shortest round trip.
inline std::string py_float_str(double x) {
    char buf[40];
    for (int p = 1; p <= 17; ++p) {
        std::snprintf(buf, sizeof buf, "%.*g", p, x);
        if (std::strtod(buf, nullptr) == x) break;
    }
    std::string s = buf;
    if (s.find_first_of(".einn") == std::string::npos) s += ".0";
    return s;
}

/// One of our per-document rows (task, doc_index, gold, requests, loglik, greedy?, pred, pred_norm,
/// doc) as lm-eval's SampleResult.
inline nlohmann::json lm_eval_sample(const nlohmann::json& row) {
    using nlohmann::json;
    const json reqs = row.value("requests", json::array());
    const json ll = row.value("loglik", json::array());
    const json greedy = row.value("greedy_per_request", json::array());
    json args = json::object(), resps = json::array(), filtered = json::array();
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        args["gen_args_" + std::to_string(i)] = {{"arg_0", reqs[i][0]}, {"arg_1", reqs[i][1]}};
        const std::string lp = i < ll.size() ? py_float_str(ll[i].get<double>()) : "nan";
        const std::string g = i < greedy.size() && greedy[i].is_boolean() ? (greedy[i].get<bool>() ? "True" : "False") : "None";
        resps.push_back(json::array({json::array({lp, g})}));
        filtered.push_back(json::array({lp, g}));
    }
    const json doc = row.value("doc", json::object());
    const std::string target = std::to_string(row.value("gold", 0));
    json s = {{"doc_id", row.value("doc_index", 0)}, {"doc", doc}, {"target", target}, {"arguments", args},
              {"resps", resps}, {"filtered_resps", filtered}, {"filter", "none"}, {"metrics", json::array()},
              {"doc_hash", sha256_text(doc.dump(2, ' ', false))},
              {"prompt_hash", sha256_text(reqs.empty() ? std::string() : reqs[0][0].get<std::string>())},
              {"target_hash", sha256_text(target)}};
    const int gold = row.value("gold", 0);
    if (row.contains("pred")) s["acc"] = row["pred"].get<int>() == gold ? 1.0 : 0.0, s["metrics"].push_back("acc");
    if (row.contains("pred_norm") && row.value("acc_norm_task", false))
        s["acc_norm"] = row["pred_norm"].get<int>() == gold ? 1.0 : 0.0, s["metrics"].push_back("acc_norm");
    if (row.contains("greedy") && row["greedy"].is_boolean())  // LAMBADA: acc = every target token greedy
        s["acc"] = row["greedy"].get<bool>() ? 1.0 : 0.0, s["metrics"] = {"perplexity", "acc"}, s["perplexity"] = ll.empty() ? 0.0 : ll[0].get<double>();
    return s;
}

/// Where the files went.
struct lm_eval_written {
    std::string results;
    std::vector<std::string> samples;
};

/// Writes results_<date>.json (and samples_<task>_<date>.jsonl for every task in `samples`).
inline lm_eval_written write_lm_eval_outputs(const std::string& output_path, const nlohmann::json& results,
                                             const std::map<std::string, std::vector<nlohmann::json>>& samples) {
    namespace fs = std::filesystem;
    const std::string date = lm_eval_date_id();
    fs::path dir = output_path, results_file;
    if (dir.extension() == ".json") {
        results_file = dir.parent_path() / (dir.stem().string() + "_" + date + ".json");
        dir = dir.parent_path();
    } else {
        dir /= results.value("model_name_sanitized", std::string("lowrank"));
        results_file = dir / ("results_" + date + ".json");
    }
    if (!dir.empty()) fs::create_directories(dir);
    auto write = [](const fs::path& p, const std::string& text) { lowrank::write_file_atomically(p.string(), text); };
    lm_eval_written out;
    for (const auto& [task, rows] : samples) {
        std::string text;
        for (const auto& r : rows) text += lm_eval_sample(r).dump(-1, ' ', false) + "\n";
        const fs::path p = dir / ("samples_" + lm_eval_task(task).name + "_" + date + ".jsonl");
        write(p, text);
        out.samples.push_back(p.string());
    }
    write(results_file, results.dump(2, ' ', false) + "\n");
    out.results = results_file.string();
    return out;
}

}  // namespace lowrank::eval

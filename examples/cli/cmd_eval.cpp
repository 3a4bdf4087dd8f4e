// lowrank eval MODEL [--plan gamma.json] --tasks ppl:austen,ppl:PATH,arc_easy,hellaswag,... [--limit N]
//               [--json OUT] [--data DIR] [--context 512] [--stride 256] [--threads N] [--workers W]
// Accuracy evaluation (examples/engine/eval/, docs/eval.md): windowed perplexity and bits per byte on
// the cached Austen / KJV held-out texts, zero-shot multiple choice with lm-evaluation-harness
// semantics (arc_easy, arc_challenge, hellaswag, winogrande, piqa, boolq, openbookqa, mmlu),
// LAMBADA, GSM8K few-shot greedy generation (--num-fewshot, default 5; slow; eval/gsm8k.hpp), HumanEval pass@1 (greedy
// generation, each program executed in a sandboxed Python process: eval/humaneval.hpp,
// eval/sandbox.hpp; --humaneval-log makes the run resumable), ppl:code (Python standard-library
// sources); for a BERT model directory: mrpc, sst2 and (with --plan) agreement with the dense
// model. MODEL is a Llama-family GGUF file or Hugging Face directory (tokenizer.json or
// tokenizer.model), a BERT (MiniLM) Hugging Face directory, or a
// factorised file written by `lowrank decompose` from either (runtime/factorized_loader.hpp:
// configuration and tokenizer from the source model its manifest records, or --source; for a
// factorised BERT, task agreement compares with that source); --plan applies a γ in memory.
// Results follow the schema in eval/results.hpp; progress on stderr.
// --scoring batched|shared-context|per-request: how multiple-choice continuations are run
// (eval/continuation_scoring.hpp; equal log-likelihoods, batched is the fastest; the task's
// settings record it).
// --samples-out FILE: per-document JSONL (the formatted requests and their log-likelihoods; BERT:
// gold and prediction, or the agreement cosine), and per perplexity window {task, window_index,
// nll (Σ −ln p of its scored tokens), tokens, bytes}; with --format-only the requests alone,
// nothing scored (prompt-format cross-check).
// --output-path DIR [--log-samples]: the results (and per-document samples) also in the layout
// lm-evaluation-harness writes (eval/lm_eval_output.hpp). Perplexity tasks print llama-perplexity's
// "Final estimate: PPL = x +/- y" line; --kl-divergence-base DENSE compares with a base model on the
// same windows (eval/kl_divergence.hpp: mean KL, top-1 agreement, PPL ratio; llama-perplexity's lines).
// --skip-layers LIST (Llama family; 1-based like a γ's layers): remove those blocks after loading
// (and after --plan), so the residual stream passes them unchanged — the layer-removal baseline of
// the study (runtime::remove_blocks); the results record "skip_layers" and the smaller parameter count.
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/text_input.hpp"
#include "lowrank/io/checksum.hpp"
#include "eval/bert_eval.hpp"
#include "eval/bert_plan.hpp"
#include "eval/gsm8k.hpp"
#include "eval/kl_divergence.hpp"
#include "eval/humaneval.hpp"
#include "eval/llama_scorer.hpp"
#include "eval/lm_eval_output.hpp"
#include "eval/results.hpp"
#include "eval/scoring.hpp"
#include "eval/tasks.hpp"
#include "runtime/bert.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/measure.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/wordpiece_tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#ifndef LOWRANK_VERSION
#define LOWRANK_VERSION "unknown"
#endif

namespace cmd_eval {

using namespace lowrank;
using nlohmann::json;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct eval_args {
    std::string model, plan, source, tasks, json_out, data, samples_out, output_path, kl_base, humaneval_log,
        python = "/usr/bin/python3";
    bool log_samples = false, gen_tokens_given = false;
    std::size_t limit = 0, context = 512, stride = 256, ppl_limit = 0, gen_tokens = eval::gsm8k::max_gen_toks;
    std::size_t num_fewshot = eval::gsm8k::num_fewshot;
    int threads = 2;
    int workers = 1;  ///< --workers: models sharing the weights that score documents in parallel
    std::string weights = "f32";
    std::string scoring = "batched";  ///< --scoring (eval/continuation_scoring.hpp)
    bool no_progress = false, no_efficiency = false, format_only = false;
    std::string command;
    std::string skip_layers;          ///< --skip-layers as given
    std::vector<std::size_t> skip;    ///< parsed: 1-based, ascending, distinct
};

/// --skip-layers "3,5,9": positive integers, distinct (usage_error naming the item otherwise).
std::vector<std::size_t> parse_skip_layers(const std::string& s) {
    std::vector<std::size_t> out;
    for (std::size_t p = 0; p <= s.size();) {
        const auto q = std::min(s.find(',', p), s.size());
        const std::string item = s.substr(p, q - p);
        std::size_t v = 0;
        const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || r.ec != std::errc() || r.ptr != item.data() + item.size() || v == 0)
            throw cli::usage_error("--skip-layers " + s + ": '" + item + "' is not a layer number (1-based, comma-separated)");
        if (std::find(out.begin(), out.end(), v) != out.end())
            throw cli::usage_error("--skip-layers " + s + ": layer " + item + " is listed twice");
        out.push_back(v);
        p = q + 1;
    }
    std::sort(out.begin(), out.end());
    return out;
}

double since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

std::string default_data_dir() {
    if (const char* c = std::getenv("LOWRANK_CACHE"); c && *c) return (fs::path(c) / "eval-data").string();
    const char* home = std::getenv("HOME");
    return (fs::path(home ? home : ".") / ".cache/lowrank/eval-data").string();
}

/// sha256 of a data file: from the cache manifest when it lists the file, else computed.
std::string data_sha256(const std::string& path) {
    const fs::path manifest = fs::path(path).parent_path().parent_path() / "manifest.json";
    if (std::ifstream in(manifest); in) {
        try {
            const json m = json::parse(in);
            const auto& f = m.at("assets").at("eval-data").at("files");
            const std::string name = fs::path(path).filename().string();
            if (f.contains(name) && f[name].value("size", std::uint64_t(0)) == fs::file_size(path))
                return f[name].at("sha256").get<std::string>();
        } catch (const std::exception&) {
        }
    }
    return sha256_file(path);
}

/// ppl:austen / ppl:kjv / ppl:code name the cached held-out texts; anything else after "ppl:" is
/// a path to a UTF-8 text file (a file named like a built-in corpus: give it as ./austen).
bool is_builtin_corpus(const std::string& c) { return c == "austen" || c == "kjv" || c == "code"; }

std::vector<json> read_jsonl(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw cli::usage_error(path + ": cannot open (run python3 scripts/fetch_assets.py --data)");
    std::vector<json> rows;
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty()) continue;
        try {
            rows.push_back(json::parse(line));
        } catch (const std::exception& e) {
            throw io_error(path, "line " + std::to_string(n) + ": " + e.what());
        }
    }
    return rows;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw cli::usage_error(path + ": cannot open (run python3 scripts/fetch_assets.py --data)");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// --samples-out: the file (closed when not asked for); one JSON object per line via write_line.
std::ofstream open_samples(const eval_args& a) {
    std::ofstream out;
    if (a.samples_out.empty()) return out;
    out.open(a.samples_out);
    if (!out) throw cli::usage_error("--samples-out " + a.samples_out + ": cannot open for writing");
    return out;
}
void write_line(std::ofstream& out, const eval_args& a, const json& line) {
    if (!out.is_open()) return;
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    if (!out) throw io_error(a.samples_out, "could not write");
}

class progress_bar {
public:
    progress_bar(std::string label, bool on) : label_(std::move(label)), on_(on), t0_(clock_type::now()) {}
    void operator()(std::size_t done, std::size_t total) {
        if (!on_) return;
        const double t = since(t0_);
        if (done != total && t - last_ < 0.2) return;
        last_ = t;
        const int width = 30, fill = total ? int(width * double(done) / double(total)) : width;
        std::fprintf(stderr, "\r%-14s [%s%s] %zu/%zu %.1fs", label_.c_str(), std::string(std::size_t(fill), '#').c_str(),
                     std::string(std::size_t(width - fill), '.').c_str(), done, total, t);
        if (done == total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    }

private:
    std::string label_;
    bool on_;
    clock_type::time_point t0_;
    double last_ = -1;
};

std::string git_commit() {
    if (const char* c = std::getenv("LOWRANK_GIT_COMMIT"); c && *c) return c;
    std::string out;
    if (FILE* p = ::popen("git rev-parse HEAD 2>/dev/null", "r")) {
        char buf[128];
        while (std::fgets(buf, sizeof buf, p)) out += buf;
        ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out.size() == 40 ? out : "unknown";
}

/// The results' "machine" block, from the runtime's one machine probe (runtime/measure.hpp).
json machine_info(int threads) {
    const auto m = runtime::measure::describe_machine();
    return {{"hostname", m.hostname}, {"cpu", m.cpu}, {"cores", m.cores}, {"threads", threads}};
}

std::string iso_now() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

json task_entry(const std::string& file, std::size_t samples, std::size_t total, std::size_t limit) {
    return {{"metrics", json::object()},
            {"samples", samples},
            {"total", total},
            {"limit", limit ? json(limit) : json(nullptr)},
            {"chance", nullptr},
            {"dataset", {{"file", fs::path(file).filename().string()}, {"sha256", data_sha256(file)}}},
            {"settings", json::object()}};
}

// ------------------------------------------------------------------ Llama-family models

json efficiency_llama(runtime::llama_model& m, std::size_t prompt) {
    // Latency: one prefill of `prompt` tokens (median of 3); throughput: greedy decode of 32
    // tokens after it (tokens/s). Same weights and threads as the evaluation.
    std::vector<int> ids(prompt);
    for (std::size_t i = 0; i < prompt; ++i) ids[i] = int((i * 7919) % m.config().vocab);
    std::vector<double> lat;
    for (int r = 0; r < 3; ++r) {
        auto c = m.make_cache(1, prompt + 32);
        const auto t = clock_type::now();
        m.forward(ids.data(), prompt, c);
        lat.push_back(since(t) * 1e3);
    }
    std::sort(lat.begin(), lat.end());
    auto c = m.make_cache(1, prompt + 32);
    auto logits = m.forward(ids.data(), prompt, c);
    const auto t = clock_type::now();
    for (int i = 0; i < 32; ++i) {
        const int next = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
        logits = m.forward(&next, 1, c);
    }
    const double dec = since(t);
    const auto& w = m.weights();
    const std::size_t bytes = w.bytes();
    return {{"latency_ms", lat[1]},
            {"latency_what", "prefill of " + std::to_string(prompt) + " tokens, median of 3"},
            {"throughput_tok_s", 32.0 / dec},
            {"throughput_what", "greedy decode, 32 tokens after the prefill"},
            {"weights_mb", double(bytes) / (1 << 20)},
            {"parameters", w.parameters()}};
}

/// GSM8K (eval/gsm8k.hpp): --num-fewshot fixed exemplars (default 5), greedy generation, exact match.
json run_gsm8k(const eval_args& a, runtime::llama_model& model, const runtime::gguf_tokenizer& tok) {
    namespace g = eval::gsm8k;
    const auto tt = clock_type::now();
    const std::string file = (fs::path(a.data) / "gsm8k.jsonl").string();
    std::vector<g::doc> all;
    for (const auto& r : read_jsonl(file)) {
        try {
            all.push_back(g::from_json(r));
        } catch (const std::exception& e) {
            throw io_error(file, "document " + std::to_string(all.size() + 1) + ": " + e.what());
        }
    }
    g::split_docs split;
    try {
        split = g::split_fewshot(all, a.num_fewshot);
    } catch (const lowrank::error& e) {
        throw cli::usage_error(std::string("--num-fewshot ") + std::to_string(a.num_fewshot) + ": " + file + ": " + e.what());
    }
    std::vector<g::doc> docs;
    for (auto i : eval::limited_indices(split.eval.size(), a.limit)) docs.push_back(split.eval[i]);
    std::size_t longest = 0;
    for (const auto& d : docs) longest = std::max(longest, tok.encode(g::context(split.exemplars, d), false).size());
    g::llama_generator gen(model, tok, g::fewshot_prefix(split.exemplars), a.gen_tokens, longest + a.gen_tokens);
    progress_bar bar("gsm8k", !a.no_progress);
    const auto r = g::evaluate(docs, split.exemplars, gen, [&](std::size_t d, std::size_t t) { bar(d, t); });
    json e = task_entry(file, docs.size(), split.eval.size(), a.limit);
    e["metrics"]["exact_match_strict"] = eval::metric(r.strict, r.strict_stderr);
    e["metrics"]["exact_match_flexible"] = eval::metric(r.flexible, r.flexible_stderr);
    json ex = json::array(), out = json::array();
    for (const auto& d : split.exemplars) ex.push_back(d.id);
    for (const auto& d : r.docs)
        out.push_back({{"id", d.id}, {"strict", d.strict}, {"flexible", d.flexible}, {"strict_ok", d.strict_ok},
                       {"flexible_ok", d.flexible_ok}, {"tokens", d.gen.tokens.size()}, {"stop", d.gen.reason},
                       {"generation", d.gen.text}});
    e["settings"] = {{"num_fewshot", a.num_fewshot}, {"fewshot_ids", ex},
                     {"fewshot", "fixed: the last " + std::to_string(a.num_fewshot) +
                                     " test documents (no train split in the data source), not evaluated"},
                     {"until", g::stop_sequences()}, {"max_gen_toks", a.gen_tokens}, {"decoding", "greedy"},
                     {"semantics", "lm-evaluation-harness v0.4 gsm8k (version 3)"}, {"unit", "documents"},
                     {"tokens_generated", r.tokens_generated}, {"prefix_cache_reused", r.prefix_reused}};
    e["outputs"] = out;
    e["seconds"] = since(tt);
    return e;
}

/// Per-document rows for --log-samples, by task.
using sample_log = std::map<std::string, std::vector<json>>;

/// --kl-divergence-base: KL, top-1 agreement and PPL ratio of `model` against the base model on
/// the windows of perplexity task `name`; prints llama-perplexity's statistics lines.
void kl_against_base(const eval_args& a, const std::string& name, const std::vector<int>& ids, std::size_t context,
                     runtime::llama_model& model, runtime::llama_model& base, json& e) {
    const std::size_t V = model.config().vocab;
    if (base.config().vocab != V)
        throw cli::usage_error("--kl-divergence-base " + a.kl_base + ": vocabulary of " + std::to_string(base.config().vocab) +
                               " tokens, the model has " + std::to_string(V));
    auto logits_of = [](runtime::llama_model& m) {
        return [&m](const std::vector<int>& w) {
            auto c = m.make_cache(1, w.size());
            return m.forward(w.data(), w.size() - 1, c, true);
        };
    };
    progress_bar bar(name + " KL", !a.no_progress);
    const auto r = eval::evaluate_kl_divergence(ids, context, std::min(a.stride, context - 1), V, logits_of(base),
                                                logits_of(model), a.ppl_limit ? a.ppl_limit : a.limit,
                                                [&](std::size_t d, std::size_t t) { bar(d, t); });
    e["metrics"]["kl_divergence"] = eval::metric(r.kl_mean, r.kl_stderr);
    e["metrics"]["top1_agreement"] = eval::metric(r.same_top, r.same_top_stderr);
    e["metrics"]["ppl_ratio"] = eval::metric(r.ppl_ratio, r.ppl_ratio_stderr);
    e["metrics"]["perplexity_base"] = eval::metric(r.ppl_base, std::nan(""));
    e["kl_divergence"] = {{"base", fs::absolute(a.kl_base).string()}, {"tokens", r.tokens}, {"windows", r.windows},
                          {"kl_max", r.kl_max}, {"kl_median", r.kl_median}, {"kl_p99", r.kl_p99},
                          {"what", "KL(base || model) in nats per scored token, same windows as the perplexity"}};
    std::printf("====== Perplexity statistics (%s, %zu tokens) ======\n", name.c_str(), r.tokens);
    std::printf("Mean PPL(Q)                   : %10.6lf\n", r.ppl_q);
    std::printf("Mean PPL(base)                : %10.6lf\n", r.ppl_base);
    std::printf("Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", r.ppl_ratio, r.ppl_ratio_stderr);
    std::printf("====== KL divergence statistics ======\n");
    std::printf("Mean    KLD: %10.6lf ± %10.6lf\n", r.kl_mean, r.kl_stderr);
    std::printf("Maximum KLD: %10.6lf\n", r.kl_max);
    std::printf("99.0%%   KLD: %10.6lf\n", r.kl_p99);
    std::printf("Median  KLD: %10.6lf\n", r.kl_median);
    std::printf("====== Token probability statistics ======\n");
    std::printf("Same top p: %6.3lf ± %5.3lf %%\n", 100 * r.same_top, 100 * r.same_top_stderr);
    std::fflush(stdout);
}

/// HumanEval (eval/humaneval.hpp): greedy completions executed in the sandbox; resumable
/// through --humaneval-log (whose header is this run's model, γ, weights and settings).
json run_humaneval(const eval_args& a, runtime::llama_model& model, const runtime::gguf_tokenizer& tok, const json& res) {
    namespace he = eval::humaneval;
    const auto tt = clock_type::now();
    const std::string file = (fs::path(a.data) / "humaneval.jsonl").string();
    std::vector<he::problem> all;
    for (const auto& r : read_jsonl(file)) {
        try {
            all.push_back(he::from_json(r));
        } catch (const std::exception& e) {
            throw std::runtime_error(file + ": problem " + std::to_string(all.size() + 1) + ": " + e.what());
        }
    }
    std::vector<he::problem> docs;
    for (auto i : eval::limited_indices(all.size(), a.limit)) docs.push_back(all[i]);
    const std::string python = eval::code_exec::find_executable(a.python);
    if (python.empty()) throw cli::usage_error("--python " + a.python + ": not an executable");
    const std::size_t max_new = a.gen_tokens_given ? a.gen_tokens : he::default_max_gen_toks;
    const eval::sandbox::limits lim;
    const json limits = {{"wall_s", lim.wall_seconds}, {"cpu_s", lim.cpu_seconds}, {"memory_bytes", lim.memory_bytes},
                         {"file_bytes", lim.file_bytes}, {"processes", lim.processes}, {"open_files", lim.open_files},
                         {"output_bytes", lim.output_bytes}};
    const json settings = {{"max_gen_toks", max_new}, {"until", he::stop_sequences()}, {"decoding", "greedy"},
                           {"python", python}, {"limits", limits},
                           {"semantics", "OpenAI human-eval / lm-evaluation-harness v0.4 humaneval (greedy, n = 1)"}};
    he::run_log log(a.humaneval_log, {{"humaneval_log", 1}, {"model_sha256", res["model"]["sha256"]},
                                      {"gamma", res["gamma"].is_object() ? res["gamma"].value("id", json()) : json()},
                                      {"weights", a.weights}, {"dataset_sha256", data_sha256(file)}, {"settings", settings}});
    progress_bar bar("humaneval", !a.no_progress);
    auto make = [&](const he::problem& p) {
        const auto t = clock_type::now();
        const auto g = he::complete(model, tok, p.prompt, max_new);
        he::record r;
        r.completion = g.text, r.tokens = g.tokens.size(), r.stop = g.reason, r.gen_seconds = since(t);
        return r;
    };
    const auto r = he::evaluate(docs, make, python, lim, log, [&](std::size_t d, std::size_t t) { bar(d, t); });
    json e = task_entry(file, docs.size(), all.size(), a.limit);
    e["metrics"]["pass_at_1"] = eval::metric(r.pass_at_1, r.stderr_);
    json out = json::array();
    std::size_t tokens = 0;
    for (const auto& d : r.records) out.push_back(he::to_json(d)), tokens += d.tokens;
    e["settings"] = settings;
    e["settings"]["unit"] = "problems";
    e["settings"]["by_status"] = r.by_status;
    e["settings"]["resumed_from_log"] = r.resumed;
    e["settings"]["tokens_generated"] = tokens;
    if (!docs.empty()) {  // what isolation the programs ran under (the first problem's run, repeated per run)
        const auto v = eval::code_exec::run_python(python, "pass\n", lim);
        e["settings"]["sandbox"] = {{"namespaces", v.run.iso.namespaces}, {"readonly_filesystem", v.run.iso.readonly_filesystem},
                                    {"own_uid", v.run.iso.own_uid}, {"seccomp", v.run.iso.seccomp}, {"notes", v.run.iso.notes}};
    }
    e["outputs"] = out;
    e["seconds"] = since(tt);
    return e;
}

/// --workers: the main scorer plus workers − 1 more models on the same weights (each with --threads
/// threads, and a copy of the tokenizer, which caches encodings), for multiple-choice and LAMBADA
/// documents. Make it after the weights are final and keep the weights unchanged while it lives.
struct scorer_workers {
    std::deque<runtime::llama_model> models;
    std::deque<runtime::gguf_tokenizer> tokenizers;
    std::deque<eval::llama_scorer> scorers;
    std::vector<eval::lm_scorer*> all;

    scorer_workers(eval::llama_scorer& main, const runtime::llama_model& model, const runtime::gguf_tokenizer& tok,
                   const eval_args& a) {
        all.push_back(&main);
        for (int w = 1; w < a.workers; ++w) {
            models.push_back(model.sharing_weights(a.threads));
            tokenizers.push_back(tok);
            scorers.emplace_back(models.back(), tokenizers.back());
            scorers.back().set_mode(eval::parse_scoring_mode(a.scoring, "--scoring"));
            all.push_back(&scorers.back());
        }
    }
};

void run_llama(const eval_args& a, const std::vector<std::string>& tasks, json& res, sample_log& logged) {
    auto t0 = clock_type::now();
    runtime::opened_llama o =
        runtime::open_llama(a.model, a.source, 4096, runtime::load_options{a.weights == "bf16" && a.plan.empty()});
    // GGUF metadata (BPE or SentencePiece), or the HF directory's tokenizer.json / tokenizer.model
    const runtime::gguf_tokenizer tok = runtime::open_llama_tokenizer(o);
    runtime::llama_model model(std::move(o.weights), a.threads);
    std::cerr << "loaded " << a.model << " (" << model.weights().parameters() << " parameters, " << since(t0) << " s)\n";
    res["model"]["kind"] = o.gguf ? "gguf" : "hf";
    res["model"]["parameters_dense"] = model.weights().parameters();
    if (o.source) {  // a factorised file: γ, method and the dense size come from its manifest
        if (!a.plan.empty())
            throw cli::usage_error("--plan: " + a.model + " is already a factorised file; give --plan with the dense model");
        const json& man = o.manifest;
        res["model"]["kind"] = "factorized";
        res["model"]["source"] = {{"path", fs::absolute(o.source->path).string()}, {"sha256_verified", o.source->verified}};
        if (man.contains("parameters") && man["parameters"].contains("before"))
            res["model"]["parameters_dense"] = man["parameters"]["before"];
        res["gamma"] = {{"id", man.value("gamma_id", std::string("unknown"))},
                        {"path", fs::absolute(a.model).string()},
                        {"config", man.value("gamma", json::object())},
                        {"layers_factorised", o.factorised_layers},
                        {"layers_kept_dense", 0}};
        res["method"] = man.value("method", std::string("unknown"));
        std::cerr << "factorised file: " << o.factorised_layers << " layers factorised; configuration and tokenizer from "
                  << o.source->path << (o.source->verified ? " (sha256 verified)" : "") << "\n";
    }
    if (!a.plan.empty()) {
        std::ifstream in(a.plan);
        if (!in) throw cli::usage_error(a.plan + ": cannot open");
        const json gamma = json::parse(in);
        t0 = clock_type::now();
        const auto steps = runtime::apply_plan(model.exec(), model.weights(), gamma);
        std::size_t kept = 0;
        for (const auto& s : steps) kept += s.kept_dense;
        const auto arch = runtime::design_architecture(model.config(), gamma.value("model", std::string("model")));
        res["gamma"] = {{"id", gamma.contains("id") ? gamma["id"].get<std::string>()
                                                    : design::stable_id(arch, design::from_json(arch, gamma))},
                        {"path", fs::absolute(a.plan).string()},
                        {"config", gamma},
                        {"layers_factorised", steps.size() - kept},
                        {"layers_kept_dense", kept}};
        res["method"] = gamma.value("method", std::string("tucker2"));
        std::cerr << "plan " << a.plan << ": " << steps.size() - kept << " layers factorised, now "
                  << model.weights().parameters() << " parameters (" << since(t0) << " s)\n";
    }
    if (!a.skip.empty()) {  // the layer-removal baseline: these blocks pass the residual stream through
        const std::size_t L = model.config().layers;
        std::vector<std::size_t> zero_based;
        for (std::size_t l : a.skip) {
            if (l > L)
                throw cli::usage_error("--skip-layers: layer " + std::to_string(l) + " does not exist (" + a.model + " has " +
                                       std::to_string(L) + " layers, 1-based)");
            zero_based.push_back(l - 1);
        }
        runtime::remove_blocks(model.weights(), zero_based);
        res["skip_layers"] = a.skip;
        std::cerr << "--skip-layers: " << a.skip.size() << " of " << L << " blocks removed, now " << model.weights().parameters()
                  << " parameters\n";
    }
    res["model"]["parameters"] = model.weights().parameters();
    if (a.weights != "f32") {
        model.weights().store_as(a.weights);
#ifdef __GLIBC__
        ::malloc_trim(0);  // hand the freed float32 weights back to the system (else RSS stays ~2× for hours)
#endif
    }
    res["model"]["weights"] = a.weights;
    eval::llama_scorer scorer(model, tok);
    scorer.set_mode(eval::parse_scoring_mode(a.scoring, "--scoring"));
    const scorer_workers workers(scorer, model, tok, a);  // the weights are final from here on
    std::optional<runtime::llama_model> base;  // --kl-divergence-base
    if (!a.kl_base.empty()) {
        if (!fs::exists(a.kl_base)) throw cli::usage_error("--kl-divergence-base " + a.kl_base + ": no such file or directory");
        runtime::opened_llama ob = runtime::open_llama(a.kl_base);
        base.emplace(std::move(ob.weights), a.threads);
        res["kl_divergence_base"] = {{"path", fs::absolute(a.kl_base).string()}, {"parameters", base->weights().parameters()}};
    }
    // --samples-out: one JSON line per evaluated document (for scripts/crosscheck_lm_eval.py).
    std::ofstream samples = open_samples(a);
    auto write_sample = [&](const std::string& task, std::size_t index, const eval::mc_doc& d, json extra) {
        if (!samples.is_open()) return;
        json req = json::array();
        for (const auto& r : d.requests) req.push_back({r.context, r.continuation});
        extra["task"] = task, extra["doc_index"] = index, extra["id"] = d.id, extra["gold"] = d.gold;
        extra["requests"] = req;
        samples << extra.dump() << "\n";
        if (!samples) throw io_error(a.samples_out, "could not write");
    };
    for (const auto& name : tasks) {
        const auto tt = clock_type::now();
        if (name.rfind("ppl:", 0) == 0) {
            if (a.format_only) continue;
            const std::string corpus = name.substr(4);
            const bool builtin = is_builtin_corpus(corpus);
            const std::string file = builtin ? (fs::path(a.data) / (corpus + ".heldout.txt")).string() : corpus;
            const std::string text = builtin ? read_text(file) : cli::read_utf8_text(file, "--tasks " + name + ":");
            std::vector<int> ids{scorer.document_start_token()};
            const auto enc = scorer.encode(text);
            ids.insert(ids.end(), enc.begin(), enc.end());
            std::vector<std::size_t> bytes(ids.size());
            for (std::size_t i = 1; i < ids.size(); ++i) bytes[i] = tok.decode_token(ids[i]).size();
            progress_bar bar(name, !a.no_progress);
            const std::size_t context = std::min(a.context, model.config().context);
            const std::size_t max_windows = a.ppl_limit ? a.ppl_limit : a.limit;
            const auto r = eval::evaluate_perplexity(
                ids, bytes, context, std::min(a.stride, context - 1),
                [&](const std::vector<int>& w, std::size_t from) { return scorer.window_logprobs(w, from); }, max_windows,
                [&](std::size_t d, std::size_t t) { bar(d, t); });
            json e = task_entry(file, r.windows, r.total_windows, max_windows);
            e["metrics"]["perplexity"] = eval::metric(r.perplexity, r.perplexity * r.nll_stderr);  // delta method
            e["metrics"]["nll_per_token"] = eval::metric(r.nll_per_token, r.nll_stderr);
            e["metrics"]["bits_per_byte"] = eval::metric(r.bits_per_byte, r.bits_per_byte_stderr);
            e["settings"] = {{"context", r.context}, {"stride", r.stride}, {"tokens_scored", r.tokens},
                             {"bytes_scored", r.bytes}, {"text_tokens", ids.size() - 1}, {"unit", "windows"}};
            std::printf("Final estimate: PPL = %.4lf +/- %.5lf\n", r.perplexity, r.perplexity * r.nll_stderr);  // llama-perplexity's line
            std::fflush(stdout);
            if (base) kl_against_base(a, name, ids, context, model, *base, e);
            for (std::size_t k = 0; k < r.per_window.size(); ++k)  // nll: Σ −ln p over the window's scored tokens
                write_line(samples, a, {{"task", name}, {"window_index", k}, {"nll", r.per_window[k].nll},
                                        {"tokens", r.per_window[k].tokens}, {"bytes", r.per_window[k].bytes}});
            e["seconds"] = since(tt);
            res["tasks"][name] = e;
            continue;
        }
        if (name == "gsm8k") {
            res["tasks"][name] = run_gsm8k(a, model, tok);
            continue;
        }
        if (name == "humaneval") {
            if (!a.format_only) res["tasks"][name] = run_humaneval(a, model, tok, res);
            continue;
        }
        const auto info = eval::find_task(name);
        const std::string file = (fs::path(a.data) / info.file).string();
        const auto rows = read_jsonl(file);
        std::vector<eval::mc_doc> all;
        for (const auto& r : rows) all.push_back(eval::format_doc(name, r));
        std::vector<eval::mc_doc> docs;
        double chance = 0;
        const auto chosen = eval::limited_docs(all, a.limit);
        for (auto i : chosen) {
            docs.push_back(all[i]);
            chance += 1.0 / double(all[i].requests.size());
        }
        if (a.format_only) {  // prompt-format check: the formatted requests only, no model run
            for (std::size_t i = 0; i < docs.size(); ++i) write_sample(name, chosen[i], docs[i], json::object());
            continue;
        }
        progress_bar bar(name, !a.no_progress);
        json e = task_entry(file, docs.size(), all.size(), a.limit);
        auto log_doc = [&](std::size_t i, json row) {  // --log-samples: lm-eval's per-document record
            if (!a.log_samples) return;
            json req = json::array();
            for (const auto& q : docs[i].requests) req.push_back({q.context, q.continuation});
            row["doc_index"] = chosen[i], row["gold"] = docs[i].gold, row["requests"] = req, row["doc"] = rows[chosen[i]];
            row["acc_norm_task"] = info.acc_norm;
            logged[name].push_back(std::move(row));
        };
        if (name == "lambada") {
            const auto r = eval::evaluate_lambada(docs, workers.all, [&](std::size_t d, std::size_t t) { bar(d, t); });
            e["metrics"]["acc"] = eval::metric(r.acc, r.acc_stderr);
            e["metrics"]["perplexity"] = eval::metric(r.perplexity, r.perplexity * r.logprob_stderr);
            for (std::size_t i = 0; i < docs.size(); ++i) {
                write_sample(name, chosen[i], docs[i], {{"loglik", {r.logprob[i]}}, {"greedy", bool(r.greedy[i])}});
                log_doc(i, {{"loglik", {r.logprob[i]}}, {"greedy", bool(r.greedy[i])}, {"greedy_per_request", {bool(r.greedy[i])}}});
            }
        } else {
            const auto r = eval::evaluate_multiple_choice(docs, workers.all, [&](std::size_t d, std::size_t t) { bar(d, t); });
            e["metrics"]["acc"] = eval::metric(r.acc, r.acc_stderr);
            if (info.acc_norm) e["metrics"]["acc_norm"] = eval::metric(r.acc_norm, r.acc_norm_stderr);
            e["chance"] = docs.empty() ? 0.0 : chance / double(docs.size());
            for (std::size_t i = 0; i < docs.size(); ++i) {
                write_sample(name, chosen[i], docs[i], {{"loglik", r.loglik[i]}, {"pred", r.pred[i]}, {"pred_norm", r.pred_norm[i]}});
                log_doc(i, {{"loglik", r.loglik[i]}, {"pred", r.pred[i]}, {"pred_norm", r.pred_norm[i]},
                            {"greedy_per_request", r.greedy[i]}});
            }
        }
        e["settings"] = {{"num_fewshot", 0}, {"semantics", "lm-evaluation-harness v0.4"}, {"unit", "documents"},
                         {"scoring", a.scoring}};
        if (a.workers > 1) e["settings"]["workers"] = a.workers;
        e["seconds"] = since(tt);
        res["tasks"][name] = e;
    }
    if (!a.no_efficiency && !a.format_only) {
        const runtime::measure::energy_meter energy;
        res["efficiency"] = efficiency_llama(model, 128);
        res["efficiency"]["energy_j"] = "unavailable";
        if (const auto j = energy.joules()) res["efficiency"]["energy_j"] = *j;
        res["efficiency"]["energy_what"] = energy.available() ? "RAPL package counters during the latency/throughput probe"
                                                              : "no readable RAPL/NVML counter";
    }
}

// ------------------------------------------------------------------ BERT models

struct bert_embedder {
    runtime::bert_model& m;
    const runtime::wordpiece_tokenizer& tok;
    std::vector<float> operator()(const std::vector<std::string>& texts, progress_bar* bar = nullptr) {
        std::vector<float> out;
        for (std::size_t i = 0; i < texts.size(); i += 16) {
            std::vector<std::vector<int>> batch;
            for (std::size_t j = i; j < std::min(texts.size(), i + 16); ++j) batch.push_back(tok.encode(texts[j], 256));
            const auto e = m.embed(batch);
            out.insert(out.end(), e.begin(), e.end());
            if (bar) (*bar)(std::min(texts.size(), i + 16), texts.size());
        }
        return out;
    }
};

void run_bert(const eval_args& a, const std::vector<std::string>& tasks, json& res) {
    runtime::opened_bert o = runtime::open_bert(a.model, a.source);
    const fs::path dir = o.dir;  // config and vocabulary: the model directory, or a factorised file's source
    bool lower = true;
    if (std::ifstream tc(dir / "tokenizer_config.json"); tc) lower = json::parse(tc).value("do_lower_case", true);
    const auto tok = runtime::wordpiece_tokenizer::from_vocab_file((dir / "vocab.txt").string(), lower);
    std::unique_ptr<runtime::bert_model> dense, dec;
    std::ofstream samples = open_samples(a);  // lines {task, doc_index, id, gold, pred} / {task, doc_index, id, cosine}
    res["model"]["kind"] = "bert";
    if (o.source) {  // a factorised file is the decomposed model; the dense reference is its source
        if (!a.plan.empty())
            throw cli::usage_error("--plan: " + a.model + " is already a factorised file; give --plan with the dense model");
        dec = std::make_unique<runtime::bert_model>(std::move(o.weights), a.threads);
        if (std::find(tasks.begin(), tasks.end(), "agreement") != tasks.end())
            dense = std::make_unique<runtime::bert_model>(runtime::load_bert_hf(o.dir), a.threads);
        const json& man = o.manifest;
        res["model"]["kind"] = "factorized";
        res["model"]["source"] = {{"path", fs::absolute(o.dir).string()}, {"sha256_verified", o.source->verified}};
        res["gamma"] = {{"id", man.value("gamma_id", std::string("unknown"))}, {"path", fs::absolute(a.model).string()},
                        {"config", man.value("gamma", json::object())}, {"layers_factorised", o.factorised_layers}};
        res["method"] = man.value("method", std::string("unknown"));
        std::cerr << "factorised file: " << o.factorised_layers << " layers factorised; configuration and vocabulary from "
                  << o.dir << (o.source->verified ? " (sha256 verified)" : "") << "\n";
    } else {
        dense = std::make_unique<runtime::bert_model>(std::move(o.weights), a.threads);
    }
    if (!a.plan.empty()) {
        std::ifstream in(a.plan);
        if (!in) throw cli::usage_error(a.plan + ": cannot open");
        const json gamma = json::parse(in);
        dec = std::make_unique<runtime::bert_model>(runtime::load_bert_hf(a.model), a.threads);
        std::string id;
        try {
            id = eval::gamma_id_bert(dec->weights().cfg, gamma);
        } catch (const lowrank::error& e) {
            throw cli::usage_error("--plan " + a.plan + ": " + e.what());
        }
        const std::size_t n = eval::apply_plan_bert(dec->exec(), dec->weights(), gamma);
        res["gamma"] = {{"id", id}, {"path", fs::absolute(a.plan).string()},
                        {"config", gamma}, {"layers_factorised", n}};
        res["method"] = gamma.value("method", std::string("tucker2"));
        std::cerr << "plan " << a.plan << ": " << n << " layers factorised\n";
    }
    runtime::bert_model& m = dec ? *dec : *dense;
    bert_embedder embed{m, tok};
    for (const auto& name : tasks) {
        const auto tt = clock_type::now();
        progress_bar bar(name, !a.no_progress);
        if (name == "mrpc") {
            const std::string file = (fs::path(a.data) / "mrpc.jsonl").string();
            const auto rows = read_jsonl(file);
            const auto idx = eval::limited_indices(rows.size(), a.limit);
            std::vector<std::string> s1, s2;
            std::vector<int> label;
            for (auto i : idx) {
                s1.push_back(rows[i].at("sentence1")), s2.push_back(rows[i].at("sentence2"));
                label.push_back(rows[i].at("label"));
            }
            std::vector<std::string> both(s1);
            both.insert(both.end(), s2.begin(), s2.end());
            const auto e = embed(both, &bar);
            const std::size_t d = m.config().hidden, n = s1.size();
            std::vector<double> cs, es;
            std::vector<int> cl, el;
            for (std::size_t i = 0; i < n; ++i) {
                const double c = eval::cosine(e.data() + i * d, e.data() + (n + i) * d, d);
                (i % 2 == 0 ? cs : es).push_back(c);
                (i % 2 == 0 ? cl : el).push_back(label[i]);
            }
            const auto r = eval::paraphrase_by_threshold(cs, cl, es, el);
            for (std::size_t i = 1, j = 0; i < n; i += 2, ++j)  // the evaluation (odd) rows
                write_line(samples, a, {{"task", name}, {"doc_index", idx[i]}, {"id", rows[idx[i]].value("id", json(idx[i]))},
                                        {"gold", label[i]}, {"pred", r.eval.pred[j]}});
            json t = task_entry(file, r.eval.n, rows.size(), a.limit);
            t["metrics"]["acc"] = eval::metric(r.eval.acc, r.eval.acc_stderr);
            t["metrics"]["f1"] = eval::metric(r.eval.f1, std::nan(""));
            double pos = 0;
            for (int l : el) pos += l;
            t["chance"] = el.empty() ? 0.0 : std::max(pos, double(el.size()) - pos) / double(el.size());
            t["settings"] = {{"threshold", r.threshold}, {"calibration", "even rows"}, {"evaluation", "odd rows"},
                             {"calibration_samples", cs.size()}, {"chance_is", "majority class"}};
            t["seconds"] = since(tt);
            res["tasks"][name] = t;
        } else if (name == "sst2") {
            const std::string file = (fs::path(a.data) / "sst2.jsonl").string();
            const auto rows = read_jsonl(file);
            const auto idx = eval::limited_indices(rows.size(), a.limit);
            std::vector<std::string> s;
            std::vector<int> label;
            for (auto i : idx) s.push_back(rows[i].at("sentence")), label.push_back(rows[i].at("label"));
            const auto e = embed(s, &bar);
            const std::size_t d = m.config().hidden;
            std::vector<float> ce, ee;
            std::vector<int> cl, el;
            for (std::size_t i = 0; i < s.size(); ++i) {
                auto& dst = i % 2 == 0 ? ce : ee;
                dst.insert(dst.end(), e.begin() + long(i * d), e.begin() + long((i + 1) * d));
                (i % 2 == 0 ? cl : el).push_back(label[i]);
            }
            const auto r = eval::nearest_centroid(ce, cl, ee, el, d);
            for (std::size_t i = 1, j = 0; i < s.size(); i += 2, ++j)  // the evaluation (odd) rows
                write_line(samples, a, {{"task", name}, {"doc_index", idx[i]}, {"id", rows[idx[i]].value("id", json(idx[i]))},
                                        {"gold", label[i]}, {"pred", r.pred[j]}});
            json t = task_entry(file, r.n, rows.size(), a.limit);
            t["metrics"]["acc"] = eval::metric(r.acc, r.acc_stderr);
            double pos = 0;
            for (int l : el) pos += l;
            t["chance"] = el.empty() ? 0.0 : std::max(pos, double(el.size()) - pos) / double(el.size());
            t["settings"] = {{"classifier", "nearest centroid (cosine)"}, {"calibration", "even rows"},
                             {"evaluation", "odd rows"}, {"chance_is", "majority class"}};
            t["seconds"] = since(tt);
            res["tasks"][name] = t;
        } else if (name == "agreement") {
            if (!dec || !dense)
                throw cli::usage_error("task agreement needs --plan or a factorised MODEL (it compares the decomposed model with the dense one)");
            // Fixed sentence set: the first 256 SST-2 validation sentences (or --limit).
            const std::string file = (fs::path(a.data) / "sst2.jsonl").string();
            const auto rows = read_jsonl(file);
            std::vector<std::string> s;
            const auto idx = eval::limited_indices(rows.size(), a.limit ? a.limit : 256);
            for (auto i : idx) s.push_back(rows[i].at("sentence"));
            bert_embedder dense_embed{*dense, tok};
            const auto e0 = dense_embed(s, &bar);
            const auto e1 = embed(s);
            const std::size_t d = m.config().hidden;
            std::vector<double> c;
            for (std::size_t i = 0; i < s.size(); ++i) {
                c.push_back(eval::cosine(e0.data() + i * d, e1.data() + i * d, d));
                write_line(samples, a, {{"task", name}, {"doc_index", idx[i]}, {"id", rows[idx[i]].value("id", json(idx[i]))},
                                        {"cosine", c.back()}});
            }
            json t = task_entry(file, s.size(), rows.size(), a.limit ? a.limit : 256);
            t["metrics"]["mean_cosine"] = eval::metric(eval::mean(c), eval::stderr_of_mean(c));
            t["metrics"]["min_cosine"] = eval::metric(*std::min_element(c.begin(), c.end()), std::nan(""));
            t["settings"] = {{"sentences", "first SST-2 validation sentences"}};
            t["seconds"] = since(tt);
            res["tasks"][name] = t;
        } else {
            throw cli::usage_error("unknown BERT task '" + name + "' (mrpc, sst2, agreement)");
        }
    }
    res["model"]["parameters"] = m.weights().parameters();  // runtime/bert.hpp: without the unused pooler
    res["model"]["parameters_dense"] = m.weights().dense_parameters();
    if (!a.no_efficiency) {
        std::vector<std::string> probe(16, "The quick brown fox jumps over the lazy dog near the river bank today.");
        const auto t = clock_type::now();
        embed(probe);
        const double s = since(t);
        res["efficiency"] = {{"latency_ms", s * 1e3}, {"latency_what", "embedding a batch of 16 short sentences"},
                             {"throughput_tok_s", "unavailable"}, {"energy_j", "unavailable"},
                             {"energy_what", "no readable RAPL/NVML counter"}};
    }
}

int run(const eval_args& a0) {
    const auto start = clock_type::now();
    eval_args a = a0;
    if (a.data.empty()) a.data = default_data_dir();
    if (!fs::exists(a.model)) throw cli::usage_error(a.model + ": no such file or directory");
    std::vector<std::string> tasks;
    for (std::size_t p = 0; p <= a.tasks.size();) {
        const auto q = std::min(a.tasks.find(',', p), a.tasks.size());
        if (q > p) tasks.push_back(a.tasks.substr(p, q - p));
        p = q + 1;
    }
    if (tasks.empty()) throw cli::usage_error("--tasks: nothing to run");
    const bool bert = runtime::is_bert_model(a.model, a.source);
    if (!a.skip_layers.empty()) {
        if (bert) throw cli::usage_error("--skip-layers: Llama-family models only (" + a.model + " is a BERT model)");
        a.skip = parse_skip_layers(a.skip_layers);
    }
    if (!bert) {
        for (const auto& t : tasks) {
            if (t.rfind("ppl:", 0) != 0 && t != "gsm8k" && t != "humaneval") eval::find_task(t);  // fail early on a typo
            else if (t.rfind("ppl:", 0) == 0 && !is_builtin_corpus(t.substr(4)))
                (void)cli::read_utf8_text(t.substr(4), "--tasks " + t + ":");  // a user's text: fail before loading the model
        }
    }
    json res = {{"schema", eval::results_schema},
                {"schema_version", eval::results_schema_version},
                {"model", {{"path", fs::absolute(a.model).string()}}},
                {"gamma", nullptr},
                {"method", "dense"},
                {"tasks", json::object()},
                {"efficiency", {{"latency_ms", "unavailable"}, {"throughput_tok_s", "unavailable"},
                                {"peak_rss_mb", "unavailable"}, {"energy_j", "unavailable"}}},
                {"machine", machine_info(a.threads)},
                {"software", {{"lowrank_version", LOWRANK_VERSION}, {"git_commit", git_commit()}}},
                {"command", a.command},
                {"started", iso_now()},
                {"data_dir", fs::absolute(a.data).string()}};
    const fs::path weights_file = fs::exists(fs::path(a.model) / "model.safetensors")
                                      ? fs::path(a.model) / "model.safetensors"
                                      : fs::path(a.model) / "model.safetensors.index.json";  // sharded: the index
    res["model"]["sha256"] = fs::is_directory(a.model) ? sha256_file(weights_file.string())
                                                      : sha256_file(a.model);
    if (a.format_only && (bert || a.samples_out.empty()))
        throw cli::usage_error("--format-only needs a Llama-family GGUF model and --samples-out");
    if ((a.log_samples || !a.kl_base.empty()) && bert)
        throw cli::usage_error("--log-samples and --kl-divergence-base are for Llama-family models");
    if (a.workers > 1 && bert) throw cli::usage_error("--workers: parallel document scoring is for Llama-family models");
    if (a.log_samples && a.output_path.empty()) throw cli::usage_error("--log-samples needs --output-path");
    const double start_unix = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    sample_log logged;
    if (bert) run_bert(a, tasks, res);
    else run_llama(a, tasks, res, logged);
    if (a.format_only) return 0;  // nothing was scored: no results document
    res["efficiency"]["peak_rss_mb"] = double(runtime::measure::peak_rss_bytes()) / (1024.0 * 1024.0);
    res["wall_time_s"] = since(start);
    const auto problems = eval::validate_results(res);
    for (const auto& p : problems) std::cerr << "schema problem: " << p << "\n";
    // Generated text (gsm8k, humaneval) can split a UTF-8 sequence: such bytes become U+FFFD.
    const std::string text = res.dump(2, ' ', false, json::error_handler_t::replace);
    if (!a.json_out.empty()) {
        const std::string tmp = a.json_out + ".tmp";
        {
            std::ofstream o(tmp);
            o << text << "\n";
            if (!o) throw io_error(tmp, "could not write");
        }
        fs::rename(tmp, a.json_out);
    }
    if (!a.output_path.empty()) {  // lm-evaluation-harness's layout
        const double end_unix = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        const auto w = eval::write_lm_eval_outputs(a.output_path, eval::lm_eval_results(res, a.model, a.limit, start_unix, end_unix), logged);
        std::cerr << "lm-eval layout: " << w.results << (w.samples.empty() ? "" : " (+ " + std::to_string(w.samples.size()) + " samples files)") << "\n";
    }
    // Summary on stdout: one line per metric.
    for (const auto& [t, e] : res["tasks"].items())
        for (const auto& [m, v] : e["metrics"].items())
            std::cout << t << "\t" << m << "\t" << (v["value"].is_null() ? std::string("null") : v["value"].dump()) << "\t±"
                      << (v["stderr"].is_null() ? std::string("-") : v["stderr"].dump()) << "\tn=" << e["samples"] << "\n";
    return problems.empty() ? 0 : 1;
}

void install(CLI::App& app, int* exit_code) {
    auto a = std::make_shared<eval_args>();
    auto* sub = app.add_subcommand("eval", "Accuracy evaluation: perplexity, zero-shot benchmarks (lm-eval semantics), BERT metrics");
    sub->add_option("model", a->model,
                    "Llama-family .gguf file or Hugging Face directory, a BERT Hugging Face directory, or a factorised file of any (`lowrank decompose`)")
        ->required();
    sub->add_option("--source", a->source, "factorised MODEL: its source model (default: the path its manifest records)");
    sub->add_option("--plan", a->plan, "γ JSON: factorise these layers in memory first");
    sub->add_option("--tasks", a->tasks,
                    "comma-separated: ppl:austen, ppl:kjv, ppl:PATH (any UTF-8 text file), arc_easy, arc_challenge, hellaswag, winogrande, piqa, boolq, "
                    "openbookqa, mmlu, lambada, gsm8k (generation, slow), humaneval (generation + sandboxed execution, slow), "
                    "ppl:code; BERT: mrpc, sst2, agreement")
        ->required();
    sub->add_option("--scoring", a->scoring,
                    "multiple choice / LAMBADA: batched (default: the context once, all continuations in one "
                    "batched forward), shared-context (one forward per continuation from the context's cache) or "
                    "per-request (each pair alone, as lm-evaluation-harness runs them); equal log-likelihoods")
        ->check(CLI::IsMember({"batched", "shared-context", "per-request"}));
    sub->add_option("--limit", a->limit, "first N documents per task (mmlu: ⌈N/57⌉ per subject); perplexity: first N windows; 0 = all");
    auto* gen = sub->add_option("--gen-tokens", a->gen_tokens,
                                "gsm8k / humaneval: most tokens generated per answer (default 256 / 512)")
                    ->check(CLI::Range(1, 1 << 16));
    sub->add_option("--num-fewshot", a->num_fewshot,
                    "gsm8k: exemplars in the prompt (default 5; the last N documents of the file, not evaluated)")
        ->check(CLI::Range(0, 64));
    sub->add_option("--humaneval-log", a->humaneval_log,
                    "humaneval: append each finished problem to this JSONL file and resume from it on a restart");
    sub->add_option("--python", a->python, "humaneval: the Python interpreter programs run with (default /usr/bin/python3)");
    sub->add_option("--ppl-windows", a->ppl_limit, "perplexity windows (overrides --limit for ppl:*)");
    sub->add_option("--context", a->context, "perplexity window length in tokens")->check(CLI::Range(2, 1 << 20));
    sub->add_option("--stride", a->stride, "perplexity window stride in tokens (< context)")->check(CLI::PositiveNumber);
    sub->add_option("--json", a->json_out, "write the results (docs/eval.md schema) to this file");
    sub->add_option("--data", a->data, "evaluation data directory (default ${LOWRANK_CACHE:-~/.cache/lowrank}/eval-data)");
    sub->add_option("--threads", a->threads, "BLAS threads (of each worker)")->check(CLI::PositiveNumber);
    sub->add_option("--workers", a->workers,
                    "score the documents of multiple-choice tasks and LAMBADA on this many models sharing the weights, "
                    "in parallel, each with --threads threads (2 cores: --workers 2 --threads 1); the scores are the "
                    "same as with one")
        ->check(CLI::Range(1, 64));
    sub->add_option("--weights", a->weights, cli::weights_help)
        ->check(CLI::IsMember(cli::weights_choices));
    sub->add_option("--samples-out", a->samples_out,
                    "write one JSON line per document (multiple choice: task, doc_index, id, gold, requests, loglik, pred; "
                    "BERT sst2/mrpc: task, doc_index, id, gold, pred; agreement: task, doc_index, id, cosine) or per "
                    "perplexity window (task, window_index, nll = sum of -ln p, tokens, bytes)");
    sub->add_flag("--no-progress", a->no_progress, "no progress bar on stderr");
    sub->add_flag("--format-only", a->format_only,
                  "write the formatted requests of every selected document to --samples-out without scoring (no --json)");
    sub->add_flag("--no-efficiency", a->no_efficiency, "skip the latency/throughput probe");
    sub->add_option("--output-path", a->output_path,
                    "also write lm-evaluation-harness-shaped results: DIR/<model>/results_<date>.json (or NAME.json → NAME_<date>.json)");
    sub->add_flag("--log-samples", a->log_samples, "with --output-path: per-document samples_<task>_<date>.jsonl (lm-eval's form)");
    sub->add_option("--skip-layers", a->skip_layers,
                    "Llama family: remove these blocks (1-based, comma-separated) so the residual stream passes them "
                    "unchanged (the layer-removal baseline)");
    sub->add_option("--kl-divergence-base", a->kl_base,
                    "perplexity tasks: also KL divergence, top-1 agreement and PPL ratio against this (dense) model, same windows");
    sub->callback([a, exit_code, gen] {
        a->gen_tokens_given = gen->count() > 0;
        auto& c = a->command;
        c = "lowrank eval " + a->model + (a->plan.empty() ? "" : " --plan " + a->plan) +
            (a->source.empty() ? "" : " --source " + a->source) + " --tasks " + a->tasks;
        if (a->limit) c += " --limit " + std::to_string(a->limit);
        if (a->ppl_limit) c += " --ppl-windows " + std::to_string(a->ppl_limit);
        if (a->gen_tokens_given) c += " --gen-tokens " + std::to_string(a->gen_tokens);
        if (a->num_fewshot != eval::gsm8k::num_fewshot) c += " --num-fewshot " + std::to_string(a->num_fewshot);
        c += " --context " + std::to_string(a->context) + " --stride " + std::to_string(a->stride) +
             " --threads " + std::to_string(a->threads);
        if (a->weights != "f32") c += " --weights " + a->weights;
        if (!a->kl_base.empty()) c += " --kl-divergence-base " + a->kl_base;
        if (!a->skip_layers.empty()) c += " --skip-layers " + a->skip_layers;
        *exit_code = run(*a);
    });
}

const cli::registrar reg{"eval", install};

}  // namespace cmd_eval

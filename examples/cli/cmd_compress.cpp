// `lowrank compress MODEL --keep K --method plain|asvd|svd-llm|svd-llm-seq|struct
//                    [--alloc uniform|global|sensitivity [--sensitivity-windows N]]
//                    (--calib STATS | --calib-text FILE [--windows N] [--context L] [--seed S])
//                    [--keep-dense REGEX] [--fold [--fold-dtype f32|f16]] --out OUT
//                    [--threads T] [--json SUMMARY] [--seq-stats STATS] [--quiet]`
//
// Activation-aware low-rank compression of a Llama-family model's linear layers (q, k, v, o,
// gate, up, down of every block; embeddings, norms and the head are never touched), or of a
// BERT encoder's (query, key, value, attention.output.dense, intermediate.dense, output.dense;
// biases kept as they are; methods plain / asvd / svd-llm).
//
// K is the fraction of the linear-layer parameters that remain, counting factor parameters: a
// rank-r factor pair of an m×n weight costs r(m + n); a weight whose rank would reach the
// break-even rank (r(m + n) ≥ mn) stays dense (cost mn). Allocation (compress/allocation.hpp):
//   uniform  SVD-LLM's rule r = ⌊K'·mn/(m + n)⌋ for every weight, with K' = K when nothing is
//            kept dense by --keep-dense, else the K' that spends what the dense ones leave;
//   global   allocate_ranks (exact Lagrangian + DP) minimising Σ_i L_i(r_i)/L_i(0), the
//            *relative* whitened truncation loss of each weight, within K·(linear parameters).
//            (The raw whitened energies of different layers are not comparable: the prototype
//            found DP on them 10× worse than uniform. Normalised losses are the fix tried here;
//            docs/compress.md has the measured comparison.)
//   sensitivity  global, with per-block weights from the model's measured loss: for each block
//            l, only block l's linears are replaced by their factorisations at the uniform ranks
//            (same method and whitener), the model runs over the first N calibration windows
//            (--sensitivity-windows, default 8) and s_l = mean NLL − dense mean NLL; the items of
//            block l get w = max(s_l, floor) / Σ_{j∈l} L_j(r_j^uniform)/L_j(0)
//            (compress/sensitivity.hpp: group_loss_weights), so the weighted predicted loss of
//            each block at the uniform ranks equals its measured NLL increase; then
//            allocate_ranks on the relative curves with those weights, same budget as global.
//            floor = 10⁻³ · max_l s_l (10⁻¹² when no s_l > 0). Llama family; plain / asvd /
//            svd-llm; needs the calibration text (--calib-text; with --calib STATS as well, the
//            text STATS was calibrated on — its sha256 is checked); the windows are the first N
//            of the statistics' recorded window starts.
// Methods (a table, `methods()` below: one entry per method; a structured method plugs in as
// one more entry with its own runner):
//   plain    truncated SVD of W (the baseline; statistics optional, used only for reporting)
//   asvd     SVD of W·diag(mean|x|)^0.5 (compress/asvd.hpp)
//   svd-llm  whitened SVD, S Sᵀ = XᵀX (compress/whitening.hpp, compress/whitened_svd.hpp)
//   svd-llm-seq  svd-llm with sequential statistics: block l whitened on the inputs of the model
//            whose blocks < l are already compressed (run_sequential below; Llama-family,
//            uniform allocation; --seq-stats FILE writes the statistics used)
// Calibration statistics: --calib STATS (from `lowrank calibrate`; refused when recorded for
// another model, or when they hold NaN/Inf — stats_file validates every input it loads), or
// --calib-text FILE, which runs the calibration first into a temporary file removed afterwards.
//
// Output: the factorised file (io/factorized.hpp; runs in generate / eval / bench-model) with a
// manifest beside it (<OUT minus .safetensors>.manifest.json): per weight its rank, method,
// whitener, plain relative error ‖W − W′‖/‖W‖, whitened relative error ‖(W − W′)X‖/‖WX‖
// measured on the calibration Gram, the predicted one from the discarded σ², parameters
// before/after; totals with the target and achieved K. --fold writes the dense reconstruction
// in MODEL's own format instead (cli/decompose_output.hpp). Atomic (temp + rename); never
// overwrites an input; refuses K ∉ (0, 1] and budgets that cannot be met.
#include "cli/calibrate_run.hpp"
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/compress_struct.hpp"
#include "cli/decompose_output.hpp"
#include "cli/device.hpp"
#include "cli/ordered_pool.hpp"
#include "cli/progress.hpp"
#include "cli/text_input.hpp"
#include "eval/llama_scorer.hpp"

#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/compress/compress.hpp"
#include "lowrank/io/checksum.hpp"
#include "lowrank/model/source.hpp"
#include "runtime/calibration.hpp"
#include "runtime/measure.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace cmd_compress {

namespace fs = std::filesystem;
using namespace lowrank;
using json = nlohmann::json;
using cli::usage_error;
using cli::decompose::task_result;
using model::model_source;
using model::tensor_entry;
using ctx_t = xtensor_backend::context;
using whitener_t = whitener<xtensor_backend>;

struct compress_args {
    std::string model, method, alloc = "uniform", calib, calib_text, keep_dense, out, json_out, fold_dtype = "f32", seq_stats;
    double keep = -1;
    bool fold = false, quiet = false;
    unsigned threads = 0;
    std::size_t windows = 64, context = 512, sensitivity_windows = 8;
    std::uint64_t seed = 0;
    std::string command;
};

/// Everything a method's runner needs.
struct compress_run {
    const compress_args& a;
    const model_source& m;
    const stats_file* stats;             ///< null when the method needs none and none was given
    std::vector<std::size_t> linear;     ///< indices (into m.tensors()) of the linear weights
    std::string out;
    std::chrono::steady_clock::time_point t0;
    json calibration = nullptr;          ///< the statistics' provenance (manifest)
};

/// Stats input of tensor t ("model.layers.<l>.<attn_in|o_in|mlp_in|down_in>").
std::string input_name(const tensor_entry& t) {
    return runtime::calibration_input_name(static_cast<std::size_t>(t.cls.layer), *runtime::input_of_role(t.cls.role));
}

// ------------------------------------------------------------------------- low-rank methods

/// A method's whitener for a weight with n inputs (stats null: no statistics given).
using whiten_fn = std::function<whitener_t(ctx_t&, const input_stats*, std::size_t n)>;

/// One weight: W′ = u vᵀ at `rank` with the method's whitener, and its manifest record.
/// `stats`: the weight's input statistics (null: none).
task_result compress_tensor(ctx_t& ctx, const compress_run& r, const tensor_entry& t, std::size_t rank,
                            std::vector<float> w, const whiten_fn& whiten, double load_seconds, const input_stats* stats) {
    using B = xtensor_backend;
    const auto start = std::chrono::steady_clock::now();
    const std::size_t m = t.shape[0], n = t.shape[1];
    const input_stats* st = stats;
    auto W = B::template upload<float>(ctx, w.data(), {m, n});
    w = {};
    const whitener_t s = whiten(ctx, st, n);
    if (s.status != status::ok) throw backend_error(t.name + ": whitening failed (" + std::string(to_string(s.status)) + ")");
    whitened_svd_options opt;
    opt.trunc = truncation::rank(rank);
    const auto f = whitened_svd(ctx, W, s, opt);
    if (f.status != status::ok) throw backend_error(t.name + ": whitened SVD failed (" + std::string(to_string(f.status)) + ")");
    task_result res;
    res.info["layer"] = t.cls.layer;
    res.info["role"] = std::string(model::to_string(t.cls.role));
    res.info["method"] = r.a.method;
    res.info["whitener"] = to_string(s.kind);
    res.info["rank"] = f.rank;
    res.info["form"] = "svd";
    res.info["parameters_before"] = m * n;
    res.info["parameters_after"] = f.rank * (m + n);
    res.info["plain_rel_error"] = cli::json_number(f.plain_rel_error);
    res.info["rel_error"] = cli::json_number(f.plain_rel_error);  // the decompose manifest's field (‖W − W′‖/‖W‖)
    res.info["discarded_energy"] = cli::json_number(f.discarded_energy);
    res.info["predicted_whitened_rel_error"] = cli::json_number(f.rel_error);  // sqrt(discarded / total) of W·S
    if (st) {
        const double energy = output_energy(ctx, W, std::span<const double>(st->gram));
        const double err = output_error(ctx, W, f.u, f.v, std::span<const double>(st->gram));
        res.info["output_energy"] = cli::json_number(energy);
        res.info["output_error_energy"] = cli::json_number(err);
        res.info["whitened_rel_error"] = cli::json_number(energy > 0 ? std::sqrt(std::max(0.0, err) / energy) : 0.0);
        res.info["whitener_ridge"] = cli::json_number(s.ridge);
        res.info["whitener_defect"] = cli::json_number(s.defect);
    } else {
        res.info["whitened_rel_error"] = nullptr;
    }
    if (r.a.fold) {
        auto d = B::template empty<float>(ctx, {m, n});
        B::gemm(ctx, op::none, op::trans, m, n, f.rank, 1.f, B::data(f.u), f.rank, B::data(f.v), f.rank, 0.f, B::data(d), n);
        res.a = cli::to_host(ctx, d);
    } else {
        res.a = cli::to_host(ctx, f.u);
        res.b = cli::to_host(ctx, f.v);
    }
    res.info["seconds"] = load_seconds + cli::seconds_since(start);
    return res;
}

/// Relative loss curve L(r)/L(0) of one weight under the method's whitener (global allocation).
std::vector<double> relative_loss_curve(ctx_t& ctx, const compress_run& r, const tensor_entry& t, const whiten_fn& whiten) {
    using B = xtensor_backend;
    const std::size_t m = t.shape[0], n = t.shape[1];
    std::optional<input_stats> st;
    if (r.stats) st = r.stats->load(input_name(t));
    const std::vector<float> w = r.m.load_f32(t.name);
    auto W = B::template upload<float>(ctx, w.data(), {m, n});
    const whitener_t s = whiten(ctx, st ? &*st : nullptr, n);
    if (s.status != status::ok) throw backend_error(t.name + ": whitening failed (" + std::string(to_string(s.status)) + ")");
    whitened_svd_options opt;
    opt.trunc = truncation::rank(1);
    opt.compute_plain_error = false;
    const auto f = whitened_svd(ctx, W, s, opt);
    if (f.status != status::ok) throw backend_error(t.name + ": whitened SVD failed (" + std::string(to_string(f.status)) + ")");
    std::vector<double> l = loss_curve(f.spectrum);
    const double total = l[0];  // ‖W S‖²_F (copied: l[0] itself is divided below)
    if (total > 0)
        for (auto& v : l) v /= total;
    return l;
}

unsigned worker_threads(const compress_args& a, std::size_t tasks) {
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return std::max(1u, std::min<unsigned>(a.threads ? a.threads : hw, std::max<std::size_t>(1, tasks)));
}

/// One backend context per pool worker thread (a single BLAS thread each when there are several).
ctx_t& thread_ctx(unsigned threads) {
    thread_local std::unique_ptr<ctx_t> ctx;
    if (!ctx) ctx = threads > 1 ? std::make_unique<ctx_t>(1) : std::make_unique<ctx_t>();
    return *ctx;
}

// ------------------------------------------------------------------------- the runtime model
// (svd-llm-seq and --alloc sensitivity: block linears swapped inside a runtime::llama_model)

/// The runtime model of MODEL with the calibration text's token stream (BOS + tokens, as
/// `lowrank calibrate` tokenises it).
struct runtime_text {
    runtime::gguf_tokenizer tok;
    std::unique_ptr<runtime::llama_model> model;
    std::vector<int> ids;
};

/// Opens MODEL for windows of `context` tokens and tokenises `text` (`what` names it in errors).
/// Throws usage_error when the context exceeds the model's or the text is shorter than one window.
runtime_text open_runtime_text(const compress_args& a, const std::string& text, const std::string& what, std::size_t context) {
    runtime::opened_llama o = runtime::open_llama(a.model, "", std::max<std::size_t>(4096, context));
    runtime_text rt{runtime::open_llama_tokenizer(o), nullptr, {}};
    rt.model = std::make_unique<runtime::llama_model>(std::move(o.weights), a.threads ? static_cast<int>(a.threads) : 2);
    if (context > rt.model->config().context)
        throw usage_error("compress: --context " + std::to_string(context) + " exceeds the model's context of " +
                          std::to_string(rt.model->config().context) + " tokens");
    rt.ids = {rt.tok.bos() >= 0 ? rt.tok.bos() : rt.tok.eos()};
    const auto enc = rt.tok.encode(text, false);
    rt.ids.insert(rt.ids.end(), enc.begin(), enc.end());
    if (rt.ids.size() < context)
        throw usage_error("compress: " + what + " gives " + std::to_string(rt.ids.size()) +
                          " tokens (BOS included), fewer than one window of --context " + std::to_string(context));
    return rt;
}

/// The runtime linear of weight t (block t.cls.layer, role t.cls.role), which must be dense with t's shape.
runtime::linear& runtime_linear(runtime::llama_model& model, const tensor_entry& t) {
    const auto l = static_cast<std::size_t>(t.cls.layer);
    runtime::linear* lin = l < model.weights().blocks.size() ? model.weights().blocks[l].by_role(t.cls.role) : nullptr;
    if (!lin || lin->form != runtime::linear_form::dense || lin->out != t.shape[0] || lin->in != t.shape[1])
        throw usage_error("compress: " + t.name + " does not match the runtime model's dense weight");
    return *lin;
}

/// Replaces the dense runtime linear `lin` of weight t by its factorisation at `rank` under the
/// method's whitener (compress_tensor; with --fold the dense reconstruction) and returns the
/// weight's record with the factors. The bias moves along; the dense weight is consumed.
task_result factorise_in_place(ctx_t& ctx, const compress_run& r, const tensor_entry& t, runtime::linear& lin, std::size_t rank,
                               const whiten_fn& whiten, const input_stats* st) {
    task_result res = compress_tensor(ctx, r, t, rank, std::move(lin.w), whiten, 0.0, st);
    lin = r.a.fold ? runtime::linear::dense(res.a, lin.out, lin.in, std::move(lin.bias))
                   : runtime::linear::svd(res.a, res.b, lin.out, lin.in, rank, std::move(lin.bias));
    return res;
}

// ------------------------------------------------------------------------- sensitivity probe

/// --alloc sensitivity's measurement: given the uniform ranks (rank_of per tensor, 0 = dense),
/// returns s_l (mean NLL increase over dense) for every block l and fills `record` (manifest).
using probe_fn = std::function<std::vector<double>(const std::vector<std::size_t>& rank_of, json& record)>;

/// For each block l: block l's linears (rank > 0) factorised at their uniform ranks with the
/// method's whitener and the calibration statistics, swapped into the runtime model, mean NLL
/// over the first --sensitivity-windows windows of the statistics' recorded window starts
/// (eval::llama_scorer::window_logprobs: each window alone, tokens 1..L−1 scored), block restored.
std::vector<double> probe_sensitivity(const compress_run& r, const whiten_fn& whiten, const std::vector<std::size_t>& rank_of,
                                      json& record) {
    const auto& a = r.a;
    const auto& ts = r.m.tensors();
    const auto start = std::chrono::steady_clock::now();
    const auto& prov = r.stats->provenance();
    std::vector<std::size_t> starts;
    try {
        starts = prov.extra.at("starts").get<std::vector<std::size_t>>();
    } catch (const std::exception&) {
        throw usage_error("compress: --alloc sensitivity: the calibration statistics record no window starts");
    }
    if (a.sensitivity_windows == 0 || a.sensitivity_windows > starts.size())
        throw usage_error("compress: --sensitivity-windows must be in [1, " + std::to_string(starts.size()) +
                          "] (the calibration's windows), got " + std::to_string(a.sensitivity_windows));
    starts.resize(a.sensitivity_windows);
    const std::size_t context = prov.context;
    const std::string text = cli::read_utf8_text(a.calib_text, "compress: --calib-text");
    runtime_text rt = open_runtime_text(a, text, "--calib-text " + a.calib_text, context);
    for (std::size_t s0 : starts)
        if (s0 + context > rt.ids.size())
            throw usage_error("compress: --calib-text " + a.calib_text + ": a recorded calibration window leaves its token stream");
    auto& model = *rt.model;
    eval::llama_scorer scorer(model, rt.tok);
    std::size_t scored = 0;
    const auto mean_nll = [&] {
        double nll = 0;
        scored = 0;
        for (std::size_t s0 : starts) {
            const std::vector<int> win(rt.ids.begin() + static_cast<long>(s0), rt.ids.begin() + static_cast<long>(s0 + context));
            for (double lp : scorer.window_logprobs(win, 1)) nll -= lp, ++scored;
        }
        return nll / static_cast<double>(scored);
    };
    const std::size_t layers = model.config().layers;
    cli::progress bar("sensitivity", layers + 1, a.quiet);
    const double dense = mean_nll();
    bar.step("dense");
    std::vector<std::vector<std::size_t>> of_layer(layers);
    for (std::size_t i : r.linear) {
        const auto l = static_cast<std::size_t>(ts[i].cls.layer);
        if (l >= layers) throw usage_error("compress: " + ts[i].name + ": layer out of range");
        of_layer[l].push_back(i);
    }
    ctx_t ctx;
    std::vector<double> s(layers, 0.0);
    json blocks = json::array();
    for (std::size_t l = 0; l < layers; ++l) {
        std::vector<std::pair<runtime::linear*, runtime::linear>> saved;
        for (std::size_t i : of_layer[l]) {
            if (rank_of[i] == 0) continue;
            runtime::linear& lin = runtime_linear(model, ts[i]);
            saved.emplace_back(&lin, lin);
            const std::optional<input_stats> st = r.stats->load(input_name(ts[i]));
            (void)factorise_in_place(ctx, r, ts[i], lin, rank_of[i], whiten, &*st);
        }
        const double nll = saved.empty() ? dense : mean_nll();
        for (auto& [lin, old] : saved) *lin = std::move(old);
        s[l] = nll - dense;
        blocks.push_back({{"layer", l}, {"nll", cli::json_number(nll)}, {"nll_increase", cli::json_number(s[l])},
                          {"weights_factorised", saved.size()}});
        bar.step("block " + std::to_string(l));
    }
    record = {{"measure", "mean NLL per token (nats) over the windows, block l alone factorised at the uniform ranks"},
              {"dense_nll", cli::json_number(dense)},
              {"windows", {{"count", starts.size()}, {"context", context}, {"starts", starts}, {"tokens_scored", scored},
                           {"text", fs::absolute(a.calib_text).string()}, {"text_sha256", sha256_hex(text)}}},
              {"blocks", std::move(blocks)},
              {"probe_seconds", cli::seconds_since(start)}};
    return s;
}

/// The allocation of the linear weights: rank_of[i] (0: dense) per tensor of the model.
struct rank_plan {
    allocation_result alloc;
    std::vector<std::size_t> rank_of;
    std::uint64_t total = 0, forced = 0, budget = 0;
    std::size_t factorised = 0;
    json sensitivity = nullptr;  ///< --alloc sensitivity: the measurement and the weights
};

/// --alloc sensitivity: measures the blocks at the uniform allocation `uni` (probe) and sets
/// items[k].weight = group_loss_weights(block of k, L_k(r_k^uniform)/L_k(0), s, floor) with
/// floor = 10⁻³·max_l s_l (10⁻¹² when no s_l > 0); records the measurement and the weights.
void set_sensitivity_weights(const compress_run& r, std::vector<allocation_item>& items, const allocation_result& uni,
                             const probe_fn& probe, json& record) {
    const auto& ts = r.m.tensors();
    std::vector<std::size_t> uniform_rank(ts.size(), 0), group(items.size());
    std::vector<double> reference(items.size(), 0.0);
    for (std::size_t k = 0; k < items.size(); ++k) {
        group[k] = static_cast<std::size_t>(ts[r.linear[k]].cls.layer);
        const auto& c = uni.choices[k];
        if (c.dense) continue;
        uniform_rank[r.linear[k]] = c.rank;
        reference[k] = c.rank < items[k].loss.size() ? items[k].loss[c.rank] : 0.0;  // relative curve: L(r)/L(0)
    }
    const std::vector<double> s = probe(uniform_rank, record);
    for (std::size_t g : group)
        if (g >= s.size()) throw usage_error("compress: --alloc sensitivity: a weight's block was not measured");
    const double top = *std::max_element(s.begin(), s.end());
    const double floor = top > 0 ? 1e-3 * top : 1e-12;
    const std::vector<double> w = group_loss_weights(group, reference, s, floor);
    std::vector<double> ref_sum(s.size(), 0.0), block_w(s.size(), 0.0);
    for (std::size_t k = 0; k < items.size(); ++k) {
        items[k].weight = w[k];
        ref_sum[group[k]] += reference[k];
        block_w[group[k]] = w[k];  // one weight per block (w depends on the block only)
    }
    for (std::size_t l = 0; l < s.size(); ++l) {
        record["blocks"][l]["uniform_relative_loss"] = cli::json_number(ref_sum[l]);
        record["blocks"][l]["weight"] = cli::json_number(block_w[l]);
    }
    record["floor"] = cli::json_number(floor);
    record["weight_rule"] = "w = max(s_l, floor) / sum over block l of L(r_uniform)/L(0)";
}

/// Allocates the ranks for --keep / --alloc / --keep-dense (global and sensitivity: one
/// loss-curve SVD per weight under `whiten`; sensitivity: `probe` measures the blocks at the
/// uniform ranks). Throws usage_error for an infeasible budget.
rank_plan plan_ranks(const compress_run& r, const whiten_fn& whiten, const probe_fn& probe = {}) {
    const auto& a = r.a;
    const auto& ts = r.m.tensors();

    // Allocation items; --keep-dense weights are dense.
    std::optional<std::regex> keep_re;
    if (!a.keep_dense.empty()) {
        try {
            keep_re.emplace(a.keep_dense, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            throw usage_error("compress: --keep-dense '" + a.keep_dense + "' is not a valid regular expression: " + e.what());
        }
    }
    std::vector<allocation_item> items;
    std::uint64_t total = 0, forced = 0;
    for (std::size_t i : r.linear) {
        const auto& t = ts[i];
        allocation_item it;
        it.name = t.name;
        it.rows = t.shape[0];
        it.cols = t.shape[1];
        it.keep_dense = keep_re && std::regex_search(t.name, *keep_re);
        total += it.rows * it.cols;
        if (it.keep_dense) forced += it.rows * it.cols;
        items.push_back(std::move(it));
    }
    const std::uint64_t budget = static_cast<std::uint64_t>(std::floor(a.keep * static_cast<double>(total)));
    const auto infeasible = [&](const std::string& why) {
        return usage_error("compress: --keep " + std::to_string(a.keep) + " cannot be met: " + why);
    };
    if (forced >= total && a.keep < 1) throw infeasible("--keep-dense '" + a.keep_dense + "' keeps every linear weight dense");
    if (forced > budget)
        throw infeasible("the weights --keep-dense keeps dense already hold " + std::to_string(forced) + " of the " +
                         std::to_string(budget) + " parameters allowed");
    const unsigned threads = worker_threads(a, r.linear.size());
    allocation_result alloc;
    json sensitivity = nullptr;
    const auto uniform = [&] {
        const double rest = static_cast<double>(total - forced);
        const double k = std::min(1.0, (static_cast<double>(budget) - static_cast<double>(forced)) / rest);
        if (!(k > 0)) throw infeasible("nothing is left for the factorised weights");
        return allocate_uniform(items, k);
    };
    try {
        if (a.alloc == "uniform") {
            alloc = uniform();
        } else {  // global / sensitivity: relative whitened loss curves first (one SVD per weight)
            cli::progress bar("loss curves", r.linear.size(), a.quiet);
            cli::ordered_pool<std::vector<double>> pool(r.linear.size(), threads, threads + 2, [&](std::size_t k) {
                const auto& t = ts[r.linear[k]];
                if (items[k].keep_dense) return std::vector<double>{};
                return relative_loss_curve(thread_ctx(threads), r, t, whiten);
            });
            for (std::size_t k = 0; k < r.linear.size(); ++k) {
                items[k].loss = pool.take(k);
                bar.step(ts[r.linear[k]].name);
            }
            pool.stop();
            if (a.alloc == "sensitivity") set_sensitivity_weights(r, items, uniform(), probe, sensitivity);
            alloc = allocate_ranks(items, budget);
        }
    } catch (const infeasible_budget& e) {
        throw infeasible(e.what());
    }
    if (alloc.parameters > budget)
        throw infeasible("the smallest allocation holds " + std::to_string(alloc.parameters) + " parameters, more than " +
                         std::to_string(budget));
    std::vector<std::size_t> rank_of(ts.size(), 0);
    std::size_t factorised = 0;
    for (std::size_t k = 0; k < r.linear.size(); ++k)
        if (!alloc.choices[k].dense) rank_of[r.linear[k]] = alloc.choices[k].rank, ++factorised;
    if (factorised == 0) throw infeasible("every linear weight would stay dense (nothing to compress at this K)");

    if (!sensitivity.is_null()) {  // what the weighted objective gave each block
        std::vector<std::uint64_t> params(sensitivity["blocks"].size(), 0);
        for (std::size_t k = 0; k < r.linear.size(); ++k)
            params.at(static_cast<std::size_t>(ts[r.linear[k]].cls.layer)) += alloc.choices[k].parameters;
        for (std::size_t l = 0; l < params.size(); ++l) sensitivity["blocks"][l]["parameters_allocated"] = params[l];
    }
    return {std::move(alloc), std::move(rank_of), total, forced, budget, factorised, std::move(sensitivity)};
}

/// Writes the output (factorised file, or folded with --fold) with the manifest, the --json
/// summary and the printed summary. take(i): tensor i's result (factors and record for a
/// factorised weight, the dense F32 data for a GGUF tensor written dequantised).
int write_output(compress_run& r, const rank_plan& p, const std::function<task_result(std::size_t)>& take, unsigned workers) {
    const auto& a = r.a;
    const bool gguf = r.m.format() == model::source_format::gguf;
    const auto& alloc = p.alloc;
    const auto& rank_of = p.rank_of;
    const std::uint64_t total = p.total, forced = p.forced, budget = p.budget;
    const std::size_t factorised = p.factorised;
    json sources = json::array();
    for (const auto& f : r.m.files())
        sources.push_back({{"path", fs::absolute(f).string()}, {"bytes", fs::file_size(f)}, {"sha256", sha256_file(f)}});
    std::uint64_t linear_after = 0;
    for (const auto& c : alloc.choices) linear_after += c.parameters;
    const double achieved = static_cast<double>(linear_after) / static_cast<double>(total);
    cli::decompose::manifest man;
    char kbuf[32];
    std::snprintf(kbuf, sizeof kbuf, "%.4g", a.keep);
    man.extra["gamma_id"] = "compress-" + a.method + "-" + a.alloc + "-K" + kbuf;
    man.extra["method"] = a.method;
    man.extra["form"] = "svd";
    man.extra["source"] = {{"path", fs::absolute(a.model).string()}, {"format", gguf ? "gguf" : "safetensors"},
                           {"files", sources}, {"sha256", sources.size() == 1 ? sources[0]["sha256"] : json(nullptr)}};
    man.extra["layout"] = gguf ? "hugging_face (GGUF q/k rows un-permuted)" : "as stored (Hugging Face)";
    man.extra["compress"] = {
        {"method", a.method},
        {"alloc", a.alloc},
        {"keep_target", a.keep},
        {"keep_achieved", achieved},
        {"linear_parameters_before", total},
        {"linear_parameters_after", linear_after},
        {"linear_budget", budget},
        {"kept_dense_by_regex", forced},
        {"keep_dense", a.keep_dense},
        {"weights_factorised", factorised},
        {"weights_dense", r.linear.size() - factorised},
        {"allocation", {{"solver", a.alloc != "uniform" ? to_string(alloc.method) : "uniform"},
                        {"optimal", a.alloc != "uniform" ? json(alloc.optimal) : json(nullptr)},
                        {a.alloc == "sensitivity" ? "weighted_relative_loss" : "relative_loss",
                         a.alloc != "uniform" ? cli::json_number(alloc.loss) : json(nullptr)}}},
        {"sensitivity", p.sensitivity},
        {"calibration", r.calibration},
        {"command", a.command}};
    man.extra["threads"] = workers;
    const cli::decompose::job job{r.m, rank_of, take, r.out, r.t0};
    if (!a.fold) cli::decompose::write_factorized(job, factor_form::svd, man);
    else if (gguf) cli::decompose::write_gguf_folded(job, a.fold_dtype, man);
    else cli::decompose::write_safetensors_folded(job, r.m.is_directory(), man.extra["gamma_id"].get<std::string>(), a.method, man);

    // Summary: means of the per-weight errors.
    double wsum = 0, psum = 0;
    std::size_t wcount = 0;
    for (const auto& rec : man.records) {
        if (!rec.contains("rank")) continue;
        if (rec["whitened_rel_error"].is_number()) wsum += rec["whitened_rel_error"].get<double>(), ++wcount;
        if (rec["plain_rel_error"].is_number()) psum += rec["plain_rel_error"].get<double>();
    }
    const json summary = {{"model", fs::absolute(a.model).string()},
                          {"out", fs::absolute(r.out).string()},
                          {"method", a.method},
                          {"alloc", a.alloc},
                          {"keep_target", a.keep},
                          {"keep_achieved", achieved},
                          {"linear_parameters", {{"before", total}, {"after", linear_after}}},
                          {"parameters", {{"before", man.before}, {"after", man.after}}},
                          {"weights_factorised", factorised},
                          {"mean_whitened_rel_error", wcount ? cli::json_number(wsum / wcount) : json(nullptr)},
                          {"mean_plain_rel_error", factorised ? cli::json_number(psum / factorised) : json(nullptr)},
                          {"sensitivity", p.sensitivity},
                          {"seconds", cli::seconds_since(r.t0)},
                          {"peak_rss_mb", static_cast<double>(runtime::measure::peak_rss_bytes()) / 1048576.0}};
    if (!a.json_out.empty()) write_file_atomically(a.json_out, summary.dump(2) + "\n");
    std::printf("%s: %s, %s allocation: %zu of %zu linear weights factorised\n", a.model.c_str(), a.method.c_str(),
                a.alloc.c_str(), factorised, r.linear.size());
    std::printf("linear parameters: %llu -> %llu (K = %.4f, target %.4f)\n", static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(linear_after), achieved, a.keep);
    if (wcount) std::printf("mean whitened relative error %.4f, mean plain relative error %.4f\n", wsum / wcount, psum / factorised);
    std::printf("seconds: %.1f, peak RSS %.0f MB\n", summary["seconds"].get<double>(), summary["peak_rss_mb"].get<double>());
    std::printf("wrote %s and %s\n", r.out.c_str(), cli::decompose::manifest_path(r.out, a.fold && r.m.is_directory()).c_str());
    return 0;
}

/// The runner shared by plain / asvd / svd-llm: allocate ranks, factorise (worker pool), write.
int run_low_rank(compress_run& r, const whiten_fn& whiten) {
    const auto& a = r.a;
    const auto& ts = r.m.tensors();
    const bool gguf = r.m.format() == model::source_format::gguf;
    const rank_plan p = plan_ranks(r, whiten, [&](const std::vector<std::size_t>& uniform_rank, json& record) {
        return probe_sensitivity(r, whiten, uniform_rank, record);
    });
    const auto& rank_of = p.rank_of;
    // Work list: factorised weights, plus (factorised output of a GGUF) tensors to dequantise.
    std::vector<std::size_t> task_of(ts.size(), SIZE_MAX), tensor_of;
    for (std::size_t i = 0; i < ts.size(); ++i)
        if (rank_of[i] > 0 || (!a.fold && gguf)) {
            task_of[i] = tensor_of.size();
            tensor_of.push_back(i);
        }
    const unsigned workers = worker_threads(a, tensor_of.size());
    cli::progress bar("compress", tensor_of.size(), a.quiet);
    cli::ordered_pool<task_result> pool(tensor_of.size(), workers, workers + 2, [&](std::size_t k) {
        const std::size_t i = tensor_of[k];
        const auto start = std::chrono::steady_clock::now();
        std::vector<float> w = r.m.load_f32(ts[i].name);
        if (rank_of[i] == 0) {
            task_result res;
            res.a = std::move(w);
            return res;
        }
        std::optional<input_stats> st;
        if (r.stats) st = r.stats->load(input_name(ts[i]));
        return compress_tensor(thread_ctx(workers), r, ts[i], rank_of[i], std::move(w), whiten, cli::seconds_since(start),
                               st ? &*st : nullptr);
    });
    auto take = [&](std::size_t i) {
        task_result res = pool.take(task_of[i]);
        bar.step(ts[i].name);
        return res;
    };

    const int rc = write_output(r, p, take, workers);
    pool.stop();
    return rc;
}

// ------------------------------------------------------------------------- svd-llm-seq

/// svd-llm-seq: SVD-LLM (uniform ranks, whitened SVD) with sequential statistics — block l's
/// weights are whitened with the Grams of the inputs block l sees once blocks < l are already
/// compressed (runtime::run_sequential_calibration: the windows' hidden states stream through
/// the compressed prefix one block at a time; one block's statistics in memory). The windows:
/// --calib-text with --windows/--context/--seed, or those a --calib STATS file records (its
/// text, checked against the recorded sha256, and its window starts). --seq-stats FILE also
/// writes the statistics used (mode "sequential").
int run_sequential(compress_run& r, const whiten_fn& whiten) {
    const auto& a = r.a;
    const auto& ts = r.m.tensors();
    const rank_plan p = plan_ranks(r, whiten);

    // The calibration windows.
    std::string text_path = a.calib_text, text_arg = "--calib-text";
    std::size_t context = a.context;
    std::vector<std::size_t> starts;
    std::uint64_t windows = a.windows, seed = a.seed;
    if (r.stats) {
        const auto& prov = r.stats->provenance();
        text_path = prov.extra.value("text", std::string());
        text_arg = "the text recorded in --calib " + a.calib + " ";
        context = prov.context, windows = prov.windows, seed = prov.seed;
        try {
            starts = prov.extra.at("starts").get<std::vector<std::size_t>>();
        } catch (const std::exception&) {
            throw usage_error("compress: --calib " + a.calib + " records no window starts; give --calib-text instead");
        }
        if (starts.size() != windows || context < 2)
            throw usage_error("compress: --calib " + a.calib + ": the recorded windows are inconsistent");
    }
    const std::string text = cli::read_utf8_text(text_path, "compress: " + text_arg);
    if (r.stats && sha256_hex(text) != r.stats->provenance().text_sha256)
        throw usage_error("compress: " + text_path + " (the text recorded in --calib " + a.calib +
                          ") has changed since the calibration (sha256 differs)");
    runtime_text rt = open_runtime_text(a, text, text_arg + " " + text_path, context);
    runtime::llama_model& model = *rt.model;
    const std::vector<int>& ids = rt.ids;
    if (starts.empty()) starts = runtime::calibration_starts(ids.size(), context, windows, seed);
    for (std::size_t s0 : starts)
        if (s0 + context > ids.size())
            throw usage_error("compress: --calib " + a.calib + ": a recorded window leaves the text's token stream");
    r.calibration = {{"stats", a.calib.empty() ? json(nullptr) : json(fs::absolute(a.calib).string())},
                     {"text", fs::absolute(text_path).string()}, {"text_sha256", sha256_hex(text)},
                     {"windows", windows}, {"context", context}, {"seed", seed}, {"tokens", windows * context},
                     {"mode", "sequential (statistics of block l from the model with blocks < l compressed)"},
                     {"seq_stats", a.seq_stats.empty() ? json(nullptr) : json(fs::absolute(a.seq_stats).string())}};

    // The linear weights of each block, and --seq-stats.
    const std::size_t layers = model.config().layers;
    std::vector<std::vector<std::size_t>> of_layer(layers);
    for (std::size_t i : r.linear) {
        const auto l = static_cast<std::size_t>(ts[i].cls.layer);
        if (l >= layers) throw usage_error("compress: " + ts[i].name + ": layer out of range");
        of_layer[l].push_back(i);
    }
    std::optional<stats_writer> save;
    if (!a.seq_stats.empty()) {
        stats_provenance prov;
        prov.model_sha256 = cli::model_sha256(r.m);
        prov.text_sha256 = sha256_hex(text);
        prov.windows = windows, prov.context = context, prov.seed = seed, prov.mode = "sequential";
        prov.extra = {{"model", fs::absolute(a.model).string()}, {"text", fs::absolute(text_path).string()},
                      {"text_tokens", ids.size()}, {"starts", starts}, {"method", a.method}, {"keep", a.keep},
                      {"names", "model.layers.<l>.{attn_in, o_in, mlp_in, down_in} of the model with blocks < l compressed"},
                      {"lowrank_version", LOWRANK_VERSION}};
        std::vector<stats_entry> inputs;
        const auto w = runtime::calibration_widths(model.config());
        for (std::size_t l = 0; l < layers; ++l)
            for (auto in : runtime::all_linear_inputs)
                inputs.push_back({runtime::calibration_input_name(l, in), w[static_cast<std::size_t>(in)], false});
        save.emplace(a.seq_stats, prov, inputs);
    }

    std::vector<task_result> results(ts.size());
    ctx_t ctx;
    cli::progress bar("svd-llm-seq", 2 * layers, a.quiet);
    runtime::run_sequential_calibration(
        ctx, model, ids, starts, context,
        [&](std::size_t l, std::vector<input_stats>& st) {
            if (save)
                for (auto in : runtime::all_linear_inputs)
                    save->write(runtime::calibration_input_name(l, in), st[static_cast<std::size_t>(in)]);
            for (std::size_t i : of_layer[l]) {
                if (p.rank_of[i] == 0) continue;
                const auto& t = ts[i];
                const auto which = static_cast<std::size_t>(*runtime::input_of_role(t.cls.role));
                results[i] = factorise_in_place(ctx, r, t, runtime_linear(model, t), p.rank_of[i], whiten, &st[which]);
            }
        },
        [&](std::size_t, std::size_t) { bar.step("block pass"); });
    auto take = [&](std::size_t i) {
        if (p.rank_of[i] > 0) return std::move(results[i]);
        task_result res;  // a GGUF tensor written dequantised
        res.a = r.m.load_f32(ts[i].name);
        return res;
    };
    const int rc = write_output(r, p, take, 1);
    if (save) save->commit();  // after the output: a failed run leaves neither file
    return rc;
}

// ------------------------------------------------------------------------- the method table

struct method_entry {
    std::string name, help;
    bool needs_stats;
    bool bert;  ///< runs on BERT encoders too
    std::function<int(compress_run&)> run;
    bool sequential = false;   ///< calibrates itself through the compressed prefix (--calib gives the windows)
    bool sensitivity = false;  ///< supports --alloc sensitivity (run_low_rank's probe; Llama family)
};

const std::vector<method_entry>& methods() {
    static const std::vector<method_entry> table = {
        {"plain", "truncated SVD of W (baseline; statistics only for reporting)", false, true,
         [](compress_run& r) {
             return run_low_rank(r, [](ctx_t& ctx, const input_stats*, std::size_t n) { return identity_whitener(ctx, n); });
         },
         false, true},
        {"asvd", "SVD of W diag(mean|x|)^0.5 (ASVD)", true, true,
         [](compress_run& r) {
             return run_low_rank(r, [](ctx_t& ctx, const input_stats* s, std::size_t) { return asvd_whitener(ctx, *s); });
         },
         false, true},
        {"svd-llm", "whitened SVD, S S^T = X^T X (SVD-LLM)", true, true,
         [](compress_run& r) {
             return run_low_rank(r, [](ctx_t& ctx, const input_stats* s, std::size_t) { return make_whitener(ctx, *s); });
         },
         false, true},
        {"svd-llm-seq", "svd-llm with sequential statistics: block l whitened on the inputs of the model whose blocks < l are "
                        "already compressed (layer streaming; Llama-family, --alloc uniform)",
         true, false,
         [](compress_run& r) {
             return run_sequential(r, [](ctx_t& ctx, const input_stats* s, std::size_t) { return make_whitener(ctx, *s); });
         },
         true},
        {"struct", "structured: MLP channels (OBS) + value dims per kv group, LS refits of down/o, q/k dense (cli/compress_struct.hpp)",
         true, false,
         [](compress_run& r) {
             return cli::structured::run({r.a.model, r.m, *r.stats, r.a.keep, r.out, r.a.alloc, r.a.keep_dense, r.a.fold,
                                          r.a.quiet, r.a.threads ? r.a.threads : std::max(1u, std::thread::hardware_concurrency()),
                                          r.a.json_out, r.a.command, r.calibration, r.t0});
         }},
    };
    return table;
}

const method_entry& find_method(const std::string& name) {
    std::string names;
    for (const auto& m : methods()) {
        if (m.name == name) return m;
        names += (names.empty() ? "" : ", ") + m.name;
    }
    throw usage_error("compress: --method '" + name + "' is not one of " + names);
}

// ------------------------------------------------------------------------- driver

int run(compress_args a) {
    const auto t0 = std::chrono::steady_clock::now();
    const method_entry& method = find_method(a.method);
    if (!(a.keep > 0 && a.keep <= 1) || !std::isfinite(a.keep))
        throw usage_error("compress: --keep must be in (0, 1] (the fraction of linear-layer parameters kept), got " +
                          std::to_string(a.keep));
    if (a.alloc != "uniform" && a.alloc != "global" && a.alloc != "sensitivity")
        throw usage_error("compress: --alloc must be uniform, global or sensitivity, got '" + a.alloc + "'");
    const bool sensitivity = a.alloc == "sensitivity";
    if (sensitivity && !method.sensitivity)
        throw usage_error("compress: --alloc sensitivity is not available for --method " + a.method +
                          " (only for the factorising methods plain, asvd, svd-llm)");
    if (sensitivity && a.calib_text.empty())
        throw usage_error("compress: --alloc sensitivity needs the calibration text: --calib-text FILE (with --calib STATS, "
                          "the text STATS was calibrated on; its sha256 is checked)");
    if (!sensitivity && !a.calib.empty() && !a.calib_text.empty())
        throw usage_error("compress: give --calib or --calib-text, not both (both only with --alloc sensitivity)");
    if (method.needs_stats && a.calib.empty() && a.calib_text.empty())
        throw usage_error("compress: --method " + a.method + " needs calibration statistics: --calib STATS or --calib-text FILE");
    std::error_code ec;
    if (!fs::exists(a.model, ec)) throw usage_error("compress: " + a.model + ": no such file or directory");
    const model_source m = model_source::open(a.model);
    if (m.format() == model::source_format::factorized)
        throw usage_error("compress: " + a.model + " is a lowrank factorised file; compress its dense source model instead");
    if (!model::is_decoder(m.family()) && m.family() != model::family::bert)
        throw usage_error("compress: " + a.model + " is a " + std::string(model::to_string(m.family())) +
                          " model; compress handles Llama-family decoders and BERT encoders");
    if (m.family() == model::family::bert && !method.bert)
        throw usage_error("compress: --method " + a.method + " is not available for BERT models (" + a.model + ")");
    if (m.family() == model::family::bert && sensitivity)
        throw usage_error("compress: --alloc sensitivity is not available for BERT models (" + a.model + "; Llama family only)");
    if (a.out.empty()) throw usage_error("compress: --out is required");
    cli::decompose::refuse_overwriting_input(a.out, m, "compress");
    for (const std::string& p : {a.calib, a.calib_text})
        if (!p.empty() && fs::exists(a.out, ec) && fs::equivalent(a.out, p, ec))
            throw usage_error("compress: --out " + a.out + " is the calibration input " + p + "; refusing to overwrite it");
    const bool dir_out = a.fold && m.is_directory();
    if (!dir_out && fs::is_directory(a.out, ec)) throw usage_error("compress: --out " + a.out + " is a directory");
    if (!fs::is_directory(fs::absolute(a.out).parent_path(), ec))
        throw usage_error("compress: --out " + a.out + ": parent directory does not exist");

    compress_run r{a, m, nullptr, {}, a.out, t0};
    for (std::size_t i = 0; i < m.tensors().size(); ++i) {
        const auto& t = m.tensors()[i];
        if (t.cls.decomposable() && t.cls.layer >= 0 && t.shape.size() == 2 && runtime::input_of_role(t.cls.role))
            r.linear.push_back(i);
    }
    if (r.linear.empty()) throw usage_error("compress: " + a.model + " has no q/k/v/o/gate/up/down weights");

    // Statistics: --calib, or --calib-text calibrated into a temporary file first.
    std::string stats_path = a.calib;
    struct remove_after {
        std::string path;
        ~remove_after() {
            std::error_code e;
            if (!path.empty()) fs::remove(path, e);
        }
    } temp_stats;
    if (method.sequential && a.alloc != "uniform")
        throw usage_error("compress: --method " + a.method + " supports --alloc uniform only");
    if (!method.sequential && !a.seq_stats.empty()) throw usage_error("compress: --seq-stats needs --method svd-llm-seq");
    if (!a.seq_stats.empty())
        for (const std::string& p : {a.out, a.calib, a.calib_text, a.model})
            if (!p.empty() && fs::exists(a.seq_stats, ec) && fs::equivalent(a.seq_stats, p, ec))
                throw usage_error("compress: --seq-stats " + a.seq_stats + " is " + p + "; refusing to overwrite it");
    if (!a.calib_text.empty() && a.calib.empty() && !method.sequential) {
        cli::calibration::request c;
        c.model = a.model;
        c.text = a.calib_text;
        c.text_arg = "--calib-text";
        c.windows = a.windows;
        c.context = a.context;
        c.seed = a.seed;
        c.threads = 2;
        c.quiet = a.quiet;
        stats_path = (fs::absolute(a.out).parent_path() / (".lowrank-calib-" + std::to_string(::getpid()) + ".safetensors")).string();
        temp_stats.path = stats_path;
        c.out = stats_path;
        cli::calibration::run(c);
    }
    std::optional<stats_file> stats;
    if (!stats_path.empty()) {
        if (!fs::exists(stats_path, ec)) throw usage_error("compress: --calib " + stats_path + ": no such file");
        try {
            stats.emplace(stats_path);
        } catch (const lowrank::error& e) {
            throw usage_error("compress: --calib " + stats_path + ": " + e.what());
        }
        const std::string sha = cli::model_sha256(m);
        try {
            stats->require_model(sha);
        } catch (const lowrank::error& e) {
            throw usage_error(std::string("compress: --calib: ") + e.what());
        }
        for (std::size_t i : r.linear) {  // every input present with the weight's width
            const auto& t = m.tensors()[i];
            const std::string name = input_name(t);
            if (!stats->contains(name)) throw usage_error("compress: --calib " + stats_path + " has no statistics for " + name);
            if (stats->entry(name).channels != t.shape[1])
                throw usage_error("compress: --calib " + stats_path + ": " + name + " has " +
                                  std::to_string(stats->entry(name).channels) + " channels but " + t.name + " has " +
                                  std::to_string(t.shape[1]) + " inputs");
        }
        // Load (and so validate: NaN/Inf, symmetry, ...) every input once before any output exists.
        for (const auto& e : stats->inputs()) {
            try {
                (void)stats->load(e.name);
            } catch (const lowrank::error& err) {
                throw usage_error(std::string("compress: --calib: ") + err.what());
            }
        }
        const auto& p = stats->provenance();
        if (sensitivity && !a.calib.empty()) {
            const std::string text = cli::read_utf8_text(a.calib_text, "compress: --calib-text");
            if (sha256_hex(text) != p.text_sha256)
                throw usage_error("compress: --calib-text " + a.calib_text + " is not the text --calib " + a.calib +
                                  " was calibrated on (sha256 differs from the recorded " + p.text_sha256 + ")");
        }
        r.calibration = {{"stats", a.calib.empty() ? json(nullptr) : json(fs::absolute(a.calib).string())},
                         {"text", p.extra.value("text", std::string())},
                         {"text_sha256", p.text_sha256},
                         {"model_sha256", p.model_sha256},
                         {"windows", p.windows},
                         {"context", p.context},
                         {"seed", p.seed},
                         {"tokens", p.windows * p.context}};
        r.stats = &*stats;
    }
    return method.run(r);
}

const lowrank::cli::registrar reg("compress", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("compress", "Activation-aware low-rank compression to a kept fraction K of the linear parameters");
    auto a = std::make_shared<compress_args>();
    std::string method_help = "method:";
    for (const auto& m : methods()) method_help += " " + m.name + " (" + m.help + ");";
    sub->add_option("MODEL", a->model, "Llama-family GGUF, .safetensors or Hugging Face directory, or BERT Hugging Face directory (dense)")->required();
    sub->add_option("--keep", a->keep, "K in (0, 1]: fraction of the q/k/v/o/gate/up/down parameters kept (factors counted)")
        ->required();
    sub->add_option("--method", a->method, method_help)->required();
    sub->add_option("--alloc", a->alloc, "rank allocation: uniform (default; SVD-LLM's ratio), global (exact DP on "
                                         "normalised whitened losses) or sensitivity (global weighted by each block's measured "
                                         "NLL increase at the uniform ranks; plain/asvd/svd-llm, needs --calib-text)");
    sub->add_option("--sensitivity-windows", a->sensitivity_windows,
                    "--alloc sensitivity: calibration windows the blocks are measured on (default 8)");
    sub->add_option("--calib", a->calib, "calibration statistics from `lowrank calibrate`");
    sub->add_option("--calib-text", a->calib_text, "calibrate on this UTF-8 text first (--windows/--context/--seed)");
    sub->add_option("--windows", a->windows, "--calib-text: windows (default 64)");
    sub->add_option("--context", a->context, "--calib-text: tokens per window (default 512)");
    sub->add_option("--seed", a->seed, "--calib-text: window-sampling seed (default 0)");
    sub->add_option("--keep-dense", a->keep_dense, "regex over tensor names: these linear weights stay dense (counted in K)");
    sub->add_flag("--fold", a->fold, "write the dense reconstruction in MODEL's own format");
    sub->add_option("--fold-dtype", a->fold_dtype, "GGUF --fold: f32 (default) or f16")->check(CLI::IsMember({"f32", "f16"}));
    sub->add_option("--out", a->out, "output factorised file (or folded model with --fold)")->required();
    sub->add_option("--json", a->json_out, "also write a JSON summary here");
    sub->add_option("--seq-stats", a->seq_stats, "svd-llm-seq: also write the sequential statistics it used (a stats file)");
    sub->add_option("--threads", a->threads, "worker threads (default: all cores)");
    sub->add_flag("--quiet", a->quiet, "no progress bars");
    sub->callback([a, exit_code] {
        compress_args args = *a;
        // The command that reproduces this output (recorded in the manifest).
        std::string c = "lowrank compress " + args.model + " --keep " + std::to_string(args.keep) + " --method " + args.method +
                        " --alloc " + args.alloc;
        if (!args.calib.empty()) c += " --calib " + args.calib;
        if (!args.calib_text.empty() && !args.calib.empty()) c += " --calib-text " + args.calib_text;  // windows from STATS
        else if (!args.calib_text.empty())
            c += " --calib-text " + args.calib_text + " --windows " + std::to_string(args.windows) + " --context " +
                 std::to_string(args.context) + " --seed " + std::to_string(args.seed);
        if (args.alloc == "sensitivity") c += " --sensitivity-windows " + std::to_string(args.sensitivity_windows);
        if (!args.keep_dense.empty()) c += " --keep-dense '" + args.keep_dense + "'";
        if (args.fold) c += " --fold --fold-dtype " + args.fold_dtype;
        if (!args.seq_stats.empty()) c += " --seq-stats " + args.seq_stats;
        args.command = c + " --out " + args.out;
        *exit_code = run(args);
    });
});

}  // namespace cmd_compress

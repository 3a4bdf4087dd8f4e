// `lowrank decompose MODEL --plan gamma.json [--method svd|tucker2|hooi] [--out OUT] [--fold]
//                    [--fold-dtype f32|f16] [--threads N] [--device cpu|cuda]
//                    [--allow-no-savings] [--layers I..J] [--svd-method exact|gram|randomized]
//                    [--max-memory BYTES] [--quiet]`
//
// --layers I..J writes a *part*: blocks I..J only (1-based, inclusive; with I = 1 also every
// tensor outside the blocks), its manifest carrying "shard": {"layers", "model_layers",
// "source_order"}; `lowrank merge` combines the parts of one γ into the sharded model directory
// (docs/scale.md §3). Factorised output only.
//
// Applies γ to the real weights of MODEL (a .gguf file, a .safetensors file, an index .json or a
// Hugging Face model directory). Every weight is read as float32 (GGUF tensors dequantised, Llama
// q/k rows un-permuted to the Hugging Face layout), each decomposed weight factorised at its
// pruned rank, and the result written
//   - by default: a factorised safetensors file (lowrank/io/factorized.hpp) at OUT
//     (default ./<stem>.lowrank.safetensors);
//   - with --fold: the dense reconstruction in MODEL's own format at OUT — GGUF → GGUF (input
//     metadata, untouched tensors copied verbatim, reconstructed ones F32/F16, q/k re-permuted);
//     .safetensors → .safetensors (original names and dtypes, input __metadata__ kept);
//     HF directory → directory (model.safetensors + the input's config/tokenizer files).
// plus a JSON manifest beside it (<OUT minus extension>.manifest.json; lowrank_manifest.json
// inside an output directory): γ and its id, source files with sha256, per-tensor rank,
// parameters before/after, relative reconstruction error, Eckart–Young error, seconds, method.
//
// Methods: svd (truncated SVD; svd storage form), tucker2 (2-D Tucker by HOSVD, equal to the
// truncated SVD up to rotations; tucker2 form), hooi (2-D Tucker refined by HOOI; tucker2 form).
// Default: γ's own method. --svd-method picks the algorithm of the svd form's truncated SVD:
// exact (gesdd, the default; the manifest's eckart_young is the optimum), gram (eigh of the
// smaller Gram matrix) or randomized (range finder with power iterations: a rank-r factorisation
// of an m×n weight costs O(mn(r + p)) per pass instead of a full SVD's O(mn·min(m, n)); its
// relative error is measured, eckart_young is null — the full spectrum is never computed).
// Tensors are decomposed by a pool of --threads workers (each with its
// own backend context; OpenBLAS is set to one thread when there are several workers) and written
// in file order as they complete, at most threads + 2 results in memory at once. Output is
// atomic (temp file + rename); SIGINT/SIGTERM cancel cleanly and leave nothing under OUT.
// --max-memory BYTES (e.g. 2GB, 1500MiB) bounds the working memory whatever the thread count:
// each tensor's peak is estimated before it starts (model::factorise_peak_bytes; a dequantise-only
// tensor: its float32 copy) and tensors are admitted in file order while the estimates of those
// not yet written stay within BYTES (ordered_pool's budget); a tensor whose estimate alone
// exceeds BYTES is refused before anything is read. The source's mapped pages of each tensor are
// released once it is read (model_source::release_pages), so resident file pages stay bounded
// too. Peak ≈ BYTES + a fixed per-thread amount + the process's baseline (docs/scale.md §3).
//
// --device cuda (cli/device.hpp): the same library calls run through cuda_backend on one device
// context. The --threads workers still read and dequantise tensors on the CPU; each then takes
// the GPU in turn (a mutex) to upload, factorise and download, so dequantisation overlaps the
// GPU work. Weights are far larger than the 32×32 limit of the batched gesvdj helper, so every
// weight is one truncated_svd / tucker2 call. The manifest records the device ("device").
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/decompose_output.hpp"
#include "cli/device.hpp"
#include "cli/ordered_pool.hpp"
#include "cli/progress.hpp"

#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/design/gamma_json.hpp"
#include "cli/interrupt.hpp"
#include "cli/recipe_plan.hpp"
#include "lowrank/model/hf_names.hpp"
#include "lowrank/io/atomic_file.hpp"
#include "lowrank/io/checksum.hpp"
#include "lowrank/model/factorise.hpp"
#include "lowrank/model/plan.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cmd_decompose {

namespace fs = std::filesystem;
using namespace lowrank;
using json = nlohmann::json;
using cli::usage_error;
using cli::decompose::task_result;
using model::model_source;
using model::tensor_entry;

struct interrupted_error : lowrank::error {
    using error::error;
};

struct decompose_args {
    std::string model, plan, recipe, method, out, fold_dtype = "f32", device = "cpu", layers, svd_method, max_memory;
    bool fold = false, allow_no_savings = false, quiet = false;
    unsigned threads = 0;
};

/// --plan read for the model (lowrank/model/plan.hpp), with decompose's own refusals: a plan
/// that decomposes nothing, and ranks past the break-even rank unless --allow-no-savings.
/// `gamma`: the γ a --recipe selected (recipe_plan.hpp); null: read --plan.
model::model_plan load_plan(const decompose_args& a, const model_source& m, const json& gamma = nullptr) {
    json j = gamma;
    if (j.is_null()) {
        std::ifstream in(a.plan);
        if (!in) throw usage_error("decompose: --plan: cannot open '" + a.plan + "'");
        try {
            j = json::parse(in);
        } catch (const json::exception& e) {
            throw usage_error("decompose: --plan '" + a.plan + "': not valid JSON: " + e.what());
        }
    }
    std::optional<factor_form> form;
    if (!a.method.empty()) form = model::find_method(a.method)->form;  // validated in run()
    model::model_plan p;
    try {
        p = model::read_gamma(j, m, form);
    } catch (const lowrank::error& e) {
        throw usage_error("decompose: --plan '" + a.plan + "': " + e.what());
    }
    if (p.gamma.decomposes_nothing()) throw usage_error("decompose: --plan '" + a.plan + "' decomposes nothing");
    for (const auto& w : p.weights)
        if (!w.saves() && !a.allow_no_savings)
            throw usage_error("decompose: --plan: rank " + std::to_string(w.rank) + " for (layer " + std::to_string(w.layer) +
                              ", " + std::string(model::to_string(w.role)) + ") is past the break-even rank " +
                              std::to_string(break_even_rank(w.rows, w.cols, w.form)) + " of a " + std::to_string(w.rows) +
                              "×" + std::to_string(w.cols) + " " + to_string(w.form) +
                              " factorisation (it would save nothing); pass --allow-no-savings to decompose anyway");
    return p;
}

// ---------------------------------------------------------------------------------------------
// One tensor's work
// ---------------------------------------------------------------------------------------------

/// Factorises one weight w (rows × cols, float32, host) at `rank` on the backend of ctx with the
/// library's factorise_weight (the same call on every device: upload, compute, download).
/// `load_seconds` is the time already spent reading/dequantising w; the record's "seconds" is
/// load + factorisation.
template <class Ctx>
task_result factorise_tensor(Ctx& ctx, const tensor_entry& t, std::size_t rank, std::vector<float> w,
                             const std::string& method, model::factor_method algorithm, bool fold, double load_seconds) {
    using B = backend_of<Ctx>;
    const auto start = std::chrono::steady_clock::now();
    auto W = B::template upload<float>(ctx, w.data(), {t.shape[0], t.shape[1]});
    w = {};
    model::factorise_options opt;
    const model::named_method& nm = *model::find_method(method);  // validated in run()
    opt.form = nm.form;
    opt.method = algorithm == model::factor_method::automatic ? nm.method : algorithm;
    const auto f = model::factorise_weight(ctx, W, rank, opt);
    if (f.status != status::ok)
        throw backend_error(t.name + ": " + std::string(nm.label) + " failed (" + to_string(f.status) + ")");
    task_result res;
    if (fold) {
        res.a = cli::to_host(ctx, model::reconstruct(ctx, f));
    } else {
        res.a = cli::to_host(ctx, f.u);
        if (f.core) res.core = cli::to_host(ctx, *f.core);
        res.b = cli::to_host(ctx, f.v);
    }
    if (nm.method == model::factor_method::hooi) res.info["iterations"] = f.iterations, res.info["converged"] = f.converged;
    res.info["layer"] = t.cls.layer;
    res.info["role"] = std::string(model::to_string(t.cls.role));
    res.info["rank"] = f.rank;
    res.info["form"] = to_string(f.form);
    res.info["algorithm"] = f.algorithm;
    res.info["parameters_before"] = f.parameters_before;
    res.info["parameters_after"] = f.parameters_after;
    res.info["rel_error"] = cli::json_number(f.rel_error);
    res.info["eckart_young"] = cli::json_number(f.eckart_young);
    res.info["seconds"] = load_seconds + cli::seconds_since(start);
    return res;
}

/// One work item: read (dequantise) the tensor on the calling CPU thread, then factorise it on
/// the backend `with_ctx` provides (rank 0: an untouched GGUF tensor, only dequantised);
/// `algorithm`: --svd-method's override of the method's algorithm (automatic: the method's). For the
/// GPU, `with_ctx` serialises the factorisations on the one device context while the other
/// worker threads keep dequantising (a two-stage pipeline).
template <class WithCtx>
task_result decompose_tensor(const model_source& m, const tensor_entry& t, std::size_t rank, const std::string& method,
                             model::factor_method algorithm, bool fold, WithCtx&& with_ctx) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<float> w = m.load_f32(t.name);
    m.release_pages(t.name);  // read once: drop the source's pages from the resident set
    if (rank == 0) {
        task_result res;
        res.a = std::move(w);
        return res;
    }
    const double load_seconds = cli::seconds_since(start);
    return with_ctx([&](auto& ctx) { return factorise_tensor(ctx, t, rank, std::move(w), method, algorithm, fold, load_seconds); });
}

/// The model's decomposable weights as recipe modules (Hugging Face module names).
std::vector<cli::recipe_module> recipe_modules(const model_source& m) {
    std::vector<cli::recipe_module> out;
    for (const auto& t : m.tensors())
        if (t.cls.decomposable() && t.shape.size() == 2)
            out.push_back({t.name, model::hf_module_name(t.name, m.family()),
                           std::string(model::to_string(t.cls.role)), static_cast<std::size_t>(t.cls.layer), t.shape[0],
                           t.shape[1]});
    return out;
}

int run(const decompose_args& a0) {
    const auto t0 = std::chrono::steady_clock::now();
    decompose_args a = a0;
    if (a.plan.empty() == a.recipe.empty()) throw usage_error("decompose: give exactly one of --plan and --recipe");
    if (!a.method.empty() && !model::find_method(a.method))
        throw usage_error("decompose: --method must be " + model::method_list());
    cli::device_selection dev = cli::select_device(a.device);  // before anything is read or written
    std::error_code ec;
    if (!fs::exists(a.model, ec)) throw usage_error("decompose: " + a.model + ": no such file or directory");
    const model_source m = model_source::open(a.model);
    if (m.format() == model::source_format::factorized)
        throw usage_error("decompose: " + a.model + " is a lowrank factorised file; decompose its source model instead");
    // --recipe: the γ it selects on this model (recipe_plan.hpp).
    std::optional<design::recipe> rec;
    json recipe_gamma;
    if (!a.recipe.empty()) {
        rec = cli::read_recipe(a.recipe);
        if (!model::find_method(rec->method))
            throw usage_error("decompose: --recipe method '" + rec->method + "' is not " + model::method_list());
        if (a.method.empty()) a.method = rec->method;
        recipe_gamma = cli::gamma_from_recipe(*rec, recipe_modules(m), fs::path(a.model).stem().string(), a.recipe);
        a.plan = a.recipe;  // named in load_plan's messages
    }
    const model::model_plan p = load_plan(a, m, recipe_gamma);
    const std::string method = a.method.empty() ? to_string(p.gamma.method) : a.method;
    model::factor_method algorithm = model::factor_method::automatic;  // the method's own
    if (!a.svd_method.empty()) {
        if (model::find_method(method)->form != factor_form::svd)
            throw usage_error("decompose: --svd-method " + a.svd_method + " applies to the svd method only, not " + method);
        algorithm = a.svd_method == "exact" ? model::factor_method::exact
                    : a.svd_method == "gram" ? model::factor_method::gram
                                             : model::factor_method::randomized;  // CLI checked the name
    }
    const std::string out = a.out.empty() ? cli::decompose::default_out(a.model, a.fold, m) : a.out;
    const bool dir_out = a.fold && m.is_directory();
    const bool gguf = m.format() == model::source_format::gguf;
    cli::decompose::refuse_overwriting_input(out, m, "decompose");
    if (!dir_out && fs::is_directory(out)) throw usage_error("decompose: --out " + out + " is a directory");
    {
        const fs::path parent = fs::absolute(out).parent_path();
        if (!fs::is_directory(parent)) throw usage_error("decompose: --out " + out + ": parent directory does not exist");
    }
    const auto& tensors = m.tensors();
    std::vector<std::size_t> rank_of(tensors.size(), 0);  // > 0: decomposed at this rank
    for (const auto& w : p.weights)
        for (std::size_t i = 0; i < tensors.size(); ++i)
            if (tensors[i].name == w.name) rank_of[i] = w.rank;
    const std::vector<std::size_t> plan_rank_of = rank_of;  // the whole γ (a --layers part zeroes the rest below)
    // --layers I..J: this part holds blocks I..J (1-based) and, when I = 1, every tensor outside
    // the blocks; `lowrank merge` combines the parts (docs/scale.md §3).
    std::vector<char> in_part(tensors.size(), 1);
    std::size_t first = 0, last = 0;
    const std::size_t model_layers = m.layout().layers;
    if (!a.layers.empty()) {
        if (a.fold) throw usage_error("decompose: --layers writes a factorised part for `lowrank merge`; not with --fold");
        const auto dots = a.layers.find("..");
        try {
            if (dots == std::string::npos) throw std::invalid_argument("no ..");
            std::size_t used = 0;
            first = std::stoul(a.layers.substr(0, dots), &used);
            if (used != dots) throw std::invalid_argument("junk");
            last = std::stoul(a.layers.substr(dots + 2), &used);
            if (used != a.layers.size() - dots - 2) throw std::invalid_argument("junk");
        } catch (const std::exception&) {
            throw usage_error("decompose: --layers '" + a.layers + "': expected I..J (1-based, inclusive), e.g. 1..8");
        }
        if (first < 1 || last < first || last > model_layers)
            throw usage_error("decompose: --layers " + a.layers + ": the model has layers 1.." + std::to_string(model_layers));
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const int l = tensors[i].cls.layer;
            in_part[i] = l < 0 ? first == 1 : (static_cast<std::size_t>(l) + 1 >= first && static_cast<std::size_t>(l) + 1 <= last);
            if (!in_part[i]) rank_of[i] = 0;
        }
    }

    // Provenance first: hashing reads the input once more, before anything is written. A part
    // (--layers) hashes only the source files that hold its tensors, so parts on different
    // machines each read their share of a sharded source; `lowrank merge` checks that the parts
    // agree on every file they share and records the union.
    std::set<std::string> part_files;  // empty: every file
    if (!a.layers.empty() && m.safetensors())
        for (std::size_t i = 0; i < tensors.size(); ++i)
            if (in_part[i]) part_files.insert(m.safetensors()->view(tensors[i].name).file);
    json sources = json::array();
    for (const auto& f : m.files())
        if (part_files.empty() || part_files.count(f))
            sources.push_back({{"path", fs::absolute(f).string()}, {"bytes", fs::file_size(f)}, {"sha256", sha256_file(f)}});

    // Work list: decomposed weights, plus (factorised output of a GGUF) tensors to dequantise.
    std::vector<std::size_t> task_of(tensors.size(), SIZE_MAX), tensor_of;
    for (std::size_t i = 0; i < tensors.size(); ++i)
        if (in_part[i] && (rank_of[i] > 0 || (!a.fold && gguf))) {
            task_of[i] = tensor_of.size();
            tensor_of.push_back(i);
        }
    // --max-memory: every task's estimated peak, checked against the budget before anything runs.
    cli::pool_budget budget;
    if (!a.max_memory.empty()) {
        try {
            budget.bytes = cli::parse_byte_size(a.max_memory);
        } catch (const lowrank::invalid_argument& e) {
            throw usage_error(std::string("decompose: --max-memory ") + e.what());
        }
        const model::factor_method effective =
            algorithm != model::factor_method::automatic ? algorithm : model::find_method(method)->method;
        std::vector<std::uint64_t> cost(tensor_of.size());
        for (std::size_t k = 0; k < tensor_of.size(); ++k) {
            const tensor_entry& t = tensors[tensor_of[k]];
            const std::size_t r = rank_of[tensor_of[k]];
            cost[k] = r > 0 ? model::factorise_peak_bytes(t.shape[0], t.shape[1], r, effective) : 4 * numel(t.shape);
            if (cost[k] > budget.bytes)
                throw usage_error("decompose: --max-memory " + a.max_memory + ": tensor " + t.name + " (" +
                                  to_string(t.shape) + ", rank " + std::to_string(r) + ") alone needs an estimated " +
                                  std::to_string(cost[k]) + " bytes");
        }
        budget.cost = [cost](std::size_t k) { return cost[k]; };
    }
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const unsigned threads = std::max(1u, std::min<unsigned>(a.threads ? a.threads : hw, std::max<std::size_t>(1, tensor_of.size())));

    const cli::interrupt_scope interrupts;  // SIGINT/SIGTERM: stop, write nothing

    cli::progress bar("decompose", tensor_of.size(), a.quiet);
    std::mutex gpu_mutex;  // --device cuda: guards the shared (not thread-safe) device context
    (void)gpu_mutex;
    cli::ordered_pool<task_result> pool(
        tensor_of.size(), threads, threads + 2,
        [&](std::size_t k) {
            if (cli::interrupt_scope::requested()) throw interrupted_error("interrupted");
            const std::size_t i = tensor_of[k];
            const tensor_entry& t = tensors[i];
#ifdef LOWRANK_CLI_CUDA
            if (dev.cuda)  // one device context shared by the workers, one factorisation at a time
                return decompose_tensor(m, t, rank_of[i], method, algorithm, a.fold, [&](auto&& f) {
                    std::lock_guard lock(gpu_mutex);
                    return f(*dev.cuda);
                });
#endif
            // One backend context per worker thread (the pool's threads live for this run only).
            thread_local std::unique_ptr<xtensor_backend::context> ctx;
            if (!ctx)
                ctx = threads > 1 ? std::make_unique<xtensor_backend::context>(1) : std::make_unique<xtensor_backend::context>();
            return decompose_tensor(m, t, rank_of[i], method, algorithm, a.fold, [&](auto&& f) { return f(*ctx); });
        },
        {}, budget);
    auto take = [&](std::size_t i) {
        task_result r = pool.take(task_of[i]);
        if (cli::interrupt_scope::requested()) throw interrupted_error("interrupted (no output written)");
        bar.step(tensors[i].name);
        return r;
    };

    cli::decompose::manifest man;
    const factor_form form = p.gamma.method;
    man.extra["gamma"] = design::to_json(p.arch, p.gamma, 1);
    man.extra["gamma_id"] = p.id;
    man.extra["plan"] = rec ? json{{"recipe", fs::absolute(a.recipe).string()}, {"id", p.plan_id}}
                            : json{{"path", fs::absolute(a.plan).string()}, {"id", p.plan_id}};
    {  // the recipe that reproduces this output (saved beside it and in the manifest)
        std::vector<std::pair<std::string, std::uint64_t>> ranks;
        for (std::size_t i = 0; i < tensors.size(); ++i)  // the whole γ's recipe, also for a --layers part
            if (plan_rank_of[i] > 0)
                ranks.push_back({model::hf_module_name(tensors[i].name, m.family()),
                                 plan_rank_of[i]});
        json r = rec ? design::to_json(*rec) : cli::recipe_of_output(method, ranks, nullptr);
        r["method"] = method;
        r["source"] = {{"path", fs::absolute(a.model).string()}, {"format", gguf ? "gguf" : "safetensors"}};
        man.extra["recipe"] = r;
    }
    man.extra["architecture"] = p.arch.name;
    man.extra["method"] = method;
    if (!a.svd_method.empty()) man.extra["svd_method"] = a.svd_method;
    man.extra["form"] = to_string(form);
    man.extra["source"] = {{"path", fs::absolute(a.model).string()}, {"format", gguf ? "gguf" : "safetensors"},
                           {"files", sources}, {"sha256", m.files().size() == 1 ? sources[0]["sha256"] : json(nullptr)}};
    man.extra["layout"] = gguf ? "hugging_face (GGUF q/k rows un-permuted)" : "as stored (Hugging Face)";
    man.extra["threads"] = threads;
    man.extra["device"] = dev.info;
    if (!a.layers.empty()) man.extra["shard"] = {{"layers", {first, last}}, {"model_layers", model_layers}};
    if (budget.bytes) man.extra["max_memory"] = budget.bytes;
    const cli::decompose::job job{m, rank_of, take, out, t0, in_part};
    if (!a.fold) cli::decompose::write_factorized(job, form, man);
    else if (gguf) cli::decompose::write_gguf_folded(job, a.fold_dtype, man);
    else cli::decompose::write_safetensors_folded(job, dir_out, p.id, method, man);
    pool.stop();

    std::printf("%s: %zu of %zu tensors decomposed (%s, %s form), %u threads\n", a.model.c_str(), man.decomposed,
                tensors.size(), method.c_str(), to_string(form), threads);
    std::printf("gamma %s (plan %s)\n", p.id.c_str(), p.plan_id.c_str());
    std::printf("device: %s\n", dev.label.c_str());
    std::printf("parameters: %llu -> %llu (%.2f%% reduction)\n", static_cast<unsigned long long>(man.before),
                static_cast<unsigned long long>(man.after), 100.0 * man.reduction());
    if (man.decomposed)
        std::printf("relative error per tensor: min %.4g, mean %.4g, max %.4g\n", man.err_min, man.err_mean(), man.err_max);
    std::printf("seconds: %.2f\n", man.extra["seconds"].get<double>());
    if (budget.bytes)
        std::printf("memory budget: %.3g GB; most held at once (estimates of admitted, unwritten tensors): %.3g GB\n",
                    budget.bytes / 1e9, pool.peak_held_bytes() / 1e9);
    const std::string man_path = cli::decompose::manifest_path(out, dir_out);
    const std::string recipe_path = dir_out ? (fs::path(out) / "lowrank_recipe.json").string()
                                            : man_path.substr(0, man_path.size() - std::string(".manifest.json").size()) + ".recipe.json";
    write_file_atomically(recipe_path, man.extra["recipe"].dump(2) + "\n");
    std::printf("wrote %s and %s (recipe: %s)\n", out.c_str(), man_path.c_str(), recipe_path.c_str());
    return 0;
}

const lowrank::cli::registrar reg("decompose", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("decompose", "Apply a configuration gamma to a model's weights (factorised or folded output)");
    auto a = std::make_shared<decompose_args>();
    sub->add_option("MODEL", a->model, ".gguf, .safetensors, index .json, or a Hugging Face model directory")->required();
    sub->add_option("--plan", a->plan, "gamma JSON (from `lowrank plan`)");
    sub->add_option("--recipe", a->recipe, "recipe JSON (targets/ignore regexes over module names, method, rank or keep_ratio; "
                                           "docs/interop.md) instead of --plan");
    sub->add_option("--method", a->method, "svd, tucker2 or hooi (default: the plan's method)")
        ->check(CLI::IsMember(model::method_names()));
    sub->add_option("--out", a->out, "output file (directory for --fold of a HF directory)");
    sub->add_flag("--fold", a->fold, "write the dense reconstruction in the input's own format");
    sub->add_option("--fold-dtype", a->fold_dtype, "GGUF --fold: type of reconstructed tensors, f32 (default) or f16")
        ->check(CLI::IsMember({"f32", "f16"}));
    sub->add_option("--layers", a->layers, "I..J: write only blocks I..J (1-based; with I = 1 also the tensors outside "
                                           "the blocks) as a part for `lowrank merge`");
    sub->add_option("--threads", a->threads, "worker threads (default: all cores; with --device cuda they read/dequantise while the GPU factorises)");
    lowrank::cli::add_device_option(sub, a->device);
    sub->add_option("--svd-method", a->svd_method, "svd method: the truncated SVD's algorithm, exact (gesdd, default), "
                                                   "gram or randomized (far faster at small ranks; error measured, "
                                                   "no Eckart-Young optimum)")
        ->check(CLI::IsMember({"exact", "gram", "randomized"}));
    sub->add_option("--max-memory", a->max_memory, "bound the working memory whatever --threads is: BYTES, or with "
                                                   "KB/MB/GB/KiB/MiB/GiB (tensors admitted in order against their "
                                                   "estimated peak; docs/scale.md)");
    sub->add_flag("--allow-no-savings", a->allow_no_savings, "accept ranks past the break-even rank (e.g. full rank)");
    sub->add_flag("--quiet", a->quiet, "no progress bar");
    sub->callback([a, exit_code] {
        try {
            *exit_code = run(*a);
        } catch (const interrupted_error& e) {
            std::cerr << "lowrank decompose: " << e.what() << "\n";
            *exit_code = 130;
        }
    });
});

}  // namespace cmd_decompose

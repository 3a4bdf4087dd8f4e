// `lowrank decompose MODEL --plan gamma.json [--method svd|tucker2|hooi] [--out OUT] [--fold]
//                    [--fold-dtype f32|f16] [--threads N] [--device cpu|cuda]
//                    [--allow-no-savings] [--quiet]`
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
// Default: γ's own method. Tensors are decomposed by a pool of --threads workers (each with its
// own backend context; OpenBLAS is set to one thread when there are several workers) and written
// in file order as they complete, at most threads + 2 results in memory at once. Output is
// atomic (temp file + rename); SIGINT/SIGTERM cancel cleanly and leave nothing under OUT.
//
// --device cuda (cli/device.hpp): the same library calls run through cuda_backend on one device
// context. The --threads workers still read and dequantise tensors on the CPU; each then takes
// the GPU in turn (a mutex) to upload, factorise and download, so dequantisation overlaps the
// GPU work. Weights are far larger than the 32×32 limit of the batched gesvdj helper, so every
// weight is one truncated_svd / tucker2 call. The manifest records the device ("device").
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/device.hpp"
#include "cli/ordered_pool.hpp"
#include "cli/progress.hpp"

#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/design/gamma_json.hpp"
#include "lowrank/io/atomic_file.hpp"
#include "lowrank/io/checksum.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/io/gguf_writer.hpp"
#include "lowrank/model/factorise.hpp"
#include "lowrank/model/plan.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace lowrank;
using json = nlohmann::json;
using cli::usage_error;
using model::model_source;
using model::tensor_entry;

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted.store(true); }

struct interrupted_error : lowrank::error {
    using error::error;
};

struct decompose_args {
    std::string model, plan, method, out, fold_dtype = "f32", device = "cpu";
    bool fold = false, allow_no_savings = false, quiet = false;
    unsigned threads = 0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// --plan read for the model (lowrank/model/plan.hpp), with decompose's own refusals: a plan
/// that decomposes nothing, and ranks past the break-even rank unless --allow-no-savings.
model::model_plan load_plan(const decompose_args& a, const model_source& m) {
    std::ifstream in(a.plan);
    if (!in) throw usage_error("decompose: --plan: cannot open '" + a.plan + "'");
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw usage_error("decompose: --plan '" + a.plan + "': not valid JSON: " + e.what());
    }
    std::optional<factor_form> form;
    if (!a.method.empty()) form = a.method == "svd" ? factor_form::svd : factor_form::tucker2;
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

struct task_result {
    std::vector<float> a, core, b;  // factorised: u, core, v; fold or dense: a = the dense tensor
    json info = json::object();
};

/// Factorises one weight w (rows × cols, float32, host) at `rank` on the backend of ctx with the
/// library's factorise_weight (the same call on every device: upload, compute, download).
/// `load_seconds` is the time already spent reading/dequantising w; the record's "seconds" is
/// load + factorisation.
template <class Ctx>
task_result factorise_tensor(Ctx& ctx, const tensor_entry& t, std::size_t rank, std::vector<float> w,
                             const std::string& method, bool fold, double load_seconds) {
    using B = backend_of<Ctx>;
    const auto start = std::chrono::steady_clock::now();
    auto W = B::template upload<float>(ctx, w.data(), {t.shape[0], t.shape[1]});
    w = {};
    model::factorise_options opt;
    opt.form = method == "svd" ? factor_form::svd : factor_form::tucker2;
    opt.method = method == "svd" ? model::factor_method::exact
               : method == "hooi" ? model::factor_method::hooi : model::factor_method::hosvd;
    const auto f = model::factorise_weight(ctx, W, rank, opt);
    if (f.status != status::ok)
        throw backend_error(t.name + ": " + (method == "svd" ? std::string("SVD") : method) + " failed (" +
                            to_string(f.status) + ")");
    task_result res;
    if (fold) {
        res.a = cli::to_host(ctx, model::reconstruct(ctx, f));
    } else {
        res.a = cli::to_host(ctx, f.u);
        if (f.core) res.core = cli::to_host(ctx, *f.core);
        res.b = cli::to_host(ctx, f.v);
    }
    if (method == "hooi") res.info["iterations"] = f.iterations, res.info["converged"] = f.converged;
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
/// the backend `with_ctx` provides (rank 0: an untouched GGUF tensor, only dequantised). For the
/// GPU, `with_ctx` serialises the factorisations on the one device context while the other
/// worker threads keep dequantising (a two-stage pipeline).
template <class WithCtx>
task_result decompose_tensor(const model_source& m, const tensor_entry& t, std::size_t rank, const std::string& method,
                             bool fold, WithCtx&& with_ctx) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<float> w = m.load_f32(t.name);
    if (rank == 0) {
        task_result res;
        res.a = std::move(w);
        return res;
    }
    const double load_seconds = cli::seconds_since(start);
    return with_ctx([&](auto& ctx) { return factorise_tensor(ctx, t, rank, std::move(w), method, fold, load_seconds); });
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

std::string default_out(const decompose_args& a, const model_source& m) {
    std::string stem = fs::path(a.model).filename().string();
    if (stem.empty() || stem == ".") stem = fs::path(a.model).parent_path().filename().string();
    for (const char* ext : {".gguf", ".safetensors", ".json"})
        if (ends_with(stem, ext)) stem.resize(stem.size() - std::string(ext).size());
    if (!a.fold) return stem + ".lowrank.safetensors";
    if (m.format() == model::source_format::gguf) return stem + ".lowrank-folded.gguf";
    return m.is_directory() ? stem + "-lowrank-folded" : stem + ".lowrank-folded.safetensors";
}

std::string manifest_path(const std::string& out, bool is_dir) {
    if (is_dir) return (fs::path(out) / "lowrank_manifest.json").string();
    std::string s = out;
    for (const char* ext : {".safetensors", ".gguf"})
        if (ends_with(s, ext)) s.resize(s.size() - std::string(ext).size());
    return s + ".manifest.json";
}

void refuse_overwriting_input(const std::string& out, const model_source& m) {
    std::error_code ec;
    const fs::path o = fs::weakly_canonical(fs::absolute(out), ec);
    auto same = [&](const fs::path& p) {
        std::error_code e2;
        return fs::weakly_canonical(fs::absolute(p), e2) == o || (fs::exists(out, e2) && fs::equivalent(out, p, e2));
    };
    std::vector<fs::path> inputs(m.files().begin(), m.files().end());
    inputs.push_back(m.path());
    if (m.is_directory())
        for (const auto& e : fs::directory_iterator(m.path())) inputs.push_back(e.path());
    for (const auto& p : inputs)
        if (same(p)) throw usage_error("decompose: --out " + out + " is the input " + p.string() + "; refusing to overwrite it");
}

int run(const decompose_args& a) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!a.method.empty() && a.method != "svd" && a.method != "tucker2" && a.method != "hooi")
        throw usage_error("decompose: --method must be svd, tucker2 or hooi");
    cli::device_selection dev = cli::select_device(a.device);  // before anything is read or written
    std::error_code ec;
    if (!fs::exists(a.model, ec)) throw usage_error("decompose: " + a.model + ": no such file or directory");
    const model_source m = model_source::open(a.model);
    if (m.format() == model::source_format::factorized)
        throw usage_error("decompose: " + a.model + " is a lowrank factorised file; decompose its source model instead");
    const model::model_plan p = load_plan(a, m);
    const std::string method = a.method.empty() ? to_string(p.gamma.method) : a.method;
    const std::string out = a.out.empty() ? default_out(a, m) : a.out;
    const bool dir_out = a.fold && m.is_directory();
    const bool gguf = m.format() == model::source_format::gguf;
    refuse_overwriting_input(out, m);
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

    // Provenance first: hashing reads the input once more, before anything is written.
    json sources = json::array();
    for (const auto& f : m.files())
        sources.push_back({{"path", fs::absolute(f).string()}, {"bytes", fs::file_size(f)}, {"sha256", sha256_file(f)}});

    // Work list: decomposed weights, plus (factorised output of a GGUF) tensors to dequantise.
    std::vector<std::size_t> task_of(tensors.size(), SIZE_MAX), tensor_of;
    for (std::size_t i = 0; i < tensors.size(); ++i)
        if (rank_of[i] > 0 || (!a.fold && gguf)) {
            task_of[i] = tensor_of.size();
            tensor_of.push_back(i);
        }
    std::size_t n_decomposed = 0;
    for (auto r : rank_of) n_decomposed += r > 0;

    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const unsigned threads = std::max(1u, std::min<unsigned>(a.threads ? a.threads : hw, std::max<std::size_t>(1, tensor_of.size())));

    g_interrupted = false;
    auto old_int = std::signal(SIGINT, on_signal);
    auto old_term = std::signal(SIGTERM, on_signal);
    struct restore {
        decltype(old_int) i, t;
        ~restore() {
            std::signal(SIGINT, i);
            std::signal(SIGTERM, t);
        }
    } restore_signals{old_int, old_term};

    cli::progress bar("decompose", tensor_of.size(), a.quiet);
    std::mutex gpu_mutex;  // --device cuda: guards the shared (not thread-safe) device context
    (void)gpu_mutex;
    cli::ordered_pool<task_result> pool(
        tensor_of.size(), threads, threads + 2,
        [&](std::size_t k) {
            if (g_interrupted) throw interrupted_error("interrupted");
            const std::size_t i = tensor_of[k];
            const tensor_entry& t = tensors[i];
#ifdef LOWRANK_CLI_CUDA
            if (dev.cuda)  // one device context shared by the workers, one factorisation at a time
                return decompose_tensor(m, t, rank_of[i], method, a.fold, [&](auto&& f) {
                    std::lock_guard lock(gpu_mutex);
                    return f(*dev.cuda);
                });
#endif
            // One backend context per worker thread (the pool's threads live for this run only).
            thread_local std::unique_ptr<xtensor_backend::context> ctx;
            if (!ctx)
                ctx = threads > 1 ? std::make_unique<xtensor_backend::context>(1) : std::make_unique<xtensor_backend::context>();
            return decompose_tensor(m, t, rank_of[i], method, a.fold, [&](auto&& f) { return f(*ctx); });
        });
    auto take = [&](std::size_t i) {
        task_result r = pool.take(task_of[i]);
        if (g_interrupted) throw interrupted_error("interrupted (no output written)");
        bar.step(tensors[i].name);
        return r;
    };

    // Per-tensor records for the manifest and the summary.
    json records = json::array();
    std::uint64_t before = 0, after = 0;
    double err_min = INFINITY, err_max = -INFINITY, err_sum = 0;
    auto record = [&](std::size_t i, json info) {
        const tensor_entry& t = tensors[i];
        info["name"] = t.name;
        info["shape"] = t.shape;
        info["dtype"] = t.dtype;
        before += numel(t.shape);
        if (rank_of[i] > 0) {
            after += info["parameters_after"].get<std::uint64_t>();
            const double e = info["rel_error"].is_number() ? info["rel_error"].get<double>() : NAN;
            err_min = std::min(err_min, e), err_max = std::max(err_max, e), err_sum += e;
        } else {
            after += numel(t.shape);
        }
        records.push_back(info);
        return info;
    };

    const factor_form form = p.gamma.method;
    json extra;
    extra["gamma"] = design::to_json(p.arch, p.gamma, 1);
    extra["gamma_id"] = p.id;
    extra["plan"] = {{"path", fs::absolute(a.plan).string()}, {"id", p.plan_id}};
    extra["architecture"] = p.arch.name;
    extra["method"] = method;
    extra["form"] = to_string(form);
    extra["source"] = {{"path", fs::absolute(a.model).string()}, {"format", gguf ? "gguf" : "safetensors"}, {"files", sources},
                       {"sha256", sources.size() == 1 ? sources[0]["sha256"] : json(nullptr)}};
    extra["layout"] = gguf ? "hugging_face (GGUF q/k rows un-permuted)" : "as stored (Hugging Face)";
    extra["threads"] = threads;
    extra["device"] = dev.info;
    auto finish_extra = [&] {
        extra["parameters"] = {{"before", before}, {"after", after},
                               {"reduction", before ? 1.0 - static_cast<double>(after) / static_cast<double>(before) : 0.0}};
        extra["decomposed_tensors"] = n_decomposed;
        extra["rel_error"] = {{"min", cli::json_number(err_min)}, {"max", cli::json_number(err_max)},
                              {"mean", cli::json_number(n_decomposed ? err_sum / static_cast<double>(n_decomposed) : NAN)}};
        extra["seconds"] = cli::seconds_since(t0);
    };

    std::string written = out;
    if (!a.fold) {
        factorized_writer w(out);
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const tensor_entry& t = tensors[i];
            if (rank_of[i] > 0) {
                task_result r = take(i);
                w.add_factored(t.name, t.shape, form, rank_of[i], r.a, r.core, r.b, t.dtype, record(i, r.info));
            } else if (gguf) {
                task_result r = take(i);
                w.add_dense(t.name, safetensors_dtype::F32, t.shape, std::as_bytes(std::span<const float>(r.a)),
                            record(i, json::object()), t.dtype);
            } else {
                const tensor_view v = m.safetensors()->view(t.name);
                w.add_dense(t.name, v.dtype, t.shape, v.bytes, record(i, json::object()));
            }
        }
        extra["output"] = {{"path", fs::absolute(out).string()}, {"kind", "factorized"}, {"format", "safetensors"}};
        finish_extra();
        w.commit(extra);
        json man = w.manifest();
        for (auto it = extra.begin(); it != extra.end(); ++it) man[it.key()] = it.value();
        write_file_atomically(manifest_path(out, false), man.dump(2) + "\n");
    } else if (gguf) {
        const gguf_file& g = *m.gguf();
        const ggml_type ft = a.fold_dtype == "f16" ? ggml_type::f16 : ggml_type::f32;
        std::vector<gguf_write_tensor> ws;
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const gguf_tensor_info& t = g.tensors[i];  // model_source lists GGUF tensors in file order
            if (rank_of[i] == 0) {
                ws.push_back(gguf_copy_tensor(g, t));
                continue;
            }
            gguf_write_tensor w;
            w.name = t.name;
            w.shape = t.shape;
            w.type = ft;
            w.permute_heads = llama_qk_heads(g, t);  // back to the converter's row order
            w.produce = [&, i] {
                task_result r = take(i);
                record(i, r.info);
                return std::move(r.a);
            };
            ws.push_back(std::move(w));
        }
        // Untouched tensors' records (in file order after the write; the manifest lists all).
        write_gguf(out, g.metadata, ws);
        for (std::size_t i = 0; i < tensors.size(); ++i)
            if (rank_of[i] == 0) record(i, json::object());
        extra["output"] = {{"path", fs::absolute(out).string()}, {"kind", "folded"}, {"format", "gguf"},
                           {"reconstructed_type", a.fold_dtype}};
        finish_extra();
        json man = extra;
        man["format"] = "lowrank.decompose.manifest";
        man["tensors"] = records;
        write_file_atomically(manifest_path(out, false), man.dump(2) + "\n");
    } else {
        std::optional<cli::output_dir> dir;
        std::string st_path = out;
        if (dir_out) {
            dir.emplace(out);
            st_path = dir->path("model.safetensors");
        }
        std::vector<safetensors_spec> specs;
        for (const auto& t : tensors) {
            const auto* e = m.safetensors()->find(t.name);
            specs.push_back({t.name, e->dtype, t.shape});
        }
        std::map<std::string, std::string> md = m.safetensors()->metadata();
        if (!md.count("format")) md["format"] = "pt";  // Hugging Face transformers expects it
        md["lowrank.gamma_id"] = p.id;
        md["lowrank.method"] = method;
        safetensors_writer w(st_path, specs, md);
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const tensor_view v = m.safetensors()->view(tensors[i].name);
            if (rank_of[i] == 0) {
                w.write(v.bytes);
                record(i, json::object());
                continue;
            }
            task_result r = take(i);
            w.write(std::span<const std::byte>(from_float(r.a, v.dtype)));
            record(i, r.info);
        }
        w.commit();
        extra["output"] = {{"path", fs::absolute(out).string()}, {"kind", "folded"}, {"format", "safetensors"}};
        finish_extra();
        json man = extra;
        man["format"] = "lowrank.decompose.manifest";
        man["tensors"] = records;
        if (dir) {
            for (const auto& e : fs::directory_iterator(m.directory())) {
                const std::string n = e.path().filename().string();
                if (!e.is_regular_file() || ends_with(n, ".safetensors") || ends_with(n, ".safetensors.index.json") ||
                    n == "lowrank_manifest.json")
                    continue;
                fs::copy_file(e.path(), dir->path(n), fs::copy_options::overwrite_existing);
            }
            dir->write_json("lowrank_manifest.json", man);
            dir->commit();
        } else {
            write_file_atomically(manifest_path(out, false), man.dump(2) + "\n");
        }
    }
    pool.stop();

    std::printf("%s: %zu of %zu tensors decomposed (%s, %s form), %u threads\n", a.model.c_str(), n_decomposed,
                tensors.size(), method.c_str(), to_string(form), threads);
    std::printf("gamma %s (plan %s)\n", p.id.c_str(), p.plan_id.c_str());
    std::printf("device: %s\n", dev.label.c_str());
    std::printf("parameters: %llu -> %llu (%.2f%% reduction)\n", static_cast<unsigned long long>(before),
                static_cast<unsigned long long>(after), 100.0 * extra["parameters"]["reduction"].get<double>());
    if (n_decomposed)
        std::printf("relative error per tensor: min %.4g, mean %.4g, max %.4g\n", err_min,
                    err_sum / static_cast<double>(n_decomposed), err_max);
    std::printf("seconds: %.2f\n", extra["seconds"].get<double>());
    std::printf("wrote %s and %s\n", written.c_str(), manifest_path(out, dir_out).c_str());
    return 0;
}

const lowrank::cli::registrar reg("decompose", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("decompose", "Apply a configuration gamma to a model's weights (factorised or folded output)");
    auto a = std::make_shared<decompose_args>();
    sub->add_option("MODEL", a->model, ".gguf, .safetensors, index .json, or a Hugging Face model directory")->required();
    sub->add_option("--plan", a->plan, "gamma JSON (from `lowrank plan`)")->required();
    sub->add_option("--method", a->method, "svd, tucker2 or hooi (default: the plan's method)")
        ->check(CLI::IsMember({"svd", "tucker2", "hooi"}));
    sub->add_option("--out", a->out, "output file (directory for --fold of a HF directory)");
    sub->add_flag("--fold", a->fold, "write the dense reconstruction in the input's own format");
    sub->add_option("--fold-dtype", a->fold_dtype, "GGUF --fold: type of reconstructed tensors, f32 (default) or f16")
        ->check(CLI::IsMember({"f32", "f16"}));
    sub->add_option("--threads", a->threads, "worker threads (default: all cores; with --device cuda they read/dequantise while the GPU factorises)");
    lowrank::cli::add_device_option(sub, a->device);
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

}  // namespace

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
#include "cli/sha256.hpp"

#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/decomp/matrix_tucker.hpp"
#include "lowrank/design/architecture.hpp"
#include "lowrank/design/gamma_json.hpp"
#include "cli/recipe_plan.hpp"
#include "runtime/hf_names.hpp"
#include "lowrank/io/architecture.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"
#include "lowrank/io/gguf_writer.hpp"
#include "lowrank/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
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

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted.store(true); }

struct interrupted_error : lowrank::error {
    using error::error;
};

struct decompose_args {
    std::string model, plan, recipe, method, out, fold_dtype = "f32", device = "cpu";
    bool fold = false, allow_no_savings = false, quiet = false;
    unsigned threads = 0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---------------------------------------------------------------------------------------------
// The input model
// ---------------------------------------------------------------------------------------------

struct source_tensor {
    std::string name;
    shape_t shape;
    std::string dtype;
    tensor_class cls;
    const gguf_tensor_info* gguf = nullptr;  // GGUF input
    std::size_t rank = 0;                    // > 0: decomposed
};

struct model_source {
    std::string path, format;  // format: "gguf" | "safetensors"
    bool hf_dir = false;
    fs::path dir;              // directory of the input (config.json, tokenizer files)
    std::vector<std::string> files;
    std::optional<gguf_file> gguf;
    std::optional<safetensors_model> st;
    std::optional<json> config;
    lowrank::model_family family = lowrank::model_family::llama;
    std::vector<source_tensor> tensors;
    model_layout layout;

    /// The tensor as float32, C order in its PyTorch shape, Hugging Face row order.
    std::vector<float> load(const source_tensor& t) const {
        if (gguf) return load_tensor(*gguf, *t.gguf, gguf_layout::hugging_face);
        return to_float(st->view(t.name));
    }
};

model_source open_model(const std::string& path) {
    model_source m;
    m.path = path;
    std::error_code ec;
    if (!fs::exists(path, ec)) throw usage_error("decompose: " + path + ": no such file or directory");
    std::vector<std::string> names;
    if (ends_with(path, ".gguf")) {
        m.format = "gguf";
        m.gguf = read_gguf(path);
        m.files = {path};
        m.dir = fs::path(path).parent_path();
        const std::string a = m.gguf->architecture();
        m.family = architecture_from_name(a.empty() ? "(no general.architecture)" : a);
        for (const auto& t : m.gguf->tensors) {
            source_tensor s;
            s.name = t.name;
            for (auto d : t.shape) s.shape.push_back(static_cast<std::size_t>(d));
            s.dtype = std::string(to_string(t.type));
            s.gguf = &t;
            m.tensors.push_back(std::move(s));
            names.push_back(t.name);
        }
    } else {
        m.format = "safetensors";
        m.hf_dir = fs::is_directory(path);
        m.st = safetensors_model::open(path);
        for (const auto* f : m.st->files()) m.files.push_back(f->path());
        m.dir = m.hf_dir ? fs::path(path) : fs::path(path).parent_path();
        // File order (shard by shard, data order) keeps the output streaming through the mmap.
        for (const auto* f : m.st->files())
            for (const auto& e : f->entries()) {
                m.tensors.push_back({e.name, e.shape, std::string(to_string(e.dtype)), {}, nullptr, 0});
                names.push_back(e.name);
            }
        const fs::path config = (m.dir.empty() ? fs::path(".") : m.dir) / "config.json";
        if (fs::exists(config)) {
            std::ifstream in(config);
            try {
                m.config = json::parse(in);
            } catch (const json::exception& e) {
                throw io_error(config.string(), std::string("not valid JSON: ") + e.what());
            }
            m.family = architecture_from_config(*m.config);
        } else {
            m.family = architecture_from_names(names);
        }
    }
    for (auto& t : m.tensors) t.cls = classify_tensor(m.family, t.name);
    m.layout = layout_of(m.family, names);
    return m;
}

/// The design-space architecture described by the file itself (GGUF metadata or config.json).
std::optional<design::architecture> derived_architecture(const model_source& m) {
    try {
        if (m.config) return design::from_hf_config(*m.config);
        if (m.gguf && m.family != lowrank::model_family::bert) {
            const std::string a = m.gguf->architecture();
            auto u = [&](const std::string& k) { return m.gguf->at(a + "." + k).to_int(); };
            json c;
            c["model_type"] = a == "qwen2" ? "qwen2" : "llama";
            c["hidden_size"] = u("embedding_length");
            c["intermediate_size"] = u("feed_forward_length");
            c["num_hidden_layers"] = u("block_count");
            c["num_attention_heads"] = u("attention.head_count");
            c["num_key_value_heads"] = m.gguf->find(a + ".attention.head_count_kv") ? u("attention.head_count_kv")
                                                                                      : u("attention.head_count");
            const auto& emb = m.gguf->tensor("token_embd.weight");
            c["vocab_size"] = emb.shape.at(0);
            c["tie_word_embeddings"] = m.gguf->find_tensor("output.weight") == nullptr;
            return design::from_hf_config(c, a);
        }
    } catch (const lowrank::error&) {
    }
    return std::nullopt;
}

std::string design_role(tensor_role r) {
    std::string s(to_string(r));
    std::replace(s.begin(), s.end(), '_', '-');
    return s;
}

// ---------------------------------------------------------------------------------------------
// γ against the model
// ---------------------------------------------------------------------------------------------

struct plan_info {
    design::architecture arch;
    design::configuration gamma;
    std::string plan_id, id;
    std::string method;  // svd | tucker2 | hooi
};

plan_info load_plan(const decompose_args& a, model_source& m) {
    std::ifstream in(a.plan);
    if (!in) throw usage_error("decompose: --plan: cannot open '" + a.plan + "'");
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw usage_error("decompose: --plan '" + a.plan + "': not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("model") || !j["model"].is_string())
        throw usage_error("decompose: --plan '" + a.plan + "': no \"model\" field (write plans with `lowrank plan`)");
    const std::string model = j["model"].get<std::string>();
    plan_info p;
    bool in_catalog = false;
    for (const auto& c : design::catalog())
        if (c.name == model) p.arch = c, in_catalog = true;
    if (!in_catalog) {
        auto d = derived_architecture(m);
        if (!d)
            throw usage_error("decompose: --plan '" + a.plan + "' is for model '" + model +
                              "', which is not in the catalog, and " + m.path +
                              " has no config.json / GGUF metadata to describe it");
        p.arch = *d;
        p.arch.name = model;
    }
    // The file must be the model the plan was made for: same block count, same weight shapes.
    const bool fam_ok = (p.arch.kind == design::family::bert) == (m.family == lowrank::model_family::bert);
    if (!fam_ok)
        throw usage_error("decompose: --plan is for '" + model + "' (" + design::to_string(p.arch.kind) + " family) but " +
                          m.path + " is a " + std::string(to_string(m.family)) + " model");
    if (p.arch.layers != m.layout.layers)
        throw usage_error("decompose: --plan is for '" + model + "' with " + std::to_string(p.arch.layers) + " layers but " +
                          m.path + " has " + std::to_string(m.layout.layers));
    const auto specs = p.arch.tensors();
    for (const auto& t : m.tensors) {
        if (!t.cls.decomposable()) continue;
        const std::size_t k = p.arch.role_index(design_role(t.cls.role));
        if (t.shape.size() != 2 || t.shape[0] != specs[k].rows || t.shape[1] != specs[k].cols)
            throw usage_error("decompose: --plan is for '" + model + "', whose " + specs[k].role + " weights are " +
                              std::to_string(specs[k].rows) + "×" + std::to_string(specs[k].cols) + ", but " + m.path +
                              " has " + t.name + " of shape " + to_string(t.shape));
    }
    try {
        p.gamma = design::from_json(p.arch, j);
    } catch (const lowrank::error& e) {
        throw usage_error("decompose: --plan '" + a.plan + "': " + e.what());
    }
    p.plan_id = design::stable_id(p.arch, p.gamma);
    p.method = a.method.empty() ? to_string(p.gamma.method) : a.method;
    p.gamma.method = p.method == "svd" ? factor_form::svd : factor_form::tucker2;
    p.id = design::stable_id(p.arch, p.gamma);
    if (p.gamma.decomposes_nothing()) throw usage_error("decompose: --plan '" + a.plan + "' decomposes nothing");
    // Attach ranks to the file's tensors; every γ pair must exist in the file.
    for (const auto& t : p.gamma.ranks) {
        const std::string role = specs[t.tensor].role;
        std::string name;
        for (const auto& [r, n] : m.layout.weights.at(t.layer))
            if (design_role(r) == role) name = n;
        if (name.empty())
            throw usage_error("decompose: --plan decomposes (layer " + std::to_string(t.layer) + ", " + role + ") but " +
                              m.path + " has no such tensor");
        const auto be = break_even_rank(specs[t.tensor].rows, specs[t.tensor].cols, p.gamma.method);
        if (t.rank > be && !a.allow_no_savings)
            throw usage_error("decompose: --plan: rank " + std::to_string(t.rank) + " for (layer " + std::to_string(t.layer) +
                              ", " + role + ") is past the break-even rank " + std::to_string(be) + " of a " +
                              std::to_string(specs[t.tensor].rows) + "×" + std::to_string(specs[t.tensor].cols) + " " +
                              to_string(p.gamma.method) + " factorisation (it would save nothing); pass "
                              "--allow-no-savings to decompose anyway");
        for (auto& s : m.tensors)
            if (s.name == name) s.rank = t.rank;
    }
    return p;
}

// ---------------------------------------------------------------------------------------------
// One tensor's work
// ---------------------------------------------------------------------------------------------

struct task_result {
    std::vector<float> a, core, b;  // factorised: u, core, v; fold or dense: a = the dense tensor
    json info = json::object();
};

double eckart_young(const std::vector<float>& spectrum, std::size_t r) {
    double all = 0, tail = 0;
    for (std::size_t i = 0; i < spectrum.size(); ++i) {
        const double s2 = static_cast<double>(spectrum[i]) * spectrum[i];
        all += s2;
        if (i >= r) tail += s2;
    }
    return all > 0 ? std::sqrt(tail / all) : 0.0;
}

/// Factorises one weight w (rows × cols, float32, host) at t.rank on the backend of ctx: the
/// same library calls on every device (upload, compute, download). `load_seconds` is the time
/// already spent reading/dequantising w; the record's "seconds" is load + factorisation.
template <class Ctx>
task_result factorise_tensor(Ctx& ctx, const source_tensor& t, std::vector<float> w, const std::string& method,
                             bool fold, double load_seconds) {
    using B = backend_of<Ctx>;
    const auto start = std::chrono::steady_clock::now();
    task_result res;
    const std::size_t rows = t.shape[0], cols = t.shape[1], r = t.rank;
    auto W = B::template upload<float>(ctx, w.data(), {rows, cols});
    w = {};
    double rel = 0, ey = 0;
    std::string how;
    if (method == "svd") {
        svd_options o;
        o.trunc = truncation::rank(r);
        auto s = truncated_svd(ctx, W, o);
        if (s.status != status::ok) throw backend_error(t.name + ": SVD failed (" + to_string(s.status) + ")");
        rel = s.rel_error;
        ey = eckart_young(s.spectrum, r);
        B::scale_columns(ctx, rows, r, B::data(s.u), s.s.data());  // U·diag(s)
        if (fold) {
            auto x = B::template empty<float>(ctx, {rows, cols});
            B::gemm(ctx, op::none, op::none, rows, cols, r, 1.f, B::data(s.u), r, B::data(s.vt), cols, 0.f,
                    B::data(x), cols);
            res.a = cli::to_host(ctx, x);
        } else {
            auto v = B::template empty<float>(ctx, {cols, r});
            B::transpose(ctx, r, cols, B::data(s.vt), B::data(v));  // V = Vtᵀ (cols × r)
            res.a = cli::to_host(ctx, s.u);
            res.b = cli::to_host(ctx, v);
        }
        how = "truncated_svd(exact)";
    } else {
        auto d = tucker2(ctx, W, r, method == "hooi" ? matrix_tucker_method::hooi : matrix_tucker_method::hosvd);
        if (d.status != status::ok) throw backend_error(t.name + ": " + method + " failed (" + to_string(d.status) + ")");
        rel = d.rel_error;
        ey = d.spectra.empty() ? std::nan("") : eckart_young(d.spectra[0], r);
        if (fold) {
            auto x = reconstruct(ctx, d.core, d.factors);
            res.a = cli::to_host(ctx, x);
        } else {
            res.a = cli::to_host(ctx, d.factors[0]);
            res.core = cli::to_host(ctx, d.core);
            res.b = cli::to_host(ctx, d.factors[1]);
        }
        how = d.method;
        if (method == "hooi") res.info["iterations"] = d.iterations, res.info["converged"] = d.converged;
    }
    const factor_form form = method == "svd" ? factor_form::svd : factor_form::tucker2;
    res.info["layer"] = t.cls.layer;
    res.info["role"] = std::string(to_string(t.cls.role));
    res.info["rank"] = r;
    res.info["form"] = to_string(form);
    res.info["algorithm"] = how;
    res.info["parameters_before"] = dense_parameters(rows, cols);
    res.info["parameters_after"] = factored_parameters(rows, cols, r, form);
    res.info["rel_error"] = cli::json_number(rel);
    res.info["eckart_young"] = cli::json_number(ey);
    res.info["seconds"] = load_seconds + cli::seconds_since(start);
    return res;
}

/// One work item: read (dequantise) the tensor on the calling CPU thread, then factorise it on
/// the backend `with_ctx` provides. For the GPU, `with_ctx` serialises the factorisations on the
/// one device context while the other worker threads keep dequantising (a two-stage pipeline).
template <class WithCtx>
task_result decompose_tensor(const model_source& m, const source_tensor& t, const std::string& method, bool fold,
                             WithCtx&& with_ctx) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<float> w = m.load(t);
    if (t.rank == 0) {  // untouched GGUF tensor, dequantised for the factorised file
        task_result res;
        res.a = std::move(w);
        return res;
    }
    const double load_seconds = cli::seconds_since(start);
    return with_ctx([&](auto& ctx) { return factorise_tensor(ctx, t, std::move(w), method, fold, load_seconds); });
}

// ---------------------------------------------------------------------------------------------
// Progress on stderr
// ---------------------------------------------------------------------------------------------

class progress {
public:
    progress(std::size_t total, bool quiet) : total_(total), quiet_(quiet), tty_(::isatty(2)), start_(std::chrono::steady_clock::now()) {}
    void step(const std::string& what) {
        ++done_;
        if (quiet_ || total_ == 0) return;
        const int pct = static_cast<int>(100 * done_ / total_);
        if (!tty_ && pct / 10 == last_ / 10 && done_ != total_) return;
        last_ = pct;
        const int width = 30, fill = static_cast<int>(width * done_ / total_);
        std::fprintf(stderr, "%sdecompose [%s%s] %zu/%zu %5.1fs %s%s", tty_ ? "\r\033[K" : "", std::string(fill, '#').c_str(),
                     std::string(width - fill, '.').c_str(), done_, total_, cli::seconds_since(start_),
                     what.substr(0, 40).c_str(), tty_ ? "" : "\n");
        if (tty_ && done_ == total_) std::fputc('\n', stderr);
        std::fflush(stderr);
    }

private:
    std::size_t total_, done_ = 0;
    bool quiet_, tty_;
    int last_ = -100;
    std::chrono::steady_clock::time_point start_;
};

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

void write_text_atomically(const std::string& path, const std::string& text) {
    detail::atomic_writer w(path);
    w.write(text);
    w.commit();
}

std::vector<std::byte> encode(const std::vector<float>& v, safetensors_dtype d) {
    std::vector<std::byte> out(v.size() * dtype_size(d));
    auto put16 = [&](std::size_t i, std::uint16_t h) { std::memcpy(out.data() + 2 * i, &h, 2); };
    switch (d) {
        case safetensors_dtype::F32: std::memcpy(out.data(), v.data(), out.size()); break;
        case safetensors_dtype::F16:
            for (std::size_t i = 0; i < v.size(); ++i) put16(i, detail::float_to_half(v[i]));
            break;
        case safetensors_dtype::BF16:
            for (std::size_t i = 0; i < v.size(); ++i) put16(i, detail::float_to_bf16(v[i]));
            break;
        case safetensors_dtype::F64:
            for (std::size_t i = 0; i < v.size(); ++i) {
                const double x = v[i];
                std::memcpy(out.data() + 8 * i, &x, 8);
            }
            break;
        default: throw invalid_argument("cannot write a reconstructed weight as " + std::string(to_string(d)));
    }
    return out;
}

std::string default_out(const decompose_args& a, const model_source& m) {
    std::string stem = fs::path(a.model).filename().string();
    if (stem.empty() || stem == ".") stem = fs::path(a.model).parent_path().filename().string();
    for (const char* ext : {".gguf", ".safetensors", ".json"})
        if (ends_with(stem, ext)) stem.resize(stem.size() - std::string(ext).size());
    if (!a.fold) return stem + ".lowrank.safetensors";
    if (m.format == "gguf") return stem + ".lowrank-folded.gguf";
    return m.hf_dir ? stem + "-lowrank-folded" : stem + ".lowrank-folded.safetensors";
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
    std::vector<fs::path> inputs(m.files.begin(), m.files.end());
    inputs.push_back(m.path);
    if (m.hf_dir)
        for (const auto& e : fs::directory_iterator(m.path)) inputs.push_back(e.path());
    for (const auto& p : inputs)
        if (same(p)) throw usage_error("decompose: --out " + out + " is the input " + p.string() + "; refusing to overwrite it");
}

/// The model's decomposable weights as recipe modules (Hugging Face module names).
std::vector<cli::recipe_module> recipe_modules(const model_source& m) {
    std::vector<cli::recipe_module> out;
    for (const auto& t : m.tensors)
        if (t.cls.decomposable() && t.shape.size() == 2)
            out.push_back({t.name, runtime::detail::hf_module_name(t.name, std::string(to_string(m.family))),
                           design_role(t.cls.role), static_cast<std::size_t>(t.cls.layer), t.shape[0], t.shape[1]});
    return out;
}

int run(const decompose_args& a0) {
    const auto t0 = std::chrono::steady_clock::now();
    decompose_args a = a0;
    if (a.plan.empty() == a.recipe.empty()) throw usage_error("decompose: give exactly one of --plan and --recipe");
    if (!a.method.empty() && a.method != "svd" && a.method != "tucker2" && a.method != "hooi")
        throw usage_error("decompose: --method must be svd, tucker2 or hooi");
    cli::device_selection dev = cli::select_device(a.device);  // before anything is read or written
    model_source m = open_model(a.model);
    // --recipe: the γ it selects on this model, through a temporary γ file (recipe_plan.hpp).
    std::optional<design::recipe> rec;
    std::optional<cli::temp_text_file> recipe_gamma;
    if (!a.recipe.empty()) {
        rec = cli::read_recipe(a.recipe);
        if (rec->method != "svd" && rec->method != "tucker2" && rec->method != "hooi")
            throw usage_error("decompose: --recipe method '" + rec->method + "' is not svd, tucker2 or hooi");
        if (a.method.empty()) a.method = rec->method;
        const json g = cli::gamma_from_recipe(*rec, recipe_modules(m), fs::path(a.model).stem().string(), a.recipe);
        recipe_gamma.emplace(g.dump(1));
        a.plan = recipe_gamma->path;
    }
    const plan_info p = load_plan(a, m);
    const std::string out = a.out.empty() ? default_out(a, m) : a.out;
    const bool dir_out = a.fold && m.hf_dir;
    refuse_overwriting_input(out, m);
    if (!dir_out && fs::is_directory(out)) throw usage_error("decompose: --out " + out + " is a directory");
    {
        const fs::path parent = fs::absolute(out).parent_path();
        if (!fs::is_directory(parent)) throw usage_error("decompose: --out " + out + ": parent directory does not exist");
    }

    // Provenance first: hashing reads the input once more, before anything is written.
    json sources = json::array();
    for (const auto& f : m.files)
        sources.push_back({{"path", fs::absolute(f).string()}, {"bytes", fs::file_size(f)}, {"sha256", cli::sha256_file(f)}});

    // Work list: decomposed weights, plus (factorised output of a GGUF) tensors to dequantise.
    std::vector<std::size_t> task_of(m.tensors.size(), SIZE_MAX), tensor_of;
    for (std::size_t i = 0; i < m.tensors.size(); ++i)
        if (m.tensors[i].rank > 0 || (!a.fold && m.gguf)) {
            task_of[i] = tensor_of.size();
            tensor_of.push_back(i);
        }
    std::size_t n_decomposed = 0;
    for (const auto& t : m.tensors) n_decomposed += t.rank > 0;

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

    progress bar(tensor_of.size(), a.quiet);
    std::mutex gpu_mutex;  // --device cuda: guards the shared (not thread-safe) device context
    (void)gpu_mutex;
    cli::ordered_pool<task_result> pool(
        tensor_of.size(), threads, threads + 2,
        [&](std::size_t k) {
            if (g_interrupted) throw interrupted_error("interrupted");
            const source_tensor& t = m.tensors[tensor_of[k]];
#ifdef LOWRANK_CLI_CUDA
            if (dev.cuda)  // one device context shared by the workers, one factorisation at a time
                return decompose_tensor(m, t, p.method, a.fold, [&](auto&& f) {
                    std::lock_guard lock(gpu_mutex);
                    return f(*dev.cuda);
                });
#endif
            // One backend context per worker thread (the pool's threads live for this run only).
            thread_local std::unique_ptr<xtensor_backend::context> ctx;
            if (!ctx)
                ctx = threads > 1 ? std::make_unique<xtensor_backend::context>(1) : std::make_unique<xtensor_backend::context>();
            return decompose_tensor(m, t, p.method, a.fold, [&](auto&& f) { return f(*ctx); });
        });
    auto take = [&](std::size_t i) {
        task_result r = pool.take(task_of[i]);
        if (g_interrupted) throw interrupted_error("interrupted (no output written)");
        bar.step(m.tensors[i].name);
        return r;
    };

    // Per-tensor records for the manifest and the summary.
    json records = json::array();
    std::uint64_t before = 0, after = 0;
    double err_min = INFINITY, err_max = -INFINITY, err_sum = 0;
    auto record = [&](const source_tensor& t, json info) {
        info["name"] = t.name;
        info["shape"] = t.shape;
        info["dtype"] = t.dtype;
        before += numel(t.shape);
        if (t.rank > 0) {
            after += info["parameters_after"].get<std::uint64_t>();
            const double e = info["rel_error"].is_number() ? info["rel_error"].get<double>() : NAN;
            err_min = std::min(err_min, e), err_max = std::max(err_max, e), err_sum += e;
        } else {
            after += numel(t.shape);
        }
        records.push_back(info);
        return info;
    };

    const factor_form form = p.method == "svd" ? factor_form::svd : factor_form::tucker2;
    json extra;
    extra["gamma"] = design::to_json(p.arch, p.gamma, 1);
    extra["gamma_id"] = p.id;
    extra["plan"] = rec ? json{{"recipe", fs::absolute(a.recipe).string()}, {"id", p.plan_id}}
                        : json{{"path", fs::absolute(a.plan).string()}, {"id", p.plan_id}};
    {  // the recipe that reproduces this output (saved beside it and in the manifest)
        std::vector<std::pair<std::string, std::uint64_t>> ranks;
        for (const auto& t : m.tensors)
            if (t.rank > 0) ranks.push_back({runtime::detail::hf_module_name(t.name, std::string(to_string(m.family))), t.rank});
        json r = rec ? design::to_json(*rec) : cli::recipe_of_output(p.method, ranks, nullptr);
        r["method"] = p.method;
        r["source"] = {{"path", fs::absolute(a.model).string()}, {"format", m.format}};
        extra["recipe"] = r;
    }
    extra["architecture"] = p.arch.name;
    extra["method"] = p.method;
    extra["form"] = to_string(form);
    extra["source"] = {{"path", fs::absolute(a.model).string()}, {"format", m.format}, {"files", sources},
                       {"sha256", sources.size() == 1 ? sources[0]["sha256"] : json(nullptr)}};
    extra["layout"] = m.gguf ? "hugging_face (GGUF q/k rows un-permuted)" : "as stored (Hugging Face)";
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
        for (std::size_t i = 0; i < m.tensors.size(); ++i) {
            const source_tensor& t = m.tensors[i];
            if (t.rank > 0) {
                task_result r = take(i);
                w.add_factored(t.name, t.shape, form, t.rank, r.a, r.core, r.b, t.dtype, record(t, r.info));
            } else if (m.gguf) {
                task_result r = take(i);
                w.add_dense(t.name, safetensors_dtype::F32, t.shape, std::as_bytes(std::span<const float>(r.a)),
                            record(t, json::object()), t.dtype);
            } else {
                const tensor_view v = m.st->view(t.name);
                w.add_dense(t.name, v.dtype, t.shape, v.bytes, record(t, json::object()));
            }
        }
        extra["output"] = {{"path", fs::absolute(out).string()}, {"kind", "factorized"}, {"format", "safetensors"}};
        finish_extra();
        w.commit(extra);
        json man = w.manifest();
        for (auto it = extra.begin(); it != extra.end(); ++it) man[it.key()] = it.value();
        write_text_atomically(manifest_path(out, false), man.dump(2) + "\n");
    } else if (m.gguf) {
        const ggml_type ft = a.fold_dtype == "f16" ? ggml_type::f16 : ggml_type::f32;
        std::vector<gguf_write_tensor> ws;
        for (std::size_t i = 0; i < m.tensors.size(); ++i) {
            const source_tensor& t = m.tensors[i];
            if (t.rank == 0) {
                ws.push_back(gguf_copy_tensor(*m.gguf, *t.gguf));
                continue;
            }
            gguf_write_tensor w;
            w.name = t.name;
            w.shape = t.gguf->shape;
            w.type = ft;
            w.permute_heads = llama_qk_heads(*m.gguf, *t.gguf);  // back to the converter's row order
            w.produce = [&, i] {
                task_result r = take(i);
                record(m.tensors[i], r.info);
                return std::move(r.a);
            };
            ws.push_back(std::move(w));
        }
        // Untouched tensors' records (in file order after the write; the manifest lists all).
        write_gguf(out, m.gguf->metadata, ws);
        for (const auto& t : m.tensors)
            if (t.rank == 0) record(t, json::object());
        extra["output"] = {{"path", fs::absolute(out).string()}, {"kind", "folded"}, {"format", "gguf"},
                           {"reconstructed_type", a.fold_dtype}};
        finish_extra();
        json man = extra;
        man["format"] = "lowrank.decompose.manifest";
        man["tensors"] = records;
        write_text_atomically(manifest_path(out, false), man.dump(2) + "\n");
    } else {
        std::optional<cli::output_dir> dir;
        std::string st_path = out;
        if (dir_out) {
            dir.emplace(out);
            st_path = dir->path("model.safetensors");
        }
        std::vector<safetensors_spec> specs;
        for (const auto& t : m.tensors) {
            const auto* e = m.st->find(t.name);
            specs.push_back({t.name, e->dtype, t.shape});
        }
        std::map<std::string, std::string> md = m.st->metadata();
        if (!md.count("format")) md["format"] = "pt";  // Hugging Face transformers expects it
        md["lowrank.gamma_id"] = p.id;
        md["lowrank.method"] = p.method;
        safetensors_writer w(st_path, specs, md);
        for (std::size_t i = 0; i < m.tensors.size(); ++i) {
            const source_tensor& t = m.tensors[i];
            const tensor_view v = m.st->view(t.name);
            if (t.rank == 0) {
                w.write(v.bytes);
                record(t, json::object());
                continue;
            }
            task_result r = take(i);
            w.write(std::span<const std::byte>(encode(r.a, v.dtype)));
            record(t, r.info);
        }
        w.commit();
        extra["output"] = {{"path", fs::absolute(out).string()}, {"kind", "folded"}, {"format", "safetensors"}};
        finish_extra();
        json man = extra;
        man["format"] = "lowrank.decompose.manifest";
        man["tensors"] = records;
        if (dir) {
            for (const auto& e : fs::directory_iterator(m.dir)) {
                const std::string n = e.path().filename().string();
                if (!e.is_regular_file() || ends_with(n, ".safetensors") || ends_with(n, ".safetensors.index.json") ||
                    n == "lowrank_manifest.json")
                    continue;
                fs::copy_file(e.path(), dir->path(n), fs::copy_options::overwrite_existing);
            }
            dir->write_json("lowrank_manifest.json", man);
            dir->commit();
        } else {
            write_text_atomically(manifest_path(out, false), man.dump(2) + "\n");
        }
    }
    pool.stop();

    std::printf("%s: %zu of %zu tensors decomposed (%s, %s form), %u threads\n", a.model.c_str(), n_decomposed,
                m.tensors.size(), p.method.c_str(), to_string(form), threads);
    std::printf("gamma %s (plan %s)\n", p.id.c_str(), p.plan_id.c_str());
    std::printf("device: %s\n", dev.label.c_str());
    std::printf("parameters: %llu -> %llu (%.2f%% reduction)\n", static_cast<unsigned long long>(before),
                static_cast<unsigned long long>(after), 100.0 * extra["parameters"]["reduction"].get<double>());
    if (n_decomposed)
        std::printf("relative error per tensor: min %.4g, mean %.4g, max %.4g\n", err_min,
                    err_sum / static_cast<double>(n_decomposed), err_max);
    std::printf("seconds: %.2f\n", extra["seconds"].get<double>());
    const std::string recipe_path = dir_out ? (fs::path(out) / "lowrank_recipe.json").string()
                                            : manifest_path(out, false).substr(0, manifest_path(out, false).size() - 14) + ".recipe.json";
    write_text_atomically(recipe_path, extra["recipe"].dump(2) + "\n");
    std::printf("wrote %s and %s (recipe: %s)\n", written.c_str(), manifest_path(out, dir_out).c_str(), recipe_path.c_str());
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

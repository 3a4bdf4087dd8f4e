// lowrank_peer — the C++ side of the peer comparison (bench/peers/run_peers.py drives it).
//
//   lowrank_peer JOBS.json [OUT.json]
//
// JOBS.json: {"threads": N, "jobs": [ {...}, ... ]}. Each job names a workload; for each one the
// harness loads its inputs (.npy, untimed), runs `warmup` untimed calls, then times
// `repetitions` calls of the library function alone (steady_clock around the call; no file I/O,
// no error computation inside the timed region) and reports per-repetition seconds plus the
// accuracy reached, computed afterwards in double precision. Workloads:
//
//   svd          input, dtype, method (exact|gram|randomized), rank, oversampling,
//                power_iterations, seed, [variant (block_krylov|subspace_iteration),
//                fallback (bool)]                      → rel_error = ‖A − U S Vᵀ‖_F / ‖A‖_F,
//                                                        method run, passes, block
//   tucker       input, dtype, ranks[], method (hooi|sthosvd), iterations, tol
//                                                      → rel_error of the reconstruction
//   mode_product input, matrix, mode, dtype, [output]  → gflops (2·J·∏I / t); output .npy optional
//   gemm         m, n, k, dtype                        → gflops of C = A·B (our backend's gemm)
//   whole_model  inputs[], dtype, method, rank        → seconds for all matrices, rel_errors[]
//   plan         arch, target_reduction, rank, skip_first, skip_last → layers, roles (untimed)
//   export_gguf  gguf, tensors[], out_dir              → dequantised float32 .npy per tensor
//
// Output: {"threads", "blas": {...}, "results": [{"id", "seconds": [...], ...}]}. A job that
// throws reports {"id", "error": message} and the run goes on. This is a driver: it prints.
#include "lowrank/lowrank.hpp"
#include "lowrank/design/architecture.hpp"
#include "lowrank/design/planner.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"
#include "lowrank/io/npy.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

extern "C" char* openblas_get_config(void) __attribute__((weak));
extern "C" char* openblas_get_corename(void) __attribute__((weak));
extern "C" int openblas_get_num_threads(void) __attribute__((weak));
extern "C" int openblas_get_parallel(void) __attribute__((weak));

namespace {

using json = nlohmann::json;
using lowrank::shape_t;
using B = lowrank::xtensor_backend;
using ctx_t = B::context;
template <class T>
using tensor = B::tensor<T>;
using clock_type = std::chrono::steady_clock;

template <class T>
tensor<T> load(const std::string& path) {
    shape_t s;
    std::vector<T> v = lowrank::npy_load_as<T>(path, s, lowrank::npy_convert::to_requested);
    ctx_t ctx;
    return B::upload<T>(ctx, v.data(), s);
}

template <class T>
tensor<double> to_double(const tensor<T>& x) {
    tensor<double> y = tensor<double>::from_shape(x.shape());
    std::copy(x.begin(), x.end(), y.begin());
    return y;
}

/// Times fn() `reps` times after `warmup` untimed calls; returns seconds per call.
template <class F>
std::vector<double> time_calls(int warmup, int reps, F&& fn) {
    for (int i = 0; i < warmup; ++i) fn();
    std::vector<double> out;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = clock_type::now();
        fn();
        out.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    }
    return out;
}

/// ‖A − U·diag(s)·Vt‖_F / ‖A‖_F in double precision.
template <class T>
double svd_residual(ctx_t& ctx, const tensor<T>& a, const lowrank::svd_result<tensor<T>>& r) {
    const tensor<double> ad = to_double(a), ud = to_double(r.u), vd = to_double(r.vt);
    std::vector<double> s(r.s.begin(), r.s.end());
    const double norm = B::nrm2(ctx, ad.size(), ad.data());
    return lowrank::relative_residual(ctx, ad, ud, s, vd, norm);
}

lowrank::svd_method parse_method(const std::string& m) {
    if (m == "exact") return lowrank::svd_method::exact;
    if (m == "gram") return lowrank::svd_method::gram;
    if (m == "randomized") return lowrank::svd_method::randomized;
    throw std::invalid_argument("unknown svd method '" + m + "'");
}

lowrank::svd_options svd_opts(const json& j) {
    lowrank::svd_options o;
    o.trunc = lowrank::truncation::rank(j.at("rank").get<std::size_t>());
    o.method = parse_method(j.value("method", "exact"));
    o.oversampling = j.value("oversampling", std::size_t{10});
    o.power_iterations = j.value("power_iterations", std::size_t{2});
    o.seed = j.value("seed", std::uint64_t{0});
    if (j.value("variant", std::string("block_krylov")) == "subspace_iteration")
        o.variant = lowrank::randomized_variant::subspace_iteration;
    o.randomized_fallback = j.value("fallback", true);
    o.compute_error = false;  // measured afterwards, outside the timed region
    return o;
}

template <class T>
json run_svd(ctx_t& ctx, const json& j) {
    const tensor<T> a = load<T>(j.at("input"));
    const auto opt = svd_opts(j);
    lowrank::svd_result<tensor<T>> res;
    const auto secs = time_calls(j.value("warmup", 0), j.value("repetitions", 1),
                                 [&] { res = lowrank::truncated_svd(ctx, a, opt); });
    json out{{"seconds", secs}, {"rank", res.rank}, {"status", lowrank::to_string(res.status)},
             {"method", lowrank::to_string(res.method)}, {"passes", res.passes}, {"block", res.block}};
    out["rel_error"] = svd_residual(ctx, a, res);
    return out;
}

template <class T>
json run_tucker(ctx_t& ctx, const json& j) {
    const tensor<T> x = load<T>(j.at("input"));
    const std::string method = j.value("method", "hooi");
    const auto ranks = j.at("ranks").get<std::vector<std::size_t>>();
    lowrank::tucker_result<tensor<T>> res;
    std::function<void()> fn;
    if (method == "hooi") {
        lowrank::hooi_options<tensor<T>> o;
        o.trunc = lowrank::truncation::ranks(ranks);
        o.max_iterations = j.value("iterations", std::size_t{5});
        o.tol = j.value("tol", 0.0);
        o.compute_error = false;
        fn = [&, o] { res = lowrank::hooi(ctx, x, o); };
    } else if (method == "sthosvd") {
        lowrank::hosvd_options o;
        o.trunc = lowrank::truncation::ranks(ranks);
        o.compute_error = false;
        fn = [&, o] { res = lowrank::st_hosvd(ctx, x, o); };
    } else {
        throw std::invalid_argument("unknown tucker method '" + method + "'");
    }
    const auto secs = time_calls(j.value("warmup", 0), j.value("repetitions", 1), fn);
    // Accuracy in double: reconstruct from the factors and compare with the input.
    std::vector<tensor<double>> fd;
    for (const auto& u : res.factors) fd.push_back(to_double(u));
    const tensor<double> xd = to_double(x), xhat = lowrank::reconstruct(ctx, to_double(res.core), fd);
    const double d = lowrank::frobenius_distance(ctx, xd, xhat), nx = lowrank::frobenius_norm(ctx, xd);
    return json{{"seconds", secs},
                {"rel_error", nx > 0 ? d / nx : 0.0},
                {"iterations", res.iterations},
                {"status", lowrank::to_string(res.status)}};
}

template <class T>
json run_mode_product(ctx_t& ctx, const json& j) {
    const tensor<T> x = load<T>(j.at("input"));
    const tensor<T> a = load<T>(j.at("matrix"));
    const std::size_t mode = j.at("mode");
    tensor<T> y;
    const auto secs = time_calls(j.value("warmup", 1), j.value("repetitions", 1),
                                 [&] { y = lowrank::mode_product(ctx, x, a, mode); });
    const double flops = 2.0 * static_cast<double>(a.shape()[0]) * static_cast<double>(x.size());
    json out{{"seconds", secs}, {"flops", flops}};
    if (j.contains("output")) lowrank::npy_save<T>(j.at("output"), y.data(), B::shape(y));
    return out;
}

template <class T>
json run_gemm(ctx_t& ctx, const json& j) {
    const std::size_t m = j.at("m"), n = j.at("n"), k = j.at("k");
    std::mt19937_64 gen(1);
    std::normal_distribution<double> nd;
    tensor<T> a = B::empty<T>(ctx, {m, k}), b = B::empty<T>(ctx, {k, n}), c = B::empty<T>(ctx, {m, n});
    for (auto& v : a) v = static_cast<T>(nd(gen));
    for (auto& v : b) v = static_cast<T>(nd(gen));
    const auto secs = time_calls(j.value("warmup", 1), j.value("repetitions", 3), [&] {
        B::gemm(ctx, lowrank::op::none, lowrank::op::none, m, n, k, T(1), a.data(), k, b.data(), n, T(0), c.data(), n);
    });
    return json{{"seconds", secs}, {"flops", 2.0 * double(m) * double(n) * double(k)}};
}

template <class T>
json run_whole_model(ctx_t& ctx, const json& j) {
    std::vector<tensor<T>> ws;
    for (const auto& p : j.at("inputs")) ws.push_back(load<T>(p.get<std::string>()));
    const auto opt = svd_opts(j);
    std::vector<lowrank::svd_result<tensor<T>>> res(ws.size());
    const auto secs = time_calls(j.value("warmup", 0), j.value("repetitions", 1), [&] {
        for (std::size_t i = 0; i < ws.size(); ++i) res[i] = lowrank::truncated_svd(ctx, ws[i], opt);
    });
    std::vector<double> errs;
    for (std::size_t i = 0; i < ws.size(); ++i) errs.push_back(svd_residual(ctx, ws[i], res[i]));
    return json{{"seconds", secs}, {"rel_errors", errs}, {"matrices", ws.size()}};
}

json run_plan(const json& j) {
    const auto& arch = lowrank::design::find_architecture(j.at("arch"));
    lowrank::design::pruning_options o;
    o.rank = j.value("rank", std::uint64_t{1});
    o.skip_first = j.value("skip_first", std::uint64_t{2});
    o.skip_last = j.value("skip_last", std::uint64_t{0});
    const auto p = lowrank::design::plan(arch, j.at("target_reduction").get<double>(), o);
    std::vector<std::string> roles;
    const auto specs = arch.tensors();
    for (auto k : p.gamma.tensors) roles.push_back(specs[k].role_name());
    return json{{"layers", p.gamma.layers}, {"roles", roles}, {"rank", o.rank}};
}

json run_export_gguf(const json& j) {
    const auto f = lowrank::read_gguf(j.at("gguf"));
    const std::filesystem::path dir = j.at("out_dir").get<std::string>();
    std::filesystem::create_directories(dir);
    json shapes = json::object();
    for (const auto& name : j.at("tensors")) {
        const auto& info = f.tensor(name.get<std::string>());
        const std::vector<float> w = lowrank::load_tensor(f, info, lowrank::gguf_layout::hugging_face);
        const shape_t s(info.shape.begin(), info.shape.end());
        lowrank::npy_save<float>((dir / (name.get<std::string>() + ".npy")).string(), w, s);
        shapes[name.get<std::string>()] = s;
    }
    return json{{"shapes", shapes}};
}

json run_job(ctx_t& ctx, const json& j) {
    const std::string w = j.at("workload");
    const bool f64 = j.value("dtype", "float32") == "float64";
    if (w == "plan") return run_plan(j);
    if (w == "export_gguf") return run_export_gguf(j);
    if (w == "svd") return f64 ? run_svd<double>(ctx, j) : run_svd<float>(ctx, j);
    if (w == "tucker") return f64 ? run_tucker<double>(ctx, j) : run_tucker<float>(ctx, j);
    if (w == "mode_product") return f64 ? run_mode_product<double>(ctx, j) : run_mode_product<float>(ctx, j);
    if (w == "gemm") return f64 ? run_gemm<double>(ctx, j) : run_gemm<float>(ctx, j);
    if (w == "whole_model") return f64 ? run_whole_model<double>(ctx, j) : run_whole_model<float>(ctx, j);
    throw std::invalid_argument("unknown workload '" + w + "'");
}

json blas_info() {
    json b = json::object();
    if (openblas_get_config) b["config"] = openblas_get_config();
    if (openblas_get_corename) b["corename"] = openblas_get_corename();
    if (openblas_get_num_threads) b["num_threads"] = openblas_get_num_threads();
    if (openblas_get_parallel) b["parallel"] = openblas_get_parallel();  // 0 serial, 1 pthreads, 2 OpenMP
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s JOBS.json [OUT.json]\n", argv[0]);
        return 2;
    }
    json spec;
    try {
        std::ifstream in(argv[1]);
        if (!in) throw std::runtime_error(std::string("cannot open ") + argv[1]);
        spec = json::parse(in);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lowrank_peer: %s\n", e.what());
        return 2;
    }
    ctx_t ctx(spec.value("threads", 0));
    json out{{"threads", spec.value("threads", 0)}, {"blas", blas_info()}, {"results", json::array()}};
    int failures = 0;
    for (const auto& job : spec.at("jobs")) {
        json r;
        try {
            r = run_job(ctx, job);
        } catch (const std::exception& e) {
            r = json{{"error", e.what()}};
            ++failures;
        }
        r["id"] = job.value("id", "");
        out["results"].push_back(r);
    }
    const std::string text = out.dump(1);
    if (argc == 3) {
        std::ofstream(argv[2]) << text << '\n';
    } else {
        std::cout << text << '\n';
    }
    return failures ? 1 : 0;
}

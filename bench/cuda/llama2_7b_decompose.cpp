// Whole-model decomposition time of a Llama-2-7B-shaped model on the GPU, with random weights
// of the real shapes generated ON THE DEVICE (cuRAND, no host round trip), one weight at a time:
// 32 layers × {q, k, v, o: 4096×4096; gate, up: 11008×4096; down: 4096×11008} = 224 matrices.
//
// Each weight gets the per-tensor work of `lowrank decompose --device cuda` (factorised output):
// the same library call, lowrank::model::factorise_weight through cuda_backend (U·diag(s) and V
// formed on the device), and the factors downloaded to the host (--no-download skips that).
// Every weight is a distinct N(0, 0.02²) matrix (seed = its index), so no solver sees the same
// input twice. Timing per weight ends with a stream synchronisation (device time + downloads);
// generation time is measured separately and excluded from "decompose_seconds".
//
//   llama2_7b_decompose [--method exact|gram|randomized|tucker2|hooi] [--rank R] [--layers N]
//                       [--no-download] [--json FILE]
//
// Prints one line per layer and a summary; --json writes every per-weight record plus the
// device (name, compute capability, driver/runtime versions). With no CUDA device it prints
// "no CUDA device: <reason>" and exits 2. Nothing here asserts a time.
#include "lowrank/cuda/cuda_backend.hpp"
#include "lowrank/model/factorise.hpp"

#include <curand.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace lowrank;
using cb = cuda_backend;
using clk = std::chrono::steady_clock;

double since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

#define BENCH_CURAND_CHECK(call)                                                                 \
    do {                                                                                         \
        const curandStatus_t st_ = (call);                                                       \
        if (st_ != CURAND_STATUS_SUCCESS)                                                        \
            throw backend_error(std::string(#call) + " failed: curandStatus " + std::to_string(st_)); \
    } while (0)

/// A cuRAND generator bound to the context's stream.
class device_rng {
public:
    explicit device_rng(cb::context& ctx) {
        BENCH_CURAND_CHECK(curandCreateGenerator(&g_, CURAND_RNG_PSEUDO_PHILOX4_32_10));
        BENCH_CURAND_CHECK(curandSetStream(g_, ctx.stream()));
    }
    device_rng(const device_rng&) = delete;
    device_rng& operator=(const device_rng&) = delete;
    ~device_rng() { (void)curandDestroyGenerator(g_); }

    /// rows×cols N(0, sd²) float matrix, generated on the device from `seed`.
    cuda::device_tensor<float> normal(cb::context& ctx, std::size_t rows, std::size_t cols, unsigned long long seed,
                                      float sd) {
        const std::size_t n = rows * cols;
        auto t = cb::empty<float>(ctx, {n + (n % 2)});  // curandGenerateNormal needs an even count
        BENCH_CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(g_, seed));
        BENCH_CURAND_CHECK(curandSetGeneratorOffset(g_, 0));
        BENCH_CURAND_CHECK(curandGenerateNormal(g_, t.data(), t.size(), 0.f, sd));
        if (n % 2) {  // drop the padding element
            auto exact = cb::empty<float>(ctx, {rows, cols});
            cb::copy(ctx, n, t.data(), exact.data());
            return exact;
        }
        t.reshape({rows, cols});
        return t;
    }

private:
    curandGenerator_t g_ = nullptr;
};

struct weight_shape {
    const char* role;
    std::size_t rows, cols;
};

const std::vector<weight_shape> llama2_7b_layer = {{"q", 4096, 4096},     {"k", 4096, 4096},  {"v", 4096, 4096},
                                                   {"o", 4096, 4096},     {"gate", 11008, 4096},
                                                   {"up", 11008, 4096},   {"down", 4096, 11008}};

struct options {
    std::string method = "randomized", json_path;
    std::size_t rank = 256, layers = 32;
    bool download = true;
};

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "llama2_7b_decompose: " << why
              << "\nusage: llama2_7b_decompose [--method exact|gram|randomized|tucker2|hooi] [--rank R] [--layers N]"
                 " [--no-download] [--json FILE]\n";
    std::exit(64);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--method") o.method = value();
        else if (a == "--rank") o.rank = std::stoul(value());
        else if (a == "--layers") o.layers = std::stoul(value());
        else if (a == "--json") o.json_path = value();
        else if (a == "--no-download") o.download = false;
        else usage("unknown argument " + a);
    }
    static const std::vector<std::string> methods = {"exact", "gram", "randomized", "tucker2", "hooi"};
    if (std::find(methods.begin(), methods.end(), o.method) == methods.end()) usage("unknown --method " + o.method);
    if (o.rank == 0 || o.rank > 4096) usage("--rank must be in 1..4096");
    if (o.layers == 0 || o.layers > 32) usage("--layers must be in 1..32");
    return o;
}

/// The per-tensor work of `lowrank decompose --device cuda` (factorised output): the library's
/// factorise_weight. Returns the relative reconstruction error it reports.
double decompose_one(cb::context& ctx, const cuda::device_tensor<float>& w, const options& o) {
    using model::factor_method;
    const bool tucker = o.method == "tucker2" || o.method == "hooi";
    const factor_method m = o.method == "exact" ? factor_method::exact : o.method == "gram" ? factor_method::gram
                          : o.method == "randomized" ? factor_method::randomized
                          : o.method == "hooi" ? factor_method::hooi : factor_method::hosvd;
    const auto f = model::factorise_weight(ctx, w, o.rank, tucker ? factor_form::tucker2 : factor_form::svd, m);
    if (f.status != status::ok) throw backend_error(f.algorithm + " failed: " + to_string(f.status));
    if (o.download) {
        (void)f.u.to_host();
        if (f.core) (void)f.core->to_host();
        (void)f.v.to_host();
    }
    ctx.synchronize();
    return f.rel_error;
}

std::string version(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

}  // namespace

int main(int argc, char** argv) try {
    const options o = parse(argc, argv);
    std::string why;
    if (cuda::device_count(&why) == 0) {
        std::cerr << "no CUDA device: " << why << "\n";
        return 2;
    }
    cudaDeviceProp prop{};
    int driver = 0, runtime = 0;
    LOWRANK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    LOWRANK_CUDA_CHECK(cudaDriverGetVersion(&driver));
    LOWRANK_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    nlohmann::json device = {{"name", std::string(prop.name)},
                             {"compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)},
                             {"memory_bytes", static_cast<std::uint64_t>(prop.totalGlobalMem)},
                             {"driver_version", version(driver)},
                             {"runtime_version", version(runtime)}};
    std::printf("device: %s (cc %d.%d), driver %s, runtime %s\n", prop.name, prop.major, prop.minor,
                version(driver).c_str(), version(runtime).c_str());
    std::printf("Llama-2-7B shapes, %zu layers x 7 weights, method %s, rank %zu, %s\n", o.layers, o.method.c_str(),
                o.rank, o.download ? "factors downloaded" : "factors left on the device");

    cb::context ctx;
    device_rng rng(ctx);
    {  // warm-up: cuBLAS/cuSOLVER handles, workspace growth, first-call library loading
        auto w = rng.normal(ctx, 4096, 4096, 1u << 30, 0.02f);
        (void)decompose_one(ctx, w, o);
    }

    nlohmann::json records = nlohmann::json::array();
    double total = 0, gen_total = 0;
    std::map<std::string, double> per_role;
    const auto wall0 = clk::now();
    for (std::size_t layer = 0; layer < o.layers; ++layer) {
        double layer_s = 0;
        for (std::size_t k = 0; k < llama2_7b_layer.size(); ++k) {
            const auto& ws = llama2_7b_layer[k];
            auto g0 = clk::now();
            auto w = rng.normal(ctx, ws.rows, ws.cols, layer * 7 + k, 0.02f);
            ctx.synchronize();
            const double gen = since(g0);
            auto t0 = clk::now();
            const double rel = decompose_one(ctx, w, o);
            const double sec = since(t0);
            total += sec, gen_total += gen, layer_s += sec, per_role[ws.role] += sec;
            records.push_back({{"layer", layer}, {"role", ws.role}, {"shape", {ws.rows, ws.cols}}, {"seconds", sec},
                               {"generate_seconds", gen}, {"rel_error", rel}});
        }
        std::printf("layer %2zu: %.3f s\n", layer, layer_s);
        std::fflush(stdout);
    }
    const double wall = since(wall0);
    std::printf("decompose: %.2f s for %zu matrices (%.3f s/matrix); generation %.2f s; wall %.2f s\n", total,
                records.size(), total / static_cast<double>(records.size()), gen_total, wall);
    for (const auto& [role, s] : per_role) std::printf("  %-5s %.2f s\n", role.c_str(), s);
    if (!o.json_path.empty()) {
        nlohmann::json j = {{"benchmark", "llama2_7b_decompose"},
                            {"device", device},
                            {"method", o.method},
                            {"rank", o.rank},
                            {"layers", o.layers},
                            {"download", o.download},
                            {"decompose_seconds", total},
                            {"generate_seconds", gen_total},
                            {"wall_seconds", wall},
                            {"per_role_seconds", per_role},
                            {"matrices", records}};
        std::ofstream(o.json_path) << j.dump(2) << "\n";
        std::printf("wrote %s\n", o.json_path.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "llama2_7b_decompose: " << e.what() << "\n";
    return 1;
}

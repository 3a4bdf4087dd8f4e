// `--device cpu|cuda` for the CLI subcommands that compute (svd, tucker, decompose).
//
// Both devices run the SAME library algorithms: the subcommand body is written once against
// the backend contract (a generic lambda over the context) and with_backend() instantiates it
// for xtensor_backend (cpu) or cuda_backend (cuda). The CUDA path exists only when the CLI was
// built against lowrank::cuda (examples/CMakeLists.txt then defines LOWRANK_CLI_CUDA).
//
// Contract of select_device(), called before any input is read or output created:
//   - "cpu": always succeeds.
//   - "cuda" in a build without CUDA: usage_error "--device cuda: this lowrank was built
//     without CUDA support ..." (exit 2).
//   - "cuda" with no usable device: device_error naming the CUDA call and its status, e.g.
//     "--device cuda: no CUDA device (cudaGetDeviceCount: cudaErrorNoDevice (...))" (exit 1).
//   - otherwise: a cuda_backend::context on device 0 (CUDA_VISIBLE_DEVICES picks the GPU)
//     and a JSON record of the device (name, compute capability, memory, driver and runtime
//     versions) for the output report.
#pragma once

#include "cli/command.hpp"
#include "lowrank/backend/xtensor_backend.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef LOWRANK_CLI_CUDA
#include "lowrank/cuda/cuda_backend.hpp"
#endif

namespace lowrank::cli {

/// The requested device exists in this build but cannot be used (main: exit status 1).
struct device_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// True when this executable contains the CUDA path.
#ifdef LOWRANK_CLI_CUDA
inline constexpr bool built_with_cuda = true;
#else
inline constexpr bool built_with_cuda = false;
#endif

/// The device a subcommand computes on, opened once per run.
struct device_selection {
    std::string kind = "cpu";  ///< "cpu" | "cuda"
    nlohmann::json info;       ///< recorded in summary.json / the decompose manifest as "device"
    std::string label;         ///< short human-readable form for the console line
#ifdef LOWRANK_CLI_CUDA
    std::unique_ptr<cuda_backend::context> cuda;
#endif
};

/// Adds `--device cpu|cuda` (default cpu) bound to `target`.
inline void add_device_option(CLI::App* sub, std::string& target) {
    sub->add_option("--device", target,
                    std::string("compute on cpu (default) or cuda (GPU 0 of CUDA_VISIBLE_DEVICES; ") +
                        (built_with_cuda ? "this build has CUDA support)" : "this build has NO CUDA support)"))
        ->check(CLI::IsMember({"cpu", "cuda"}));
}

#ifdef LOWRANK_CLI_CUDA
namespace detail {

/// "13.0" from the 13000-style encoding of cudaDriverGetVersion / cudaRuntimeGetVersion.
inline std::string cuda_version_string(int v) {
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace detail
#endif

/// Opens `name` ("cpu" or "cuda"); see the contract at the top of this file.
inline device_selection select_device(const std::string& name) {
    device_selection d;
    if (name != "cuda") {
        d.info = {{"kind", "cpu"}, {"backend", "xtensor (OpenBLAS/LAPACK)"}};
        d.label = "cpu";
        return d;
    }
#ifndef LOWRANK_CLI_CUDA
    throw usage_error(
        "--device cuda: this lowrank was built without CUDA support (configure with the CUDA toolkit >= 12 "
        "installed and -DLOWRANK_CUDA=ON, then rebuild the lowrank target)");
#else
    std::string why;
    if (cuda::device_count(&why) == 0) throw device_error("--device cuda: no CUDA device (" + why + ")");
    d.kind = "cuda";
    int driver = 0, runtime = 0;
    LOWRANK_CUDA_CHECK(cudaDriverGetVersion(&driver));
    LOWRANK_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    cudaDeviceProp prop{};
    LOWRANK_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    d.cuda = std::make_unique<cuda_backend::context>();  // device 0; throws backend_error naming the call
    d.info = {{"kind", "cuda"},
              {"backend", "cuda (cuBLAS/cuSOLVER)"},
              {"ordinal", 0},
              {"name", std::string(prop.name)},
              {"compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)},
              {"memory_bytes", static_cast<std::uint64_t>(prop.totalGlobalMem)},
              {"driver_version", detail::cuda_version_string(driver)},
              {"runtime_version", detail::cuda_version_string(runtime)},
              {"svd_solver", "gesvdj (gesvd fallback)"}};
    d.label = "cuda (" + std::string(prop.name) + ", driver " + detail::cuda_version_string(driver) + ", runtime " +
              detail::cuda_version_string(runtime) + ")";
    return d;
#endif
}

/// Calls f(ctx) with the context of the selected device: cuda_backend::context for "cuda",
/// a fresh xtensor_backend::context for "cpu". f is generic over the context type; its result
/// type must not depend on the backend.
template <class F>
decltype(auto) with_backend(device_selection& d, F&& f) {
#ifdef LOWRANK_CLI_CUDA
    if (d.cuda) return f(*d.cuda);
#endif
    xtensor_backend::context ctx;
    return f(ctx);
}

/// The elements of a backend tensor in a host vector (C order); a download for the GPU.
template <class Ctx, class Tensor>
std::vector<typename Tensor::value_type> to_host(Ctx& ctx, const Tensor& t) {
    using B = backend_of<Ctx>;
    std::vector<typename Tensor::value_type> v(numel(B::shape(t)));
    if (!v.empty()) B::download(ctx, t, v.data());
    return v;
}

}  // namespace lowrank::cli

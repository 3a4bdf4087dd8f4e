// lowrank svd IN.npy --rank R [--rel-error E] [--method exact|gram|randomized] [--seed S]
//                    [--device cpu|cuda] --out DIR
// Truncated SVD of a matrix stored as .npy (float32 or float64, C or Fortran order).
// Writes DIR/u.npy (m×r), DIR/s.npy (r), DIR/vt.npy (r×n) in the input's dtype, and
// DIR/summary.json (which records the device). --device cuda runs the same truncated_svd
// through cuda_backend (upload, compute, download); see cli/device.hpp.
#include "cli/common.hpp"
#include "cli/device.hpp"
#include "lowrank/lowrank.hpp"

#include <iostream>
#include <map>

namespace cmd_svd {

using namespace lowrank;

struct svd_args {
    std::string input, out, method = "exact", driver = "gesdd", device = "cpu";
    std::size_t rank = 0, oversampling = 10, power_iterations = 2;
    double rel_error = 0;
    std::uint64_t seed = 0;
};

template <class R>
int write_summary(const svd_args& a, cli::output_dir& out, const shape_t& shape, const R& r, double seconds,
                  const cli::device_selection& dev) {
    using T = typename R::value_type;
    nlohmann::json j{{"input", a.input},
                     {"shape", shape},
                     {"dtype", std::string(npy_dtype_of<T>()) == "f4" ? "float32" : "float64"},
                     {"method", to_string(r.method)},
                     {"requested_method", a.method},
                     {"ranks", {r.rank}},
                     {"rel_error", cli::json_number(r.rel_error)},
                     {"error_bound", cli::json_number(r.error_bound)},
                     {"discarded_energy", cli::json_number(r.discarded_energy)},
                     {"norm", cli::json_number(r.norm)},
                     {"singular_values", r.s},
                     {"iterations", a.method == "randomized" ? a.power_iterations : 0},
                     {"converged", true},
                     {"status", to_string(r.status)},
                     {"seed", a.seed},
                     {"device", dev.info},
                     {"seconds", seconds}};
    out.write_json("summary.json", j);
    out.commit();
    std::cout << "svd " << to_string(shape) << " rank " << r.rank << " rel_error " << r.rel_error << " (" << seconds
              << " s, " << dev.label << ") -> " << a.out << "\n";
    return 0;
}

template <class T>
int run_svd(const svd_args& a, const npy_array& input, cli::device_selection& dev) {
    const shape_t shape = input.shape;
    const std::vector<T> data = cli::elements_as<T>(input);
    if (shape.size() != 2)
        throw cli::usage_error(a.input + ": expected a matrix (2-D array), got shape " + to_string(shape));
    if (a.rank > std::min(shape[0], shape[1]))
        throw cli::usage_error("--rank " + std::to_string(a.rank) + " exceeds min(m, n) = " +
                               std::to_string(std::min(shape[0], shape[1])) + " of " + a.input);
    svd_options opt;
    if (a.rank > 0) opt.trunc = truncation::rank(a.rank);
    opt.trunc.rel_error = a.rel_error;
    static const std::map<std::string, svd_method> methods{
        {"exact", svd_method::exact}, {"gram", svd_method::gram}, {"randomized", svd_method::randomized}};
    opt.method = methods.at(a.method);
    opt.driver = a.driver == "gesvd" ? svd_driver::gesvd : svd_driver::gesdd;
    opt.seed = a.seed;
    opt.oversampling = a.oversampling;
    opt.power_iterations = a.power_iterations;

    cli::output_dir out(a.out);  // validates --out before the work starts
    return cli::with_backend(dev, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        auto m = B::template upload<T>(ctx, data.data(), shape);
        const auto start = std::chrono::steady_clock::now();
        auto r = truncated_svd(ctx, m, opt);
        const std::vector<T> u = cli::to_host(ctx, r.u), vt = cli::to_host(ctx, r.vt);  // synchronises
        const double seconds = cli::seconds_since(start);
        if (r.status != status::ok) {
            std::cerr << "lowrank svd: " << a.input << ": " << to_string(r.status) << "\n";
            return 1;
        }
        npy_save(out.path("u.npy"), u.data(), {shape[0], r.rank});
        npy_save(out.path("s.npy"), r.s.data(), {r.rank});
        npy_save(out.path("vt.npy"), vt.data(), {r.rank, shape[1]});
        return write_summary(a, out, shape, r, seconds, dev);
    });
}

void install(CLI::App& app, int* exit_code) {
    auto args = std::make_shared<svd_args>();
    auto* sub = app.add_subcommand("svd", "Truncated SVD of a .npy matrix (writes u.npy, s.npy, vt.npy, summary.json)");
    sub->add_option("input", args->input, "input .npy matrix (float32/float64)")->required();
    sub->add_option("--rank,-r", args->rank, "rank to keep (cap when combined with --rel-error)")
        ->check(CLI::PositiveNumber);
    sub->add_option("--rel-error", args->rel_error, "keep the smallest rank with ||A-A_r||_F <= E ||A||_F")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--method", args->method, "exact | gram | randomized")
        ->check(CLI::IsMember({"exact", "gram", "randomized"}));
    sub->add_option("--driver", args->driver, "LAPACK driver for exact/gram: gesdd | gesvd")
        ->check(CLI::IsMember({"gesdd", "gesvd"}));
    sub->add_option("--seed", args->seed, "seed of the randomized sketch");
    sub->add_option("--oversampling", args->oversampling, "randomized: extra sketch columns");
    sub->add_option("--power-iterations", args->power_iterations, "randomized: power iterations");
    cli::add_device_option(sub, args->device);
    sub->add_option("--out,-o", args->out, "output directory")->required();
    sub->callback([args, exit_code] {
        if (args->rank == 0 && args->rel_error == 0) throw cli::usage_error("svd: give --rank, --rel-error, or both");
        cli::device_selection dev = cli::select_device(args->device);  // before reading input or writing output
        const npy_array input = cli::load_float_input(args->input);
        *exit_code = input.dtype == "f4" ? run_svd<float>(*args, input, dev) : run_svd<double>(*args, input, dev);
    });
}

const cli::registrar reg{"svd", install};

}  // namespace cmd_svd

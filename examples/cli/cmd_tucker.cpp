// lowrank tucker IN.npy (--ranks R1,R2,... | --rel-error E) [--method hosvd|sthosvd|hooi]
//                [--max-iter N] [--tol T] [--device cpu|cuda] --out DIR
// Tucker decomposition of an N-way .npy tensor. Writes DIR/core.npy, DIR/factor_<n>.npy
// (I_n × R_n, orthonormal columns) in the input's dtype, and DIR/summary.json (which records
// the device). --device cuda runs the same hosvd / st_hosvd / hooi through cuda_backend
// (upload, compute, download); see cli/device.hpp.
#include "cli/common.hpp"
#include "cli/device.hpp"
#include "lowrank/lowrank.hpp"

#include <iostream>

namespace cmd_tucker {

using namespace lowrank;

struct tucker_args {
    std::string input, out, method = "hooi", solver = "gram", device = "cpu";
    std::vector<std::size_t> ranks;
    double rel_error = 0, tol = 1e-8;
    std::size_t max_iter = 25;
};

template <class R>
int write_summary(const tucker_args& a, cli::output_dir& out, const shape_t& shape, const R& r, double seconds,
                  const cli::device_selection& dev) {
    using T = typename R::value_type;
    nlohmann::json j{{"input", a.input},
                     {"shape", shape},
                     {"dtype", std::string(npy_dtype_of<T>()) == "f4" ? "float32" : "float64"},
                     {"method", a.method},
                     {"solver", a.solver},
                     {"ranks", r.ranks},
                     {"rel_error", cli::json_number(r.rel_error)},
                     {"error_bound", cli::json_number(r.error_bound)},
                     {"norm", cli::json_number(r.norm)},
                     {"error_history", r.error_history},
                     {"iterations", r.iterations},
                     {"converged", r.converged},
                     {"stop_reason", to_string(r.stop)},
                     {"status", to_string(r.status)},
                     {"device", dev.info},
                     {"seconds", seconds}};
    out.write_json("summary.json", j);
    out.commit();
    std::cout << a.method << " " << to_string(shape) << " ranks " << to_string(r.ranks) << " rel_error " << r.rel_error
              << " (" << seconds << " s, " << dev.label << ") -> " << a.out << "\n";
    return 0;
}

template <class T>
int run_tucker(const tucker_args& a, const npy_array& input, cli::device_selection& dev) {
    const shape_t shape = input.shape;
    const std::vector<T> data = cli::elements_as<T>(input);
    if (shape.empty()) throw cli::usage_error(a.input + ": a 0-d array has no modes to decompose");
    if (a.ranks.size() > 1 && a.ranks.size() != shape.size())
        throw cli::usage_error("--ranks lists " + std::to_string(a.ranks.size()) + " ranks but " + a.input + " has " +
                               std::to_string(shape.size()) + " modes " + to_string(shape));
    for (std::size_t n = 0; n < a.ranks.size(); ++n) {
        const std::size_t dim = shape[a.ranks.size() == 1 ? 0 : n];
        const std::size_t limit = a.ranks.size() == 1 ? *std::min_element(shape.begin(), shape.end()) : dim;
        if (a.ranks[n] > limit)
            throw cli::usage_error("--ranks: rank " + std::to_string(a.ranks[n]) + " exceeds the dimension " +
                                   std::to_string(limit) + " of " + a.input + " " + to_string(shape));
    }
    truncation trunc = truncation::ranks(a.ranks);
    trunc.rel_error = a.rel_error;
    const mode_solver solver = a.solver == "svd" ? mode_solver::svd : mode_solver::gram_eig;

    cli::output_dir out(a.out);
    return cli::with_backend(dev, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        using Tensor = typename B::template tensor<T>;
        auto x = B::template upload<T>(ctx, data.data(), shape);
        const auto start = std::chrono::steady_clock::now();
        tucker_result<Tensor> r;
        if (a.method == "hooi") {
            hooi_options<Tensor> opt;
            opt.trunc = trunc;
            opt.max_iterations = a.max_iter;
            opt.tol = a.tol;
            opt.solver = solver;
            r = hooi(ctx, x, opt);
        } else {
            hosvd_options opt;
            opt.trunc = trunc;
            opt.solver = solver;
            r = a.method == "hosvd" ? hosvd(ctx, x, opt) : st_hosvd(ctx, x, opt);
        }
        const std::vector<T> core = cli::to_host(ctx, r.core);  // synchronises
        std::vector<std::vector<T>> factors;
        for (const auto& f : r.factors) factors.push_back(cli::to_host(ctx, f));
        const double seconds = cli::seconds_since(start);
        if (r.status == status::nonfinite_input || r.status == status::no_convergence) {
            std::cerr << "lowrank tucker: " << a.input << ": " << to_string(r.status) << "\n";
            return 1;
        }
        npy_save(out.path("core.npy"), core.data(), B::shape(r.core));
        for (std::size_t n = 0; n < r.factors.size(); ++n)
            npy_save(out.path("factor_" + std::to_string(n) + ".npy"), factors[n].data(), B::shape(r.factors[n]));
        return write_summary(a, out, shape, r, seconds, dev);
    });
}

void install(CLI::App& app, int* exit_code) {
    auto args = std::make_shared<tucker_args>();
    auto* sub = app.add_subcommand("tucker", "Tucker decomposition of a .npy tensor (writes core.npy, factor_<n>.npy, summary.json)");
    sub->add_option("input", args->input, "input .npy tensor (float32/float64)")->required();
    auto* ranks = sub->add_option("--ranks", args->ranks, "ranks per mode, comma separated (one value: every mode)")
                      ->delimiter(',')
                      ->check(CLI::PositiveNumber);
    auto* err = sub->add_option("--rel-error", args->rel_error, "relative Frobenius error target")->check(CLI::Range(0.0, 1.0));
    (void)ranks;
    (void)err;
    sub->add_option("--method", args->method, "hosvd | sthosvd | hooi")->check(CLI::IsMember({"hosvd", "sthosvd", "hooi"}));
    sub->add_option("--solver", args->solver, "per-mode subspace: gram (eigh of the Gram matrix) | svd (of the unfolding)")
        ->check(CLI::IsMember({"gram", "svd"}));
    sub->add_option("--max-iter", args->max_iter, "HOOI: maximum sweeps");
    sub->add_option("--tol", args->tol, "HOOI: stop when the relative error changes by less")->check(CLI::NonNegativeNumber);
    cli::add_device_option(sub, args->device);
    sub->add_option("--out,-o", args->out, "output directory")->required();
    sub->callback([args, exit_code] {
        if (args->ranks.empty() && args->rel_error == 0) throw cli::usage_error("tucker: give --ranks, --rel-error, or both");
        cli::device_selection dev = cli::select_device(args->device);  // before reading input or writing output
        const npy_array input = cli::load_float_input(args->input);
        *exit_code = input.dtype == "f4" ? run_tucker<float>(*args, input, dev) : run_tucker<double>(*args, input, dev);
    });
}

const cli::registrar reg{"tucker", install};

}  // namespace cmd_tucker

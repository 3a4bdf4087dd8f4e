// lowrank._lowrank.tucker: hosvd / st_hosvd / hooi (decomp/) on the input's device.
//
// A Fortran-ordered tensor X (I_0 × … × I_{N-1}) is read in place as the C-ordered tensor Xr with
// the axes reversed. Tucker of Xr gives a core Gr and factors for Xr's modes; X's core is Gr with
// the axes reversed (returned as a Fortran-ordered view of Gr) and X's factor n is Xr's factor
// N-1-n. ST-HOSVD and HOOI process Xr's modes in the order N-1, …, 0 (their mode_order), i.e. X's
// modes in the order 0, …, N-1, so the computation is the C-ordered one up to rounding.
#include "bindings.hpp"

#include "lowrank/decomp/hooi.hpp"
#include "lowrank/decomp/hosvd.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <numeric>
#include <optional>
#include <string>
#include <vector>

namespace lowrank::python {

namespace {

mode_solver parse_solver(const std::string& s) {
    if (s == "gram") return mode_solver::gram_eig;
    if (s == "svd") return mode_solver::svd;
    throw invalid_argument("tucker: solver must be 'gram' or 'svd', got '" + s + "'");
}

nb::dict tucker(const array_arg& x_arg, std::vector<std::size_t> ranks, double rel_error, const std::string& method,
                std::size_t max_iter, double tol, const std::string& solver_name,
                const std::optional<std::vector<array_arg>>& init_args, bool compute_error, int fw) {
    const input x = inspect(x_arg, "x", 1, 64);
    const target tgt = target_of(x, fw);
    const std::size_t N = x.ndim();
    if (method != "hooi" && method != "sthosvd" && method != "hosvd")
        throw invalid_argument("tucker: method must be 'hooi', 'sthosvd' or 'hosvd', got '" + method + "'");
    const mode_solver solver = parse_solver(solver_name);
    if (init_args && method != "hooi") throw invalid_argument("tucker: init factors apply to method='hooi' only");

    std::vector<input> init;
    if (init_args) {
        if (init_args->size() != N)
            throw shape_error("tucker: init has " + std::to_string(init_args->size()) + " factors for a tensor of order " +
                              std::to_string(N));
        for (std::size_t n = 0; n < N; ++n) {
            const std::string name = "init[" + std::to_string(n) + "]";
            init.push_back(inspect((*init_args)[n], name.c_str(), 2, 2));
            require_same_device_and_dtype(x, init.back());
        }
    }
    // The library's view of the modes: reversed for a Fortran-ordered x.
    auto lib_mode = [&](std::size_t n) { return x.reversed ? N - 1 - n : n; };
    truncation trunc = truncation::ranks(ranks);
    if (x.reversed && ranks.size() == N) std::reverse(trunc.max_ranks.begin(), trunc.max_ranks.end());
    trunc.rel_error = rel_error;
    std::vector<std::size_t> order(N);
    for (std::size_t i = 0; i < N; ++i) order[i] = lib_mode(i);

    return on_device(x, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        return with_dtype(x, [&](auto tag) {
            using T = decltype(tag);
            using Tensor = typename B::template tensor<T>;
            const Tensor view = Tensor::view(static_cast<const T*>(x.data), x.shape);

            // Initial factors are copied (they are small, and HOOI replaces them in its first sweep).
            std::optional<std::vector<Tensor>> factors0;
            if (!init.empty()) {
                factors0.emplace(N);
                for (std::size_t n = 0; n < N; ++n) {
                    const input& f = init[n];
                    const std::size_t rows = f.user_shape[0], cols = f.user_shape[1];
                    Tensor owned = B::template empty<T>(ctx, f.user_shape);
                    const T* src = static_cast<const T*>(f.data);
                    if (f.reversed)  // the C view is the cols × rows transpose
                        B::transpose(ctx, cols, rows, src, B::data(owned));
                    else
                        B::copy(ctx, rows * cols, src, B::data(owned));
                    (*factors0)[lib_mode(n)] = std::move(owned);
                }
            }

            auto r = compute(ctx, [&] {
                if (method == "hooi") {
                    hooi_options<Tensor> o;
                    o.trunc = trunc;
                    o.max_iterations = max_iter;
                    o.tol = tol;
                    o.solver = solver;
                    o.initial_factors = std::move(factors0);
                    o.mode_order = order;
                    o.compute_error = compute_error;
                    return hooi(ctx, view, o);
                }
                hosvd_options o;
                o.trunc = trunc;
                o.solver = solver;
                o.compute_error = compute_error;
                if (method == "hosvd") return hosvd(ctx, view, o);
                o.mode_order = order;
                return st_hosvd(ctx, view, o);
            });

            nb::dict d;
            d["norm"] = r.norm;
            d["discarded_energy"] = r.discarded_energy;
            d["error_bound"] = r.error_bound;
            d["rel_error"] = r.rel_error;
            d["error_history"] = nb::cast(r.error_history);
            d["iterations"] = r.iterations;
            d["converged"] = r.converged;
            d["stop_reason"] = std::string(to_string(r.stop));
            d["status"] = std::string(to_string(r.status));
            d["method"] = r.method;
            if (r.status == status::nonfinite_input) {
                d["core"] = nb::none();
                d["factors"] = nb::none();
                d["ranks"] = nb::none();
                d["spectra"] = nb::none();
                return d;
            }
            nb::list factors, spectra, out_ranks;
            for (std::size_t n = 0; n < N; ++n) {
                const std::size_t k = lib_mode(n);
                const shape_t fs = B::shape(r.factors[k]);
                factors.append(to_python(std::move(r.factors[k].owned()), fs, false, tgt));
                spectra.append(host_vector(std::move(r.spectra[k])));
                out_ranks.append(r.ranks[k]);
            }
            const shape_t cs = B::shape(r.core);
            d["core"] = to_python(std::move(r.core.owned()), cs, x.reversed, tgt);
            d["factors"] = factors;
            d["spectra"] = spectra;
            d["ranks"] = out_ranks;
            return d;
        });
    });
}

}  // namespace

void bind_tucker(nb::module_& m) {
    m.def("tucker", &tucker, nb::arg("x"), nb::arg("ranks"), nb::arg("rel_error"), nb::arg("method"),
          nb::arg("max_iter"), nb::arg("tol"), nb::arg("solver"), nb::arg("init").none(), nb::arg("compute_error"),
          nb::arg("framework"),
          "Tucker decomposition of `x` (see lowrank.tucker for the public API). ranks: [] = no cap, one value = "
          "every mode, else one per mode. Returns a dict of core, factors, ranks, spectra (None for NaN/Inf "
          "input), norm, discarded_energy, error_bound, rel_error, error_history, iterations, converged, "
          "stop_reason, status, method.");
}

}  // namespace lowrank::python

// lowrank._lowrank.svd: truncated_svd (linalg/svd.hpp) on the input's device.
//
// A Fortran-ordered matrix A (m × n) is read in place as the C-ordered Aᵀ (n × m). With
// Aᵀ = U' S V'ᵀ we have A = V' S U'ᵀ, so the caller gets u = V' (= the library's vtᵀ, returned
// as a Fortran-ordered m × r view of it) and vt = U'ᵀ (a Fortran-ordered r × n view of u).
// Exact and Gram results equal those of the C-ordered copy up to rounding and the signs of
// singular-vector pairs; the randomized method sketches the other side of the matrix, so its
// output differs from that of the C-ordered copy by the randomized approximation error.
#include "bindings.hpp"

#include "lowrank/linalg/svd.hpp"

#include <nanobind/stl/string.h>

#include <string>

namespace lowrank::python {

namespace {

svd_method parse_svd_method(const std::string& m) {
    if (m == "exact") return svd_method::exact;
    if (m == "gram") return svd_method::gram;
    if (m == "randomized") return svd_method::randomized;
    throw invalid_argument("svd: method must be 'exact', 'gram' or 'randomized', got '" + m + "'");
}

svd_driver parse_driver(const std::string& d) {
    if (d == "gesdd") return svd_driver::gesdd;
    if (d == "gesvd") return svd_driver::gesvd;
    throw invalid_argument("svd: driver must be 'gesdd' or 'gesvd', got '" + d + "'");
}

nb::dict svd(const array_arg& a_arg, std::size_t rank, double rel_error, const std::string& method,
             std::size_t oversample, std::size_t power_iters, std::uint64_t seed, const std::string& driver,
             bool compute_error, int fw) {
    const input a = inspect(a_arg, "a", 2, 2);
    const target tgt = target_of(a, fw);
    svd_options opt;
    if (rank > 0) opt.trunc = truncation::rank(rank);
    opt.trunc.rel_error = rel_error;
    opt.method = parse_svd_method(method);
    opt.driver = parse_driver(driver);
    opt.oversampling = oversample;
    opt.power_iterations = power_iters;
    opt.seed = seed;
    opt.compute_error = compute_error;

    return on_device(a, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        return with_dtype(a, [&](auto tag) {
            using T = decltype(tag);
            using Tensor = typename B::template tensor<T>;
            const Tensor view = Tensor::view(static_cast<const T*>(a.data), a.shape);
            auto r = compute(ctx, [&] { return truncated_svd(ctx, view, opt); });

            nb::dict d;
            d["rank"] = r.rank;
            d["norm"] = r.norm;
            d["discarded_energy"] = r.discarded_energy;
            d["error_bound"] = r.error_bound;
            d["rel_error"] = r.rel_error;
            d["method"] = std::string(to_string(r.method));
            d["status"] = std::string(to_string(r.status));
            d["spectrum"] = host_vector(std::move(r.spectrum));
            if (r.status == status::nonfinite_input) {
                d["u"] = nb::none();
                d["s"] = nb::none();
                d["vt"] = nb::none();
                return d;
            }
            const shape_t us = B::shape(r.u), vs = B::shape(r.vt);
            if (!a.reversed) {
                d["u"] = to_python(std::move(r.u.owned()), us, false, tgt);
                d["vt"] = to_python(std::move(r.vt.owned()), vs, false, tgt);
            } else {  // see the header comment: u = vt'ᵀ, vt = u'ᵀ
                d["u"] = to_python(std::move(r.vt.owned()), vs, true, tgt);
                d["vt"] = to_python(std::move(r.u.owned()), us, true, tgt);
            }
            d["s"] = device_vector(ctx, std::move(r.s), tgt);
            return d;
        });
    });
}

}  // namespace

void bind_svd(nb::module_& m) {
    m.def("svd", &svd, nb::arg("a"), nb::arg("rank"), nb::arg("rel_error"), nb::arg("method"), nb::arg("oversample"),
          nb::arg("power_iters"), nb::arg("seed"), nb::arg("driver"), nb::arg("compute_error"), nb::arg("framework"),
          "Truncated SVD of the matrix `a` (see lowrank.svd for the public API). rank 0 = no cap, rel_error 0 = "
          "no error target. Returns a dict of u, s, vt (None for NaN/Inf input), spectrum, rank, norm, "
          "discarded_energy, error_bound, rel_error, method, status.");
}

}  // namespace lowrank::python

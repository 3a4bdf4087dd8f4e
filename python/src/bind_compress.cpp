// lowrank._lowrank.whitened_svd, allocate, loss_curve: the [compress] algorithms
// (include/lowrank/compress/: whitening.hpp, whitened_svd.hpp, allocation.hpp).
//
// whitened_svd(w, gram, ...): W [m, n] on the CPU or a CUDA device, float32/float64; gram the
// n × n Gram H = X Xᵀ of the layer's inputs on the host (None: the identity whitener, i.e. the
// plain truncated SVD). Copies, all documented in docs/python.md:
//   - a float64 gram is read in place; a float32 one is converted to a float64 host vector;
//     a Fortran-ordered gram is read as its transpose, which is the same symmetric matrix
//     (make_whitener uses (H + Hᵀ)/2);
//   - a C-ordered w is read in place; a Fortran-ordered w is transposed into a C-ordered copy on
//     its device first, because the whitener acts on w's columns (the transpose trick of
//     bind_svd.cpp does not apply).
// The whitener is built on w's backend (make_whitener, float64), the SVD runs in w's dtype.
// Results: u [m, r] and v [n, r] with W′ = u vᵀ (the library's factor layout), moved to Python
// without a copy; s = the kept singular values of W·S (on w's device); spectrum (host); energies;
// the whitener's report.
//
// allocate(...): allocate_ranks (rule "optimal"), allocate_uniform ("uniform") or
// allocate_weighted_ratio ("weighted") over items given as parallel lists; loss_curve(s).
#include "bindings.hpp"

#include "lowrank/compress/allocation.hpp"
#include "lowrank/compress/whitened_svd.hpp"
#include "lowrank/compress/whitening.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lowrank::python {

namespace {

whitening_method parse_whitening(const std::string& m) {
    if (m == "cholesky") return whitening_method::cholesky;
    if (m == "eigen") return whitening_method::eigen;
    throw invalid_argument("whitened_svd: whitening must be 'cholesky' or 'eigen', got '" + m + "'");
}

sigma_split parse_split(const std::string& s) {
    if (s == "left") return sigma_split::left;
    if (s == "balanced") return sigma_split::balanced;
    throw invalid_argument("whitened_svd: split must be 'left' or 'balanced', got '" + s + "'");
}

svd_driver parse_compress_driver(const std::string& d) {
    if (d == "gesdd") return svd_driver::gesdd;
    if (d == "gesvd") return svd_driver::gesvd;
    throw invalid_argument("whitened_svd: driver must be 'gesdd' or 'gesvd', got '" + d + "'");
}

nb::dict whitened_svd_binding(const array_arg& w_arg, const std::optional<array_arg>& gram_arg, std::size_t rank,
                              double rel_error, double ridge, double shrinkage, const std::string& whitening,
                              const std::string& split, const std::string& driver, bool compute_error, int fw) {
    const input w = inspect(w_arg, "w", 2, 2);
    const target tgt = target_of(w, fw);
    const std::size_t m = w.user_shape[0], n = w.user_shape[1];

    whitening_options wopt;
    wopt.method = parse_whitening(whitening);
    wopt.ridge = ridge;
    wopt.shrinkage = shrinkage;
    wopt.validate();
    whitened_svd_options opt;
    if (rank > 0) opt.trunc = truncation::rank(rank);
    opt.trunc.rel_error = rel_error;
    opt.split = parse_split(split);
    opt.driver = parse_compress_driver(driver);
    opt.compute_plain_error = compute_error;

    // The Gram: host float64, in place when it already is.
    std::optional<input> g;
    std::vector<double> gram_copy;
    std::span<const double> gram;
    if (gram_arg) {
        g = inspect(*gram_arg, "gram", 2, 2);
        if (g->device != device_kind::cpu)
            throw device_error("argument 'gram' is on " + g->device_name() +
                               "; the whitener is built from a host Gram (pass a CPU/numpy array, e.g. gram.cpu())");
        if (g->user_shape[0] != n || g->user_shape[1] != n)
            throw shape_error("argument 'gram' of shape " + to_string(g->user_shape) + " must be n × n with n = " +
                              std::to_string(n) + " (the columns of w, shape " + to_string(w.user_shape) + ")");
        if (g->dtype == dtype_kind::f64) {
            gram = std::span<const double>(static_cast<const double*>(g->data), n * n);
        } else {
            const float* p = static_cast<const float*>(g->data);
            gram_copy.assign(p, p + n * n);
            gram = std::span<const double>(gram_copy);
        }
    }

    return on_device(w, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        return with_dtype(w, [&](auto tag) {
            using T = decltype(tag);
            using Tensor = typename B::template tensor<T>;
            const Tensor view = Tensor::view(static_cast<const T*>(w.data), w.shape);
            auto [r, s] = compute(ctx, [&] {
                Tensor wc = view;
                if (w.reversed) {  // the C view is wᵀ [n, m]: make the C-ordered w [m, n]
                    wc = B::template empty<T>(ctx, {m, n});
                    B::transpose(ctx, n, m, B::data(view), B::data(wc));
                }
                auto wh = gram_arg ? make_whitener(ctx, gram, n, wopt) : identity_whitener(ctx, n);
                auto res = whitened_svd(ctx, wc, wh, opt);
                return std::make_pair(std::move(res), std::move(wh));
            });

            nb::dict d;
            d["rank"] = r.rank;
            d["total_energy"] = r.total_energy;
            d["discarded_energy"] = r.discarded_energy;
            d["rel_error"] = r.rel_error;
            d["plain_rel_error"] = r.plain_rel_error;
            d["status"] = std::string(to_string(r.status));
            nb::dict wd;
            wd["kind"] = std::string(to_string(s.kind));
            wd["shrinkage"] = s.shrinkage;
            wd["ridge"] = s.ridge;
            wd["cholesky_attempts"] = s.cholesky_attempts;
            wd["clamped"] = s.clamped;
            wd["min_eigenvalue"] = s.min_eigenvalue;
            wd["defect"] = s.defect;
            wd["status"] = std::string(to_string(s.status));
            d["whitener"] = wd;
            std::vector<T> kept(r.spectrum.begin(), r.spectrum.begin() + std::min(r.rank, r.spectrum.size()));
            d["spectrum"] = host_vector(std::move(r.spectrum));
            if (r.status != status::ok) {
                d["u"] = nb::none();
                d["v"] = nb::none();
                d["s"] = nb::none();
                return d;
            }
            const shape_t us = B::shape(r.u), vs = B::shape(r.v);
            d["u"] = to_python(std::move(r.u.owned()), us, false, tgt);
            d["v"] = to_python(std::move(r.v.owned()), vs, false, tgt);
            d["s"] = device_vector(ctx, std::move(kept), tgt);
            return d;
        });
    });
}

allocation_method parse_alloc_method(const std::string& m) {
    if (m == "automatic") return allocation_method::automatic;
    if (m == "exact") return allocation_method::exact;
    if (m == "lagrangian") return allocation_method::lagrangian;
    throw invalid_argument("allocate_ranks: method must be 'automatic', 'exact' or 'lagrangian', got '" + m + "'");
}

nb::dict allocate_binding(const std::vector<std::string>& names, const std::vector<std::size_t>& rows,
                          const std::vector<std::size_t>& cols, const std::vector<std::vector<double>>& losses,
                          const std::vector<double>& weights, const std::vector<bool>& allow_dense,
                          const std::vector<bool>& keep_dense, const std::vector<double>& dense_loss,
                          const std::string& rule, std::uint64_t budget, double keep, const std::string& method,
                          std::size_t min_rank, std::size_t rank_multiple, std::size_t max_cells) {
    const std::size_t k = rows.size();
    for (std::size_t len : {names.size(), cols.size(), losses.size(), weights.size(), allow_dense.size(),
                            keep_dense.size(), dense_loss.size()})
        if (len != k) throw shape_error("allocate: the per-item lists must all have one entry per item");
    std::vector<allocation_item> items(k);
    for (std::size_t i = 0; i < k; ++i) {
        auto& it = items[i];
        it.name = names[i];
        it.rows = rows[i];
        it.cols = cols[i];
        it.loss = losses[i];
        it.weight = weights[i];
        it.allow_dense = allow_dense[i];
        it.keep_dense = keep_dense[i];
        it.dense_loss = dense_loss[i];
    }
    allocation_options opt;
    opt.method = parse_alloc_method(method);
    opt.min_rank = min_rank;
    opt.rank_multiple = rank_multiple;
    opt.max_cells = max_cells;
    allocation_result res;
    {
        nb::gil_scoped_release nogil;
        if (rule == "optimal") res = allocate_ranks(items, budget, opt);
        else if (rule == "uniform") res = allocate_uniform(items, keep, opt);
        else if (rule == "weighted") res = allocate_weighted_ratio(items, budget, opt);
        else throw invalid_argument("allocate: rule must be 'optimal', 'uniform' or 'weighted', got '" + rule + "'");
    }
    std::vector<std::size_t> ranks;
    std::vector<bool> dense;
    std::vector<std::uint64_t> params;
    std::vector<double> loss;
    for (const auto& c : res.choices) {
        ranks.push_back(c.rank);
        dense.push_back(c.dense);
        params.push_back(c.parameters);
        loss.push_back(c.loss);
    }
    nb::dict d;
    d["ranks"] = ranks;
    d["dense"] = dense;
    d["item_parameters"] = params;
    d["item_loss"] = loss;
    d["parameters"] = res.parameters;
    d["budget"] = res.budget;
    d["dense_parameters"] = res.dense_parameters;
    d["loss"] = res.loss;
    d["lower_bound"] = res.lower_bound;
    d["optimal"] = res.optimal;
    d["method"] = std::string(rule == "optimal" ? to_string(res.method) : rule.c_str());
    d["quantum"] = res.quantum;
    d["cells"] = res.cells;
    return d;
}

}  // namespace

void bind_compress(nb::module_& m) {
    m.def("whitened_svd", &whitened_svd_binding, nb::arg("w"), nb::arg("gram").none(), nb::arg("rank"),
          nb::arg("rel_error"), nb::arg("ridge"), nb::arg("shrinkage"), nb::arg("whitening"), nb::arg("split"),
          nb::arg("driver"), nb::arg("compute_error"), nb::arg("framework"),
          "Whitened truncated SVD of w with the whitener of the Gram `gram` (None: identity); see "
          "lowrank.whitened_svd. rank 0 = no cap, rel_error 0 = no target. Returns a dict of u, v, s (None unless "
          "status is ok), spectrum, rank, total_energy, discarded_energy, rel_error, plain_rel_error, status, "
          "whitener (dict).");
    m.def("allocate", &allocate_binding, nb::arg("names"), nb::arg("rows"), nb::arg("cols"), nb::arg("losses"),
          nb::arg("weights"), nb::arg("allow_dense"), nb::arg("keep_dense"), nb::arg("dense_loss"), nb::arg("rule"),
          nb::arg("budget"), nb::arg("keep"), nb::arg("method"), nb::arg("min_rank"), nb::arg("rank_multiple"),
          nb::arg("max_cells"),
          "Rank allocation over parallel per-item lists (rule 'optimal': allocate_ranks, 'uniform': "
          "allocate_uniform, 'weighted': allocate_weighted_ratio); see lowrank.allocate_ranks.");
    m.def(
        "loss_curve", [](const std::vector<double>& s) { return loss_curve(s); }, nb::arg("spectrum"),
        "L(r) = sum of s_i^2 for i > r, r = 0..k (float64, accumulated from the tail).");
}

}  // namespace lowrank::python

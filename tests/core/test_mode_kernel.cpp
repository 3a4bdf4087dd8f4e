// The xtensor backend's SIMD mode-product kernel (backend/detail/mode_kernel.hpp) against the
// definition Y[l,j,r] = Σ_i op(A)[j,i] X[l,i,r] evaluated in double on the host, for every
// micro-kernel this CPU can run (AVX-512 and AVX2 tiles), shapes that leave remainders in every
// tiled dimension (rows, vector columns, the last rows of X, inner-dimension blocks, task chunks), both
// operand orientations and 1–3 threads. Tolerance: the standard forward error bound of a
// sequential dot product, |ŷ − y| ≤ γ_I Σ_i |a_ji x_i| with γ_I = I·u/(1 − I·u), per element.
#include "helpers.hpp"

#include "lowrank/backend/detail/mode_kernel.hpp"

using namespace lrtest;

namespace {

struct problem {
    std::size_t L, J, I, R;
};

template <class T>
void check_kernel(const problem& p, op a_op, lowrank::detail::worker_pool* pool,
                  const lowrank::detail::mode_kernel::micro<T>* force) {
    normal_generator g(p.L * 1000003 + p.J * 1009 + p.I * 17 + p.R);
    const auto x = g.normals<T>(p.L * p.I * p.R);
    const auto a = g.normals<T>(p.J * p.I);  // op(A) is J×I; stored I×J when transposed
    const std::size_t lda = a_op == op::none ? p.I : p.J;
    std::vector<T> y(p.L * p.J * p.R, std::numeric_limits<T>::quiet_NaN());
    REQUIRE(lowrank::detail::mode_kernel::run(pool, a_op, p.L, p.J, p.I, p.R, a.data(), lda, x.data(), y.data(), force));
    const double u = eps<T>() / 2, gamma = double(p.I) * u / (1 - double(p.I) * u);
    std::size_t bad = 0;
    for (std::size_t l = 0; l < p.L; ++l)
        for (std::size_t j = 0; j < p.J; ++j)
            for (std::size_t r = 0; r < p.R; ++r) {
                double exact = 0, mag = 0;
                for (std::size_t i = 0; i < p.I; ++i) {
                    const double av = a_op == op::none ? a[j * lda + i] : a[i * lda + j];
                    const double t = av * double(x[(l * p.I + i) * p.R + r]);
                    exact += t, mag += std::abs(t);
                }
                const double got = y[(l * p.J + j) * p.R + r];
                if (!(std::abs(got - exact) <= gamma * mag + 1e-300)) ++bad;
            }
    CHECK_MESSAGE(bad == 0, "L=" << p.L << " J=" << p.J << " I=" << p.I << " R=" << p.R << " trans=" << (a_op == op::trans));
}

}  // namespace

TEST_CASE_TEMPLATE("mode-product SIMD kernel matches the definition for every micro-kernel, shape remainder and thread count",
                   T, double, float) {
    namespace mk = lowrank::detail::mode_kernel;
    const auto kernels = mk::all_micro_kernels<T>();
    if (kernels.empty()) {
        MESSAGE("no AVX2/AVX-512 on this CPU: the kernel is not used (mode_product falls back to BLAS)");
        return;
    }
    const std::vector<problem> problems = {
        {1, 1, 1, 1},    {1, 5, 7, 1},     {13, 3, 5, 1},   {1, 7, 9, 37},  {3, 13, 4, 70},  {2, 30, 11, 129},
        {5, 64, 16, 3},  {29, 9, 6, 1},    {1, 17, 600, 21}, {2, 3, 530, 1}, {4, 25, 33, 17}, {7, 1, 3, 65},
    };
    lowrank::detail::worker_pool two(2), three(3);
    for (const auto& k : kernels)
        for (const auto& p : problems)
            for (op o : {op::none, op::trans}) check_kernel<T>(p, o, nullptr, &k);
    // Threads: tasks split across 2 and 3 workers, with the default kernel choice (the first
    // mode, L = 1, may decline in favour of BLAS: it is then forced onto the first kernel).
    for (auto* pool : {&two, &three})
        for (const auto& p : {problem{64, 40, 50, 1}, problem{3, 50, 40, 200}, problem{1, 33, 70, 300}})
            for (op o : {op::none, op::trans}) check_kernel<T>(p, o, pool, p.L == 1 ? &kernels.front() : nullptr);
}

TEST_CASE_TEMPLATE("mode-product kernel: k-blocks and task chunks at their smallest give the same products", T, double,
                   float) {
    // The cache-blocking knobs at extreme values: 3-step k-blocks (Y accumulated over many
    // blocks), one task per chunk (a chunk boundary after every task), and chunks of a few
    // tasks whose boundaries do not align with the threads' ranges; with R = 1024 the panels
    // are copied (rows a multiple of 4 KiB apart). Same reference as above.
    namespace mk = lowrank::detail::mode_kernel;
    if (mk::micro_kernels<T>().empty()) return;
    struct knobs {
        std::size_t min_kc = mk::min_kc, l1 = mk::l1_panel_bytes, y = mk::y_chunk_bytes;
        ~knobs() { mk::min_kc = min_kc, mk::l1_panel_bytes = l1, mk::y_chunk_bytes = y; }
    } restore;
    lowrank::detail::worker_pool two(2);
    for (std::size_t chunk_bytes : {std::size_t(1), std::size_t(3 * 64 * 64 * sizeof(T))}) {
        mk::min_kc = 3, mk::l1_panel_bytes = 1, mk::y_chunk_bytes = chunk_bytes;
        for (auto* pool : {static_cast<lowrank::detail::worker_pool*>(nullptr), &two})
            for (const auto& p : {problem{1, 17, 40, 300}, problem{5, 20, 23, 70}, problem{70, 37, 29, 1},
                                  problem{2, 20, 30, 1024}})  // rows 4–8 KiB apart: panels copied
                for (op o : {op::none, op::trans}) check_kernel<T>(p, o, pool, &mk::micro_kernels<T>().front());
    }
}

TEST_CASE("mode_product through a multi-threaded context matches the reference backend") {
    xtensor_backend::context xc(2);
    reference_backend::context rc;
    for (std::size_t n = 0; n < 3; ++n) {
        const shape_t s{20, 30, 40};
        auto x = gaussian<xtensor_backend, double>(xc, s, 5);
        auto a = gaussian<xtensor_backend, double>(xc, {24, s[n]}, 6 + n);
        auto xr = gaussian<reference_backend, double>(rc, s, 5);
        auto ar = gaussian<reference_backend, double>(rc, {24, s[n]}, 6 + n);
        const auto y = host<xtensor_backend>(xc, mode_product(xc, x, a, n));
        const auto yr = host<reference_backend>(rc, mode_product(rc, xr, ar, n));
        REQUIRE(y.size() == yr.size());
        double d = 0, m = 0;
        for (std::size_t i = 0; i < y.size(); ++i) d = std::max(d, std::abs(y[i] - yr[i])), m = std::max(m, std::abs(yr[i]));
        CHECK(d <= 1e-13 * m);
    }
}

// 8-bit block storage (runtime/q8.hpp). References: the quantisation rule recomputed here per
// block in double (scale = max|w| / 127, q = round(w / scale)), its error bound |w − s·q| ≤ s/2,
// and a double-precision product with plain loops over the dequantised weights, which both the
// row kernel (n ≤ 32) and the GEMM path must reproduce up to float32 summation.
#include <doctest/doctest.h>

#include "runtime/q8.hpp"
#include "runtime/linear.hpp"
#include "runtime_test_util.hpp"

#include <cmath>

using namespace lowrank::runtime;

TEST_CASE("q8: blocks of 32 with scale max|w|/127; every weight within half a step; zero blocks stay zero") {
    std::mt19937 rng(11);
    for (std::size_t cols : {1u, 31u, 32u, 33u, 100u, 576u}) {
        CAPTURE(cols);
        const std::size_t rows = 3;
        auto a = rt_test::random_vec(rows * cols, rng, 2.0f);
        if (cols >= 64) std::fill(a.begin() + 32, a.begin() + 64, 0.f);  // an all-zero block
        const auto m = q8_matrix::from_rows(a.data(), rows, cols);
        REQUIRE(m.blocks_per_row() == (cols + 31) / 32);
        CHECK(m.bytes() == rows * cols + rows * m.blocks_per_row() * 4);
        const auto d = m.to_float();
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t b = 0; b < m.blocks_per_row(); ++b) {
                double amax = 0;
                const std::size_t j0 = b * 32, j1 = std::min(cols, j0 + 32);
                for (std::size_t j = j0; j < j1; ++j) amax = std::max(amax, std::abs(double(a[r * cols + j])));
                const double s = amax / 127;
                CHECK(m.scale[r * m.blocks_per_row() + b] == doctest::Approx(s).epsilon(1e-6));
                for (std::size_t j = j0; j < j1; ++j) {
                    const double w = a[r * cols + j];
                    const long expect = s > 0 ? std::lround(w / s) : 0;
                    CHECK(std::abs(long(m.q[r * cols + j]) - expect) <= 1);  // ties may round either way in float
                    CHECK(std::abs(w - d[r * cols + j]) <= s / 2 * (1 + 1e-5) + 1e-12);
                }
            }
        if (cols >= 64)
            for (std::size_t j = 32; j < 64; ++j) CHECK(d[j] == 0.f);
    }
    const std::vector<float> t{1.f, 2.f, 3.f, 4.f, 5.f, 6.f};  // [2, 3] → transpose [3, 2]
    CHECK(q8_matrix::from_transposed(t.data(), 3, 2).to_float() == q8_matrix::from_rows(std::vector<float>{1.f, 4.f, 2.f, 5.f, 3.f, 6.f}.data(), 3, 2).to_float());
}

TEST_CASE("q8: matmul_nt_q8 equals the double product of the dequantised weights (kernel and GEMM paths)") {
    std::mt19937 rng(7);
    for (int threads : {1, 2, 3}) {
        exec_context ex(threads);
        for (std::size_t rows : {1u, 5u, 300u})
            for (std::size_t cols : {7u, 32u, 37u, 576u, 9000u})
                for (std::size_t n : {1u, 2u, 3u, 4u, 5u, 9u, 32u, 33u, 40u}) {
                    CAPTURE(threads);
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(n);
                    const auto wf = rt_test::random_vec(rows * cols, rng, 0.5f);
                    const auto x = rt_test::random_vec(n * (cols + 3), rng, 1.0f);  // ldx = cols + 3
                    const auto w = q8_matrix::from_rows(wf.data(), rows, cols);
                    const auto deq = w.to_float();
                    std::vector<float> y(n * (rows + 2), -7.f), scratch;  // ldy = rows + 2
                    matmul_nt_q8(ex, x.data(), cols + 3, n, w, y.data(), rows + 2, scratch);
                    CHECK(rt_test::worst_rel_error_vs_double(deq, rows, cols, x.data(), cols + 3, n, y.data(), rows + 2) <
                          1e-5);
                    for (std::size_t t = 0; t < n; ++t)  // the padding between rows is untouched
                        for (std::size_t r = rows; r < rows + 2; ++r) CHECK(y[t * (rows + 2) + r] == -7.f);
                }
    }
}

TEST_CASE("q8: linear layers in every form run on the dequantised factors and free their float32 copies") {
    std::mt19937 rng(4);
    exec_context ex(2);
    const std::size_t out = 40, in = 70, r = 6, n = 3;
    std::vector<linear> layers{linear::dense(rt_test::random_vec(out * in, rng), out, in, rt_test::random_vec(out, rng)),
                               linear::svd(rt_test::random_vec(out * r, rng), rt_test::random_vec(in * r, rng), out, in, r),
                               linear::tucker2(rt_test::random_vec(out * r, rng), rt_test::random_vec(r * 5, rng),
                                               rt_test::random_vec(in * 5, rng), out, in, r, 5)};
    const auto x = rt_test::random_vec(n * in, rng);
    for (auto l : layers) {
        CAPTURE(to_string(l.form));
        const std::size_t f32_bytes = l.bytes();
        l.to_q8();
        CHECK(l.is_q8());
        CHECK(l.w.capacity() == 0);
        CHECK(l.v.capacity() == 0);
        CHECK(l.bytes() < f32_bytes * 4 / 10);
        const linear ref = l.widened();
        CHECK(!ref.is_compact());
        std::vector<float> a(n * out), b(n * out), s1, s2;
        l.forward(ex, x.data(), n, a.data(), s1);
        ref.forward(ex, x.data(), n, b.data(), s2);
        for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-4).scale(1.0));
        l.to_bf16();  // already compact: unchanged
        CHECK(!l.is_bf16());
        CHECK_THROWS_AS(factorise(ex, l, 2, linear_form::svd), lowrank::invalid_argument);
    }
}

TEST_CASE("q8: every row kernel this CPU can run (scalar, AVX2, AVX-512) gives the dequantised product") {
    // matmul_nt_q8 runs only the widest kernel; each one is checked here against the same double
    // reference, so a machine with AVX-512 still tests the AVX2 path (and the other way round:
    // an unavailable ISA is reported, not silently passed).
    std::mt19937 rng(13);
    for (auto isa : {detail::q8_isa::scalar, detail::q8_isa::avx2, detail::q8_isa::avx512}) {
        CAPTURE(static_cast<int>(isa));
        if (!detail::q8_isa_available(isa)) {
            MESSAGE("q8 kernel " << static_cast<int>(isa) << " not available on this CPU: not tested");
            continue;
        }
        for (std::size_t cols : {5u, 32u, 64u, 100u, 576u})
            for (std::size_t n : {1u, 2u, 3u, 4u, 7u}) {
                CAPTURE(cols);
                CAPTURE(n);
                const std::size_t rows = 9;
                const auto wf = rt_test::random_vec(rows * cols, rng, 0.5f);
                const auto x = rt_test::random_vec(n * cols, rng, 1.0f);
                const auto w = q8_matrix::from_rows(wf.data(), rows, cols);
                const auto deq = w.to_float();
                std::vector<float> y(n * rows);
                detail::q8_rows(w, x.data(), cols, n, y.data(), rows, 0, rows, isa);
                CHECK(rt_test::worst_rel_error_vs_double(deq, rows, cols, x.data(), cols, n, y.data(), rows) <= 1e-5);
            }
    }
}

// bf16 weight storage (runtime/bf16.hpp; the conversion itself: tests/core/test_half.cpp).
// References: a double-precision product computed here with
// plain loops on the widened (exactly representable) bf16 weights; and the float32 model built
// from the same widened weights, which the bf16 model must reproduce up to summation order.
#include <doctest/doctest.h>

#include "runtime/bf16.hpp"
#include "runtime_test_util.hpp"

#include <cmath>
#include <cstring>
#include <limits>

using namespace lowrank::runtime;

TEST_CASE("bf16: matmul_nt_bf16 equals the double product of the widened weights (kernel and GEMM paths)") {
    std::mt19937 rng(5);
    for (int threads : {1, 2, 3}) {
        exec_context ex(threads);
        for (std::size_t rows : {1u, 5u, 300u})
            for (std::size_t cols : {7u, 16u, 37u, 576u, 9000u})
                for (std::size_t n : {1u, 2u, 3u, 4u, 5u, 9u, 17u, 32u, 33u, 40u}) {
                    CAPTURE(threads);
                    CAPTURE(rows);
                    CAPTURE(cols);
                    CAPTURE(n);
                    const auto wf = rt_test::random_vec(rows * cols, rng, 0.5f);
                    const auto x = rt_test::random_vec(n * (cols + 3), rng, 1.0f);  // ldx = cols + 3
                    const auto w = bf16_matrix::from_rows(wf.data(), rows, cols);
                    std::vector<float> y(n * (rows + 2), -7.f), scratch;     // ldy = rows + 2
                    matmul_nt_bf16(ex, x.data(), cols + 3, n, w, y.data(), rows + 2, scratch);
                    // to_float widens exactly (bf16_to_float of each stored value)
                    CHECK(rt_test::worst_rel_error_vs_double(w.to_float(), rows, cols, x.data(), cols + 3, n, y.data(),
                                                             rows + 2) < 1e-5);
                    for (std::size_t t = 0; t < n; ++t)  // the padding between rows is untouched
                        for (std::size_t r = rows; r < rows + 2; ++r) CHECK(y[t * (rows + 2) + r] == -7.f);
                }
    }
}

TEST_CASE("bf16: from_transposed stores the transpose; to_float widens exactly") {
    const std::vector<float> a{1.f, 2.f, 3.f, 4.f, 5.f, 6.f};  // [2, 3]
    const auto t = bf16_matrix::from_transposed(a.data(), 3, 2);
    CHECK(t.to_float() == std::vector<float>{1.f, 4.f, 2.f, 5.f, 3.f, 6.f});
}

#include "runtime/llama.hpp"

TEST_CASE("bf16: to_bf16 releases the float32 storage (a bf16 model holds half the bytes, not 1.5×)") {
    // `w = {}` on a std::vector keeps its capacity; the float32 copies must really be freed.
    std::mt19937 rng(3);
    lowrank::runtime::linear l = lowrank::runtime::linear::dense(rt_test::random_vec(6 * 5, rng), 6, 5);
    l.to_bf16();
    CHECK(l.w.capacity() == 0);
    auto s = lowrank::runtime::linear::svd(rt_test::random_vec(6 * 2, rng), rt_test::random_vec(5 * 2, rng), 6, 5, 2);
    s.to_bf16();
    CHECK(s.w.capacity() == 0);
    CHECK(s.v.capacity() == 0);
    lowrank::runtime::llama_weights w;
    w.cfg.vocab = 7, w.cfg.hidden = 4;
    w.embed = rt_test::random_vec(7 * 4, rng);
    w.to_bf16();
    CHECK(w.embed.capacity() == 0);
    CHECK(w.embed16.size() == 7 * 4);
}

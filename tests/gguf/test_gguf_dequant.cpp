// Dequantisation of every supported type on blocks with hand-chosen values, fp16/bf16
// conversion, and the Llama Q/K permutation. References: the expected values that
// scripts/make_gguf_fixtures.py computed from the logical block contents (exact in float32),
// a hand-written block below, IEEE fp16 properties, and the converter's permute() formula.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>

#include "gguf_test_util.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"

using namespace lowrank;

TEST_CASE("gguf dequant: every quant type matches the fixture's known values exactly") {
    const auto f = read_gguf(gguf_test::fixture("quants.gguf"));
    const char* names[] = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K",
                           "Q4_K", "Q5_K", "Q6_K", "Q8_K", "F16", "BF16"};
    for (const std::string n : names) {
        CAPTURE(n);
        const auto& t = f.tensor(n);
        CHECK(to_string(t.type) == n);
        const auto got = dequantize(f, t);
        const auto want = dequantize(f, f.tensor(n + ".expected"));
        REQUIRE(got.size() == want.size());
        std::size_t bad = 0;
        for (std::size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
        CHECK(bad == 0);
        // The double path is the float result widened.
        const auto got64 = dequantize_f64(f, t);
        for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got64[i] == double(got[i]));
    }
}

TEST_CASE("gguf dequant: hand-written Q4_1 and Q8_0 blocks") {
    // Q4_1: d = 0.5 (fp16 0x3800), m = 1 (0x3c00), qs[j] = j | (15 - j) << 4.
    unsigned char b[20] = {0x00, 0x38, 0x00, 0x3c};
    for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<unsigned char>(j | ((15 - j) << 4));
    float y[32];
    dequantize_row(ggml_type::q4_1, b, 32, y);
    for (int j = 0; j < 16; ++j) {
        CHECK(y[j] == 0.5f * j + 1.0f);
        CHECK(y[j + 16] == 0.5f * (15 - j) + 1.0f);
    }
    // Q8_0: d = -2 (0xc000), q = -128..-97.
    unsigned char c[34] = {0x00, 0xc0};
    for (int j = 0; j < 32; ++j) c[2 + j] = static_cast<unsigned char>(static_cast<std::int8_t>(-128 + j));
    dequantize_row(ggml_type::q8_0, c, 32, y);
    for (int j = 0; j < 32; ++j) CHECK(y[j] == -2.0f * (-128 + j));
    CHECK_THROWS_AS(dequantize_row(ggml_type::q8_0, c, 16, y), invalid_argument);
    CHECK_THROWS_AS(dequantize_row(ggml_type::iq2_xs, c, 256, y), invalid_argument);
}

TEST_CASE("gguf dequant: unsupported types and integer types") {
    CHECK(can_dequantize(ggml_type::q4_1));
    CHECK(can_dequantize(ggml_type::q8_k));
    CHECK_FALSE(can_dequantize(ggml_type::iq4_xs));
    CHECK_FALSE(can_dequantize(static_cast<ggml_type>(31)));
    const std::int32_t iv[3] = {-5, 0, 7};
    float y[3];
    dequantize_row(ggml_type::i32, reinterpret_cast<const unsigned char*>(iv), 3, y);
    CHECK(y[0] == -5.0f);
    CHECK(y[2] == 7.0f);
    const double dv[2] = {0.1, -1e300};
    double z[2];
    dequantize_row(ggml_type::f64, reinterpret_cast<const unsigned char*>(dv), 2, z);
    CHECK(z[0] == 0.1);
    CHECK(z[1] == -1e300);
}

// The converter's permute() written literally as an index map over a 4-d view:
// w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2) -> out[h, i, s, c] = w[h, s, i, c].
static std::vector<float> converter_permute(const std::vector<float>& w, std::size_t rows, std::size_t cols,
                                            std::size_t n_head) {
    const std::size_t half = rows / n_head / 2;
    std::vector<float> out(w.size());
    for (std::size_t h = 0; h < n_head; ++h)
        for (std::size_t i = 0; i < half; ++i)
            for (std::size_t s = 0; s < 2; ++s)
                for (std::size_t c = 0; c < cols; ++c)
                    out[((h * half + i) * 2 + s) * cols + c] = w[((h * 2 + s) * half + i) * cols + c];
    return out;
}

TEST_CASE("gguf: Q/K permutation matches the converter formula and inverts") {
    for (auto [rows, cols, heads] : {std::tuple<std::size_t, std::size_t, std::uint32_t>{576, 7, 9}, {192, 5, 3},
                                     {8, 1, 4}, {64, 3, 1}}) {
        CAPTURE(rows);
        CAPTURE(heads);
        std::vector<float> w(rows * cols);
        std::iota(w.begin(), w.end(), 0.0f);
        const auto p = permute_qk_rows<float>(w, rows, cols, heads);
        CHECK(p == converter_permute(w, rows, cols, heads));
        CHECK(unpermute_qk_rows<float>(p, rows, cols, heads) == w);
        CHECK(permute_qk_rows<float>(unpermute_qk_rows<float>(w, rows, cols, heads), rows, cols, heads) == w);
    }
    std::vector<float> w(10);
    CHECK_THROWS_AS(permute_qk_rows<float>(w, 10, 1, 3), shape_error);
    CHECK_THROWS_AS(unpermute_qk_rows<float>(w, 10, 2, 5), shape_error);
}

TEST_CASE("gguf: llama q/k are restored to the Hugging Face layout") {
    const auto f = read_gguf(gguf_test::fixture("llama_qk.gguf"));
    const auto& q = f.tensor("blk.0.attn_q.weight");
    const auto& k = f.tensor("blk.0.attn_k.weight");
    const auto& v = f.tensor("blk.0.attn_v.weight");
    CHECK(llama_qk_heads(f, q) == 4);
    CHECK(llama_qk_heads(f, k) == 2);  // head_count_kv
    CHECK(llama_qk_heads(f, v) == 0);
    CHECK(load_tensor(f, q) == dequantize(f, f.tensor("hf.attn_q")));
    CHECK(load_tensor(f, k) == dequantize(f, f.tensor("hf.attn_k")));
    CHECK(load_tensor(f, q, gguf_layout::file) == dequantize(f, q));
    CHECK(load_tensor(f, q, gguf_layout::file) != dequantize(f, f.tensor("hf.attn_q")));
    CHECK(load_tensor(f, v) == dequantize(f, v));
    // Not llama: nothing is permuted.
    const auto g = read_gguf(gguf_test::fixture("quants.gguf"));
    CHECK(llama_qk_heads(g, g.tensor("Q4_0")) == 0);
}

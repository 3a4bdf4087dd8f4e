// Llama-family forward pass on tiny random models, checked against a naive reference written
// here with plain loops straight from Hugging Face's modeling_llama formulas (double
// accumulation, no BLAS, no cache): prefill, incremental decode with the KV cache, batching,
// GQA, Qwen2 biases, untied heads; factorised layers at full rank equal dense; removed blocks
// (remove_blocks) pass the residual stream through.
#include <doctest/doctest.h>

#include "runtime/llama_loader.hpp"
#include "runtime_test_util.hpp"

#include <cmath>

using namespace lowrank::runtime;

namespace {

llama_weights tiny_llama(std::size_t heads, std::size_t kv_heads, bool bias, bool tied, unsigned seed) {
    std::mt19937 rng(seed);
    llama_weights w;
    auto& c = w.cfg;
    c.vocab = 37, c.hidden = 24, c.intermediate = 40, c.layers = 2, c.heads = heads, c.kv_heads = kv_heads;
    c.head_dim = c.hidden / heads, c.context = 64, c.rope_theta = 10000.0, c.rms_eps = 1e-5f, c.tied = tied;
    const std::size_t qd = heads * c.head_dim, kvd = kv_heads * c.head_dim;
    w.embed = rt_test::random_vec(c.vocab * c.hidden, rng, 0.5f);
    w.final_norm = rt_test::random_vec(c.hidden, rng, 0.2f);
    for (auto& x : w.final_norm) x += 1.f;
    if (!tied) w.lm_head = linear::dense(rt_test::random_vec(c.vocab * c.hidden, rng, 0.3f), c.vocab, c.hidden);
    for (std::size_t l = 0; l < c.layers; ++l) {
        llama_block b;
        b.attn_norm = rt_test::random_vec(c.hidden, rng, 0.2f);
        b.ffn_norm = rt_test::random_vec(c.hidden, rng, 0.2f);
        for (auto& x : b.attn_norm) x += 1.f;
        for (auto& x : b.ffn_norm) x += 1.f;
        auto bv = [&](std::size_t n) { return bias ? rt_test::random_vec(n, rng, 0.1f) : std::vector<float>{}; };
        b.q = linear::dense(rt_test::random_vec(qd * c.hidden, rng, 0.3f), qd, c.hidden, bv(qd));
        b.k = linear::dense(rt_test::random_vec(kvd * c.hidden, rng, 0.3f), kvd, c.hidden, bv(kvd));
        b.v = linear::dense(rt_test::random_vec(kvd * c.hidden, rng, 0.3f), kvd, c.hidden, bv(kvd));
        b.o = linear::dense(rt_test::random_vec(c.hidden * qd, rng, 0.2f), c.hidden, qd);
        b.gate = linear::dense(rt_test::random_vec(c.intermediate * c.hidden, rng, 0.2f), c.intermediate, c.hidden);
        b.up = linear::dense(rt_test::random_vec(c.intermediate * c.hidden, rng, 0.2f), c.intermediate, c.hidden);
        b.down = linear::dense(rt_test::random_vec(c.hidden * c.intermediate, rng, 0.2f), c.hidden, c.intermediate);
        w.blocks.push_back(std::move(b));
    }
    return w;
}

// y[out] = W[out,in] x + b, with W given as the dense matrix.
std::vector<double> naive_linear(exec_context& ex, const linear& l, const std::vector<double>& x) {
    const auto W = l.to_dense(ex);
    std::vector<double> y(l.out);
    for (std::size_t i = 0; i < l.out; ++i) {
        double s = l.bias.empty() ? 0.0 : l.bias[i];
        for (std::size_t j = 0; j < l.in; ++j) s += double(W[i * l.in + j]) * x[j];
        y[i] = s;
    }
    return y;
}

std::vector<double> naive_rms(const std::vector<double>& x, const std::vector<float>& w, double eps) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / double(x.size()) + eps);
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[i];
    return y;
}

// Logits [T, vocab] of one sequence, the whole sequence at once, no cache.
std::vector<double> naive_llama(const llama_weights& w, const std::vector<int>& tokens) {
    exec_context ex(1);
    const auto& c = w.cfg;
    const std::size_t T = tokens.size(), h = c.hidden, d = c.head_dim, H = c.heads, Hkv = c.kv_heads;
    std::vector<std::vector<double>> x(T);
    for (std::size_t t = 0; t < T; ++t) x[t].assign(w.embed.begin() + long(tokens[t] * h), w.embed.begin() + long((tokens[t] + 1) * h));
    auto rope = [&](std::vector<double>& v, std::size_t heads, std::size_t pos) {
        for (std::size_t k = 0; k < heads; ++k)
            for (std::size_t i = 0; i < d / 2; ++i) {
                const double ang = double(pos) * std::pow(c.rope_theta, -double(2 * i) / double(d));
                const double a = v[k * d + i], b = v[k * d + i + d / 2];
                v[k * d + i] = a * std::cos(ang) - b * std::sin(ang);
                v[k * d + i + d / 2] = b * std::cos(ang) + a * std::sin(ang);
            }
    };
    for (const auto& blk : w.blocks) {
        std::vector<std::vector<double>> q(T), k(T), v(T);
        for (std::size_t t = 0; t < T; ++t) {
            const auto xn = naive_rms(x[t], blk.attn_norm, c.rms_eps);
            q[t] = naive_linear(ex, blk.q, xn), k[t] = naive_linear(ex, blk.k, xn), v[t] = naive_linear(ex, blk.v, xn);
            rope(q[t], H, t), rope(k[t], Hkv, t);
        }
        for (std::size_t t = 0; t < T; ++t) {
            std::vector<double> att(H * d, 0.0);
            for (std::size_t hh = 0; hh < H; ++hh) {
                const std::size_t g = hh / (H / Hkv);
                std::vector<double> s(t + 1);
                double mx = -1e300, sum = 0;
                for (std::size_t j = 0; j <= t; ++j) {
                    double dot = 0;
                    for (std::size_t i = 0; i < d; ++i) dot += q[t][hh * d + i] * k[j][g * d + i];
                    s[j] = dot / std::sqrt(double(d));
                    mx = std::max(mx, s[j]);
                }
                for (auto& e : s) sum += (e = std::exp(e - mx));
                for (std::size_t j = 0; j <= t; ++j)
                    for (std::size_t i = 0; i < d; ++i) att[hh * d + i] += s[j] / sum * v[j][g * d + i];
            }
            const auto o = naive_linear(ex, blk.o, att);
            for (std::size_t i = 0; i < h; ++i) x[t][i] += o[i];
            const auto xn = naive_rms(x[t], blk.ffn_norm, c.rms_eps);
            auto g = naive_linear(ex, blk.gate, xn);
            const auto u = naive_linear(ex, blk.up, xn);
            for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
            const auto dn = naive_linear(ex, blk.down, g);
            for (std::size_t i = 0; i < h; ++i) x[t][i] += dn[i];
        }
    }
    std::vector<double> logits;
    for (std::size_t t = 0; t < T; ++t) {
        const auto xn = naive_rms(x[t], w.final_norm, c.rms_eps);
        if (c.tied) {
            for (std::size_t vtok = 0; vtok < c.vocab; ++vtok) {
                double s = 0;
                for (std::size_t i = 0; i < h; ++i) s += double(w.embed[vtok * h + i]) * xn[i];
                logits.push_back(s);
            }
        } else {
            const auto l = naive_linear(ex, w.lm_head, xn);
            logits.insert(logits.end(), l.begin(), l.end());
        }
    }
    return logits;
}

double max_abs_diff(const std::vector<float>& a, const double* b, std::size_t n) {
    double m = 0;
    for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
    return m;
}

const std::vector<int> seq_a = {3, 17, 5, 36, 0, 12, 9, 21, 4, 30};
const std::vector<int> seq_b = {8, 1, 33, 14, 2, 27, 19, 6, 11, 25};

}  // namespace

TEST_CASE("llama: prefill logits equal the naive reference (MHA, GQA, MQA, biases, untied)") {
    struct variant { std::size_t heads, kv; bool bias, tied; };
    for (auto v : {variant{4, 4, false, true}, variant{4, 2, false, true}, variant{6, 1, true, false}, variant{4, 2, true, true}}) {
        CAPTURE(v.heads);
        CAPTURE(v.kv);
        CAPTURE(v.bias);
        CAPTURE(v.tied);
        const auto w = tiny_llama(v.heads, v.kv, v.bias, v.tied, 7);
        const auto ref = naive_llama(w, seq_a);
        llama_model m(w, 1);
        auto cache = m.make_cache(1, 32);
        const auto logits = m.forward(seq_a.data(), seq_a.size(), cache, true);
        CHECK(max_abs_diff(logits, ref.data(), ref.size()) < 2e-4);
        CHECK(cache.length == seq_a.size());
    }
}

TEST_CASE("llama: incremental decode with the KV cache equals prefill") {
    const auto w = tiny_llama(4, 2, true, true, 11);
    const auto ref = naive_llama(w, seq_a);
    llama_model m(w, 2);
    auto cache = m.make_cache(1, 32);
    // 4 tokens of prefill, then one token at a time.
    auto logits = m.forward(seq_a.data(), 4, cache);
    CHECK(max_abs_diff(logits, ref.data() + 3 * w.cfg.vocab, w.cfg.vocab) < 2e-4);
    for (std::size_t t = 4; t < seq_a.size(); ++t) {
        logits = m.forward(&seq_a[t], 1, cache);
        CAPTURE(t);
        CHECK(max_abs_diff(logits, ref.data() + t * w.cfg.vocab, w.cfg.vocab) < 2e-4);
    }
    CHECK(cache.length == seq_a.size());
    // Past the cache capacity: an error, not a silent overrun.
    auto small = m.make_cache(1, 3);
    CHECK_THROWS(m.forward(seq_a.data(), 4, small));
}

TEST_CASE("llama: a batch of sequences equals each sequence alone") {
    const auto w = tiny_llama(4, 2, false, true, 13);
    llama_model m(w, 2);
    std::vector<int> both(seq_a);
    both.insert(both.end(), seq_b.begin(), seq_b.end());
    auto cache = m.make_cache(2, 16);
    const auto batched = m.forward(both.data(), seq_a.size(), cache, true);
    const auto next = std::vector<int>{5, 7};
    const auto step = m.forward(next.data(), 1, cache);
    const std::size_t V = w.cfg.vocab, T = seq_a.size();
    for (int b = 0; b < 2; ++b) {
        std::vector<int> s = b == 0 ? seq_a : seq_b;
        const auto ref = naive_llama(w, s);
        CHECK(max_abs_diff(std::vector<float>(batched.begin() + long(b * T * V), batched.begin() + long((b + 1) * T * V)),
                           ref.data(), T * V) < 2e-4);
        s.push_back(next[static_cast<std::size_t>(b)]);
        const auto ref2 = naive_llama(w, s);
        CHECK(max_abs_diff(std::vector<float>(step.begin() + long(b * V), step.begin() + long((b + 1) * V)),
                           ref2.data() + T * V, V) < 2e-4);
    }
}

TEST_CASE("llama: factorised layers at full rank give the dense logits; folded back they agree") {
    const auto w = tiny_llama(4, 2, true, false, 17);
    llama_model dense(w, 2);
    auto c0 = dense.make_cache(1, 16);
    const auto ref = dense.forward(seq_a.data(), seq_a.size(), c0, true);
    for (auto form : {linear_form::svd, linear_form::tucker2}) {
        CAPTURE(to_string(form));
        llama_weights f = w;
        exec_context ex(1);
        for (auto& b : f.blocks)
            for (const char* role : {"q", "k", "v", "o", "gate", "up", "down"}) {
                linear* l = b.by_role(role);
                *l = factorise(ex, *l, std::min(l->out, l->in), form);
                CHECK(l->form == form);
            }
        llama_model fm(f, 2);
        auto c1 = fm.make_cache(1, 16);
        const auto got = fm.forward(seq_a.data(), seq_a.size(), c1, true);
        double md = 0;
        for (std::size_t i = 0; i < ref.size(); ++i) md = std::max(md, double(std::abs(got[i] - ref[i])));
        CHECK(md < 1e-3);
        // A truncated factorisation equals the same model folded back to dense.
        llama_weights t = w, folded;
        for (auto& b : t.blocks) b.up = factorise(ex, b.up, 5, form), b.q = factorise(ex, b.q, 3, form);
        folded = t;
        for (auto& b : folded.blocks)
            for (const char* role : {"q", "up"}) {
                linear* l = b.by_role(role);
                *l = linear::dense(l->to_dense(ex), l->out, l->in, l->bias);
            }
        llama_model tm(t, 2), dm(folded, 2);
        auto c2 = tm.make_cache(1, 16), c3 = dm.make_cache(1, 16);
        const auto a = tm.forward(seq_a.data(), seq_a.size(), c2, true);
        const auto b = dm.forward(seq_a.data(), seq_a.size(), c3, true);
        md = 0;
        for (std::size_t i = 0; i < a.size(); ++i) md = std::max(md, double(std::abs(a[i] - b[i])));
        CHECK(md < 1e-4);
    }
}

TEST_CASE("llama: a γ plan factorises exactly the named layers; non-saving ranks stay dense") {
    auto w = tiny_llama(4, 2, false, true, 19);
    const nlohmann::json gamma = {{"format", "lowrank.gamma"}, {"version", 1}, {"model", "tiny"}, {"method", "svd"},
                                  {"indexing", 0}, {"layers", {1}}, {"tensors", {"q", "up"}},
                                  {"ranks", {{"q", 23}, {"up", 4}}}};
    exec_context ex(1);
    const auto steps = apply_plan(ex, w, gamma);
    REQUIRE(steps.size() == 2);
    CHECK(w.blocks[0].q.form == linear_form::dense);
    CHECK(w.blocks[1].up.form == linear_form::svd);
    CHECK(w.blocks[1].up.r1 == 4);
    // q is 24×24: rank 23 in SVD form holds (24+24)·23 > 576 parameters, so it stays dense.
    CHECK(w.blocks[1].q.form == linear_form::dense);
    CHECK(std::count_if(steps.begin(), steps.end(), [](auto& s) { return s.kept_dense; }) == 1);
}

TEST_CASE("llama: remove_blocks — a removed block passes the residual stream unchanged") {
    // References: (1) a block whose o and down weights are zero adds exactly nothing to the
    // residual stream (h + o(·) = h + 0, h + down(·) = h + 0), so removing that block must give the
    // same logits as running it with o = down = 0; (2) the naive loop reference on weights built
    // with only the remaining blocks (no runtime code involved).
    for (std::size_t l : {std::size_t{0}, std::size_t{1}}) {
        CAPTURE(l);
        const auto w = tiny_llama(4, 2, true, false, 29);
        auto removed = w;
        remove_blocks(removed, {l});
        CHECK(removed.cfg.layers == 1);
        CHECK(removed.blocks.size() == 1);
        const std::size_t block_params = w.parameters() - removed.parameters();
        const auto& b = w.blocks[l];
        CHECK(block_params == b.attn_norm.size() + b.ffn_norm.size() + b.q.parameters() + b.k.parameters() +
                                  b.v.parameters() + b.o.parameters() + b.gate.parameters() + b.up.parameters() +
                                  b.down.parameters());

        auto zeroed = w;
        auto& z = zeroed.blocks[l];
        z.o = linear::dense(std::vector<float>(z.o.out * z.o.in, 0.f), z.o.out, z.o.in);
        z.down = linear::dense(std::vector<float>(z.down.out * z.down.in, 0.f), z.down.out, z.down.in);
        llama_model mr(removed, 1), mz(zeroed, 1);
        auto cr = mr.make_cache(1, 32), cz = mz.make_cache(1, 32);
        const auto lr = mr.forward(seq_a.data(), seq_a.size(), cr, true);
        const auto lz = mz.forward(seq_a.data(), seq_a.size(), cz, true);
        REQUIRE(lr.size() == lz.size());
        double diff = 0;
        for (std::size_t i = 0; i < lr.size(); ++i) diff = std::max(diff, double(std::abs(lr[i] - lz[i])));
        CHECK(diff < 1e-5);

        llama_weights built = w;  // the model built without block l, by hand
        built.blocks.clear();
        built.blocks.push_back(w.blocks[1 - l]);
        built.cfg.layers = 1;
        const auto ref = naive_llama(built, seq_a);
        CHECK(max_abs_diff(lr, ref.data(), ref.size()) < 2e-4);
        // and the removed block really mattered: the full model's logits differ
        llama_model mf(w, 1);
        auto cf = mf.make_cache(1, 32);
        const auto lf = mf.forward(seq_a.data(), seq_a.size(), cf, true);
        CHECK(max_abs_diff(lf, ref.data(), ref.size()) > 1e-3);
    }
    // every block removed: logits = head(rms(embedding)), by the naive reference with no blocks
    auto w = tiny_llama(4, 2, false, true, 31);
    auto none = w;
    remove_blocks(none, {1, 0});
    CHECK(none.cfg.layers == 0);
    llama_model mn(none, 1);
    auto cn = mn.make_cache(1, 32);
    const auto ln = mn.forward(seq_b.data(), seq_b.size(), cn, true);
    llama_weights empty = w;
    empty.blocks.clear();
    empty.cfg.layers = 0;
    const auto ref = naive_llama(empty, seq_b);
    CHECK(max_abs_diff(ln, ref.data(), ref.size()) < 2e-4);
    // refusals leave the weights untouched
    auto bad = w;
    CHECK_THROWS_AS(remove_blocks(bad, {2}), std::exception);
    CHECK_THROWS_AS(remove_blocks(bad, {0, 0}), std::exception);
    CHECK(bad.blocks.size() == 2);
    CHECK(bad.cfg.layers == 2);
}

TEST_CASE("llama: score() log-probabilities match the logits") {
    const auto w = tiny_llama(4, 2, false, true, 23);
    llama_model m(w, 1);
    const std::vector<int> ctx(seq_a.begin(), seq_a.begin() + 4), cont(seq_a.begin() + 4, seq_a.end());
    const auto r = m.score(ctx, cont);
    const auto ref = naive_llama(w, seq_a);
    double total = 0;
    for (std::size_t i = 0; i < cont.size(); ++i) {
        const double* row = ref.data() + (3 + i) * w.cfg.vocab;
        double mx = *std::max_element(row, row + w.cfg.vocab), s = 0;
        for (std::size_t j = 0; j < w.cfg.vocab; ++j) s += std::exp(row[j] - mx);
        const double lp = row[cont[i]] - mx - std::log(s);
        CHECK(r.per_token[i] == doctest::Approx(lp).epsilon(1e-4));
        total += lp;
    }
    CHECK(r.total == doctest::Approx(total).epsilon(1e-4));
}

TEST_CASE("llama: bf16 and q8 weights give the logits of the float32 model holding the same stored weights") {
    // The reference is the float32 runtime on the widened bf16 / dequantised q8 values, so the
    // only difference left is summation order (the row kernel up to 32 token rows, widened tiles
    // + GEMM above).
    auto max_diff = [](const std::vector<float>& a, const std::vector<float>& b) {
        REQUIRE(a.size() == b.size());
        double m = 0;
        for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
        return m;
    };
    for (const std::string format : {"bf16", "q8"})
        for (auto form : {linear_form::dense, linear_form::svd, linear_form::tucker2})
            for (bool tied : {true, false}) {
                const std::string form_name = to_string(form);
                CAPTURE(format);
                CAPTURE(form_name);
                CAPTURE(tied);
                auto w = tiny_llama(4, 2, true, tied, 23);
                exec_context ex(1);
                if (form != linear_form::dense)
                    for (auto& b : w.blocks) b.up = factorise(ex, b.up, 5, form), b.o = factorise(ex, b.o, 7, form);
                llama_weights small = w;
                small.store_as(format);
                CHECK(small.parameters() == w.parameters());
                CHECK(small.bytes() < w.bytes() * (format == "bf16" ? 6 : 4) / 10);
                llama_weights ref = small;  // float32 copy of the stored values
                ref.embed = format == "bf16" ? small.embed16.to_float() : small.embed8.to_float();
                ref.embed16 = {}, ref.embed8 = {};
                for (auto& b : ref.blocks)
                    for (const char* role : {"q", "k", "v", "o", "gate", "up", "down"})
                        *b.by_role(role) = b.by_role(role)->widened();
                if (!tied) ref.lm_head = ref.lm_head.widened();
                CHECK(!ref.blocks[0].q.is_compact());
                llama_model hm(small, 2), rm(ref, 2);
                std::vector<int> tokens(bf16_kernel_max_tokens + 8);
                for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = int((i * 7 + 3) % 37);
                for (std::size_t T : {std::size_t(3), tokens.size()}) {  // kernel path, GEMM path
                    CAPTURE(T);
                    auto c1 = hm.make_cache(1, 64), c2 = rm.make_cache(1, 64);
                    const auto a = hm.forward(tokens.data(), T, c1, true);
                    const auto b = rm.forward(tokens.data(), T, c2, true);
                    CHECK(max_diff(a, b) < 1e-4);
                    const int next = 11;  // one decode step on top
                    const auto da = hm.forward(&next, 1, c1), db = rm.forward(&next, 1, c2);
                    CHECK(max_diff(da, db) < 1e-4);
                }
                // bf16 changes each weight by at most 2^-9 relative, q8 by at most 1/254 of its
                // block's largest magnitude: the logits move, by about that order relative to their
                // size, amplified through the layers (a broken conversion moves them by ~100 %).
                llama_model fm(w, 2);
                auto c3 = fm.make_cache(1, 32), c4 = hm.make_cache(1, 32);
                const auto f32 = fm.forward(tokens.data(), 8, c3, true);
                const auto hc = hm.forward(tokens.data(), 8, c4, true);
                const double d = max_diff(f32, hc);
                double big = 0;
                for (float v : f32) big = std::max(big, double(std::abs(v)));
                MESSAGE(format << " " << form_name << std::string(tied ? " tied" : " untied") << ": max |Δlogit| / max |logit| = " << d / big);
                CHECK(d > 0);
                CHECK(d < 0.05 * big);
            }
    llama_weights w = tiny_llama(2, 1, true, true, 3);
    CHECK_THROWS_AS(w.store_as("q4"), lowrank::invalid_argument);
}

TEST_CASE("llama_config_from_hf: rope_theta, and transformers 5's rope_parameters") {
    // Reference: the values written in the config (SmolLM2's θ = 100000, as its GGUF
    // llama.rope.freq_base says); other RoPE types are refused, naming the file.
    nlohmann::json cfg = {{"hidden_size", 8}, {"intermediate_size", 16}, {"num_hidden_layers", 1},
                          {"num_attention_heads", 2}, {"vocab_size", 10}};
    CHECK(lowrank::runtime::llama_config_from_hf(cfg, "c.json").rope_theta == doctest::Approx(10000.0));
    cfg["rope_theta"] = 500000.0;
    CHECK(lowrank::runtime::llama_config_from_hf(cfg, "c.json").rope_theta == doctest::Approx(500000.0));
    cfg.erase("rope_theta");
    cfg["rope_parameters"] = {{"rope_theta", 100000.0}, {"rope_type", "default"}};
    CHECK(lowrank::runtime::llama_config_from_hf(cfg, "c.json").rope_theta == doctest::Approx(100000.0));
    cfg["rope_parameters"]["rope_type"] = "yarn";
    try {
        lowrank::runtime::llama_config_from_hf(cfg, "c.json");
        FAIL("rope_type yarn was accepted");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("c.json") != std::string::npos);
        CHECK(std::string(e.what()).find("yarn") != std::string::npos);
    }
}

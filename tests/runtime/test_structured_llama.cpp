// Structured (pruned) Llama models in the runtime: per-layer MLP intermediate size and value head
// dim (compress/structured.hpp). Independent reference: the *dense-shaped* model in which the
// pruned MLP channels have zero gate/up rows and zero down columns, and every head's value
// vector is zero-padded from dv to head_dim (v rows and o columns zero beyond dv). Zero channels
// contribute exactly nothing (silu(0)·0 = 0; padded value dims are 0 in every attention output
// and meet zero o columns), so the two models compute the same function; the dense one runs the
// runtime's ordinary, already-tested path (test_llama.cpp checks it against a naive reference).
#include <doctest/doctest.h>

#include "runtime/llama_loader.hpp"
#include "runtime/structured_compress.hpp"
#include "runtime_test_util.hpp"

#include <algorithm>
#include <cmath>
#include <map>

using namespace lowrank::runtime;

namespace {

struct pruned_pair {
    llama_weights pruned, dense;
};

/// A random GQA model (4 q heads, 2 kv heads, head dim 6) with layer 0 keeping 13 of 40 MLP
/// channels and value dim 2, layer 1 keeping 31 channels and the full value dim 6, layer 2
/// keeping 40 and value dim 5; and its zero-padded dense twin.
pruned_pair make_pair(bool bias, unsigned seed) {
    std::mt19937 rng(seed);
    llama_config c;
    c.vocab = 37, c.hidden = 24, c.intermediate = 40, c.layers = 3, c.heads = 4, c.kv_heads = 2, c.head_dim = 6;
    c.context = 64, c.rope_theta = 10000.0, c.rms_eps = 1e-5f, c.tied = false;
    const std::size_t h = c.hidden, d = c.head_dim, H = c.heads, G = c.kv_heads, I = c.intermediate;
    const std::size_t keep[3] = {13, 31, 40}, dvs[3] = {2, 6, 5};
    pruned_pair p;
    p.pruned.cfg = p.dense.cfg = c;
    p.pruned.embed = rt_test::random_vec(c.vocab * h, rng, 0.5f);
    p.dense.embed = p.pruned.embed;
    p.pruned.final_norm = rt_test::random_vec(h, rng, 0.2f);
    for (auto& x : p.pruned.final_norm) x += 1.f;
    p.dense.final_norm = p.pruned.final_norm;
    p.pruned.lm_head = linear::dense(rt_test::random_vec(c.vocab * h, rng, 0.3f), c.vocab, h);
    p.dense.lm_head = p.pruned.lm_head;
    for (std::size_t l = 0; l < c.layers; ++l) {
        llama_block a, b;
        a.attn_norm = rt_test::random_vec(h, rng, 0.2f), a.ffn_norm = rt_test::random_vec(h, rng, 0.2f);
        for (auto& x : a.attn_norm) x += 1.f;
        for (auto& x : a.ffn_norm) x += 1.f;
        b.attn_norm = a.attn_norm, b.ffn_norm = a.ffn_norm;
        auto bv = [&](std::size_t n) { return bias ? rt_test::random_vec(n, rng, 0.1f) : std::vector<float>{}; };
        a.q = linear::dense(rt_test::random_vec(H * d * h, rng, 0.3f), H * d, h, bv(H * d));
        a.k = linear::dense(rt_test::random_vec(G * d * h, rng, 0.3f), G * d, h, bv(G * d));
        b.q = a.q, b.k = a.k;
        // Values: pruned v [G·dv, h], o [h, H·dv]; dense twin zero-padded to d per head.
        const std::size_t dv = dvs[l];
        const auto vw = rt_test::random_vec(G * dv * h, rng, 0.3f);
        const auto vb = bv(G * dv);
        const auto ow = rt_test::random_vec(h * H * dv, rng, 0.3f);
        a.v = linear::dense(vw, G * dv, h, vb);
        a.o = linear::dense(ow, h, H * dv);
        std::vector<float> vwd(G * d * h, 0.f), vbd(bias ? G * d : 0, 0.f), owd(h * H * d, 0.f);
        for (std::size_t g = 0; g < G; ++g)
            for (std::size_t i = 0; i < dv; ++i) {
                std::copy_n(vw.begin() + long((g * dv + i) * h), h, vwd.begin() + long((g * d + i) * h));
                if (bias) vbd[g * d + i] = vb[g * dv + i];
            }
        for (std::size_t r = 0; r < h; ++r)
            for (std::size_t hh = 0; hh < H; ++hh)
                for (std::size_t i = 0; i < dv; ++i) owd[r * H * d + hh * d + i] = ow[r * H * dv + hh * dv + i];
        b.v = linear::dense(vwd, G * d, h, vbd);
        b.o = linear::dense(owd, h, H * d);
        // MLP: a random kept set of keep[l] channels (ascending); pruned rows/columns zero in the twin.
        std::vector<std::size_t> all(I);
        for (std::size_t j = 0; j < I; ++j) all[j] = j;
        std::shuffle(all.begin(), all.end(), rng);
        std::vector<std::size_t> kept(all.begin(), all.begin() + long(keep[l]));
        std::sort(kept.begin(), kept.end());
        const std::size_t k = kept.size();
        const auto gw = rt_test::random_vec(k * h, rng, 0.3f), uw = rt_test::random_vec(k * h, rng, 0.3f);
        const auto dw = rt_test::random_vec(h * k, rng, 0.3f);
        a.gate = linear::dense(gw, k, h), a.up = linear::dense(uw, k, h), a.down = linear::dense(dw, h, k);
        std::vector<float> gd(I * h, 0.f), ud(I * h, 0.f), dd(h * I, 0.f);
        for (std::size_t i = 0; i < k; ++i) {
            std::copy_n(gw.begin() + long(i * h), h, gd.begin() + long(kept[i] * h));
            std::copy_n(uw.begin() + long(i * h), h, ud.begin() + long(kept[i] * h));
            for (std::size_t r = 0; r < h; ++r) dd[r * I + kept[i]] = dw[r * k + i];
        }
        b.gate = linear::dense(gd, I, h), b.up = linear::dense(ud, I, h), b.down = linear::dense(dd, h, I);
        p.pruned.blocks.push_back(std::move(a));
        p.dense.blocks.push_back(std::move(b));
    }
    return p;
}

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    float m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

const std::vector<int> seq{3, 17, 5, 9, 30, 1, 22, 8, 14, 2, 36};

}  // namespace

TEST_CASE("structured llama: pruned MLP channels and value dims = the zero-padded dense model (prefill, decode, batch)") {
    for (bool bias : {false, true}) {
        CAPTURE(bias);
        const auto p = make_pair(bias, bias ? 5u : 4u);
        llama_model pm(p.pruned, 2), dm(p.dense, 2);
        CHECK(pm.weights().blocks[0].intermediate() == 13);
        CHECK(pm.weights().blocks[0].value_dim(2) == 2);
        CHECK(pm.weights().blocks[2].value_dim(2) == 5);
        // Prefill, all positions.
        auto pc = pm.make_cache(1, 32), dc = dm.make_cache(1, 32);
        CHECK(pc.v.size() == (2 + 6 + 5) * 2 * 32);  // the cache holds G·dv_l values per layer
        const auto lp = pm.forward(seq.data(), seq.size(), pc, true);
        const auto ld = dm.forward(seq.data(), seq.size(), dc, true);
        float top = 0;
        for (float x : ld) top = std::max(top, std::abs(x));
        CHECK(top > 0.1f);
        CHECK(max_diff(lp, ld) <= 2e-5f * std::max(1.f, top));
        // Incremental decode through the per-layer cache equals the prefill rows.
        auto pc2 = pm.make_cache(1, 32);
        auto step = pm.forward(seq.data(), 4, pc2);
        const std::size_t V = p.pruned.cfg.vocab;
        for (std::size_t t = 4; t < seq.size(); ++t) {
            CAPTURE(t);
            step = pm.forward(&seq[t], 1, pc2);
            CHECK(max_diff(step, std::vector<float>(ld.begin() + long(t * V), ld.begin() + long((t + 1) * V))) <=
                  2e-5f * std::max(1.f, top));
        }
        // A batch of two sequences.
        std::vector<int> two(seq.begin(), seq.begin() + 6);
        two.insert(two.end(), seq.begin() + 5, seq.begin() + 11);
        auto pb = pm.make_cache(2, 16), db = dm.make_cache(2, 16);
        CHECK(max_diff(pm.forward(two.data(), 6, pb, true), dm.forward(two.data(), 6, db, true)) <= 2e-5f * std::max(1.f, top));
        const std::vector<int> nx{7, 11};
        CHECK(max_diff(pm.forward(nx.data(), 1, pb), dm.forward(nx.data(), 1, db)) <= 2e-5f * std::max(1.f, top));
        // A cache made for another model is refused.
        auto wrong = dm.make_cache(1, 32);
        CHECK_THROWS_AS(pm.forward(seq.data(), 2, wrong), lowrank::invalid_argument);
    }
}

TEST_CASE("structured llama: build_llama takes per-layer sizes from the tensors only when asked, and checks them") {
    const auto p = make_pair(false, 9);
    // An in-memory weight source holding the pruned model under Hugging Face names.
    std::map<std::string, std::pair<lowrank::shape_t, std::vector<float>>> t;
    const auto& w = p.pruned;
    t["model.embed_tokens.weight"] = {{w.cfg.vocab, w.cfg.hidden}, w.embed};
    t["model.norm.weight"] = {{w.cfg.hidden}, w.final_norm};
    t["lm_head.weight"] = {{w.cfg.vocab, w.cfg.hidden}, w.lm_head.w};
    for (std::size_t l = 0; l < w.cfg.layers; ++l) {
        const auto& b = w.blocks[l];
        const std::string pre = "model.layers." + std::to_string(l) + ".";
        t[pre + "input_layernorm.weight"] = {{w.cfg.hidden}, b.attn_norm};
        t[pre + "post_attention_layernorm.weight"] = {{w.cfg.hidden}, b.ffn_norm};
        const std::pair<const char*, const linear*> lins[] = {{"self_attn.q_proj", &b.q}, {"self_attn.k_proj", &b.k},
                                                              {"self_attn.v_proj", &b.v}, {"self_attn.o_proj", &b.o},
                                                              {"mlp.gate_proj", &b.gate}, {"mlp.up_proj", &b.up},
                                                              {"mlp.down_proj", &b.down}};
        for (const auto& [n, lp] : lins) t[pre + n + ".weight"] = {{lp->out, lp->in}, lp->w};
    }
    auto source = [&t]() {
        weight_source s;
        s.where = "memory.safetensors";
        s.has = [&t](const std::string& n) { return t.count(n) > 0; };
        s.shape = [&t](const std::string& n) { return t.at(n).first; };
        s.dense = [&t](const std::string& n) { return t.at(n).second; };
        s.lin = [&t](const std::string& n, std::vector<float> bias) {
            const auto& [sh, v] = t.at(n);
            return linear::dense(v, sh[0], sh[1], std::move(bias));
        };
        return s;
    };
    llama_config c = w.cfg;
    c.vocab = 0;
    // Without the option: the configuration's sizes are required (a clear error naming the tensor).
    const std::string err = rt_test::error_of([&] { build_llama(c, source(), llama_names::hugging_face); });
    CHECK(err.find("memory.safetensors") != std::string::npos);
    CHECK(err.find("model.layers.0.self_attn.v_proj.weight") != std::string::npos);
    load_options o;
    o.shapes_from_tensors = true;
    const llama_weights got = build_llama(c, source(), llama_names::hugging_face, o);
    llama_model a(got, 1), b(w, 1);
    auto ca = a.make_cache(1, 16), cb = b.make_cache(1, 16);
    CHECK(max_diff(a.forward(seq.data(), 8, ca, true), b.forward(seq.data(), 8, cb, true)) == 0.f);
    // Inconsistent shapes within a layer are refused, naming the tensor.
    auto bad = t["model.layers.1.mlp.down_proj.weight"];
    t["model.layers.1.mlp.down_proj.weight"] = {{w.cfg.hidden, 30}, std::vector<float>(w.cfg.hidden * 30, 0.f)};
    CHECK(rt_test::error_of([&] { build_llama(c, source(), llama_names::hugging_face, o); })
              .find("model.layers.1.mlp.down_proj.weight") != std::string::npos);
    t["model.layers.1.mlp.down_proj.weight"] = bad;
    t["model.layers.2.self_attn.v_proj.weight"] = {{7, w.cfg.hidden}, std::vector<float>(7 * w.cfg.hidden, 0.f)};
    CHECK(rt_test::error_of([&] { build_llama(c, source(), llama_names::hugging_face, o); }).find("multiple") !=
          std::string::npos);
}

TEST_CASE("structured llama: compress_structured follows the plan exactly; K = 1 changes nothing") {
    // A dense random model (the twin of make_pair at full size) and random positive definite
    // statistics: this checks the wiring (sizes, parameter count, running the result), not the
    // quality (tests/compress/test_structured.cpp checks the maths against least squares).
    pruned_pair p = make_pair(true, 21);
    const llama_weights dense = p.dense;
    std::mt19937 rng(3);
    auto stats = [&rng](std::size_t, const std::string& input) {
        const std::size_t n = input == "o_in" ? 24 : 40;
        const auto z = rt_test::random_vec(3 * n * n, rng, 1.f);  // 3n "tokens"
        lowrank::input_stats s = lowrank::input_stats::zeros(n);
        s.tokens = 3 * n;
        for (std::size_t t = 0; t < 3 * n; ++t)
            for (std::size_t i = 0; i < n; ++i) {
                s.abs_sum[i] += std::abs(z[t * n + i]);
                for (std::size_t j = 0; j < n; ++j) s.gram[i * n + j] += double(z[t * n + i]) * z[t * n + j];
            }
        return s;
    };
    std::vector<int> toks(seq.begin(), seq.end());
    {
        llama_weights w = dense;
        structured_compress_options o;
        o.keep = 1.0;
        const auto rep = compress_structured(w, stats, o);
        CHECK(rep.plan.params_after == rep.plan.params_before);
        llama_model a(w, 1), b(dense, 1);
        auto ca = a.make_cache(1, 16), cb = b.make_cache(1, 16);
        CHECK(max_diff(a.forward(toks.data(), 8, ca, true), b.forward(toks.data(), 8, cb, true)) == 0.f);
    }
    for (double K : {0.9, 0.75}) {
        CAPTURE(K);
        llama_weights w = dense;
        structured_compress_options o;
        o.keep = K;
        std::size_t calls = 0;
        const auto rep = compress_structured(w, stats, o, [&](std::size_t done, std::size_t total) {
            CHECK(done == ++calls);
            CHECK(total == 3);
        });
        CHECK(calls == 3);
        std::uint64_t params = 0;
        for (const auto& b : w.blocks) {
            CHECK(b.intermediate() == rep.plan.mlp_keep);
            CHECK(b.value_dim(2) == rep.plan.value_dim);
            CHECK(b.v.bias.size() == b.v.out);
            for (const linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) params += l->out * l->in;
        }
        CHECK(params == rep.plan.params_after);
        CHECK(params <= K * double(rep.plan.params_before));
        CHECK((rep.plan.mlp_keep < 40 || rep.plan.value_dim < 6));
        for (const auto& lr : rep.layers) {
            CHECK(lr.mlp_rel_error >= 0);
            CHECK(lr.mlp_rel_error < 1);
            CHECK(lr.vo_rel_error < 1);
        }
        llama_model m(w, 1);
        auto c = m.make_cache(1, 16);
        for (float x : m.forward(toks.data(), 8, c, true)) CHECK(std::isfinite(x));
        // Compressing an already pruned model is refused.
        CHECK_THROWS_AS(compress_structured(w, stats, o), lowrank::invalid_argument);
    }
}

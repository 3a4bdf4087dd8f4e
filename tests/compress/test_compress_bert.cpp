// `lowrank calibrate` and `lowrank compress` on a tiny generated BERT (hidden 16, 2 layers, 4
// heads, intermediate 32, a letter-level WordPiece vocabulary written here), run as subprocesses.
// References:
//   - calibrate: the statistics equal float64 sums over activation rows captured by this test's
//     own observer on the runtime forward, at the file's window starts, with the windows built
//     here ([CLS] + context − 2 WordPiece tokens + [SEP]); the hook's rows are checked against
//     plain-loop formulas from the weights (layer 0's attn input = LayerNorm(word + position +
//     type embeddings); every block's down input = gelu_erf(intermediate(mlp input) + bias));
//   - compress svd-llm: for every factorised weight the predicted discarded energy equals
//     ‖(W − W′)X‖²_F on those rows (SVD-LLM's truncation-awareness), never more than plain SVD's
//     at the same rank; the output loads (open_bert), embeds finitely and `lowrank eval --tasks
//     agreement` compares it with the dense model;
//   - bad input: methods without BERT support, windows longer than the positions, text shorter
//     than a window — clear error, nothing written.
#include <doctest/doctest.h>

#include "compress/cli_test_util.hpp"
#include "decompose/decompose_test_util.hpp"
#include "lowrank/compress/stats_file.hpp"
#include "lowrank/io/safetensors.hpp"
#include "lowrank/model/source.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/wordpiece_tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <random>

using namespace lowrank;
using namespace lowrank::runtime;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace compress_cli_test;

// The test cases live in this namespace with their helpers (not an anonymous one): the unity
// build compiles this target's files as one translation unit.
namespace compress_bert_cases {

constexpr std::size_t BH = 16, BI = 32, BL = 2, BHEADS = 4, BPOS = 24;
constexpr std::size_t windows = 6, context = 12;

const char* text =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families.";

/// Letter-level WordPiece vocabulary: specials, a–z, ##a–##z, punctuation, a few words.
std::vector<std::string> vocab() {
    std::vector<std::string> v{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (char c = 'a'; c <= 'z'; ++c) v.push_back(std::string(1, c));
    for (char c = 'a'; c <= 'z'; ++c) v.push_back("##" + std::string(1, c));
    for (const char* p : {".", ",", "?", "'", "-", "the", "of", "a", "in", "is"}) v.push_back(p);
    return v;
}

struct tiny_bert {
    std::map<std::string, std::vector<float>> w;
    std::map<std::string, std::vector<std::size_t>> shape;
};

tiny_bert write_tiny_bert(const fs::path& dir, unsigned seed) {
    fs::create_directories(dir);
    const auto vs = vocab();
    {
        std::ofstream vf(dir / "vocab.txt");
        for (const auto& t : vs) vf << t << "\n";
    }
    std::ofstream(dir / "tokenizer_config.json") << json{{"do_lower_case", true}}.dump();
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 0.3f);
    tiny_bert b;
    std::vector<std::string> order;
    auto add = [&](const std::string& n, std::vector<std::size_t> s) {
        std::size_t k = 1;
        for (auto d : s) k *= d;
        std::vector<float> v(k);
        for (auto& x : v) x = nd(rng) + (n.find("LayerNorm.weight") != std::string::npos ? 1.f : 0.f);
        b.w[n] = std::move(v), b.shape[n] = std::move(s), order.push_back(n);
    };
    add("embeddings.word_embeddings.weight", {vs.size(), BH});
    add("embeddings.position_embeddings.weight", {BPOS, BH});
    add("embeddings.token_type_embeddings.weight", {2, BH});
    add("embeddings.LayerNorm.weight", {BH});
    add("embeddings.LayerNorm.bias", {BH});
    for (std::size_t l = 0; l < BL; ++l) {
        const std::string p = "encoder.layer." + std::to_string(l) + ".";
        for (const char* n : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"})
            add(p + n + ".weight", {BH, BH}), add(p + n + ".bias", {BH});
        add(p + "intermediate.dense.weight", {BI, BH}), add(p + "intermediate.dense.bias", {BI});
        add(p + "output.dense.weight", {BH, BI}), add(p + "output.dense.bias", {BH});
        for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"})
            add(p + n + ".weight", {BH}), add(p + n + ".bias", {BH});
    }
    std::vector<safetensors_tensor> ts;
    for (const auto& n : order)
        ts.push_back({n, safetensors_dtype::F32, b.shape[n], std::as_bytes(std::span<const float>(b.w[n]))});
    safetensors_save((dir / "model.safetensors").string(), ts, {{"format", "pt"}});
    std::ofstream(dir / "config.json") << json{{"model_type", "bert"},
                                               {"architectures", {"BertModel"}},
                                               {"hidden_size", BH},
                                               {"intermediate_size", BI},
                                               {"num_hidden_layers", BL},
                                               {"num_attention_heads", BHEADS},
                                               {"vocab_size", vs.size()},
                                               {"max_position_embeddings", BPOS},
                                               {"type_vocab_size", 2},
                                               {"hidden_act", "gelu"},
                                               {"layer_norm_eps", 1e-12}}
                                              .dump(2);
    return b;
}

struct recorder : activation_observer {
    std::map<std::pair<std::size_t, int>, std::vector<std::vector<double>>> rows;
    void on_input(std::size_t l, linear_input in, const float* x, std::size_t count, std::size_t w) override {
        auto& r = rows[{l, static_cast<int>(in)}];
        for (std::size_t t = 0; t < count; ++t) r.emplace_back(x + t * w, x + (t + 1) * w);
    }
};

/// The windows built here: [CLS] + stream[s, s + context − 2) + [SEP].
std::vector<std::vector<int>> windows_of(const fs::path& dir, const std::vector<std::size_t>& starts, std::size_t* stream_len) {
    const auto tok = wordpiece_tokenizer::from_vocab_file((dir / "vocab.txt").string(), true);
    auto ids = tok.encode(text, 100000);
    std::vector<int> stream(ids.begin() + 1, ids.end() - 1);
    *stream_len = stream.size();
    std::vector<std::vector<int>> out;
    for (std::size_t s : starts) {
        REQUIRE(s + context - 2 <= stream.size());
        std::vector<int> w{tok.cls()};
        w.insert(w.end(), stream.begin() + static_cast<long>(s), stream.begin() + static_cast<long>(s + context - 2));
        w.push_back(tok.sep());
        out.push_back(std::move(w));
    }
    return out;
}

recorder record(const fs::path& dir, const std::vector<std::vector<int>>& wins) {
    bert_model m(load_bert_hf(dir.string()), 1);
    recorder rec;
    m.set_observer(&rec);
    for (const auto& w : wins) {
        const std::size_t len = w.size();
        (void)m.forward(w.data(), 1, len, &len);
    }
    m.set_observer(nullptr);
    return rec;
}

struct fixture {
    dtest::temp_dir d{"compress-bert"};
    tiny_bert b;
    fs::path model;
    std::string txt, stats;
    fixture() {
        model = d.path / "tiny-bert";
        b = write_tiny_bert(model, 11);
        txt = d / "calib.txt";
        dtest::write_text(txt, text);
        stats = d / "stats.safetensors";
        std::string log;
        REQUIRE_MESSAGE(run("calibrate " + model.string() + " --text " + txt + " --windows " + std::to_string(windows) +
                                " --context " + std::to_string(context) + " --seed 5 --out " + stats + " --quiet",
                            d, &log) == 0,
                        log);
    }
};


TEST_CASE("calibrate BERT: the statistics equal float64 sums over the encoder's activations") {
    fixture f;
    const stats_file sf(f.stats);
    const auto& p = sf.provenance();
    CHECK(p.windows == windows);
    CHECK(p.context == context);
    CHECK(sf.inputs().size() == BL * 4);
    const auto starts = p.extra.at("starts").get<std::vector<std::size_t>>();
    std::size_t stream = 0;
    const auto wins = windows_of(f.model, starts, &stream);
    CHECK(p.extra.at("text_tokens").get<std::size_t>() == stream);
    const recorder rec = record(f.model, wins);
    const char* names[] = {"attn_in", "o_in", "mlp_in", "down_in"};
    for (std::size_t l = 0; l < BL; ++l)
        for (int in = 0; in < 4; ++in) {
            const auto& rows = rec.rows.at({l, in});
            REQUIRE(rows.size() == windows * context);
            const std::size_t n = rows[0].size();
            CHECK(n == (in == 3 ? BI : BH));
            const auto [g, a] = reference_gram(rows);
            const input_stats s = sf.load("model.layers." + std::to_string(l) + "." + names[in]);
            CAPTURE(l);
            CAPTURE(names[in]);
            CHECK(s.tokens == windows * context);
            for (std::size_t i = 0; i < n * n; ++i) REQUIRE(std::abs(s.gram[i] - g[i]) <= 1e-12 * max_abs(g));
            for (std::size_t i = 0; i < n; ++i) REQUIRE(std::abs(s.abs_sum[i] - a[i]) <= 1e-12 * max_abs(a));
        }
    // The hook's rows are the right tensors (plain loops from the weights).
    const auto& word = f.b.w.at("embeddings.word_embeddings.weight");
    const auto& pos = f.b.w.at("embeddings.position_embeddings.weight");
    const auto& type = f.b.w.at("embeddings.token_type_embeddings.weight");
    const auto& lw = f.b.w.at("embeddings.LayerNorm.weight");
    const auto& lb = f.b.w.at("embeddings.LayerNorm.bias");
    for (std::size_t w = 0; w < windows; ++w)
        for (std::size_t t = 0; t < context; ++t) {
            std::vector<double> e(BH);
            double mean = 0, var = 0;
            for (std::size_t i = 0; i < BH; ++i)
                e[i] = double(word[static_cast<std::size_t>(wins[w][t]) * BH + i]) + pos[t * BH + i] + type[i], mean += e[i];
            mean /= BH;
            for (double x : e) var += (x - mean) * (x - mean);
            var /= BH;
            const auto& got = rec.rows.at({0, 0})[w * context + t];
            for (std::size_t i = 0; i < BH; ++i)
                REQUIRE(got[i] == doctest::Approx((e[i] - mean) / std::sqrt(var + 1e-12) * lw[i] + lb[i]).epsilon(1e-4));
        }
    for (std::size_t l = 0; l < BL; ++l) {
        const std::string p0 = "encoder.layer." + std::to_string(l) + ".intermediate.dense.";
        const auto& W = f.b.w.at(p0 + "weight");
        const auto& bias = f.b.w.at(p0 + "bias");
        const auto& xs = rec.rows.at({l, 2});
        const auto& ds = rec.rows.at({l, 3});
        for (std::size_t t = 0; t < xs.size(); ++t)
            for (std::size_t j = 0; j < BI; ++j) {
                double y = bias[j];
                for (std::size_t i = 0; i < BH; ++i) y += W[j * BH + i] * xs[t][i];
                const double g = 0.5 * y * (1 + std::erf(y / std::sqrt(2.0)));
                REQUIRE(ds[t][j] == doctest::Approx(g).epsilon(1e-4).scale(1e-3));
            }
    }
}

TEST_CASE("compress BERT svd-llm: predicted discarded energy = output error on the activations; loads, embeds, evaluates") {
    fixture f;
    const std::string out = f.d / "c.safetensors", plain = f.d / "p.safetensors";
    std::string log;
    REQUIRE_MESSAGE(run("compress " + f.model.string() + " --keep 0.6 --method svd-llm --calib " + f.stats + " --out " + out +
                            " --quiet",
                        f.d, &log) == 0,
                    log);
    REQUIRE_MESSAGE(run("compress " + f.model.string() + " --keep 0.6 --method plain --out " + plain + " --calib " + f.stats +
                            " --quiet",
                        f.d, &log) == 0,
                    log);
    const json man = json::parse(dtest::read_text(f.d / "c.manifest.json"));
    const json pman = json::parse(dtest::read_text(f.d / "p.manifest.json"));
    CHECK(man.at("compress").at("keep_achieved").get<double>() <= 0.6);
    CHECK(man.at("compress").at("linear_parameters_before").get<std::size_t>() == BL * (4 * BH * BH + 2 * BH * BI));
    std::map<std::string, double> plain_err;
    for (const auto& r : pman.at("tensors"))
        if (r.contains("rank")) plain_err[r.at("name")] = r.at("output_error_energy").get<double>();
    const stats_file sf(f.stats);
    std::size_t stream = 0;
    const recorder rec = record(f.model, windows_of(f.model, sf.provenance().extra.at("starts").get<std::vector<std::size_t>>(), &stream));
    const model::model_source src = model::model_source::open(out);
    std::size_t checked = 0;
    for (const auto& r : man.at("tensors")) {
        if (!r.contains("rank")) continue;
        const std::string name = r.at("name");
        CAPTURE(name);
        const std::string role = r.at("role");
        const int in = role == "attn-out" ? 1 : role == "intermediate" ? 2 : role == "output" ? 3 : 0;
        const auto& w = f.b.w.at(name);
        const std::size_t m = f.b.shape.at(name)[0], n = f.b.shape.at(name)[1];
        const std::vector<float> wp = src.load_f32(name);
        double err = 0, energy = 0;
        for (const auto& x : rec.rows.at({r.at("layer").get<std::size_t>(), in}))
            for (std::size_t i = 0; i < m; ++i) {
                double y = 0, e = 0;
                for (std::size_t j = 0; j < n; ++j) y += w[i * n + j] * x[j], e += (w[i * n + j] - wp[i * n + j]) * x[j];
                err += e * e, energy += y * y;
            }
        CHECK(r.at("discarded_energy").get<double>() == doctest::Approx(err).epsilon(1e-3).scale(1e-6 * energy));
        CHECK(r.at("output_energy").get<double>() == doctest::Approx(energy).epsilon(1e-5));
        REQUIRE(plain_err.count(name));
        CHECK(err <= plain_err[name] * (1 + 1e-4) + 1e-9 * energy);
        ++checked;
    }
    CHECK(checked >= BL * 4);

    // Runs: embeddings finite; biases kept; `eval --tasks agreement` against the dense source.
    opened_bert o = open_bert(out);
    CHECK(o.factorised_layers == checked);
    CHECK(o.weights.blocks[1].q.bias == f.b.w.at("encoder.layer.1.attention.self.query.bias"));
    bert_model m(std::move(o.weights), 1);
    for (float v : m.embed({{2, 5, 9, 11, 3}, {2, 7, 3}})) REQUIRE(std::isfinite(v));
    const fs::path data = f.d.path / "data";
    fs::create_directories(data);
    {
        std::ofstream s(data / "sst2.jsonl");
        for (const char* t : {"a good film", "a bad film", "the best of the year", "is it fine?"})
            s << json{{"sentence", t}, {"label", 1}}.dump() << "\n";
    }
    const std::string ej = f.d / "eval.json";
    REQUIRE_MESSAGE(run("eval " + out + " --tasks agreement --data " + data.string() + " --no-progress --no-efficiency --json " + ej,
                        f.d, &log) == 0,
                    log);
    const json e = json::parse(dtest::read_text(ej));
    const double cos = e.at("tasks").at("agreement").at("metrics").at("mean_cosine").at("value").get<double>();
    CHECK(cos <= 1 + 1e-6);
    CHECK(cos > -1);

    // asvd and global allocation run too.
    REQUIRE_MESSAGE(run("compress " + f.model.string() + " --keep 0.7 --method asvd --alloc global --calib " + f.stats +
                            " --out " + (f.d / "a.safetensors") + " --quiet",
                        f.d, &log) == 0,
                    log);
    CHECK(json::parse(dtest::read_text(f.d / "a.manifest.json")).at("compress").at("keep_achieved").get<double>() <= 0.7);
}

TEST_CASE("calibrate / compress BERT refuse bad input and write nothing") {
    fixture f;
    const std::string out = f.d / "bad.safetensors";
    auto refused = [&](const std::string& args, const std::string& needle) { expect_refused(args, f.d, needle, out); };
    const std::string cal = "calibrate " + f.model.string() + " --out " + out + " --quiet ";
    refused(cal + "--text " + f.txt + " --context 100", "exceeds the model's max_position_embeddings");
    refused(cal + "--text " + f.txt + " --context 2", "--context");
    dtest::write_text(f.d / "short.txt", "a b c");
    refused(cal + "--text " + (f.d / "short.txt") + " --context 12", "fewer than one window");
    const std::string cmp = "compress " + f.model.string() + " --keep 0.6 --calib " + f.stats + " --out " + out + " --quiet ";
    refused(cmp + "--method struct", "not available for BERT");
    refused(cmp + "--method svd-llm-seq", "not available for BERT");
    refused(cmp + "--method svd-llm --alloc sensitivity --calib-text " + f.txt, "--alloc sensitivity is not available for BERT");
    refused("compress " + f.model.string() + " --keep 0.6 --method svd-llm --calib " + f.stats + " --out " +
                (f.model / "model.safetensors").string(),
            "compress: --out");
}

}  // namespace compress_bert_cases

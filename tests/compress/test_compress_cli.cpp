// `lowrank calibrate`, `lowrank compress` and `lowrank eval --tasks ppl:PATH`, run as
// subprocesses on a tiny random Llama (tests/decompose's generator: hidden 16, 3 layers, GQA 4/2)
// with the hf_smollm2_tiny fixture tokenizer. References:
//   - calibrate: the statistics in the file equal float64 sums over activation rows captured here
//     by an independent observer on the runtime forward at the file's window starts; the hook's
//     rows are themselves checked against plain-loop formulas from the weights (layer 0's
//     attention input = RMSNorm(embedding); every block's down input = silu(gate x) ⊙ (up x) of
//     its MLP input);
//   - compress svd-llm: for every factorised weight the predicted discarded energy Σ_{i>r} σ_i²
//     equals ‖(W − W′)X‖²_F measured on those activation rows (SVD-LLM's truncation-awareness),
//     and its output error never exceeds plain SVD's at the same rank (Eckart–Young in the
//     whitened norm); the output loads, runs (finite logits) and evaluates with ppl:PATH;
//   - bad input: clear error naming the argument/file, exit status 2, nothing written, inputs
//     untouched.
#include <doctest/doctest.h>

#include "compress/cli_test_util.hpp"
#include "compress/llama_cli_fixture.hpp"
#include "decompose/decompose_test_util.hpp"
#include "lowrank/compress/stats_file.hpp"
#include "lowrank/io/checksum.hpp"
#include "lowrank/model/source.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

using namespace lowrank;
using namespace lowrank::runtime;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace compress_cli_test;

// The test cases live in this namespace with their helpers (not an anonymous one): the unity
// build compiles this target's files as one translation unit.
namespace compress_cli_cases {

const dtest::tiny_tensor& tensor(const std::vector<dtest::tiny_tensor>& ts, const std::string& hf) {
    for (const auto& t : ts)
        if (t.hf == hf) return t;
    FAIL("no tensor " << hf);
    return ts[0];
}

/// Activation rows per (layer, input), captured as float64 by this test's own observer.
struct recorder : activation_observer {
    std::map<std::pair<std::size_t, int>, std::vector<std::vector<double>>> rows;
    void on_input(std::size_t l, linear_input in, const float* x, std::size_t count, std::size_t w) override {
        auto& r = rows[{l, static_cast<int>(in)}];
        for (std::size_t t = 0; t < count; ++t) r.emplace_back(x + t * w, x + (t + 1) * w);
    }
};

/// The model `w` (tokenizer of the tiny model in model_dir) run over `starts` (windows of
/// `context`) with the recorder attached.
recorder record(const std::string& model_dir, const std::vector<std::size_t>& starts, llama_weights w) {
    const gguf_tokenizer tok = gguf_tokenizer::from_hf_dir(model_dir);
    std::vector<int> ids{tok.bos() >= 0 ? tok.bos() : tok.eos()};
    const auto enc = tok.encode(calib_text, false);
    ids.insert(ids.end(), enc.begin(), enc.end());
    llama_model m(std::move(w), 1);
    recorder rec;
    m.set_observer(&rec);
    for (std::size_t s : starts) {
        REQUIRE(s + context <= ids.size());
        auto c = m.make_cache(1, context);
        (void)m.forward(ids.data() + s, context, c, false);
    }
    m.set_observer(nullptr);
    return rec;
}

/// The tiny model in model_dir run over `starts` with the recorder attached.
recorder record(const std::string& model_dir, const std::vector<std::size_t>& starts) {
    return record(model_dir, starts, open_llama(model_dir).weights);
}

/// float64 Gram Σ x xᵀ of recorded rows.
std::vector<double> gram_of(const std::vector<std::vector<double>>& rows) {
    const std::size_t n = rows.at(0).size();
    std::vector<double> g(n * n, 0.0);
    for (const auto& x : rows)
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) g[i * n + j] += x[i] * x[j];
    return g;
}


TEST_CASE("calibrate: the statistics equal float64 sums over the forward's activations") {
    fixture f;
    const stats_file sf(f.stats);
    const auto& p = sf.provenance();
    CHECK(p.model_sha256 == sha256_file(f.model + "/model.safetensors"));
    CHECK(p.text_sha256 == sha256_file(f.text));
    CHECK(p.windows == windows);
    CHECK(p.context == context);
    CHECK(p.seed == seed);
    const auto starts = p.extra.at("starts").get<std::vector<std::size_t>>();
    REQUIRE(starts.size() == windows);
    const std::size_t stream = p.extra.at("text_tokens").get<std::size_t>();
    for (std::size_t s : starts) CHECK(s + context <= stream);
    CHECK(sf.inputs().size() == dtest::L * 4);

    const recorder rec = record(f.model, starts);
    const char* names[] = {"attn_in", "o_in", "mlp_in", "down_in"};
    for (std::size_t l = 0; l < dtest::L; ++l)
        for (int in = 0; in < 4; ++in) {
            const auto& rows = rec.rows.at({l, in});
            const std::size_t n = rows[0].size();
            const auto [g, a] = reference_gram(rows);
            const input_stats s = sf.load("model.layers." + std::to_string(l) + "." + names[in]);
            CAPTURE(l);
            CAPTURE(names[in]);
            REQUIRE(s.channels == n);
            CHECK(s.tokens == windows * context);
            const double scale = max_abs(g);
            for (std::size_t i = 0; i < n * n; ++i) REQUIRE(std::abs(s.gram[i] - g[i]) <= 1e-12 * scale);
            for (std::size_t i = 0; i < n; ++i) REQUIRE(std::abs(s.abs_sum[i] - a[i]) <= 1e-12 * max_abs(a));
        }

    // The hook's rows are the right tensors: plain-loop formulas from the weights.
    const gguf_tokenizer tok = gguf_tokenizer::from_hf_dir(f.model);
    std::vector<int> ids{tok.bos() >= 0 ? tok.bos() : tok.eos()};
    for (int t : tok.encode(calib_text, false)) ids.push_back(t);
    REQUIRE(ids.size() == stream);
    const auto& emb = tensor(f.ts, "model.embed_tokens.weight").data;
    const auto& g0 = tensor(f.ts, "model.layers.0.input_layernorm.weight").data;
    const auto& attn0 = rec.rows.at({0, 0});
    for (std::size_t w = 0; w < windows; ++w)
        for (std::size_t t = 0; t < context; ++t) {
            const float* e = emb.data() + static_cast<std::size_t>(ids[starts[w] + t]) * dtest::H;
            double ss = 0;
            for (std::size_t i = 0; i < dtest::H; ++i) ss += double(e[i]) * e[i];
            const double inv = 1.0 / std::sqrt(ss / dtest::H + 1e-5);
            for (std::size_t i = 0; i < dtest::H; ++i)
                REQUIRE(attn0[w * context + t][i] == doctest::Approx(e[i] * inv * g0[i]).epsilon(1e-4));
        }
    for (std::size_t l = 0; l < dtest::L; ++l) {
        const std::string p0 = "model.layers." + std::to_string(l) + ".mlp.";
        const auto& gate = tensor(f.ts, p0 + "gate_proj.weight").data;
        const auto& up = tensor(f.ts, p0 + "up_proj.weight").data;
        const auto& xs = rec.rows.at({l, 2});
        const auto& ds = rec.rows.at({l, 3});
        for (std::size_t t = 0; t < xs.size(); ++t)
            for (std::size_t j = 0; j < dtest::I; ++j) {
                double a = 0, b = 0;
                for (std::size_t i = 0; i < dtest::H; ++i) a += gate[j * dtest::H + i] * xs[t][i], b += up[j * dtest::H + i] * xs[t][i];
                const double want = a / (1 + std::exp(-a)) * b;
                REQUIRE(std::abs(ds[t][j] - want) <= 1e-4 * (1 + std::abs(want)));
            }
    }
}

TEST_CASE("compress svd-llm: discarded energy = output error on the calibration activations; runs and evaluates") {
    fixture f;
    const std::string out = f.d / "c.safetensors", plain = f.d / "p.safetensors";
    std::string log;
    REQUIRE_MESSAGE(run("compress " + f.model + " --keep 0.6 --method svd-llm --calib " + f.stats + " --out " + out +
                            " --json " + (f.d / "sum.json") + " --quiet",
                        f.d, &log) == 0,
                    log);
    REQUIRE_MESSAGE(run("compress " + f.model + " --keep 0.6 --method plain --calib " + f.stats + " --out " + plain + " --quiet",
                        f.d, &log) == 0,
                    log);
    const json man = json::parse(dtest::read_text(f.d / "c.manifest.json"));
    const json pman = json::parse(dtest::read_text(f.d / "p.manifest.json"));
    const json& c = man.at("compress");
    CHECK(c.at("keep_achieved").get<double>() <= 0.6);
    CHECK(c.at("keep_achieved").get<double>() > 0.3);
    CHECK(c.at("linear_parameters_after").get<std::uint64_t>() <= c.at("linear_budget").get<std::uint64_t>());
    const json sum = json::parse(dtest::read_text(f.d / "sum.json"));
    CHECK(sum.at("keep_achieved") == c.at("keep_achieved"));

    const stats_file sf(f.stats);
    const recorder rec = record(f.model, sf.provenance().extra.at("starts").get<std::vector<std::size_t>>());
    const model::model_source src = model::model_source::open(out);
    std::map<std::string, double> plain_err;
    for (const auto& r : pman.at("tensors"))
        if (r.contains("rank")) plain_err[r.at("name")] = r.at("output_error_energy").get<double>();
    std::size_t checked = 0;
    for (const auto& r : man.at("tensors")) {
        if (!r.contains("rank")) continue;
        const std::string name = r.at("name");
        CAPTURE(name);
        CHECK(r.at("method") == "svd-llm");
        CHECK(r.at("whitener") == "cholesky");
        const std::size_t l = r.at("layer").get<std::size_t>();
        const std::string role = r.at("role");
        const int in = role == "o" ? 1 : role == "gate" || role == "up" ? 2 : role == "down" ? 3 : 0;
        const auto& w = tensor(f.ts, name).data;
        const std::vector<float> wp = src.load_f32(name);  // W′ = u vᵀ from the file
        const std::size_t m = tensor(f.ts, name).shape[0], n = tensor(f.ts, name).shape[1];
        double err = 0, energy = 0;
        for (const auto& x : rec.rows.at({l, in}))
            for (std::size_t i = 0; i < m; ++i) {
                double y = 0, e = 0;
                for (std::size_t j = 0; j < n; ++j) y += w[i * n + j] * x[j], e += (w[i * n + j] - wp[i * n + j]) * x[j];
                err += e * e, energy += y * y;
            }
        CHECK(r.at("discarded_energy").get<double>() == doctest::Approx(err).epsilon(1e-3).scale(1e-6 * energy));
        CHECK(r.at("output_error_energy").get<double>() == doctest::Approx(err).epsilon(1e-3).scale(1e-6 * energy));
        CHECK(r.at("output_energy").get<double>() == doctest::Approx(energy).epsilon(1e-5));
        REQUIRE(plain_err.count(name));
        CHECK(err <= plain_err[name] * (1 + 1e-4) + 1e-9 * energy);  // whitened SVD is optimal in the output norm
        ++checked;
    }
    CHECK(checked >= dtest::L * 5);

    // The output runs in the runtime and in `lowrank eval --tasks ppl:PATH`.
    opened_llama o = open_llama(out);
    CHECK(o.factorised_layers == checked);
    llama_model m(std::move(o.weights), 1);
    auto cache = m.make_cache(1, 8);
    const std::vector<int> toks{5, 17, 300, 42, 9, 1000, 77, 3};
    for (float v : m.forward(toks.data(), toks.size(), cache, true)) REQUIRE(std::isfinite(v));
    for (const std::string& which : {out, f.model}) {
        const std::string ej = f.d / "eval.json";
        REQUIRE_MESSAGE(run("eval " + which + " --tasks ppl:" + f.text + " --context 16 --stride 8 --no-progress --json " + ej,
                            f.d, &log) == 0,
                        log);
        const json e = json::parse(dtest::read_text(ej));
        const double ppl = e.at("tasks").at("ppl:" + f.text).at("metrics").at("perplexity").at("value").get<double>();
        CHECK(std::isfinite(ppl));
        CHECK(ppl > 1);
    }
}

TEST_CASE("compress --calib-text, global allocation and --fold") {
    fixture f;
    const std::string out = f.d / "g.safetensors";
    std::string log;
    REQUIRE_MESSAGE(run("compress " + f.model + " --keep 0.7 --method svd-llm --alloc global --calib-text " + f.text +
                            " --windows 5 --context 16 --seed 3 --out " + out + " --quiet",
                        f.d, &log) == 0,
                    log);
    const json man = json::parse(dtest::read_text(f.d / "g.manifest.json"));
    CHECK(man.at("compress").at("keep_achieved").get<double>() <= 0.7);
    CHECK(man.at("compress").at("allocation").at("solver") != "uniform");
    {  // the allocator minimised Σ L_i(r_i)/L_i(0) = Σ (predicted whitened relative error)² of the factorised weights
        double rel = 0;
        std::size_t factorised = 0;
        for (const auto& r : man.at("tensors"))
            if (r.contains("rank")) {
                const double e = r.at("predicted_whitened_rel_error").get<double>();
                rel += e * e, ++factorised;
            }
        CHECK(factorised > 0);
        CHECK(man.at("compress").at("allocation").at("relative_loss").get<double>() == doctest::Approx(rel).epsilon(1e-6));
        CHECK(rel < static_cast<double>(factorised));  // normalised: each term is in [0, 1]
    }
    CHECK(hidden_entries(f.d.path) == 0);  // the temporary statistics are gone
    // Same statistics as `calibrate` with the same windowing.
    CHECK(man.at("compress").at("calibration").at("text_sha256") == stats_file(f.stats).provenance().text_sha256);

    const std::string folded = f.d / "folded";
    REQUIRE_MESSAGE(run("compress " + f.model + " --keep 0.6 --method asvd --calib " + f.stats + " --fold --out " + folded +
                            " --quiet",
                        f.d, &log) == 0,
                    log);
    opened_llama o = open_llama(folded);  // a dense HF directory
    llama_model m(std::move(o.weights), 1);
    auto cache = m.make_cache(1, 4);
    const std::vector<int> toks{5, 17, 300, 42};
    for (float v : m.forward(toks.data(), toks.size(), cache, true)) REQUIRE(std::isfinite(v));
}

TEST_CASE("calibrate and compress refuse bad input, write nothing and leave the inputs untouched") {
    fixture f;
    const std::string model_sha = sha256_file(f.model + "/model.safetensors");
    const std::string out = f.d / "bad.safetensors";
    auto refused = [&](const std::string& args, const std::string& needle) {
        expect_refused(args, f.d, needle, out);
        CHECK(hidden_entries(f.d.path) == 0);
        for (const auto& e : fs::directory_iterator(f.d.path)) CHECK(!contains(e.path().filename().string(), "bad."));
    };
    const std::string cal = "calibrate " + f.model + " --out " + out + " --quiet ";
    dtest::write_text(f.d / "empty.txt", "");
    refused(cal + "--text " + (f.d / "empty.txt"), "empty.txt: the file is empty");
    dtest::write_text(f.d / "latin1.txt", std::string("caf\xe9 au lait, ") + calib_text);
    refused(cal + "--text " + (f.d / "latin1.txt"), "not valid UTF-8 (byte offset 3)");
    dtest::write_text(f.d / "short.txt", "Hi.");
    refused(cal + "--text " + (f.d / "short.txt") + " --context 16", "fewer than one window");
    refused(cal + "--text " + (f.d / "missing.txt"), "missing.txt: no such file");
    refused(cal + "--text " + f.text + " --windows 0", "--windows");
    refused(cal + "--text " + f.text + " --windows abc", "--windows");
    refused(cal + "--text " + f.text + " --context 100000", "--context");

    const std::string cmp = "compress " + f.model + " --method svd-llm --out " + out + " --quiet ";
    refused(cmp + "--keep 0 --calib " + f.stats, "--keep must be in (0, 1]");
    refused(cmp + "--keep 1.5 --calib " + f.stats, "--keep must be in (0, 1]");
    refused(cmp + "--keep 0.5", "needs calibration statistics");
    refused("compress " + f.model + " --method bogus --keep 0.5 --calib " + f.stats + " --out " + out, "bogus");
    refused(cmp + "--keep 0.5 --calib " + f.stats + " --keep-dense 'layers\\.' ", "keeps every linear weight dense");
    refused(cmp + "--keep 0.001 --calib " + f.stats, "cannot be met");
    refused(cmp + "--keep 0.5 --calib " + f.text, "--calib");
    {  // statistics of another model
        write_tiny(f.d.path / "other", 8);
        std::string log;
        REQUIRE(run("calibrate " + (f.d.path / "other").string() + " --text " + f.text +
                        " --windows 2 --context 16 --quiet --out " + (f.d / "other.safetensors"),
                    f.d, &log) == 0);
        refused(cmp + "--keep 0.5 --calib " + (f.d / "other.safetensors"), "not for this model");
    }
    {  // statistics holding NaN
        const std::string bad = f.d / "nan.safetensors";
        fs::copy_file(f.stats, bad);
        std::uint64_t at = 0;
        {
            const safetensors_file sf(bad);
            at = sf.data_start() + sf.find("model.layers.1.mlp_in.gram")->begin;
        }
        std::fstream io(bad, std::ios::in | std::ios::out | std::ios::binary);
        const double nan = std::nan("");
        io.seekp(static_cast<std::streamoff>(at));
        io.write(reinterpret_cast<const char*>(&nan), sizeof nan);
        io.close();
        refused(cmp + "--keep 0.5 --calib " + bad, "NaN/Inf");
    }
    {  // never overwrite an input
        std::string log;
        CHECK(run("compress " + f.model + " --method svd-llm --keep 0.5 --calib " + f.stats + " --out " + f.stats, f.d, &log) != 0);
        CHECK(contains(log, "refusing to overwrite"));
        CHECK(contains(log, "compress: --out"));  // the command running, not the shared helper's "decompose:"
        CHECK(run("calibrate " + f.model + " --text " + f.text + " --out " + f.text, f.d, &log) != 0);
        CHECK(contains(log, "refusing to overwrite"));
        CHECK(dtest::read_text(f.text) == calib_text);
    }
    refused("compress " + f.model + " --method svd-llm-seq --out " + out + " --quiet --keep 0.5 --calib " + f.stats +
                " --alloc global",
            "--alloc uniform only");
    refused(cmp + "--keep 0.5 --calib " + f.stats + " --seq-stats " + (f.d / "bad.seq.safetensors"), "--seq-stats needs");
    refused("eval " + f.model + " --tasks ppl:" + (f.d / "latin1.txt"), "not valid UTF-8");
    CHECK(sha256_file(f.model + "/model.safetensors") == model_sha);
    CHECK(stats_file(f.stats).inputs().size() == dtest::L * 4);
}

// `--method struct` (cli/compress_struct.hpp): the reported per-layer relative output errors of
// down_proj and o_proj equal the errors measured on the calibration activation rows captured
// here (the kept channels found by matching gate rows against the dense model; the value
// projection enters through the o input: o′ acts on P·a, and P is recovered from v′ = P v);
// the parameter count is within K; the output declares per-layer shapes, loads, runs and
// evaluates; unsupported options are refused with nothing written.
TEST_CASE("compress struct: reported output errors = errors on the calibration activations; runs and evaluates") {
    fixture f;
    const std::string out = f.d / "s.safetensors";
    std::string log;
    REQUIRE_MESSAGE(run("compress " + f.model + " --keep 0.7 --method struct --calib " + f.stats + " --out " + out +
                            " --json " + (f.d / "sum.json") + " --quiet",
                        f.d, &log) == 0,
                    log);
    const json man = json::parse(dtest::read_text(f.d / "s.manifest.json"));
    CHECK(man.at("per_layer_shapes") == true);
    const json& c = man.at("compress");
    CHECK(c.at("keep_achieved").get<double>() <= 0.7);
    CHECK(c.at("linear_parameters_after").get<std::uint64_t>() <= c.at("linear_budget").get<std::uint64_t>());
    const std::size_t keep = c.at("intermediate").get<std::size_t>(), r = c.at("value_dim").get<std::size_t>();
    CHECK(keep < dtest::I);
    const stats_file sf(f.stats);
    const recorder rec = record(f.model, sf.provenance().extra.at("starts").get<std::vector<std::size_t>>());
    const model::model_source src = model::model_source::open(out);
    const std::size_t h = dtest::H, d = h / dtest::NH;
    for (std::size_t l = 0; l < dtest::L; ++l) {
        CAPTURE(l);
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const auto& g = tensor(f.ts, p + "mlp.gate_proj.weight").data;
        const auto& w = tensor(f.ts, p + "mlp.down_proj.weight").data;
        const auto g2 = src.load_f32(p + "mlp.gate_proj.weight");
        const auto w2 = src.load_f32(p + "mlp.down_proj.weight");
        REQUIRE(g2.size() == keep * h);
        REQUIRE(w2.size() == h * keep);
        std::vector<std::size_t> kept;
        for (std::size_t i = 0; i < keep; ++i)
            for (std::size_t j = 0; j < dtest::I; ++j)
                if (std::equal(g2.begin() + long(i * h), g2.begin() + long((i + 1) * h), g.begin() + long(j * h))) {
                    kept.push_back(j);
                    break;
                }
        REQUIRE(kept.size() == keep);
        double err = 0, energy = 0;
        for (const auto& z : rec.rows.at({l, 3}))
            for (std::size_t i = 0; i < h; ++i) {
                double y = 0, y2 = 0;
                for (std::size_t j = 0; j < dtest::I; ++j) y += w[i * dtest::I + j] * z[j];
                for (std::size_t j = 0; j < keep; ++j) y2 += w2[i * keep + j] * z[kept[j]];
                err += (y - y2) * (y - y2), energy += y * y;
            }
        const json& lr = c.at("layers").at(l);
        CHECK(lr.at("down_rel_output_error").get<double>() == doctest::Approx(std::sqrt(err / energy)).epsilon(1e-3));
        // VO: P_g from v′_g = P_g v_g (least squares over the hidden columns; v_g has full row rank).
        const auto& v = tensor(f.ts, p + "self_attn.v_proj.weight").data;
        const auto& o = tensor(f.ts, p + "self_attn.o_proj.weight").data;
        const auto v2 = src.load_f32(p + "self_attn.v_proj.weight");
        const auto o2 = src.load_f32(p + "self_attn.o_proj.weight");
        REQUIRE(v2.size() == dtest::NKV * r * h);
        REQUIRE(o2.size() == h * dtest::NH * r);
        std::vector<double> P(dtest::NKV * r * d);
        for (std::size_t kv = 0; kv < dtest::NKV; ++kv) {
            // Solve P_g (v_g v_gᵀ) = v′_g v_gᵀ by Gaussian elimination (d×d system).
            std::vector<double> A(d * d, 0.0), Bm(r * d, 0.0);
            for (std::size_t a = 0; a < d; ++a)
                for (std::size_t b = 0; b < d; ++b)
                    for (std::size_t k = 0; k < h; ++k) A[a * d + b] += double(v[(kv * d + a) * h + k]) * v[(kv * d + b) * h + k];
            for (std::size_t i = 0; i < r; ++i)
                for (std::size_t b = 0; b < d; ++b)
                    for (std::size_t k = 0; k < h; ++k) Bm[i * d + b] += double(v2[(kv * r + i) * h + k]) * v[(kv * d + b) * h + k];
            for (std::size_t col = 0; col < d; ++col) {  // A symmetric: solve X A = Bm row by row via A X^T = Bm^T
                std::size_t piv = col;
                for (std::size_t q = col + 1; q < d; ++q)
                    if (std::abs(A[q * d + col]) > std::abs(A[piv * d + col])) piv = q;
                for (std::size_t b = 0; b < d; ++b) std::swap(A[col * d + b], A[piv * d + b]);
                for (std::size_t i = 0; i < r; ++i) std::swap(Bm[i * d + col], Bm[i * d + piv]);
                for (std::size_t q = 0; q < d; ++q) {
                    if (q == col) continue;
                    const double fct = A[q * d + col] / A[col * d + col];
                    for (std::size_t b = 0; b < d; ++b) A[q * d + b] -= fct * A[col * d + b];
                    for (std::size_t i = 0; i < r; ++i) Bm[i * d + q] -= fct * Bm[i * d + col];
                }
            }
            for (std::size_t i = 0; i < r; ++i)
                for (std::size_t b = 0; b < d; ++b) P[(kv * r + i) * d + b] = Bm[i * d + b] / A[b * d + b];
        }
        double eo = 0, to = 0;
        const std::size_t per = dtest::NH / dtest::NKV;
        for (const auto& a : rec.rows.at({l, 1})) {
            std::vector<double> ap(dtest::NH * r, 0.0);
            for (std::size_t hh = 0; hh < dtest::NH; ++hh)
                for (std::size_t i = 0; i < r; ++i)
                    for (std::size_t j = 0; j < d; ++j) ap[hh * r + i] += P[((hh / per) * r + i) * d + j] * a[hh * d + j];
            for (std::size_t i = 0; i < h; ++i) {
                double y = 0, y2 = 0;
                for (std::size_t j = 0; j < dtest::NH * d; ++j) y += o[i * dtest::NH * d + j] * a[j];
                for (std::size_t j = 0; j < dtest::NH * r; ++j) y2 += o2[i * dtest::NH * r + j] * ap[j];
                eo += (y - y2) * (y - y2), to += y * y;
            }
        }
        CHECK(lr.at("o_rel_output_error").get<double>() == doctest::Approx(std::sqrt(eo / to)).epsilon(1e-2).scale(1e-4));
    }
    // Loads (per-layer shapes), runs and evaluates.
    opened_llama o = open_llama(out);
    CHECK(o.weights.blocks[0].intermediate() == keep);
    llama_model m(std::move(o.weights), 1);
    auto cache = m.make_cache(1, 8);
    const std::vector<int> toks{5, 17, 300, 42, 9, 1000, 77, 3};
    for (float v : m.forward(toks.data(), toks.size(), cache, true)) REQUIRE(std::isfinite(v));
    const std::string ej = f.d / "eval.json";
    REQUIRE_MESSAGE(run("eval " + out + " --tasks ppl:" + f.text + " --context 16 --stride 8 --no-progress --json " + ej, f.d,
                        &log) == 0,
                    log);
    // Unsupported options: exit 2, nothing written.
    for (const std::string& extra : {std::string(" --alloc global"), std::string(" --fold"), std::string(" --keep-dense q_proj")}) {
        CAPTURE(extra);
        const std::string bad = f.d / "bad.safetensors";
        CHECK(run("compress " + f.model + " --keep 0.7 --method struct --calib " + f.stats + " --out " + bad + extra + " --quiet",
                  f.d, &log) == 2);
        CHECK(contains(log, "struct"));
        CHECK_FALSE(fs::exists(bad));
    }
}

// svd-llm-seq (cmd_compress.cpp run_sequential, runtime::run_sequential_calibration): the
// statistics it used for block l (written by --seq-stats) equal float64 sums over the
// activations of the model whose blocks < l are taken from the compressed output and blocks ≥ l
// from the dense model, run here with a full forward (what `lowrank calibrate` measures on that
// model) at the same windows; block 0's equal the dense calibration's; deeper blocks' differ from
// it (the prefix was compressed). The output loads and runs.
TEST_CASE("compress svd-llm-seq: block l's statistics = calibration of the model with blocks < l compressed") {
    fixture f;
    const std::string out = f.d / "seq.safetensors", seq = f.d / "seq.stats.safetensors";
    std::string log;
    REQUIRE_MESSAGE(run("compress " + f.model + " --keep 0.5 --method svd-llm-seq --calib " + f.stats + " --seq-stats " + seq +
                            " --out " + out + " --quiet",
                        f.d, &log) == 0,
                    log);
    const stats_file sq(seq), dense(f.stats);
    CHECK(sq.provenance().mode == "sequential");
    const auto starts = dense.provenance().extra.at("starts").get<std::vector<std::size_t>>();
    CHECK(sq.provenance().extra.at("starts").get<std::vector<std::size_t>>() == starts);
    const json man = json::parse(dtest::read_text(f.d / "seq.manifest.json"));
    CHECK(man.at("compress").at("keep_achieved").get<double>() <= 0.5);
    CHECK(man.at("compress").at("weights_factorised").get<std::size_t>() > 0);
    const char* names[] = {"attn_in", "o_in", "mlp_in", "down_in"};
    double deep_change = 0;
    for (std::size_t l = 0; l < dtest::L; ++l) {
        opened_llama comp = open_llama(out), hybrid = open_llama(f.model);
        for (std::size_t b = 0; b < l; ++b) hybrid.weights.blocks[b] = comp.weights.blocks[b];
        const recorder rec = record(f.model, starts, std::move(hybrid.weights));
        for (int in = 0; in < 4; ++in) {
            CAPTURE(l);
            CAPTURE(names[in]);
            const std::string name = "model.layers." + std::to_string(l) + "." + names[in];
            const std::vector<double> g = gram_of(rec.rows.at({l, in}));
            const input_stats s = sq.load(name), d0 = dense.load(name);
            CHECK(s.tokens == windows * context);
            const double scale = max_abs(g);
            // (1e-5: the forward here runs on 1 BLAS thread, compress's on 2 — float rounding only)
            for (std::size_t i = 0; i < g.size(); ++i) REQUIRE(std::abs(s.gram[i] - g[i]) <= 1e-5 * scale);
            double diff = 0;
            for (std::size_t i = 0; i < g.size(); ++i) diff = std::max(diff, std::abs(d0.gram[i] - s.gram[i]));
            if (l == 0) CHECK(diff <= 1e-5 * scale);
            else deep_change = std::max(deep_change, diff / scale);
        }
    }
    CHECK(deep_change > 1e-2);  // the compressed prefix changed the deeper blocks' inputs (far above the tolerance)

    opened_llama o = open_llama(out);
    llama_model m(std::move(o.weights), 1);
    auto cache = m.make_cache(1, 8);
    const std::vector<int> toks{5, 17, 300, 42, 9, 1000, 77, 3};
    for (float v : m.forward(toks.data(), toks.size(), cache, true)) REQUIRE(std::isfinite(v));
}

// design-space / plan --model (cli/arch_option.hpp): the architecture the file itself describes.
// A GGUF that stores output.weight has an untied head even when the published model ties it, so
// its parameter count — what eval and compress count — differs from a tied description's by V·H.
TEST_CASE("design-space --model counts the file's own parameters: a GGUF's separate output weight included") {
    dtest::temp_dir d("arch-model");
    auto ts = dtest::tiny_llama(5);
    const std::string tied = d / "tied.gguf", untied = d / "untied.gguf", hf = d / "hf";
    dtest::write_tiny_gguf(tied, ts);
    dtest::write_tiny_hf(hf, ts);
    ts.push_back({"lm_head.weight", "output.weight", {dtest::V, dtest::H}, std::vector<float>(dtest::V * dtest::H, 0.5f)});
    dtest::write_tiny_gguf(untied, ts);
    auto total = [&](const std::string& args) {
        std::string log;
        REQUIRE_MESSAGE(run("design-space " + args + " --json", d, &log) == 0, log);
        return json::parse(log.substr(log.find('{'))).at("parameters").at("total").get<std::uint64_t>();
    };
    const std::uint64_t t_cfg = total("--config " + (hf + "/config.json"));
    CHECK(total("--model " + tied) == t_cfg);
    CHECK(total("--model " + hf) == t_cfg);
    CHECK(total("--model " + untied) == t_cfg + dtest::V * dtest::H);
    // plan --model: γ names the file (its stem) and is accounted against the file's own total
    std::string log;
    REQUIRE_MESSAGE(run("plan --model " + untied + " --target-reduction 0.2 --rank 1 --skip-first 0 --json", d, &log) == 0, log);
    const json p = json::parse(log.substr(log.find('{')));
    CHECK(p.at("model") == "untied");
    CHECK(p.at("parameters").at("before").get<std::uint64_t>() == t_cfg + dtest::V * dtest::H);
    expect_refused("design-space --model " + (d / "missing.gguf"), d, "--model", d / "none");
    expect_refused("design-space --arch smollm2-135m --model " + untied, d, "--model", d / "none");
}

}  // namespace compress_cli_cases

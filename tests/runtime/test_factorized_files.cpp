// Loading factorised files written by `lowrank decompose` (run as a subprocess on tiny random
// Llama / BERT models generated here) into the runtime (runtime/factorized_loader.hpp).
// References, per model:
//   (a) the same γ applied in memory to the source model (runtime::apply_plan / apply_plan_bert),
//   (b) at full rank: the dense source model itself,
//   (c) the model folded back to dense by `lowrank decompose --fold` (read by the dense loaders),
//   (d) damaged or mismatched files and sources: rejected with an error naming file and tensor.
// Plus, when the cached SmolLM2 GGUF is present: a real γ decomposed to a file vs the same γ in
// memory (logits and `lowrank generate` output).
#include <doctest/doctest.h>

#include "decompose/decompose_test_util.hpp"
#include "eval/bert_plan.hpp"
#include "runtime/bpe_tokenizer.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime_test_util.hpp"

#include <algorithm>
#include <cmath>

using namespace lowrank;
using namespace lowrank::runtime;
namespace fs = std::filesystem;

namespace {

const std::map<std::string, int> llama_low{{"q", 3}, {"k", 2}, {"v", 2}, {"o", 3}, {"gate", 4}, {"up", 4}, {"down", 4}};
const std::map<std::string, int> llama_full{{"q", 16}, {"k", 8}, {"v", 8}, {"o", 16}, {"gate", 16}, {"up", 16}, {"down", 16}};
const std::vector<int> tokens{1, 7, 3, 39, 12, 0, 25, 18, 5};

// dtest's tiny Llama (hidden 16, 3 layers, GQA 4/2, vocab 40) with weights scaled to a sane
// range (norm gains near 1), so logits stay O(1) through the three layers.
std::vector<dtest::tiny_tensor> scaled_tiny_llama(unsigned seed) {
    auto ts = dtest::tiny_llama(seed);
    for (auto& t : ts)
        for (auto& x : t.data) x = t.shape.size() == 1 ? 1.f + 0.1f * x : 0.3f * x;
    return ts;
}

std::vector<float> llama_logits(llama_weights w) {
    llama_model m(std::move(w), 1);
    auto c = m.make_cache(1, tokens.size());
    return m.forward(tokens.data(), tokens.size(), c, true);
}

/// max |a − b| / max |b|.
double rel_max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0, n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        d = std::max(d, std::abs(double(a[i]) - b[i]));
        n = std::max(n, std::abs(double(b[i])));
    }
    return d / n;
}

using rt_test::error_of;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Rewrites factorised file `in` as `out` with `edit` applied to its manifest and the tensor
/// `drop` (if any) left out of the data: a damaged/mismatched file for the (d) checks.
void rewrite_factorized(const std::string& in, const std::string& out, const std::function<void(nlohmann::json&)>& edit,
                        const std::string& drop = {}) {
    const safetensors_file f(in);
    auto md = f.metadata();
    nlohmann::json man = nlohmann::json::parse(md.at("lowrank.manifest"));
    edit(man);
    md["lowrank.manifest"] = man.dump();
    std::vector<safetensors_tensor> ts;
    for (const auto& e : f.entries())
        if (e.name != drop) {
            const tensor_view v = f.view(e);
            ts.push_back({e.name, e.dtype, e.shape, v.bytes});
        }
    safetensors_save(out, ts, md);
}

// ------------------------------------------------------------------ tiny BERT (HF directory)

constexpr std::size_t BH = 16, BI = 32, BL = 2, BHEADS = 4, BV = 30, BPOS = 24;

void write_tiny_bert(const fs::path& dir, unsigned seed) {
    fs::create_directories(dir);
    std::mt19937 rng(seed);
    std::vector<std::pair<std::string, std::vector<std::size_t>>> spec{
        {"embeddings.word_embeddings.weight", {BV, BH}},    {"embeddings.position_embeddings.weight", {BPOS, BH}},
        {"embeddings.token_type_embeddings.weight", {2, BH}}, {"embeddings.LayerNorm.weight", {BH}},
        {"embeddings.LayerNorm.bias", {BH}}};
    for (std::size_t l = 0; l < BL; ++l) {
        const std::string p = "encoder.layer." + std::to_string(l) + ".";
        for (const char* n : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"})
            spec.push_back({p + n + ".weight", {BH, BH}}), spec.push_back({p + n + ".bias", {BH}});
        spec.push_back({p + "intermediate.dense.weight", {BI, BH}}), spec.push_back({p + "intermediate.dense.bias", {BI}});
        spec.push_back({p + "output.dense.weight", {BH, BI}}), spec.push_back({p + "output.dense.bias", {BH}});
        for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"})
            spec.push_back({p + n + ".weight", {BH}}), spec.push_back({p + n + ".bias", {BH}});
    }
    std::vector<std::vector<float>> data;
    for (const auto& [name, shape] : spec) {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        auto v = rt_test::random_vec(n, rng, 0.3f);
        if (contains(name, "LayerNorm.weight"))
            for (auto& x : v) x += 1.f;
        data.push_back(std::move(v));
    }
    std::vector<safetensors_tensor> ts;
    for (std::size_t i = 0; i < spec.size(); ++i)
        ts.push_back({spec[i].first, safetensors_dtype::F32, spec[i].second,
                      std::as_bytes(std::span<const float>(data[i]))});
    // Like all-MiniLM-L6-v2: an int64 buffer the encoder does not use, kept dense by decompose.
    std::vector<std::int64_t> position_ids(BPOS);
    for (std::size_t i = 0; i < BPOS; ++i) position_ids[i] = static_cast<std::int64_t>(i);
    ts.push_back({"embeddings.position_ids", safetensors_dtype::I64, {1, BPOS},
                  std::as_bytes(std::span<const std::int64_t>(position_ids))});
    safetensors_save((dir / "model.safetensors").string(), ts, {{"format", "pt"}});
    std::ofstream(dir / "config.json") << nlohmann::json{{"model_type", "bert"},
                                                          {"architectures", {"BertModel"}},
                                                          {"hidden_size", BH},
                                                          {"intermediate_size", BI},
                                                          {"num_hidden_layers", BL},
                                                          {"num_attention_heads", BHEADS},
                                                          {"vocab_size", BV},
                                                          {"max_position_embeddings", BPOS},
                                                          {"type_vocab_size", 2},
                                                          {"hidden_act", "gelu"},
                                                          {"layer_norm_eps", 1e-12}}
                                                          .dump(2);
}

std::vector<float> bert_embeddings(bert_weights w) {
    bert_model m(std::move(w), 1);
    return m.embed({{2, 5, 9, 11, 3}, {2, 7, 3}, {2, 29, 14, 8, 20, 6, 3}});
}

}  // namespace

TEST_CASE("factorised Llama file (from GGUF): equals γ in memory, dense at full rank, the folded model") {
    dtest::temp_dir d("rt-llama");
    const auto ts = scaled_tiny_llama(11);
    const std::string src = d / "tiny.gguf";
    dtest::write_tiny_gguf(src, ts);
    const gguf_file g = read_gguf(src);
    const auto dense_logits = llama_logits(load_llama_gguf(g));

    for (const std::string method : {"svd", "tucker2"}) {
        CAPTURE(method);
        const std::string gamma = dtest::gamma_json("tiny", {0, 2}, llama_low, method);
        dtest::write_text(d / "g.json", gamma);
        const std::string file = d / ("f-" + method + ".safetensors");
        REQUIRE(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --threads 2 --quiet --out " + file,
                               d / "log") == 0);
        // The format is detected from the content: the same file under a .gguf name still loads.
        const std::string disguised = d / ("disguised-" + method + ".gguf");
        fs::copy_file(file, disguised);
        CHECK(detect_model_file(disguised) == model_file_kind::factorized);
        opened_llama o = open_llama(disguised);
        REQUIRE(o.source);
        CHECK(o.source->verified);
        CHECK(o.source->format == "gguf");
        CHECK(o.gguf.has_value());  // the tokenizer/metadata GGUF is the source
        CHECK(o.factorised_layers == 14);
        // Factorised layers are built from the factors, at the stored rank, never densified.
        const auto want = method == "svd" ? linear_form::svd : linear_form::tucker2;
        for (std::size_t l = 0; l < 3; ++l) {
            CAPTURE(l);
            const auto& b = o.weights.blocks[l];
            CHECK(b.q.form == (l == 1 ? linear_form::dense : want));
            CHECK(b.down.form == (l == 1 ? linear_form::dense : want));
            if (l != 1) {
                CHECK(b.gate.r1 == 4);
                CHECK(b.k.r1 == 2);
                CHECK(b.down.w.size() == 16 * 4);
            }
        }
        const auto file_logits = llama_logits(std::move(o.weights));

        // (a) the same γ applied in memory to the dense GGUF model.
        llama_weights mem = load_llama_gguf(g);
        exec_context ex(1);
        const auto steps = apply_plan(ex, mem, nlohmann::json::parse(gamma));
        CHECK(steps.size() == 14);
        const double da = rel_max_diff(file_logits, llama_logits(std::move(mem)));
        MESSAGE(method << ": factorised file vs γ in memory, max |Δlogit| / max |logit| = " << da);
        CHECK(da < 1e-5);

        // (c) the model folded back to dense by `decompose --fold` (F32 GGUF).
        const std::string folded = d / ("folded-" + method + ".gguf");
        REQUIRE(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --fold --quiet --out " + folded,
                               d / "log") == 0);
        const double dc = rel_max_diff(file_logits, llama_logits(load_llama_gguf(read_gguf(folded))));
        MESSAGE(method << ": factorised file vs folded GGUF = " << dc);
        CHECK(dc < 1e-5);
        // The truncation does change the model (so (a) and (c) are not vacuous).
        CHECK(rel_max_diff(file_logits, dense_logits) > 1e-2);

        // (b) full rank: the factorised model equals the dense source.
        dtest::write_text(d / "gf.json", dtest::gamma_json("tiny", {0, 1, 2}, llama_full, method));
        const std::string full = d / ("full-" + method + ".safetensors");
        REQUIRE(dtest::run_cli("decompose " + src + " --plan " + (d / "gf.json") + " --allow-no-savings --quiet --out " + full,
                               d / "log") == 0);
        opened_llama of = open_llama(full);
        CHECK(of.weights.blocks[1].up.form == want);
        const double db = rel_max_diff(llama_logits(std::move(of.weights)), dense_logits);
        MESSAGE(method << ": full-rank factorised file vs dense = " << db);
        CHECK(db < 1e-5);
    }
}

TEST_CASE("GGUF loader: accepts the families the model layer accepts (Mistral), refuses others naming the file") {
    // Reference: the same tensors as a general.architecture = "llama" GGUF (logits must be equal).
    dtest::temp_dir d("rt-arch");
    const auto ts = scaled_tiny_llama(3);
    dtest::write_tiny_gguf(d / "l.gguf", ts);
    dtest::write_tiny_gguf(d / "m.gguf", ts, {}, "mistral");
    dtest::write_tiny_gguf(d / "g.gguf", ts, {}, "gpt2");
    const auto want = llama_logits(load_llama_gguf(read_gguf(d / "l.gguf")));
    CHECK(llama_logits(load_llama_gguf(read_gguf(d / "m.gguf"))) == want);
    CHECK(llama_logits(open_llama(d / "m.gguf").weights) == want);
    // An unknown architecture: the model layer's architecture_error naming the file, from every entry point.
    CHECK_THROWS_WITH_AS(load_llama_gguf(read_gguf(d / "g.gguf")), doctest::Contains((d / "g.gguf").c_str()), architecture_error);
    CHECK_THROWS_WITH_AS(llama_config_from_gguf(read_gguf(d / "g.gguf")), doctest::Contains("unsupported architecture 'gpt2'"),
                         architecture_error);
    CHECK_THROWS_WITH_AS(open_llama(d / "g.gguf"), doctest::Contains((d / "g.gguf").c_str()), architecture_error);
}

TEST_CASE("factorised Llama file: missing, changed or mismatched sources and damaged files are rejected") {
    dtest::temp_dir d("rt-bad");
    const std::string src = d / "tiny.gguf";
    dtest::write_tiny_gguf(src, scaled_tiny_llama(13));
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {1}, llama_low, "svd"));
    const std::string file = d / "f.safetensors";
    REQUIRE(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --quiet --out " + file, d / "log") == 0);
    const auto good = llama_logits(open_llama(file).weights);

    // Source moved away: named, with the hint; --source to the new place works (hash matches).
    const std::string moved = d / "moved.gguf";
    fs::rename(src, moved);
    std::string e = error_of([&] { open_llama(file); });
    CAPTURE(e);
    CHECK(contains(e, file));
    CHECK(contains(e, src));
    CHECK(contains(e, "--source"));
    CHECK(rel_max_diff(llama_logits(open_llama(file, moved).weights), good) == 0.0);
    // Source changed (one byte of a tensor): sha256 mismatch, naming both files.
    fs::copy_file(moved, src);
    {
        std::fstream f(src, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(-3, std::ios::end);
        char c = 0;
        f.read(&c, 1);
        c ^= 0x5a;
        f.seekp(-3, std::ios::end);
        f.write(&c, 1);
    }
    e = error_of([&] { open_llama(file); });
    CHECK(contains(e, file));
    CHECK(contains(e, src));
    CHECK(contains(e, "sha256"));
    fs::remove(src);
    fs::rename(moved, src);
    REQUIRE(error_of([&] { open_llama(file); }).empty());

    // A source of another shape (hash not recorded, so only the shapes can tell): the first
    // tensor whose shape the source's configuration contradicts is named.
    auto no_hash = [](nlohmann::json& m) { m["source"].erase("files"); };
    const std::string other = d / "other.gguf";
    {
        auto ts = scaled_tiny_llama(13);
        using lowrank::gguf_kv;
        using lowrank::gguf_value;
        std::vector<gguf_kv> md = {
            {"general.architecture", gguf_value::string("llama"), 0},
            {"llama.block_count", gguf_value::scalar<std::uint32_t>(3), 0},
            {"llama.embedding_length", gguf_value::scalar<std::uint32_t>(16), 0},
            {"llama.feed_forward_length", gguf_value::scalar<std::uint32_t>(24), 0},  // not 32
            {"llama.attention.head_count", gguf_value::scalar<std::uint32_t>(4), 0},
            {"llama.attention.head_count_kv", gguf_value::scalar<std::uint32_t>(2), 0}};
        write_gguf(other, md, {});
    }
    rewrite_factorized(file, d / "nohash.safetensors", no_hash);
    e = error_of([&] { open_llama(d / "nohash.safetensors", other); });
    CAPTURE(e);
    CHECK(contains(e, d / "nohash.safetensors"));
    CHECK(contains(e, "blk.0.ffn_gate.weight"));
    CHECK(contains(e, "[32, 16]"));

    // A factor missing from the data although the manifest lists it.
    rewrite_factorized(file, d / "nofactor.safetensors", [](nlohmann::json&) {}, "blk.1.ffn_up.lowrank.v");
    e = error_of([&] { open_llama(d / "nofactor.safetensors"); });
    CHECK(contains(e, d / "nofactor.safetensors"));
    CHECK(contains(e, "blk.1.ffn_up.weight"));
    CHECK(contains(e, "blk.1.ffn_up.lowrank.v"));
    // A tensor the model needs, absent from file and manifest.
    rewrite_factorized(file, d / "notensor.safetensors", [](nlohmann::json& m) {
        auto& t = m["tensors"];
        t.erase(std::remove_if(t.begin(), t.end(), [](const auto& x) { return x["name"] == "blk.2.ffn_down.weight"; }), t.end());
    }, "blk.2.ffn_down.weight");
    e = error_of([&] { open_llama(d / "notensor.safetensors"); });
    CHECK(contains(e, d / "notensor.safetensors"));
    CHECK(contains(e, "blk.2.ffn_down.weight"));
    CHECK(contains(e, "missing"));
    // The manifest's rank disagrees with the stored factors.
    rewrite_factorized(file, d / "rank.safetensors", [](nlohmann::json& m) {
        for (auto& t : m["tensors"])
            if (t["name"] == "blk.1.attn_q.weight") t["rank"] = 5;
    });
    e = error_of([&] { open_llama(d / "rank.safetensors"); });
    CHECK(contains(e, d / "rank.safetensors"));
    CHECK(contains(e, "blk.1.attn_q.weight"));
    // An embedding stored factorised cannot be looked up by row.
    rewrite_factorized(file, d / "embfact.safetensors", [](nlohmann::json& m) {
        for (auto& t : m["tensors"])
            if (t["name"] == "blk.1.attn_q.weight") t["name"] = "token_embd.weight";
        auto& t = m["tensors"];
        t.erase(std::find_if(t.begin(), t.end(), [](const auto& x) { return x["name"] == "token_embd.weight" && !x.contains("factors"); }));
    }, "token_embd.weight");
    e = error_of([&] { open_llama(d / "embfact.safetensors"); });
    CAPTURE(e);
    CHECK(contains(e, d / "embfact.safetensors"));
    CHECK(contains(e, "token_embd.weight"));
    // No source recorded and none given.
    rewrite_factorized(file, d / "nosource.safetensors", [](nlohmann::json& m) { m.erase("source"); });
    e = error_of([&] { open_llama(d / "nosource.safetensors"); });
    CHECK(contains(e, "no source model"));
    // Not a model at all.
    dtest::write_text(d / "junk.bin", "this is not a model");
    e = error_of([&] { open_llama(d / "junk.bin"); });
    CHECK(contains(e, d / "junk.bin"));
}

TEST_CASE("factorised BERT file (from an HF directory): equals γ in memory, dense at full rank, the folded model") {
    dtest::temp_dir d("rt-bert");
    const fs::path src = d.path / "tiny-bert";
    write_tiny_bert(src, 5);
    const auto dense = bert_embeddings(load_bert_hf(src.string()));
    for (const std::string method : {"svd", "tucker2"}) {
        CAPTURE(method);
        const std::map<std::string, int> low{{"q", 3}, {"v", 2}, {"attn-out", 3}, {"intermediate", 4}, {"output", 4}};
        const std::string gamma = dtest::gamma_json("tiny", {1}, low, method);
        dtest::write_text(d / "g.json", gamma);
        const std::string file = d / ("f-" + method + ".safetensors");
        REQUIRE(dtest::run_cli("decompose " + src.string() + " --plan " + (d / "g.json") + " --quiet --out " + file,
                               d / "log") == 0);
        CHECK(is_bert_model(file));
        {  // The manifest spells roles as γ does: BERT's attention output is "attn-out".
            const factorized_model fm(file);
            CHECK(fm.at("encoder.layer.1.attention.output.dense.weight").info.value("role", std::string()) == "attn-out");
            CHECK(fm.at("encoder.layer.1.intermediate.dense.weight").info.value("role", std::string()) == "intermediate");
        }
        opened_bert o = open_bert(file);
        REQUIRE(o.source);
        CHECK(o.source->verified);
        CHECK(o.dir == src.string());
        CHECK(o.factorised_layers == 5);
        const auto want = method == "svd" ? linear_form::svd : linear_form::tucker2;
        CHECK(o.weights.blocks[1].intermediate.form == want);
        CHECK(o.weights.blocks[1].k.form == linear_form::dense);
        CHECK(o.weights.blocks[0].q.form == linear_form::dense);
        const auto got = bert_embeddings(std::move(o.weights));
        // (a) γ in memory.
        bert_weights mem = load_bert_hf(src.string());
        exec_context ex(1);
        CHECK(eval::apply_plan_bert(ex, mem, nlohmann::json::parse(gamma)) == 5);
        const double da = rel_max_diff(got, bert_embeddings(std::move(mem)));
        MESSAGE("BERT " << method << ": factorised file vs γ in memory = " << da);
        CHECK(da < 1e-5);
        CHECK(rel_max_diff(got, dense) > 1e-3);
        // (c) folded back to an HF directory.
        const std::string folded = d / ("folded-" + method);
        REQUIRE(dtest::run_cli("decompose " + src.string() + " --plan " + (d / "g.json") + " --fold --quiet --out " + folded,
                               d / "log") == 0);
        const double dc = rel_max_diff(got, bert_embeddings(load_bert_hf(folded)));
        MESSAGE("BERT " << method << ": factorised file vs folded = " << dc);
        CHECK(dc < 1e-5);
        // (b) full rank.
        const std::map<std::string, int> full{{"q", 16}, {"k", 16}, {"v", 16}, {"attn-out", 16}, {"intermediate", 16}, {"output", 16}};
        dtest::write_text(d / "gf.json", dtest::gamma_json("tiny", {0, 1}, full, method));
        const std::string ff = d / ("full-" + method + ".safetensors");
        REQUIRE(dtest::run_cli("decompose " + src.string() + " --plan " + (d / "gf.json") +
                                   " --allow-no-savings --quiet --out " + ff,
                               d / "log") == 0);
        const double db = rel_max_diff(bert_embeddings(open_bert(ff).weights), dense);
        MESSAGE("BERT " << method << ": full rank vs dense = " << db);
        CHECK(db < 1e-5);
    }
    // (d) the source directory gone; a wrong-shaped layer.
    const std::string file = d / "f-svd.safetensors";
    fs::rename(src, d.path / "elsewhere");
    std::string e = error_of([&] { open_bert(file); });
    CHECK(contains(e, file));
    CHECK(contains(e, src.string()));
    CHECK(open_bert(file, (d.path / "elsewhere").string()).source->verified);
    rewrite_factorized(file, d / "shape.safetensors", [](nlohmann::json& m) {
        m["source"].erase("files");
        for (auto& t : m["tensors"])
            if (t["name"] == "encoder.layer.0.attention.self.key.weight") t["shape"] = {BH, BH + 1};
    });
    e = error_of([&] { open_bert(d / "shape.safetensors", (d.path / "elsewhere").string()); });
    CAPTURE(e);
    CHECK(contains(e, d / "shape.safetensors"));
    CHECK(contains(e, "encoder.layer.0.attention.self.key.weight"));
}

TEST_CASE("real: SmolLM2 γ decomposed to a file equals the same γ applied in memory" * doctest::test_suite("assets")) {
    const auto path = rt_test::asset("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "real/SmolLM2 factorised");
    if (path.empty()) return;
    dtest::temp_dir d("rt-real");
    const std::map<std::string, int> r64{{"q", 64}, {"k", 64}, {"v", 64}, {"o", 64}, {"gate", 64}, {"up", 64}, {"down", 64}};
    const std::string gamma = dtest::gamma_json("smollm2-135m", {3, 17, 28}, r64, "svd");
    dtest::write_text(d / "g.json", gamma);
    const std::string file = d / "smol.safetensors";
    REQUIRE(dtest::run_cli("decompose " + path + " --plan " + (d / "g.json") + " --threads 2 --quiet --out " + file,
                           d / "log") == 0);
    const auto f = read_gguf(path);
    const auto tok = bpe_tokenizer::from_gguf(f);
    const auto ids = tok.encode("The capital of France is");
    auto logits = [&](llama_weights w) {
        llama_model m(std::move(w), 2);
        auto c = m.make_cache(1, ids.size());
        return m.forward(ids.data(), ids.size(), c, true);
    };
    const auto from_file = logits(open_llama(file, {}, 512).weights);
    llama_weights mem = load_llama_gguf(f, 512);
    exec_context ex(2);
    apply_plan(ex, mem, nlohmann::json::parse(gamma));
    const auto in_memory = logits(std::move(mem));
    const double rel = rel_max_diff(from_file, in_memory);
    MESSAGE("SmolLM2 rank-64 γ: factorised file vs in memory, max |Δlogit| / max |logit| = " << rel);
    CHECK(rel < 1e-4);
    // Greedy continuation through the CLI: identical text.
    const std::string args = " --prompt \"The capital of France is\" --max-tokens 8";
    REQUIRE(dtest::run_cli("generate " + file + args, d / "a.txt") == 0);
    REQUIRE(dtest::run_cli("generate " + path + " --plan " + (d / "g.json") + args, d / "b.txt") == 0);
    auto first_line = [](const std::string& p) {
        std::ifstream in(p);
        std::string l, text;
        while (std::getline(in, l))
            if (l.rfind("The capital", 0) == 0) text = l;
        return text;
    };
    const std::string a = first_line(d / "a.txt"), b = first_line(d / "b.txt");
    MESSAGE("generate from the file: " << a);
    CHECK(!a.empty());
    CHECK(a == b);
}

TEST_CASE("bf16 at load (load_options::bf16) equals float32 load + to_bf16(); float32 storage is released") {
    // Reference: the established path (load float32, then llama_weights::to_bf16()); streaming the
    // conversion per tensor must give the same rounded weights, hence bit-identical logits.
    dtest::temp_dir d("rt-bf16-load");
    const std::string src = d / "tiny.gguf";
    dtest::write_tiny_gguf(src, scaled_tiny_llama(17));
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {1}, llama_low, "tucker2"));
    const std::string file = d / "f.safetensors";
    REQUIRE(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --quiet --out " + file, d / "log") == 0);
    for (const std::string& path : {src, file}) {
        CAPTURE(path);
        opened_llama a = open_llama(path);
        a.weights.to_bf16();
        CHECK(a.weights.embed.capacity() == 0);  // `embed = {}` used to keep the float32 buffer
        CHECK(a.weights.blocks[0].q.w.capacity() == 0);
        CHECK(a.weights.blocks[1].q.w.capacity() == 0);
        opened_llama b = open_llama(path, {}, 4096, load_options{true});
        CHECK(b.weights.embed.empty());
        CHECK(b.weights.blocks[1].q.is_bf16());
        CHECK(b.weights.blocks[1].q.form == a.weights.blocks[1].q.form);
        CHECK(b.weights.bytes() == a.weights.bytes());
        CHECK(llama_logits(std::move(b.weights)) == llama_logits(std::move(a.weights)));
    }
}

TEST_CASE("merged factorised directory (decompose --layers + merge) runs like the unsharded file: identical logits") {
    // Reference: the unsharded factorised file of the same γ. The parts are decomposed on one BLAS
    // thread so the factors are bit-identical; the runtime must then give bit-identical logits,
    // float32 and bf16, and record the same source and factorised-layer count.
    dtest::temp_dir d("rt-merged");
    const std::string src = d / "tiny.gguf";
    dtest::write_tiny_gguf(src, scaled_tiny_llama(23));
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 1}, llama_low, "svd"));
    ::setenv("OPENBLAS_NUM_THREADS", "1", 1);
    const std::string plan = " --plan " + (d / "g.json") + " --threads 1 --quiet";
    const std::string file = d / "whole.safetensors";
    REQUIRE(dtest::run_cli("decompose " + src + plan + " --out " + file, d / "log") == 0);
    REQUIRE(dtest::run_cli("decompose " + src + plan + " --layers 1..1 --out " + (d / "p1.safetensors"), d / "log") == 0);
    REQUIRE(dtest::run_cli("decompose " + src + plan + " --layers 2..3 --out " + (d / "p2.safetensors"), d / "log") == 0);
    const std::string dir = d / "merged";
    REQUIRE(dtest::run_cli("merge " + (d / "p2.safetensors") + " " + (d / "p1.safetensors") + " --max-shard-size 3000 --out " +
                               dir, d / "log") == 0);
    opened_llama a = open_llama(file), b = open_llama(dir);
    CHECK(b.kind == model_file_kind::factorized);
    CHECK(b.factorised_layers == a.factorised_layers);
    CHECK(b.source->path == a.source->path);
    CHECK(b.source->verified);
    CHECK(llama_logits(std::move(b.weights)) == llama_logits(std::move(a.weights)));
    opened_llama a16 = open_llama(file, {}, 4096, load_options{true}), b16 = open_llama(dir, {}, 4096, load_options{true});
    CHECK(llama_logits(std::move(b16.weights)) == llama_logits(std::move(a16.weights)));
}

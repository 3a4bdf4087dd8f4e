// `lowrank export-hf` (runtime/hf_export.hpp), the C++ side: run as a subprocess on tiny models
// generated here (dtest's tiny Llama as GGUF with a real byte-level BPE vocabulary, a tiny BERT
// directory with MiniLM's int64 position_ids), decomposed by `lowrank decompose`. References:
//   * the original weights: at full rank the exported factors multiply back to them (< 1e-5),
//     read back with the library's safetensors reader through the written index;
//   * the factorised file: every dense tensor is copied byte for byte;
//   * Hugging Face `tokenizers`: the tokenizer.json written from a GGUF vocabulary gives the ids
//     `tokenizers` gave for the same vocabulary (tests/runtime/fixtures, made by
//     scripts/make_runtime_fixtures.py), and the ids of the GGUF tokenizer itself;
//   * parameter accounting worked out here from the shapes and ranks;
//   * bad input: exit status 2 and a message naming the file/tensor, nothing under --out, no
//     staging directory left, inputs unchanged.
// transformers itself loads the exports in tests/interop/test_hf_export.py.
#include <doctest/doctest.h>

#include "decompose/decompose_test_util.hpp"
#include "runtime/hf_export.hpp"
#include "runtime/runtime_test_util.hpp"

#include <algorithm>
#include <cmath>

using namespace lowrank;
using namespace lowrank::runtime;
namespace fs = std::filesystem;

namespace {

const char* TRICKY[] = {"Hello world", "  leading and trailing spaces   ", "numbers 1234567890 and 3.14159 and 1,000",
                        "Ünïcödé façade naïve café — “quotes”", "日本語のテキスト", "emoji 😀🎉👍🏽 and ZWJ 👨‍👩‍👧‍👦",
                        "code: def f(x):\n    return x**2 + 1  # comment\n", "don't DON'T 'quoted'", "\t\n  \n\t ",
                        "a\u00a0b\u2003c\u3000d", "<|im_start|>user\nHi there<|im_end|>", "", " "};

nlohmann::json read_json(const fs::path& p) {
    std::ifstream in(p);
    REQUIRE(in);
    return nlohmann::json::parse(in);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// The tokenizer metadata of the hf_smollm2_tiny fixture (3252 tokens, written by `tokenizers`)
/// as GGUF keys, pre-tokenizer "smollm".
std::vector<gguf_kv> fixture_tokenizer_kv(std::size_t& vocab) {
    const auto tj = read_json(fs::path(LOWRANK_RUNTIME_FIXTURES) / "hf_smollm2_tiny/tokenizer.json");
    std::vector<std::string> tokens(tj["model"]["vocab"].size() + tj["added_tokens"].size());
    std::vector<std::int32_t> types(tokens.size(), 0);
    for (const auto& [t, id] : tj["model"]["vocab"].items()) tokens.at(id.get<std::size_t>()) = t, types[id.get<std::size_t>()] = 1;
    for (const auto& a : tj["added_tokens"])
        tokens.at(a["id"].get<std::size_t>()) = a["content"], types[a["id"].get<std::size_t>()] = a["special"].get<bool>() ? 3 : 4;
    std::size_t n = 0;
    while (n < types.size() && types[n] != 0) ++n;
    tokens.resize(n), types.resize(n);
    std::vector<std::string> merges;
    for (const auto& m : tj["model"]["merges"])
        merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
    vocab = n;
    return {{"tokenizer.ggml.model", gguf_value::string("gpt2"), 0},
            {"tokenizer.ggml.pre", gguf_value::string("smollm"), 0},
            {"tokenizer.ggml.tokens", gguf_value::array(tokens), 0},
            {"tokenizer.ggml.token_type", gguf_value::array(types), 0},
            {"tokenizer.ggml.merges", gguf_value::array(merges), 0},
            {"tokenizer.ggml.bos_token_id", gguf_value::scalar<std::uint32_t>(0), 0},
            {"tokenizer.ggml.eos_token_id", gguf_value::scalar<std::uint32_t>(2), 0},
            {"tokenizer.ggml.add_bos_token", gguf_value::scalar<bool>(false), 0},
            {"llama.context_length", gguf_value::scalar<std::uint32_t>(256), 0},
            {"llama.rope.freq_base", gguf_value::scalar<float>(50000.f), 0}};
}

/// The tiny GGUF Llama (dtest dimensions, the fixture vocabulary) and its tensors.
struct tiny_gguf {
    std::vector<dtest::tiny_tensor> ts;
    std::size_t vocab = 0;
    std::string path;
    explicit tiny_gguf(const dtest::temp_dir& d) {
        const auto kv = fixture_tokenizer_kv(vocab);
        ts = dtest::tiny_llama(11, vocab);
        path = d / "tiny.gguf";
        dtest::write_tiny_gguf(path, ts, kv);
    }
};

std::string file_sha(const std::string& p) { return lowrank::sha256_file(p); }

/// Runs the CLI; exit status, output in `log` (read back into `text`).
int run(const std::string& args, const dtest::temp_dir& d, std::string* text = nullptr) {
    const std::string log = d / "cli.log";
    const int rc = dtest::run_cli(args, log);
    if (text) *text = dtest::read_text(log);
    return rc;
}

/// Names of entries in `dir` that start with a dot (staging leftovers).
std::vector<std::string> hidden_entries(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().rfind('.', 0) == 0) out.push_back(e.path().filename().string());
    return out;
}

/// W = U·V from the exported factors (U [out, r], V [r, in]), in double.
std::vector<float> product(const std::vector<float>& u, const std::vector<float>& v, std::size_t out, std::size_t r,
                           std::size_t in) {
    std::vector<float> w(out * in);
    for (std::size_t i = 0; i < out; ++i)
        for (std::size_t j = 0; j < in; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < r; ++k) s += double(u[i * r + k]) * v[k * in + j];
            w[i * in + j] = static_cast<float>(s);
        }
    return w;
}

const std::map<std::string, int> full{{"q", 16}, {"k", 8}, {"v", 8}, {"o", 16}, {"gate", 16}, {"up", 16}, {"down", 16}};
const std::map<std::string, int> low{{"q", 3}, {"k", 2}, {"v", 2}, {"o", 3}, {"gate", 4}, {"up", 4}, {"down", 4}};

}  // namespace

TEST_CASE("export-hf: GGUF Llama at full rank: factors give back the weights; config, index, tokenizer") {
    dtest::temp_dir d("xhf-gguf");
    const tiny_gguf m(d);
    for (const char* method : {"svd", "tucker2"}) {
        CAPTURE(method);
        dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 1, 2}, full, method));
        const std::string f = d / (std::string("f-") + method + ".safetensors"), out = d / (std::string("hf-") + method);
        REQUIRE(run("decompose " + m.path + " --plan " + d / "g.json" + " --method " + method +
                    " --allow-no-savings --threads 1 --quiet --out " + f, d) == 0);
        const std::string sha_in = file_sha(m.path), sha_f = file_sha(f);
        std::string log;
        REQUIRE_MESSAGE(run("export-hf " + f + " --out " + out + " --quiet --shard-size 20KB", d, &log) == 0, log);
        CHECK(file_sha(m.path) == sha_in);
        CHECK(file_sha(f) == sha_f);
        CHECK(hidden_entries(d.path).empty());

        const auto cfg = read_json(fs::path(out) / "config.json");
        CHECK(cfg["model_type"] == "llama");
        CHECK(cfg["architectures"][0] == "LowRankLlamaForCausalLM");
        CHECK(cfg["auto_map"]["AutoModelForCausalLM"] == "modeling_lowrank.LowRankLlamaForCausalLM");
        CHECK(cfg["hidden_size"] == dtest::H);
        CHECK(cfg["intermediate_size"] == dtest::I);
        CHECK(cfg["num_hidden_layers"] == dtest::L);
        CHECK(cfg["num_attention_heads"] == dtest::NH);
        CHECK(cfg["num_key_value_heads"] == dtest::NKV);
        CHECK(cfg["vocab_size"] == m.vocab);
        CHECK(cfg["max_position_embeddings"] == 256);
        CHECK(cfg["rope_theta"] == doctest::Approx(50000.0));
        CHECK(cfg["rope_parameters"]["rope_theta"] == doctest::Approx(50000.0));
        CHECK(cfg["tie_word_embeddings"] == true);
        CHECK(cfg["bos_token_id"] == 0);
        CHECK(cfg["eos_token_id"] == 2);
        const auto& lr = cfg["lowrank"];
        CHECK(lr["format"] == "lowrank.hf");
        CHECK(lr["tucker_core"] == "folded");
        REQUIRE(lr["modules"].size() == 7 * dtest::L);
        CHECK(lr["modules"]["model.layers.1.self_attn.k_proj"]["rank"] == 8);
        CHECK(lr["modules"]["model.layers.1.self_attn.k_proj"]["core"] == false);
        CHECK(fs::is_regular_file(fs::path(out) / "modeling_lowrank.py"));
        CHECK(contains(dtest::read_text((fs::path(out) / "modeling_lowrank.py").string()), "class LowRankLinear"));
        CHECK(fs::is_regular_file(fs::path(out) / "lowrank_manifest.json"));

        // Index → shards: the library's reader checks that every tensor is where the index says.
        const auto index = read_json(fs::path(out) / "model.safetensors.index.json");
        const safetensors_model st = safetensors_model::open(out);
        CHECK(st.files().size() > 1);  // 20 KB shards
        std::uint64_t total = 0;
        for (const auto& name : st.names()) total += st.find(name)->end - st.find(name)->begin;
        CHECK(index["metadata"]["total_size"] == total);
        std::map<std::string, std::pair<std::size_t, std::uint64_t>> per_shard;  // file → (tensors, bytes)
        for (const auto& [name, file] : index["weight_map"].items()) {
            auto& [n, b] = per_shard[file.get<std::string>()];
            ++n, b += st.find(name)->end - st.find(name)->begin;
        }
        CHECK(per_shard.size() == st.files().size());
        for (const auto& [file, nb] : per_shard) CHECK((nb.first == 1 || nb.second <= 20000));  // limit, or one big tensor

        // Every original weight comes back from the exported factors; dense tensors are byte copies.
        const factorized_model fm(f);
        std::uint64_t params = 0;
        for (const auto& name : st.names()) params += numel(st.find(name)->shape);
        std::uint64_t cores = 0;
        if (std::string(method) == "tucker2")
            for (const auto& t : fm.tensors()) cores += t.factored ? t.rank * t.rank : 0;
        CHECK(params + cores == fm.parameters_after());
        CHECK(lr["parameters"]["export"] == params);
        for (const auto& t : m.ts) {
            CAPTURE(t.hf);
            const bool weight = t.shape.size() == 2 && t.hf != "model.embed_tokens.weight";
            if (!weight) {
                REQUIRE(st.contains(t.hf));
                const auto a = st.view(t.hf).bytes;
                const auto b = fm.at(t.gguf).dense.bytes;
                CHECK((a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin())));
                continue;
            }
            const std::string base = t.hf.substr(0, t.hf.size() - 7);
            const auto u = to_float(st.view(base + ".lowrank_u.weight")), v = to_float(st.view(base + ".lowrank_v.weight"));
            const std::size_t out_dim = t.shape[0], in_dim = t.shape[1], r = std::min(out_dim, in_dim);
            CHECK(st.find(base + ".lowrank_u.weight")->shape == shape_t{out_dim, r});
            CHECK(st.find(base + ".lowrank_v.weight")->shape == shape_t{r, in_dim});
            CHECK(!st.contains(base + ".lowrank_core.weight"));
            CHECK(dtest::rel_diff(product(u, v, out_dim, r, in_dim), t.data) < 1e-5);
        }

        // Tokenizer: ids of `tokenizers` on the same vocabulary (fixture), and of the GGUF tokenizer.
        const auto t = bpe_tokenizer::from_tokenizer_json((fs::path(out) / "tokenizer.json").string());
        const auto g = bpe_tokenizer::from_gguf(read_gguf(m.path));
        const auto cases = rt_test::fixture("tokenizer_json_cases.json");
        REQUIRE(cases != nullptr);
        for (const auto& c : cases["hf_smollm2_tiny"]["cases"]) {
            const std::string text = c["text"];
            CAPTURE(text);
            CHECK(t.encode(text) == c["ids"].get<std::vector<int>>());
        }
        for (const char* text : TRICKY) CHECK(t.encode(text) == g.encode(text));
        CHECK(t.eos() == 2);
        CHECK(t.bos() == 0);
        CHECK(!t.add_bos());
        const auto tc = read_json(fs::path(out) / "tokenizer_config.json");
        CHECK(tc["model_max_length"] == 256);
        CHECK(tc["eos_token"] == "<|im_end|>");
    }
}

TEST_CASE("export-hf: tucker2 core folded or kept; parameters add up; truncated factors reproduce u·core·vᵀ") {
    dtest::temp_dir d("xhf-core");
    const tiny_gguf m(d);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {1}, low, "tucker2"));
    const std::string f = d / "f.safetensors";
    REQUIRE(run("decompose " + m.path + " --plan " + d / "g.json" + " --method tucker2 --threads 1 --quiet --out " + f, d) == 0);
    REQUIRE(run("export-hf " + f + " --out " + d / "fold --quiet", d) == 0);
    REQUIRE(run("export-hf " + f + " --out " + d / "keep --keep-core --quiet", d) == 0);
    const factorized_model fm(f);
    const safetensors_model a = safetensors_model::open(d / "fold"), b = safetensors_model::open(d / "keep");
    std::uint64_t pa = 0, pb = 0, cores = 0;
    for (const auto& n : a.names()) pa += numel(a.find(n)->shape);
    for (const auto& n : b.names()) pb += numel(b.find(n)->shape);
    for (const auto& [role, r] : low) cores += std::uint64_t(r) * r;
    CHECK(pb == fm.parameters_after());        // kept core: exactly the factorised file's count
    CHECK(pa + cores == fm.parameters_after());  // folded: r² fewer per weight
    CHECK(read_json(fs::path(d / "keep") / "config.json")["lowrank"]["tucker_core"] == "kept");
    for (const auto& t : fm.tensors()) {
        if (!t.factored) continue;
        CAPTURE(t.name);
        const std::string hf = lowrank::model::hf_name_of_gguf(t.name);
        const std::string base = hf.substr(0, hf.size() - 7);
        const std::size_t out = t.shape[0], in = t.shape[1], r = t.rank;
        // reference: u·core·vᵀ from the factorised file's factors, in double, here
        const auto u = to_float(t.u), g = to_float(*t.core), v = to_float(t.v);
        std::vector<float> ref(out * in);
        for (std::size_t i = 0; i < out; ++i)
            for (std::size_t j = 0; j < in; ++j) {
                double s = 0;
                for (std::size_t p = 0; p < r; ++p)
                    for (std::size_t q = 0; q < r; ++q) s += double(u[i * r + p]) * g[p * r + q] * v[j * r + q];
                ref[i * in + j] = static_cast<float>(s);
            }
        const auto fu = to_float(a.view(base + ".lowrank_u.weight")), fv = to_float(a.view(base + ".lowrank_v.weight"));
        CHECK(dtest::rel_diff(product(fu, fv, out, r, in), ref) < 1e-5);
        const auto ku = to_float(b.view(base + ".lowrank_u.weight")), kc = to_float(b.view(base + ".lowrank_core.weight"));
        const auto kv = to_float(b.view(base + ".lowrank_v.weight"));
        CHECK(dtest::rel_diff(product(product(ku, kc, out, r, r), kv, out, r, in), ref) < 1e-5);
    }
}

TEST_CASE("export-hf: BERT directory: position_ids dropped, pooler kept, tokenizer files copied") {
    dtest::temp_dir d("xhf-bert");
    const fs::path src = d.path / "bert";
    fs::create_directories(src);
    // A BertForMaskedLM-style checkpoint: "bert." prefix, old gamma/beta LayerNorm names, int64 position_ids.
    constexpr std::size_t h = 8, inter = 16, vocab = 12, pos = 10;
    std::mt19937 rng(5);
    std::vector<std::pair<std::string, shape_t>> spec{{"bert.embeddings.word_embeddings.weight", {vocab, h}},
                                                      {"bert.embeddings.position_embeddings.weight", {pos, h}},
                                                      {"bert.embeddings.token_type_embeddings.weight", {2, h}},
                                                      {"bert.embeddings.LayerNorm.gamma", {h}},
                                                      {"bert.embeddings.LayerNorm.beta", {h}}};
    const std::string p = "bert.encoder.layer.0.";
    for (const char* n : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"})
        spec.push_back({p + n + ".weight", {h, h}}), spec.push_back({p + n + ".bias", {h}});
    spec.push_back({p + "intermediate.dense.weight", {inter, h}}), spec.push_back({p + "intermediate.dense.bias", {inter}});
    spec.push_back({p + "output.dense.weight", {h, inter}}), spec.push_back({p + "output.dense.bias", {h}});
    for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"})
        spec.push_back({p + n + ".gamma", {h}}), spec.push_back({p + n + ".beta", {h}});
    spec.push_back({"bert.pooler.dense.weight", {h, h}}), spec.push_back({"bert.pooler.dense.bias", {h}});
    std::vector<std::vector<float>> data;
    std::vector<safetensors_tensor> ts;
    for (const auto& [n, s] : spec) data.push_back(rt_test::random_vec(numel(s), rng, 0.3f));
    for (std::size_t i = 0; i < spec.size(); ++i)
        ts.push_back({spec[i].first, safetensors_dtype::F32, spec[i].second, std::as_bytes(std::span<const float>(data[i]))});
    std::vector<std::int64_t> ids(pos);
    for (std::size_t i = 0; i < pos; ++i) ids[i] = static_cast<std::int64_t>(i);
    ts.push_back({"bert.embeddings.position_ids", safetensors_dtype::I64, {1, pos}, std::as_bytes(std::span<const std::int64_t>(ids))});
    safetensors_save((src / "model.safetensors").string(), ts, {{"format", "pt"}});
    std::ofstream(src / "config.json") << nlohmann::json{{"model_type", "bert"}, {"hidden_size", h}, {"intermediate_size", inter},
                                                         {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                                                         {"vocab_size", vocab}, {"max_position_embeddings", pos}}
                                              .dump();
    std::ofstream(src / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\nf\ng\n";
    std::ofstream(src / "modules.json") << "[]";  // not a tokenizer file: not copied
    dtest::write_text(d / "g.json", nlohmann::json{{"format", "lowrank.gamma"}, {"version", 1}, {"model", "tiny"},
                                                   {"method", "svd"}, {"indexing", 0}, {"layers", {0}},
                                                   {"tensors", {"q", "intermediate"}}, {"ranks", {{"q", 2}, {"intermediate", 3}}}}
                                        .dump());
    const std::string f = d / "f.safetensors";
    std::string log;
    REQUIRE_MESSAGE(run("decompose " + src.string() + " --plan " + d / "g.json" + " --threads 1 --quiet --out " + f, d, &log) == 0, log);
    REQUIRE_MESSAGE(run("export-hf " + f + " --out " + d / "hf --quiet", d, &log) == 0, log);
    const auto cfg = read_json(d.path / "hf/config.json");
    CHECK(cfg["auto_map"]["AutoModel"] == "modeling_lowrank.LowRankBertModel");
    CHECK(cfg["lowrank"]["modules"].size() == 2);
    CHECK(cfg["lowrank"]["modules"]["encoder.layer.0.attention.self.query"]["rank"] == 2);
    CHECK(cfg["lowrank"]["dropped"] == nlohmann::json::array({"bert.embeddings.position_ids"}));
    CHECK(cfg["lowrank"]["parameters"]["dropped_buffers"] == pos);
    const safetensors_model st = safetensors_model::open((d.path / "hf").string());
    CHECK(st.contains("pooler.dense.weight"));
    CHECK(st.contains("embeddings.LayerNorm.weight"));  // gamma → weight, prefix dropped
    CHECK(st.contains("encoder.layer.0.output.LayerNorm.bias"));
    CHECK(st.contains("encoder.layer.0.attention.self.query.lowrank_u.weight"));
    CHECK(st.contains("encoder.layer.0.attention.self.query.bias"));
    CHECK(!st.contains("embeddings.position_ids"));
    for (const auto& n : st.names()) CHECK(n.rfind("bert.", 0) != 0);
    CHECK(fs::is_regular_file(d.path / "hf/vocab.txt"));
    CHECK(!fs::exists(d.path / "hf/modules.json"));
}

TEST_CASE("export-hf: existing output, inputs as output, damaged files: refused, nothing written, inputs unchanged") {
    dtest::temp_dir d("xhf-bad");
    const tiny_gguf m(d);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0}, low, "svd"));
    const std::string f = d / "f.safetensors";
    REQUIRE(run("decompose " + m.path + " --plan " + d / "g.json" + " --threads 1 --quiet --out " + f, d) == 0);
    const std::string sha_f = file_sha(f), sha_g = file_sha(m.path);
    std::string log;

    // An existing directory is refused and left alone; --overwrite replaces it whole.
    fs::create_directories(d.path / "out");
    dtest::write_text(d / "out/keep.txt", "mine");
    CHECK(run("export-hf " + f + " --out " + d / "out --quiet", d, &log) == 2);
    CHECK(contains(log, "exists"));
    CHECK(dtest::read_text(d / "out/keep.txt") == "mine");
    REQUIRE(run("export-hf " + f + " --out " + d / "out --overwrite --quiet", d, &log) == 0);
    CHECK(!fs::exists(d.path / "out/keep.txt"));
    CHECK(fs::exists(d.path / "out/config.json"));
    // An output that is, or contains, an input: refused even with --overwrite.
    CHECK(run("export-hf " + f + " --out " + d.path.string() + " --overwrite --quiet", d, &log) == 2);
    CHECK(contains(log, "input"));
    CHECK(run("export-hf " + f + " --out " + f + " --overwrite --quiet", d, &log) == 2);
    // Not a factorised file; a bad shard size.
    CHECK(run("export-hf " + m.path + " --out " + d / "x --quiet", d, &log) == 2);
    CHECK(contains(log, "not a lowrank factorised file"));
    CHECK(run("export-hf " + f + " --out " + d / "x --shard-size 12XB --quiet", d, &log) == 2);
    CHECK(contains(log, "--shard-size"));

    // Damaged factorised files: the offending tensor is named.
    auto damaged = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit, const std::string& drop,
                       const std::string& add_name = {}) {
        const safetensors_file in(f);
        auto md = in.metadata();
        nlohmann::json man = nlohmann::json::parse(md.at("lowrank.manifest"));
        edit(man);
        md["lowrank.manifest"] = man.dump();
        std::vector<safetensors_tensor> ts;
        for (const auto& e : in.entries())
            if (e.name != drop) ts.push_back({e.name, e.dtype, e.shape, in.view(e).bytes});
        static const float extra[4] = {1, 2, 3, 4};
        if (!add_name.empty()) ts.push_back({add_name, safetensors_dtype::F32, {4}, std::as_bytes(std::span<const float>(extra))});
        safetensors_save(d / name, ts, md);
        return d / name;
    };
    auto set_entry = [](const std::string& tensor, const char* key, nlohmann::json value) {
        return [=](nlohmann::json& man) {
            for (auto& t : man["tensors"])
                if (t["name"] == tensor) t[key] = value;
        };
    };
    const auto unused = [](nlohmann::json& man) {
        man["tensors"].push_back({{"name", "blk.0.mystery.weight"}, {"shape", {4}}, {"dtype", "F32"}});
    };
    struct bad_case {
        std::string file, expect;
    };
    const bad_case cases[] = {
        {damaged("rank.safetensors", set_entry("blk.0.attn_q.weight", "rank", 5), ""), "blk.0.attn_q"},
        {damaged("missing.safetensors", [](nlohmann::json&) {}, "blk.0.ffn_norm.weight"), "blk.0.ffn_norm.weight"},
        {damaged("shape.safetensors", set_entry("blk.2.attn_v.weight", "shape", {8, 15}), ""), "blk.2.attn_v.weight"},
        {damaged("unused.safetensors", unused, "", "blk.0.mystery.weight"), "blk.0.mystery.weight"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.file);
        const int rc = run("export-hf " + c.file + " --out " + d / "never --quiet", d, &log);
        CHECK(rc != 0);
        CHECK_MESSAGE(contains(log, c.expect), log);
        CHECK(!fs::exists(d.path / "never"));
    }
    CHECK(hidden_entries(d.path).empty());
    CHECK(file_sha(f) == sha_f);
    CHECK(file_sha(m.path) == sha_g);
}

TEST_CASE("export-hf: a model read as llama under another name (Mistral GGUF) decomposes, but is not exported as Llama") {
    dtest::temp_dir d("xhf-mistral");
    std::size_t vocab = 0;
    const auto kv = fixture_tokenizer_kv(vocab);
    const std::string src = d / "mistral.gguf";
    dtest::write_tiny_gguf(src, dtest::tiny_llama(11, vocab), kv, "mistral");
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0}, low, "svd"));
    const std::string f = d / "f.safetensors";
    REQUIRE(run("decompose " + src + " --plan " + d / "g.json" + " --threads 1 --quiet --out " + f, d) == 0);
    std::string log;
    CHECK(run("export-hf " + f + " --out " + d / "out --quiet", d, &log) != 0);
    CAPTURE(log);
    CHECK(contains(log, "'mistral' is read as the llama family"));
    CHECK(contains(log, src));
    CHECK_FALSE(fs::exists(d.path / "out"));
    CHECK(hidden_entries(d.path).empty());
}

TEST_CASE("tokenizer.json from the real GGUF vocabularies gives Hugging Face tokenizers' ids") {
    // References: tokenizer_smollm2.json / tokenizer_qwen2.json — ids from HF `tokenizers` with
    // SmolLM2's / Qwen2's pipelines on these vocabularies (scripts/make_runtime_fixtures.py);
    // the Llama-3 vocabulary against the GGUF tokenizer (whose Llama-3 ids tests/runtime checks
    // against llama.cpp's reference tokenisations).
    struct vocab_case {
        const char *asset, *fixture;
    };
    for (const auto& c : {vocab_case{"SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "tokenizer_smollm2.json"},
                          vocab_case{"llama.cpp-vocab/ggml-vocab-qwen2.gguf", "tokenizer_qwen2.json"},
                          vocab_case{"llama.cpp-vocab/ggml-vocab-llama-bpe.gguf", nullptr}}) {
        CAPTURE(c.asset);
        const auto path = rt_test::asset(c.asset, "export-hf tokenizer.json from a real GGUF");
        if (path.empty()) continue;
        dtest::temp_dir d("xhf-tok");
        const auto g = read_gguf(path);
        std::ofstream(d / "tokenizer.json") << tokenizer_json_from_gguf(g).dump();
        const auto t = bpe_tokenizer::from_tokenizer_json(d / "tokenizer.json");
        const auto ref = bpe_tokenizer::from_gguf(g);
        CHECK(t.vocab_size() == ref.vocab_size());
        for (const char* text : TRICKY) CHECK(t.encode(text) == ref.encode(text));
        if (!c.fixture) continue;
        const auto fx = rt_test::fixture(c.fixture);
        REQUIRE(fx != nullptr);
        for (const auto& k : fx["cases"]) {
            const std::string text = k["text"];
            CAPTURE(text);
            CHECK(t.encode(text) == k["ids"].get<std::vector<int>>());
        }
    }
    // A SentencePiece vocabulary is refused, naming the file.
    if (const auto spm = rt_test::asset("llama.cpp-vocab/ggml-vocab-llama-spm.gguf", "export-hf: SentencePiece refused"); !spm.empty())
        CHECK(contains(rt_test::error_of([&] { tokenizer_json_from_gguf(read_gguf(spm)); }), "ggml-vocab-llama-spm.gguf"));
}

TEST_CASE("decompose --recipe: same output as the equivalent γ; the recipe saved beside any output reproduces it") {
    dtest::temp_dir d("xhf-recipe");
    const tiny_gguf m(d);
    auto tensors_equal = [](const std::string& a, const std::string& b) {
        const safetensors_file fa(a), fb(b);
        if (fa.entries().size() != fb.entries().size()) return false;
        for (const auto& e : fa.entries()) {
            const auto x = fa.view(e).bytes;
            const auto y = fb.view(e.name).bytes;
            if (x.size() != y.size() || !std::equal(x.begin(), x.end(), y.begin())) return false;
        }
        return true;
    };
    std::string log;
    dtest::write_text(d / "r.json", R"({"format": "lowrank.recipe", "version": 1, "method": "svd",
        "targets": ["model\\.layers\\.\\d+\\.mlp\\..*"], "ignore": ["model\\.layers\\.0\\..*"], "rank": 4,
        "calibration": {"note": "recorded, not used by decompose"}})");
    REQUIRE_MESSAGE(run("decompose " + m.path + " --recipe " + d / "r.json" + " --threads 1 --quiet --out " + d / "a.safetensors", d, &log) == 0, log);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {1, 2}, {{"gate", 4}, {"up", 4}, {"down", 4}}, "svd"));
    REQUIRE(run("decompose " + m.path + " --plan " + d / "g.json" + " --threads 1 --quiet --out " + d / "b.safetensors", d) == 0);
    CHECK(tensors_equal(d / "a.safetensors", d / "b.safetensors"));
    // The recipes written beside both outputs reproduce them (rank per module, literal names for the γ one).
    REQUIRE(fs::is_regular_file(d.path / "a.recipe.json"));
    REQUIRE(fs::is_regular_file(d.path / "b.recipe.json"));
    const auto ra = read_json(d.path / "a.recipe.json");
    CHECK(ra["calibration"]["note"] == "recorded, not used by decompose");
    CHECK(ra["source"]["path"] == fs::absolute(m.path).string());
    REQUIRE(run("decompose " + m.path + " --recipe " + d / "a.recipe.json" + " --threads 1 --quiet --out " + d / "a2.safetensors", d, &log) == 0);
    REQUIRE_MESSAGE(run("decompose " + m.path + " --recipe " + d / "b.recipe.json" + " --threads 1 --quiet --out " + d / "b2.safetensors", d, &log) == 0, log);
    CHECK(tensors_equal(d / "a.safetensors", d / "a2.safetensors"));
    CHECK(tensors_equal(d / "b.safetensors", d / "b2.safetensors"));
    // keep_ratio: the largest rank whose factors hold at most ρ of each weight's parameters
    dtest::write_text(d / "k.json", R"({"format": "lowrank.recipe", "version": 1, "method": "tucker2",
        "targets": ["model\\.layers\\.1\\.self_attn\\.[qo]_proj"], "keep_ratio": 0.5})");
    REQUIRE(run("decompose " + m.path + " --recipe " + d / "k.json" + " --threads 1 --quiet --out " + d / "k.safetensors", d) == 0);
    const factorized_model fk(d / "k.safetensors");
    CHECK(fk.at("blk.1.attn_q.weight").rank == 3);  // 16×16, tucker2: r·32 + r² ≤ 128 → r = 3
    CHECK(fk.at("blk.1.attn_output.weight").rank == 3);
    CHECK(!fk.at("blk.1.attn_k.weight").factored);
    // export-hf copies the recipe.
    REQUIRE(run("export-hf " + d / "a.safetensors" + " --out " + d / "a-hf --quiet", d) == 0);
    CHECK(read_json(d.path / "a-hf/lowrank_recipe.json") == ra);
    // Refusals: not layers × tensors; a compressor's method; nothing selected; both --plan and --recipe.
    dtest::write_text(d / "bad1.json", R"({"format": "lowrank.recipe", "version": 1,
        "targets": ["model\\.layers\\.1\\.mlp\\.up_proj", "model\\.layers\\.2\\.mlp\\.gate_proj"], "rank": 2})");
    CHECK(run("decompose " + m.path + " --recipe " + d / "bad1.json" + " --quiet --out " + d / "x.safetensors", d, &log) == 2);
    CHECK(contains(log, "whole layers × tensors"));
    dtest::write_text(d / "bad2.json", R"({"format": "lowrank.recipe", "version": 1, "method": "whitened_svd", "targets": [".*"], "rank": 2})");
    CHECK(run("decompose " + m.path + " --recipe " + d / "bad2.json" + " --quiet --out " + d / "x.safetensors", d, &log) == 2);
    CHECK(contains(log, "whitened_svd"));
    dtest::write_text(d / "bad3.json", R"({"format": "lowrank.recipe", "version": 1, "targets": ["blk\\..*"], "rank": 2})");
    CHECK(run("decompose " + m.path + " --recipe " + d / "bad3.json" + " --quiet --out " + d / "x.safetensors", d, &log) == 2);
    CHECK(contains(log, "selects no module"));
    CHECK(run("decompose " + m.path + " --recipe " + d / "r.json" + " --plan " + d / "g.json" + " --quiet --out " + d / "x.safetensors", d, &log) == 2);
    CHECK(contains(log, "exactly one of --plan and --recipe"));
    CHECK(!fs::exists(d.path / "x.safetensors"));
}

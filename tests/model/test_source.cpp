// model_source: one opener for every model file. References: the tensors the test itself wrote
// (tiny Llama in safetensors + config.json and in GGUF with llama.cpp's q/k row permutation, so
// the GGUF tensors must come back bit-identical to the Hugging Face ones), the fixture
// checkpoints of tests/io, and the architecture both descriptions (config.json, GGUF metadata)
// must agree on.
#include "decompose/decompose_test_util.hpp"

#include "lowrank/io/factorized.hpp"
#include "lowrank/model/source.hpp"
#include "lowrank/model/summary.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

using lowrank::model::model_source;
using lowrank::model::source_format;
using F = lowrank::model::family;
using R = lowrank::model::role;

TEST_CASE("model_source: a Hugging Face directory and the same model as GGUF read the same") {
    dtest::temp_dir d("src");
    const auto ts = dtest::tiny_llama();
    dtest::write_tiny_hf(d.path / "hf", ts);
    dtest::write_tiny_gguf(d / "tiny.gguf", ts);
    const model_source hf = model_source::open((d.path / "hf").string());
    const model_source gg = model_source::open(d / "tiny.gguf");
    CHECK(hf.format() == source_format::safetensors);
    CHECK(hf.is_directory());
    CHECK(gg.format() == source_format::gguf);
    CHECK(hf.family() == F::llama);
    CHECK(gg.family() == F::llama);
    CHECK(gg.family_source() == "general.architecture = llama");
    CHECK(hf.family_source() == (d.path / "hf" / "config.json").string());
    REQUIRE(hf.tensors().size() == ts.size());
    REQUIRE(gg.tensors().size() == ts.size());
    for (std::size_t i = 0; i < ts.size(); ++i) {
        CAPTURE(ts[i].hf);
        // File order, PyTorch shapes, classification from the name tables.
        CHECK(hf.tensors()[i].name == ts[i].hf);
        CHECK(gg.tensors()[i].name == ts[i].gguf);
        CHECK(hf.tensors()[i].shape == ts[i].shape);
        CHECK(gg.tensors()[i].shape == ts[i].shape);
        CHECK(hf.tensors()[i].dtype == "F32");
        CHECK(hf.tensors()[i].cls.kind == gg.tensors()[i].cls.kind);
        CHECK(hf.tensors()[i].cls.role == gg.tensors()[i].cls.role);
        CHECK(hf.tensors()[i].cls.layer == gg.tensors()[i].cls.layer);
        // Float32 in the Hugging Face row order: GGUF q/k rows un-permuted.
        CHECK(hf.load_f32(ts[i].hf) == ts[i].data);
        CHECK(gg.load_f32(ts[i].gguf) == ts[i].data);
    }
    CHECK(hf.layout().layers == dtest::L);
    CHECK(hf.layout().weights[2].at(R::down) == "model.layers.2.mlp.down_proj.weight");
    CHECK(gg.layout().weights[2].at(R::down) == "blk.2.ffn_down.weight");
    CHECK(hf.layout().missing.empty());
    CHECK(hf.layout().tied_embeddings);
    // Parameter counts by formula: embedding V·H, final norm H, per layer 2 norms + the 7 weights.
    const std::uint64_t H = dtest::H, I = dtest::I, KV = dtest::NKV * dtest::H / dtest::NH;
    const std::uint64_t weights = H * H * 2 + KV * H * 2 + I * H * 3;
    const auto counts = lowrank::model::count_parameters(hf);
    CHECK(counts.total == dtest::V * H + H + dtest::L * (2 * H + weights));
    CHECK(counts.decomposable == dtest::L * weights);
    CHECK(counts.by_kind.at(lowrank::model::tensor_kind::norm) == H + dtest::L * 2 * H);
    CHECK(lowrank::model::count_parameters(gg).total == counts.total);
    // Both descriptions give the same design-space architecture.
    const auto a = hf.architecture("tiny"), b = gg.architecture("tiny");
    CHECK(a.name == "tiny");
    CHECK(a.kind == F::llama);
    CHECK(a.hidden == dtest::H);
    CHECK(a.kv_heads == dtest::NKV);
    CHECK(a.vocab == dtest::V);
    CHECK(a.tied_embeddings);
    CHECK(a.total_parameters() == b.total_parameters());
    CHECK(a.tensors()[2].rows == b.tensors()[2].rows);
    CHECK(gg.architecture().name == "llama");
    // The model file itself, a copy, and the GGUF by content whatever its name.
    std::filesystem::copy_file(d / "tiny.gguf", d / "tiny.bin");
    CHECK(model_source::open(d / "tiny.bin").format() == source_format::gguf);
    const model_source copy = gg;
    CHECK(copy.load_f32("blk.0.attn_q.weight") == gg.load_f32("blk.0.attn_q.weight"));
}

TEST_CASE("model_source: a bare safetensors file, a factorised file, and errors naming the file") {
    dtest::temp_dir d("src2");
    const auto ts = dtest::tiny_llama();
    dtest::write_tiny_hf(d.path / "hf", ts);
    std::filesystem::create_directories(d.path / "bare");
    std::filesystem::copy_file(d.path / "hf" / "model.safetensors", d.path / "bare" / "m.safetensors");
    const model_source bare = model_source::open((d.path / "bare" / "m.safetensors").string());
    CHECK(bare.family() == F::llama);
    CHECK(bare.family_source() == "tensor names (no config.json)");
    CHECK(bare.config() == nullptr);
    CHECK_THROWS_AS(bare.architecture(), lowrank::architecture_error);
    CHECK_THROWS_WITH_AS(bare.load_f32("nope"), doctest::Contains("m.safetensors"), lowrank::io_error);
    CHECK_THROWS_WITH_AS(model_source::open(d / "missing.gguf"), doctest::Contains("missing.gguf"), lowrank::io_error);
    dtest::write_text(d / "junk.gguf", "GGUF but not really");
    CHECK_THROWS_WITH_AS(model_source::open(d / "junk.gguf"), doctest::Contains("junk.gguf"), lowrank::io_error);
    dtest::write_text(d / "cfg.safetensors", "");
    CHECK_THROWS_AS(model_source::open(d / "cfg.safetensors"), lowrank::io_error);

    // A factorised file: q of layer 0 stored as rank-2 SVD factors, everything else dense.
    {
        lowrank::factorized_writer w(d / "f.safetensors");
        const model_source hf = model_source::open((d.path / "hf").string());
        for (const auto& t : hf.tensors()) {
            const auto v = hf.load_f32(t.name);
            if (t.name == "model.layers.0.self_attn.q_proj.weight") {
                const std::vector<float> u(dtest::H * 2, 0.5f), vv(dtest::H * 2, 0.25f);
                w.add_factored(t.name, t.shape, lowrank::factor_form::svd, 2, u, {}, vv, t.dtype);
            } else {
                w.add_dense(t.name, lowrank::safetensors_dtype::F32, t.shape, std::as_bytes(std::span<const float>(v)));
            }
        }
        w.commit();
    }
    const model_source f = model_source::open(d / "f.safetensors");
    CHECK(f.format() == source_format::factorized);
    REQUIRE(f.factorized() != nullptr);
    CHECK(f.family() == F::llama);
    CHECK(f.tensors().size() == ts.size());
    CHECK(f.layout().weights[0].at(R::q) == "model.layers.0.self_attn.q_proj.weight");
    const auto q = f.load_f32("model.layers.0.self_attn.q_proj.weight");  // reconstructed: U·Vᵀ = 2·0.5·0.25
    REQUIRE(q.size() == dtest::H * dtest::H);
    CHECK(q[0] == doctest::Approx(0.25));
    CHECK(f.load_f32("model.norm.weight") == ts.back().data);
}

TEST_CASE("model_source: the io fixture checkpoints (sharded Llama-2, Qwen2, BERT)") {
    const std::string fx = LOWRANK_IO_FIXTURES;
    REQUIRE_MESSAGE(std::filesystem::exists(fx + "/fixtures.json"), "io fixtures missing: build lowrank_io_fixtures");
    struct expected { const char* dir; F family; std::size_t layers, files; };
    for (const auto& e : {expected{"llama2_sharded", F::llama, 3, 2}, expected{"qwen2", F::qwen2, 2, 1},
                          expected{"bert_prefixed", F::bert, 2, 1}, expected{"bert_plain", F::bert, 2, 1}}) {
        CAPTURE(e.dir);
        const model_source m = model_source::open(fx + "/" + e.dir);
        CHECK(m.family() == e.family);
        CHECK(m.layout().layers == e.layers);
        CHECK(m.files().size() == e.files);
        CHECK(m.layout().unknown.empty());
        const auto a = m.architecture();
        CHECK(a.kind == e.family);
        CHECK(a.layers == e.layers);
        // Every decomposable weight has the shape the architecture gives its role.
        const auto specs = a.tensors();
        for (const auto& t : m.tensors())
            if (t.cls.decomposable()) {
                CAPTURE(t.name);
                const auto& s = specs[a.role_index(t.cls.role)];
                CHECK(t.shape == lowrank::shape_t{s.rows, s.cols});
            }
    }
}

TEST_CASE("model_source: the kind comes from the content, never the name") {
    using lowrank::model::detect_file_kind;
    using lowrank::model::file_kind;
    dtest::temp_dir d("kind");
    const auto ts = dtest::tiny_llama();
    dtest::write_tiny_hf(d.path / "hf", ts);
    dtest::write_tiny_gguf(d / "tiny.bin", ts);  // a GGUF file not named *.gguf
    CHECK(detect_file_kind((d.path / "hf").string()) == file_kind::hf_directory);
    CHECK(detect_file_kind((d.path / "hf" / "model.safetensors").string()) == file_kind::safetensors);
    CHECK(detect_file_kind(d / "tiny.bin") == file_kind::gguf);
    dtest::write_text(d / "notes.txt", "plain text");
    CHECK(detect_file_kind(d / "notes.txt") == file_kind::unknown);
    CHECK_THROWS_WITH_AS(detect_file_kind(d / "absent"), doctest::Contains("absent"), lowrank::io_error);

    const model_source g = model_source::open(d / "tiny.bin");
    CHECK(g.format() == source_format::gguf);
    CHECK(g.family() == F::llama);
    for (std::size_t i = 0; i < ts.size(); ++i) CHECK(g.load_f32(ts[i].gguf) == ts[i].data);

    // A factorised file named like anything else is still a factorised file.
    {
        lowrank::factorized_writer w(d / "fact.bin");
        const model_source hf = model_source::open((d.path / "hf").string());
        for (const auto& t : hf.tensors()) {
            const auto v = hf.load_f32(t.name);
            w.add_dense(t.name, lowrank::safetensors_dtype::F32, t.shape, std::as_bytes(std::span<const float>(v)));
        }
        w.commit();
    }
    CHECK(detect_file_kind(d / "fact.bin") == file_kind::factorized);
    CHECK(model_source::open(d / "fact.bin").format() == source_format::factorized);
}

TEST_CASE("model_source: an unknown family is an architecture_error naming the file it was read from") {
    dtest::temp_dir d("fam");
    const auto ts = dtest::tiny_llama();
    // config.json with a model_type no family has
    dtest::write_tiny_hf(d.path / "hf", ts);
    auto cfg = dtest::tiny_config();
    cfg["model_type"] = "gpt2";
    cfg["architectures"] = {"GPT2LMHeadModel"};
    std::ofstream(d.path / "hf" / "config.json") << cfg.dump();
    const std::string cfg_path = (d.path / "hf" / "config.json").string();
    CHECK_THROWS_WITH_AS(model_source::open((d.path / "hf").string()), doctest::Contains((cfg_path + ": unsupported architecture 'gpt2'").c_str()),
                         lowrank::architecture_error);
    // GGUF general.architecture
    dtest::write_tiny_gguf(d / "gpt2.gguf", ts, {}, "gpt2");
    CHECK_THROWS_WITH_AS(model_source::open(d / "gpt2.gguf"), doctest::Contains((d / "gpt2.gguf").c_str()), lowrank::architecture_error);
    // tensor names that fit no family (a bare safetensors file, no config.json)
    std::filesystem::create_directories(d.path / "bare");
    const std::vector<float> x(4, 1.f);
    lowrank::safetensors_save((d.path / "bare" / "junk.safetensors").string(),
                              {{"foo.weight", lowrank::safetensors_dtype::F32, {2, 2}, std::as_bytes(std::span<const float>(x))}},
                              {});
    CHECK_THROWS_WITH_AS(model_source::open((d.path / "bare" / "junk.safetensors").string()),
                         doctest::Contains("junk.safetensors: cannot tell the architecture"), lowrank::architecture_error);
}

TEST_CASE("model_source: a Mistral GGUF is a llama-family model whose q/k rows are un-permuted like Llama's") {
    // Reference: the tiny model's own Hugging Face tensors; the GGUF holds them with llama.cpp's
    // q/k permutation under general.architecture "mistral" and mistral.* keys.
    dtest::temp_dir d("mistral");
    const auto ts = dtest::tiny_llama();
    dtest::write_tiny_gguf(d / "m.gguf", ts, {}, "mistral");
    dtest::write_tiny_gguf(d / "l.gguf", ts);
    const model_source m = model_source::open(d / "m.gguf");
    const model_source l = model_source::open(d / "l.gguf");
    CHECK(m.family() == F::llama);
    CHECK(m.family_source() == "general.architecture = mistral");
    for (std::size_t i = 0; i < ts.size(); ++i) {
        CAPTURE(ts[i].gguf);
        CHECK(m.load_f32(ts[i].gguf) == ts[i].data);
        CHECK(m.gguf_qk_heads(ts[i].gguf) == l.gguf_qk_heads(ts[i].gguf));
    }
    CHECK(m.gguf_qk_heads("blk.1.attn_q.weight") == dtest::NH);
    CHECK(m.gguf_qk_heads("blk.1.attn_k.weight") == dtest::NKV);
    CHECK(m.gguf_qk_heads("blk.1.attn_v.weight") == 0);
    const auto a = m.architecture();
    CHECK(a.kind == F::llama);
    CHECK(a.layers == dtest::L);
    CHECK(a.kv_heads == dtest::NKV);
    // Qwen2 GGUF converters do not permute: nothing is un-permuted there.
    dtest::write_tiny_gguf(d / "q.gguf", ts, {}, "qwen2");
    const model_source q = model_source::open(d / "q.gguf");
    CHECK(q.family() == F::qwen2);
    CHECK(q.gguf_qk_heads("blk.1.attn_q.weight") == 0);
    CHECK(q.load_f32("blk.1.attn_q.weight") == q.load_f32("blk.1.attn_q.weight", lowrank::gguf_layout::file));
}

TEST_CASE("summarize: the inspect document of a model and of a factorised file") {
    // Reference: the BERT fixture's tensor names (bert-base style) and the roles γ spells.
    const std::string fx = LOWRANK_IO_FIXTURES;
    REQUIRE_MESSAGE(std::filesystem::exists(fx + "/fixtures.json"), "io fixtures missing: build lowrank_io_fixtures");
    const auto j = lowrank::model::summarize(fx + "/bert_plain");
    CHECK(j["format"] == "safetensors");
    CHECK(j["architecture"] == "bert");
    std::map<std::string, nlohmann::json> by_name;
    std::string previous;
    for (const auto& t : j["tensors"]) {
        const auto n = t["name"].get<std::string>();
        CHECK(previous < n);  // safetensors: sorted by name
        previous = n;
        by_name[n] = t;
    }
    REQUIRE(by_name.count("encoder.layer.0.attention.output.dense.weight"));
    CHECK(by_name["encoder.layer.0.attention.output.dense.weight"]["role"] == "attn-out");
    CHECK(by_name["encoder.layer.0.attention.output.dense.weight"]["layer"] == 0);
    CHECK(by_name["encoder.layer.1.intermediate.dense.weight"]["role"] == "intermediate");
    CHECK(by_name["embeddings.word_embeddings.weight"]["role"].is_null());
    CHECK(by_name["embeddings.word_embeddings.weight"]["layer"].is_null());
    CHECK(j["parameters"].get<std::uint64_t>() > j["decomposable_parameters"].get<std::uint64_t>());
    CHECK(j["design_space"]["layers"] == 2);
    CHECK(j["design_space"]["tensors_per_layer"] == 6);
}

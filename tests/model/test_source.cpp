// model_source: one opener for every model file. References: the tensors the test itself wrote
// (tiny Llama in safetensors + config.json and in GGUF with llama.cpp's q/k row permutation, so
// the GGUF tensors must come back bit-identical to the Hugging Face ones), the fixture
// checkpoints of tests/io, and the architecture both descriptions (config.json, GGUF metadata)
// must agree on.
#include "decompose/decompose_test_util.hpp"

#include "lowrank/io/factorized.hpp"
#include "lowrank/model/source.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

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

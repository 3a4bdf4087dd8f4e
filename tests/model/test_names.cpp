// Tensor-name tables and family names (lowrank/model/names.hpp, family.hpp). Reference: tensor names as they appear in the real checkpoints
// (meta-llama/Llama-2-7b-hf safetensors, Qwen2.5 safetensors and GGUF, bert-base-uncased,
// sentence-transformers/all-MiniLM-L6-v2, llama.cpp's GGUF tensor names), spelled out here.
#include "lowrank/io/safetensors.hpp"
#include "lowrank/model/hf_names.hpp"
#include "lowrank/model/names.hpp"

#include "io/io_test_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using lowrank::model::classify_tensor;
using lowrank::model::tensor_kind;
using model_family = lowrank::model::family;
using K = lowrank::model::tensor_kind;
using R = lowrank::model::role;

namespace {
void expect(model_family a, const std::string& name, K kind, R role, int layer) {
    CAPTURE(name);
    const auto c = classify_tensor(a, name);
    CHECK(c.kind == kind);
    CHECK(c.role == role);
    CHECK(c.layer == layer);
}
}  // namespace

TEST_CASE("names: Llama-2 / SmolLM2 names (HF and GGUF)") {
    const auto L = model_family::llama;
    expect(L, "model.layers.0.self_attn.q_proj.weight", K::weight, R::q, 0);
    expect(L, "model.layers.31.self_attn.k_proj.weight", K::weight, R::k, 31);
    expect(L, "model.layers.7.self_attn.v_proj.weight", K::weight, R::v, 7);
    expect(L, "model.layers.7.self_attn.o_proj.weight", K::weight, R::o, 7);
    expect(L, "model.layers.12.mlp.gate_proj.weight", K::weight, R::gate, 12);
    expect(L, "model.layers.12.mlp.up_proj.weight", K::weight, R::up, 12);
    expect(L, "model.layers.79.mlp.down_proj.weight", K::weight, R::down, 79);
    expect(L, "layers.3.mlp.down_proj.weight", K::weight, R::down, 3);  // without the model. prefix
    expect(L, "model.layers.0.input_layernorm.weight", K::norm, R::none, 0);
    expect(L, "model.layers.0.post_attention_layernorm.weight", K::norm, R::none, 0);
    expect(L, "model.layers.0.self_attn.rotary_emb.inv_freq", K::buffer, R::none, 0);
    expect(L, "model.embed_tokens.weight", K::embedding, R::none, -1);
    expect(L, "model.norm.weight", K::norm, R::none, -1);
    expect(L, "lm_head.weight", K::lm_head, R::none, -1);
    // GGUF (llama.cpp names), as in SmolLM2-135M-Instruct.Q4_1.gguf.
    expect(L, "token_embd.weight", K::embedding, R::none, -1);
    expect(L, "output_norm.weight", K::norm, R::none, -1);
    expect(L, "output.weight", K::lm_head, R::none, -1);
    expect(L, "blk.0.attn_q.weight", K::weight, R::q, 0);
    expect(L, "blk.29.attn_k.weight", K::weight, R::k, 29);
    expect(L, "blk.29.attn_v.weight", K::weight, R::v, 29);
    expect(L, "blk.29.attn_output.weight", K::weight, R::o, 29);
    expect(L, "blk.3.ffn_gate.weight", K::weight, R::gate, 3);
    expect(L, "blk.3.ffn_up.weight", K::weight, R::up, 3);
    expect(L, "blk.3.ffn_down.weight", K::weight, R::down, 3);
    expect(L, "blk.3.attn_norm.weight", K::norm, R::none, 3);
    expect(L, "blk.3.ffn_norm.weight", K::norm, R::none, 3);
    // Near misses are unknown, not misclassified.
    expect(L, "model.layers.x.self_attn.q_proj.weight", K::unknown, R::none, -1);
    expect(L, "model.layers.01.self_attn.q_proj.weight", K::unknown, R::none, -1);
    expect(L, "model.layers..self_attn.q_proj.weight", K::unknown, R::none, -1);
    expect(L, "model.layers.0.self_attn.q_proj.weight.extra", K::unknown, R::none, -1);
    expect(L, "bert.encoder.layer.0.attention.self.query.weight", K::unknown, R::none, -1);
}

TEST_CASE("names: Qwen2 biases") {
    const auto Q = model_family::qwen2;
    expect(Q, "model.layers.27.self_attn.q_proj.bias", K::bias, R::q, 27);
    expect(Q, "model.layers.27.self_attn.k_proj.bias", K::bias, R::k, 27);
    expect(Q, "model.layers.27.self_attn.v_proj.bias", K::bias, R::v, 27);
    expect(Q, "model.layers.27.self_attn.q_proj.weight", K::weight, R::q, 27);
    expect(Q, "blk.27.attn_q.bias", K::bias, R::q, 27);
    expect(Q, "blk.27.attn_v.bias", K::bias, R::v, 27);
    expect(Q, "blk.27.ffn_down.weight", K::weight, R::down, 27);
}

TEST_CASE("names: BERT with and without the bert. prefix, and GGUF") {
    const auto B = model_family::bert;
    for (std::string p : {"", "bert."}) {
        expect(B, p + "encoder.layer.0.attention.self.query.weight", K::weight, R::q, 0);
        expect(B, p + "encoder.layer.11.attention.self.key.weight", K::weight, R::k, 11);
        expect(B, p + "encoder.layer.5.attention.self.value.weight", K::weight, R::v, 5);
        expect(B, p + "encoder.layer.5.attention.output.dense.weight", K::weight, R::attn_out, 5);
        expect(B, p + "encoder.layer.5.intermediate.dense.weight", K::weight, R::intermediate, 5);
        expect(B, p + "encoder.layer.5.output.dense.weight", K::weight, R::output, 5);
        expect(B, p + "encoder.layer.5.attention.self.query.bias", K::bias, R::q, 5);
        expect(B, p + "encoder.layer.5.output.dense.bias", K::bias, R::output, 5);
        expect(B, p + "encoder.layer.5.attention.output.LayerNorm.weight", K::norm, R::none, 5);
        expect(B, p + "encoder.layer.5.output.LayerNorm.gamma", K::norm, R::none, 5);
        expect(B, p + "embeddings.word_embeddings.weight", K::embedding, R::none, -1);
        expect(B, p + "embeddings.position_embeddings.weight", K::embedding, R::none, -1);
        expect(B, p + "embeddings.token_type_embeddings.weight", K::embedding, R::none, -1);
        expect(B, p + "embeddings.LayerNorm.beta", K::norm, R::none, -1);
        expect(B, p + "embeddings.position_ids", K::buffer, R::none, -1);
        expect(B, p + "pooler.dense.weight", K::head, R::none, -1);
    }
    expect(B, "cls.predictions.transform.dense.weight", K::head, R::none, -1);
    expect(B, "cls.seq_relationship.bias", K::head, R::none, -1);
    expect(B, "blk.2.attn_output.weight", K::weight, R::attn_out, 2);
    expect(B, "blk.2.ffn_up.weight", K::weight, R::intermediate, 2);
    expect(B, "blk.2.ffn_down.weight", K::weight, R::output, 2);
    expect(B, "blk.2.layer_output_norm.bias", K::norm, R::none, 2);
    expect(B, "token_types.weight", K::embedding, R::none, -1);
    // The prefix is only stripped once and only the family's own.
    expect(B, "model.encoder.layer.0.attention.self.query.weight", K::unknown, R::none, -1);
}

TEST_CASE("names: names from config.json and GGUF; unknown ones list the supported") {
    CHECK(lowrank::model::family_from_name("llama") == model_family::llama);
    CHECK(lowrank::model::family_from_name("qwen2") == model_family::qwen2);
    CHECK(lowrank::model::family_from_name("bert") == model_family::bert);
    CHECK(lowrank::model::family_from_config(nlohmann::json::parse(R"({"model_type": "llama"})")) == model_family::llama);
    CHECK(lowrank::model::family_from_config(nlohmann::json::parse(R"({"architectures": ["BertModel"]})")) ==
          model_family::bert);
    CHECK(lowrank::model::family_from_config(nlohmann::json::parse(
              R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"})")) == model_family::qwen2);
    try {
        (void)lowrank::model::family_from_name("gemma3");
        FAIL("expected architecture_error");
    } catch (const lowrank::architecture_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("'gemma3'") != std::string::npos);
        for (const char* s : {"llama", "qwen2", "bert", "LlamaForCausalLM", "BertModel"})
            CHECK(msg.find(s) != std::string::npos);
    }
    CHECK_THROWS_AS(lowrank::model::family_from_config(nlohmann::json::parse(R"({"model_type": "t5"})")),
                    lowrank::architecture_error);
    CHECK_THROWS_AS(lowrank::model::family_from_config(nlohmann::json::object()), lowrank::architecture_error);
    // Mistral checkpoints use the llama blocks and names.
    CHECK(lowrank::model::family_from_config(nlohmann::json::parse(R"({"model_type": "mistral"})")) == model_family::llama);
    const std::vector<std::string> junk = {"foo.weight", "bar"};
    CHECK_THROWS_AS(lowrank::model::family_from_names(junk), lowrank::architecture_error);
}

TEST_CASE("names: layouts of the fixture checkpoints") {
    const std::string fx = LOWRANK_IO_FIXTURES;
    if (!std::filesystem::exists(fx + "/fixtures.json")) {
        MESSAGE("io fixtures missing; skipping");
        return;
    }
    struct expected_layout { const char* dir; model_family arch; std::size_t layers, weights; bool tied; };
    for (const auto& e : {expected_layout{"llama2_sharded", model_family::llama, 3, 21, false},
                          expected_layout{"qwen2", model_family::qwen2, 2, 14, true},
                          expected_layout{"bert_prefixed", model_family::bert, 2, 12, false},
                          expected_layout{"bert_plain", model_family::bert, 2, 12, false}}) {
        CAPTURE(e.dir);
        auto m = lowrank::safetensors_model::open(fx + "/" + e.dir);
        const auto names = m.names();
        const auto config = nlohmann::json::parse(lowrank::test::read_bytes(fx + "/" + e.dir + "/config.json"));
        CHECK(lowrank::model::family_from_config(config) == e.arch);
        CHECK(lowrank::model::family_from_names(names) == e.arch);
        const auto layout = lowrank::model::layout_of(e.arch, names);
        CHECK(layout.layers == e.layers);
        CHECK(layout.unknown.empty());
        CHECK(layout.missing.empty());
        CHECK(layout.tied_embeddings == e.tied);
        std::size_t w = 0;
        for (const auto& l : layout.weights) w += l.size();
        CHECK(w == e.weights);
        // Every decomposable weight is 2-D; in PyTorch [out, in] order the q projection is square.
        const auto q = m.view(layout.weights[0].at(R::q));
        CHECK(q.shape.size() == 2);
        CHECK(q.shape[0] == q.shape[1]);
    }
    // A missing weight is reported.
    std::vector<std::string> names = {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight"};
    const auto partial = lowrank::model::layout_of(model_family::llama, names);
    CHECK(partial.missing.size() == 5);
    CHECK(partial.missing.front() == "0.v");
}

TEST_CASE("family: roles parse from every spelling the files and CLI use, and only the family's own") {
    using lowrank::model::parse_role;
    CHECK(parse_role(model_family::bert, "attn-out") == R::attn_out);
    CHECK(parse_role(model_family::bert, "attn_out") == R::attn_out);
    CHECK(parse_role(model_family::bert, "o") == R::attn_out);
    CHECK(parse_role(model_family::llama, "o") == R::o);
    CHECK_FALSE(parse_role(model_family::llama, "attn-out"));
    CHECK_FALSE(parse_role(model_family::bert, "gate"));
    CHECK(parse_role(model_family::qwen2, "down") == R::down);
    for (auto f : {model_family::llama, model_family::qwen2, model_family::bert})
        for (auto r : lowrank::model::block_roles(f)) CHECK(parse_role(f, lowrank::model::to_string(r)) == r);
    CHECK(lowrank::model::block_roles(model_family::llama).size() == 7);
    CHECK(lowrank::model::block_roles(model_family::bert).size() == 6);
}

TEST_CASE("family: the descriptor table is the one list of families") {
    using lowrank::model::families;
    REQUIRE(std::size(families) == 3);
    for (const auto& fi : families) {
        CAPTURE(fi.name);
        CHECK(lowrank::model::to_string(fi.family) == fi.name);
        CHECK(lowrank::model::parse_family(fi.name) == fi.family);
        for (auto n : fi.file_names) CHECK(lowrank::model::family_of(n) == fi.family);
        CHECK(lowrank::model::supported_families().find(std::string(fi.name) + " (") != std::string::npos);
    }
    CHECK(lowrank::model::is_decoder(model_family::llama));
    CHECK(lowrank::model::is_decoder(model_family::qwen2));
    CHECK_FALSE(lowrank::model::is_decoder(model_family::bert));
    // llama.cpp's converter interleaves q/k rows for Llama (and Mistral, a llama alias) only.
    CHECK(lowrank::model::traits(model_family::llama).gguf_qk_interleaved);
    CHECK_FALSE(lowrank::model::traits(model_family::qwen2).gguf_qk_interleaved);
    CHECK(lowrank::model::family_of("mistral") == model_family::llama);
    CHECK_FALSE(lowrank::model::family_of_config(nlohmann::json::parse(R"({"model_type": "t5"})")).has_value());
}

TEST_CASE("hf names: GGUF → Hugging Face tensor and module names, per family") {
    // Reference: transformers' LlamaForCausalLM / Qwen2ForCausalLM / BertModel parameter names and
    // llama.cpp's convert_hf_to_gguf.py tensor map, spelled out here.
    using lowrank::model::hf_module_name;
    using lowrank::model::hf_name_of_gguf;
    using lowrank::model::hf_tensor_name;
    CHECK(hf_name_of_gguf("token_embd.weight") == "model.embed_tokens.weight");
    CHECK(hf_name_of_gguf("output_norm.weight") == "model.norm.weight");
    CHECK(hf_name_of_gguf("output.weight") == "lm_head.weight");
    CHECK(hf_name_of_gguf("blk.12.attn_q.weight") == "model.layers.12.self_attn.q_proj.weight");
    CHECK(hf_name_of_gguf("blk.0.attn_k.bias") == "model.layers.0.self_attn.k_proj.bias");
    CHECK(hf_name_of_gguf("blk.3.attn_output.weight") == "model.layers.3.self_attn.o_proj.weight");
    CHECK(hf_name_of_gguf("blk.3.ffn_norm.weight") == "model.layers.3.post_attention_layernorm.weight");
    CHECK(hf_name_of_gguf("blk.3.attn_norm.weight") == "model.layers.3.input_layernorm.weight");
    for (const char* junk : {"rope_freqs.weight", "blk..attn_q.weight", "blk.x.attn_q.weight", "blk.1.attn_qq.weight",
                             "blk.1.attn_q.weightx", "blk.1"})
        CHECK(hf_name_of_gguf(junk).empty());
    CHECK(hf_module_name("blk.2.ffn_down.weight", model_family::llama) == "model.layers.2.mlp.down_proj");
    CHECK(hf_module_name("layers.2.mlp.up_proj.weight", model_family::qwen2) == "model.layers.2.mlp.up_proj");
    CHECK(hf_module_name("model.layers.2.mlp.up_proj.weight", model_family::llama) == "model.layers.2.mlp.up_proj");
    CHECK(hf_module_name("lm_head.weight", model_family::llama) == "lm_head");
    CHECK(hf_module_name("bert.encoder.layer.1.attention.output.dense.weight", model_family::bert) ==
          "encoder.layer.1.attention.output.dense");
    CHECK(hf_module_name("encoder.layer.1.output.dense.weight", model_family::bert) == "encoder.layer.1.output.dense");
    CHECK(hf_module_name("model.norm.bias", model_family::llama).empty());
    CHECK(hf_tensor_name("bert.embeddings.LayerNorm.gamma", model_family::bert) == "embeddings.LayerNorm.weight");
    CHECK(hf_tensor_name("encoder.layer.0.output.LayerNorm.beta", model_family::bert) == "encoder.layer.0.output.LayerNorm.bias");
    CHECK(hf_tensor_name("norm.weight", model_family::llama) == "model.norm.weight");
    CHECK(hf_tensor_name("lm_head.weight", model_family::qwen2) == "lm_head.weight");
    // Cross-check with the name tables: every Llama GGUF weight/bias/norm of a block maps to the HF
    // name the tables classify the same way (kind, role, layer).
    for (const auto& rule : lowrank::model::table_of(model_family::llama).gguf_rules) {
        std::string g(rule.pattern);
        if (const auto at = g.find("{L}"); at != std::string::npos) g = g.substr(0, at) + "4" + g.substr(at + 3);
        const std::string h = hf_name_of_gguf(g);
        if (h.empty()) continue;  // rope_freqs: no HF tensor
        CAPTURE(g);
        const auto a = classify_tensor(model_family::llama, g), b = classify_tensor(model_family::llama, h);
        CHECK(a.kind == b.kind);
        CHECK(a.role == b.role);
        CHECK(a.layer == b.layer);
    }
}

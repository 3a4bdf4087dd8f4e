// Tiny Llama-style models for the decompose tests, written with the library's own writers.
#pragma once

#include "lowrank/backend/reference_backend.hpp"
#include "lowrank/io/gguf_writer.hpp"
#include "lowrank/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>
#include <unistd.h>

namespace dtest {

namespace fs = std::filesystem;

/// A fresh empty directory under the system temp dir, removed by the destructor.
struct temp_dir {
    fs::path path;
    explicit temp_dir(const std::string& tag) {
        path = fs::temp_directory_path() / ("lowrank-dec-" + tag + "-" + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Dimensions: hidden 16, intermediate 32, 3 layers, 4 heads of 4, 2 KV heads, vocab 40, tied.
inline constexpr std::size_t H = 16, I = 32, L = 3, NH = 4, NKV = 2, V = 40;

struct tiny_tensor {
    std::string hf, gguf;  // names
    std::vector<std::size_t> shape;
    std::vector<float> data;
};

/// The tiny Llama's tensors (vocabulary `vocab`, default V), standard normal.
inline std::vector<tiny_tensor> tiny_llama(unsigned seed = 7, std::size_t vocab = V) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<tiny_tensor> ts;
    auto add = [&](std::string hf, std::string gg, std::vector<std::size_t> shape) {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        std::vector<float> v(n);
        for (auto& x : v) x = nd(rng);
        ts.push_back({std::move(hf), std::move(gg), std::move(shape), std::move(v)});
    };
    add("model.embed_tokens.weight", "token_embd.weight", {vocab, H});
    for (std::size_t l = 0; l < L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".", g = "blk." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", g + "attn_norm.weight", {H});
        add(p + "self_attn.q_proj.weight", g + "attn_q.weight", {H, H});
        add(p + "self_attn.k_proj.weight", g + "attn_k.weight", {NKV * H / NH, H});
        add(p + "self_attn.v_proj.weight", g + "attn_v.weight", {NKV * H / NH, H});
        add(p + "self_attn.o_proj.weight", g + "attn_output.weight", {H, H});
        add(p + "post_attention_layernorm.weight", g + "ffn_norm.weight", {H});
        add(p + "mlp.gate_proj.weight", g + "ffn_gate.weight", {I, H});
        add(p + "mlp.up_proj.weight", g + "ffn_up.weight", {I, H});
        add(p + "mlp.down_proj.weight", g + "ffn_down.weight", {H, I});
    }
    add("model.norm.weight", "output_norm.weight", {H});
    return ts;
}

inline nlohmann::json tiny_config() {
    return {{"model_type", "llama"},        {"architectures", {"LlamaForCausalLM"}},
            {"hidden_size", H},             {"intermediate_size", I},
            {"num_hidden_layers", L},       {"num_attention_heads", NH},
            {"num_key_value_heads", NKV},   {"vocab_size", V},
            {"tie_word_embeddings", true},  {"torch_dtype", "float32"}};
}

/// Writes dir/model.safetensors (dtype F32 or BF16) and dir/config.json.
inline void write_tiny_hf(const fs::path& dir, const std::vector<tiny_tensor>& ts,
                          lowrank::safetensors_dtype dt = lowrank::safetensors_dtype::F32) {
    fs::create_directories(dir);
    std::vector<std::vector<std::byte>> bufs;
    std::vector<lowrank::safetensors_tensor> out;
    for (const auto& t : ts) {
        std::vector<std::byte> b(t.data.size() * lowrank::dtype_size(dt));
        for (std::size_t i = 0; i < t.data.size(); ++i) {
            if (dt == lowrank::safetensors_dtype::F32) std::memcpy(b.data() + 4 * i, &t.data[i], 4);
            else {
                const std::uint16_t h = lowrank::float_to_bf16(t.data[i]);
                std::memcpy(b.data() + 2 * i, &h, 2);
            }
        }
        bufs.push_back(std::move(b));
    }
    for (std::size_t i = 0; i < ts.size(); ++i)
        out.push_back({ts[i].hf, dt, ts[i].shape, std::span<const std::byte>(bufs[i])});
    lowrank::safetensors_save((dir / "model.safetensors").string(), out, {{"format", "pt"}});
    std::ofstream(dir / "config.json") << tiny_config().dump(2);
}

/// Writes a GGUF (F32 tensors; q/k rows permuted as llama.cpp's converter does) with the tiny
/// Llama's hyperparameters plus `extra` metadata (e.g. a tokenizer), under general.architecture
/// `arch` (its keys prefixed with it, as llama.cpp writes them).
inline void write_tiny_gguf(const std::string& path, const std::vector<tiny_tensor>& ts,
                            const std::vector<lowrank::gguf_kv>& extra = {}, const std::string& arch = "llama") {
    using lowrank::gguf_kv;
    using lowrank::gguf_value;
    std::vector<gguf_kv> md = {
        {"general.architecture", gguf_value::string(arch), 0},
        {"general.name", gguf_value::string("tiny"), 0},
        {arch + ".block_count", gguf_value::scalar<std::uint32_t>(L), 0},
        {arch + ".embedding_length", gguf_value::scalar<std::uint32_t>(H), 0},
        {arch + ".feed_forward_length", gguf_value::scalar<std::uint32_t>(I), 0},
        {arch + ".attention.head_count", gguf_value::scalar<std::uint32_t>(NH), 0},
        {arch + ".attention.head_count_kv", gguf_value::scalar<std::uint32_t>(NKV), 0},
    };
    md.insert(md.end(), extra.begin(), extra.end());
    std::vector<lowrank::gguf_write_tensor> ws;
    for (const auto& t : ts) {
        lowrank::gguf_write_tensor w;
        w.name = t.gguf;
        w.shape.assign(t.shape.begin(), t.shape.end());
        w.data = t.data;
        if (t.gguf.find("attn_q.weight") != std::string::npos) w.permute_heads = NH;
        if (t.gguf.find("attn_k.weight") != std::string::npos) w.permute_heads = NKV;
        ws.push_back(std::move(w));
    }
    lowrank::write_gguf(path, md, ws);
}

/// γ JSON for model `model` decomposing `layers` (0-based) with per-role ranks.
inline std::string gamma_json(const std::string& model, const std::vector<int>& layers,
                              const std::map<std::string, int>& ranks, const std::string& method = "svd") {
    nlohmann::json j{{"format", "lowrank.gamma"}, {"version", 1}, {"model", model}, {"method", method}, {"indexing", 0}};
    j["layers"] = layers;
    j["tensors"] = nlohmann::json::array();
    for (const auto& [k, v] : ranks) j["tensors"].push_back(k);
    j["ranks"] = ranks;
    return j.dump();
}

inline void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

#ifdef LOWRANK_CLI_PATH
/// Runs the CLI; returns its exit status. Output goes to `log`.
inline int run_cli(const std::string& args, const std::string& log) {
    const std::string cmd = std::string(LOWRANK_CLI_PATH) + " " + args + " > " + log + " 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
#endif

inline std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

/// Independent Eckart–Young reference: sqrt(Σ_{i>r} σ_i²) / ‖W‖_F with σ from the reference
/// backend's one-sided Jacobi SVD in double precision.
inline double eckart_young_reference(const std::vector<float>& w, std::size_t m, std::size_t n, std::size_t r) {
    lowrank::reference_backend::context ctx;
    std::vector<double> a(w.begin(), w.end());
    const std::size_t k = std::min(m, n);
    std::vector<double> s(k), u(m * k), vt(k * n);
    lowrank::reference_backend::svd(ctx, m, n, a.data(), s.data(), u.data(), vt.data(), lowrank::svd_driver::gesdd);
    double all = 0, tail = 0;
    for (std::size_t i = 0; i < k; ++i) {
        all += s[i] * s[i];
        if (i >= r) tail += s[i] * s[i];
    }
    return std::sqrt(tail / all);
}

inline double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0, n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        n += double(b[i]) * b[i];
    }
    return std::sqrt(d / n);
}

}  // namespace dtest

// GGUF writer: round trips (write, read back with our reader, compare), metadata copied
// verbatim (tokenizer included), F16 conversion, the Q/K permutation re-applied, raw tensor
// copies, alignment and atomic replacement. Reference: the input file read by the same reader,
// plus byte equality of the re-encoded metadata.
#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

#include "gguf_test_util.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"
#include "lowrank/io/gguf_writer.hpp"

using namespace lowrank;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "lowrank_gguf_XXXXXX").string();
        REQUIRE(::mkdtemp(t.data()) != nullptr);
        path = t;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

bool same_value(const gguf_value& a, const gguf_value& b) {
    if (a.type != b.type) return false;
    if (gguf_scalar_size(a.type)) return a.bits == b.bits;
    if (a.is_string()) return a.str == b.str;
    if (a.elem_type != b.elem_type || a.count != b.count || a.raw != b.raw || a.strings != b.strings ||
        a.items.size() != b.items.size())
        return false;
    for (std::size_t i = 0; i < a.items.size(); ++i)
        if (!same_value(a.items[i], b.items[i])) return false;
    return true;
}

void check_same_metadata(const gguf_file& a, const gguf_file& b) {
    REQUIRE(a.metadata.size() == b.metadata.size());
    for (std::size_t i = 0; i < a.metadata.size(); ++i) {
        CAPTURE(a.metadata[i].key);
        CHECK(a.metadata[i].key == b.metadata[i].key);
        CHECK(same_value(a.metadata[i].value, b.metadata[i].value));
    }
}

}  // namespace

TEST_CASE("gguf writer: llama round trip in HF layout, F32 and F16") {
    temp_dir dir;
    const auto in = read_gguf(gguf_test::fixture("llama_qk.gguf"));
    std::vector<std::vector<float>> hf;  // HF-layout weights, as a decomposition would produce
    std::vector<gguf_write_tensor> out;
    for (const auto& t : in.tensors) hf.push_back(load_tensor(in, t));
    for (std::size_t i = 0; i < in.tensors.size(); ++i) {
        const auto& t = in.tensors[i];
        gguf_write_tensor w;
        w.name = t.name;
        w.shape = t.shape;
        w.type = (i % 2) ? ggml_type::f16 : ggml_type::f32;
        w.data = hf[i];
        w.permute_heads = llama_qk_heads(in, t);
        out.push_back(std::move(w));
    }
    const auto path = (dir.path / "out.gguf").string();
    write_gguf(path, in.metadata, out);
    const auto back = read_gguf(path);
    CHECK(back.version == 3);
    check_same_metadata(in, back);
    CHECK(back.at("tokenizer.ggml.tokens").array_of<std::string>() ==
          in.at("tokenizer.ggml.tokens").array_of<std::string>());
    REQUIRE(back.tensors.size() == in.tensors.size());
    for (std::size_t i = 0; i < in.tensors.size(); ++i) {
        const auto& a = in.tensors[i];
        const auto& b = back.tensors[i];
        CAPTURE(a.name);
        CHECK(b.name == a.name);
        CHECK(b.shape == a.shape);
        CHECK(b.ne == a.ne);
        CHECK(b.type == out[i].type);
        CHECK(b.file_offset % 32 == 0);
        // Small integers are exact in F16 too, so both layouts must match exactly.
        CHECK(load_tensor(back, b, gguf_layout::file) == load_tensor(in, a, gguf_layout::file));
        CHECK(load_tensor(back, b) == hf[i]);
    }
    // No temporary files left behind.
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++files;
    CHECK(files == 1);
}

TEST_CASE("gguf writer: raw copies, produce callbacks, metadata of every type, alignment") {
    temp_dir dir;
    const auto meta = read_gguf(gguf_test::fixture("meta_v3.gguf"));  // general.alignment = 64
    const auto quants = read_gguf(gguf_test::fixture("quants.gguf"));
    std::vector<gguf_write_tensor> out;
    for (const auto& t : quants.tensors) out.push_back(gguf_copy_tensor(quants, t));
    gguf_write_tensor p;
    p.name = "produced";
    p.shape = {3, 2};
    p.type = ggml_type::f16;
    p.produce = [] { return std::vector<float>{1.0f, 0.1f, -2.5f, 65504.0f, 1e-7f, 0.0f}; };
    out.push_back(p);
    const auto path = (dir.path / "q.gguf").string();
    write_gguf(path, meta.metadata, out);
    const auto back = read_gguf(path);
    check_same_metadata(meta, back);
    CHECK(back.alignment == 64);
    for (const auto& t : quants.tensors) {
        const auto& b = back.tensor(t.name);
        CHECK(b.file_offset % 64 == 0);
        CHECK(b.type == t.type);
        const auto x = quants.tensor_bytes(t), y = back.tensor_bytes(b);
        CHECK(std::equal(x.begin(), x.end(), y.begin(), y.end()));
    }
    const auto v = dequantize(back, back.tensor("produced"));
    CHECK(v[0] == 1.0f);
    CHECK(v[1] == half_to_float(float_to_half(0.1f)));
    CHECK(std::abs(v[1] - 0.1f) < 1e-4f);
    CHECK(v[2] == -2.5f);
    CHECK(v[3] == 65504.0f);
    CHECK(v[4] == half_to_float(float_to_half(1e-7f)));
    CHECK(v[5] == 0.0f);
}

TEST_CASE("gguf writer: invalid input and atomicity") {
    temp_dir dir;
    const auto path = (dir.path / "x.gguf").string();
    std::vector<float> data(8, 1.0f);
    gguf_write_tensor t;
    t.name = "t";
    t.shape = {2, 4};
    t.data = data;
    write_gguf(path, {}, {t});
    const auto before = gguf_test::read_bytes(path);

    auto bad = t;
    bad.shape = {3, 4};  // size mismatch
    CHECK_THROWS_AS(write_gguf(path, {}, {bad}), invalid_argument);
    bad = t;
    bad.type = ggml_type::q4_0;  // float data as a quant type
    CHECK_THROWS_AS(write_gguf(path, {}, {bad}), invalid_argument);
    CHECK_THROWS_AS(write_gguf(path, {}, {t, t}), invalid_argument);  // duplicate names
    bad = t;
    bad.produce = [] { return std::vector<float>(3); };  // wrong size, detected mid-write
    CHECK_THROWS_AS(write_gguf(path, {}, {bad}), invalid_argument);
    // The earlier file is untouched and no temporary remains.
    CHECK(gguf_test::read_bytes(path) == before);
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++files;
    CHECK(files == 1);
    CHECK_THROWS_AS(write_gguf((dir.path / "no" / "dir.gguf").string(), {}, {t}), io_error);
    const auto f = read_gguf(path);
    CHECK(dequantize(f, f.tensor("t")) == data);
}

// `lowrank merge` (prototype, docs/scale.md §3) on parts cut here from an unsharded factorised
// file, in the part layout `decompose --layers` is to write (a "shard" block in the manifest).
// Reference: the unsharded `lowrank decompose` output itself — the merged directory must hold
// the same stored tensors byte for byte and the same per-tensor manifest records, in the same
// order; each output file must open as a factorised file; bad tilings are refused by name with
// no output left behind.
#include <doctest/doctest.h>

#include "decompose/decompose_test_util.hpp"

#include "lowrank/io/factorized.hpp"

#include <regex>

using namespace lowrank;
namespace fs = std::filesystem;

namespace {

/// 1-based block of a tensor name (blk.N. / layers.N.), 0 for tensors outside the blocks.
std::size_t block_of(const std::string& name) {
    static const std::regex re(R"((?:^|\.)(?:blk|layers)\.(\d+)\.)");
    std::smatch m;
    return std::regex_search(name, m, re) ? std::stoul(m[1]) + 1 : 0;
}

/// Writes the part of `whole` holding blocks first..last (plus the non-block tensors when first == 1).
void write_part(const factorized_model& whole, std::size_t first, std::size_t last, const std::string& path) {
    factorized_writer w(path);
    nlohmann::json order = nlohmann::json::array();
    for (std::size_t k = 0; k < whole.tensors().size(); ++k) {
        const factorized_tensor& t = whole.tensors()[k];
        const std::size_t b = block_of(t.name);
        if (!(b == 0 ? first == 1 : (b >= first && b <= last))) continue;
        order.push_back(k);
        if (t.factored) {
            auto f = [](const tensor_view& v) { return std::span<const float>(reinterpret_cast<const float*>(v.bytes.data()), v.size()); };
            w.add_factored(t.name, t.shape, t.form, t.rank, f(t.u), t.core ? f(*t.core) : std::span<const float>{}, f(t.v),
                           t.dtype, t.info);
        } else {
            w.add_dense(t.name, t.dense.dtype, t.shape, t.dense.bytes, t.info, t.dtype);
        }
    }
    nlohmann::json extra = whole.manifest();
    extra.erase("tensors");
    extra["shard"] = {{"layers", {first, last}}, {"model_layers", dtest::L}, {"source_order", order}};
    w.commit(extra);
}

}  // namespace

TEST_CASE("merge: parts of a decomposition merge into the unsharded model, byte for byte; bad tilings refused") {
    dtest::temp_dir d("merge");
    const std::string src = d / "tiny.gguf";
    dtest::write_tiny_gguf(src, dtest::tiny_llama(5));
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 2}, {{"q", 2}, {"up", 3}, {"down", 3}}, "tucker2"));
    const std::string whole_path = d / "whole.safetensors";
    REQUIRE(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --quiet --out " + whole_path, d / "log") == 0);
    const factorized_model whole(whole_path);
    write_part(whole, 1, 1, d / "p1.safetensors");
    write_part(whole, 2, 3, d / "p23.safetensors");
    write_part(whole, 2, 2, d / "p2.safetensors");
    write_part(whole, 3, 3, d / "p3.safetensors");

    // Parts in any order; a small --max-shard-size forces several output files.
    const std::string out = d / "merged";
    REQUIRE(dtest::run_cli("merge " + (d / "p3.safetensors") + " " + (d / "p1.safetensors") + " " + (d / "p2.safetensors") +
                               " --max-shard-size 4000 --out " + out, d / "log") == 0);
    const safetensors_model merged = safetensors_model::open(out);
    CHECK(merged.files().size() > 1);
    std::vector<std::string> stored_whole;
    for (const auto& e : whole.file().entries()) stored_whole.push_back(e.name);
    std::sort(stored_whole.begin(), stored_whole.end());
    CHECK(merged.names() == stored_whole);
    for (const auto& n : stored_whole) {
        CAPTURE(n);
        const tensor_view a = whole.file().view(n), b = merged.view(n);
        CHECK(a.dtype == b.dtype);
        CHECK(a.shape == b.shape);
        CHECK(std::equal(a.bytes.begin(), a.bytes.end(), b.bytes.begin(), b.bytes.end()));
    }
    const auto man = nlohmann::json::parse(dtest::read_text((fs::path(out) / "lowrank_manifest.json").string()));
    CHECK(man["tensors"] == whole.manifest()["tensors"]);
    CHECK(man["parameters"]["after"] == whole.manifest()["parameters"]["after"]);
    CHECK(man["gamma_id"] == whole.manifest()["gamma_id"]);
    for (const auto* f : merged.files()) CHECK_NOTHROW(factorized_model(f->path()));

    auto refused = [&](const std::string& parts, const std::string& what) {
        CAPTURE(parts);
        const std::string o = d / "bad";
        CHECK(dtest::run_cli("merge " + parts + " --out " + o, d / "log") != 0);
        const std::string log = dtest::read_text(d / "log");
        CAPTURE(log);
        CHECK(log.find(what) != std::string::npos);
        CHECK(!fs::exists(o));
    };
    refused((d / "p1.safetensors") + " " + (d / "p23.safetensors") + " " + (d / "p2.safetensors"), "both hold layers 2..2");
    refused((d / "p1.safetensors") + " " + (d / "p3.safetensors"), "layers 2..2 are in no part");
    refused((d / "p1.safetensors") + " " + (d / "p2.safetensors"), "layers 3..3 are in no part");
    refused((d / "p1.safetensors") + " " + whole_path, "not a part");
    refused(src + " " + (d / "p23.safetensors"), "not a lowrank factorised file");
    for (const auto& e : fs::directory_iterator(d.path))
        CHECK(e.path().filename().string().rfind(".lowrank-staging", 0) != 0);  // no staging directory left
}

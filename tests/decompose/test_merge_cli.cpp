// `lowrank decompose --layers I..J` parts merged by `lowrank merge` (docs/scale.md §3).
// Reference: the unsharded `lowrank decompose` output of the same γ — the merged directory must
// hold the same stored tensors byte for byte and the same per-tensor manifest records (wall-clock
// seconds aside), in the same order; each output file must open as a factorised file; overlapping
// or missing layer ranges, whole models and non-factorised files are refused by name with no
// output left behind. BLAS runs on one thread in both runs so the factors are bit-identical.
#include <doctest/doctest.h>

#include "decompose/decompose_test_util.hpp"

#include "lowrank/io/factorized.hpp"
#include "lowrank/model/source.hpp"

#include <cstdlib>

using namespace lowrank;
namespace fs = std::filesystem;

namespace {

/// The manifest's per-tensor records without wall-clock fields.
nlohmann::json records(nlohmann::json tensors) {
    for (auto& t : tensors) t.erase("seconds");
    return tensors;
}

}  // namespace

TEST_CASE("decompose --layers + merge: the parts merge into the unsharded model, byte for byte; bad tilings refused") {
    dtest::temp_dir d("merge");
    const std::string src = d / "tiny.gguf";
    dtest::write_tiny_gguf(src, dtest::tiny_llama(5));
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 2}, {{"q", 2}, {"up", 3}, {"down", 3}}, "tucker2"));
    ::setenv("OPENBLAS_NUM_THREADS", "1", 1);
    const std::string whole_path = d / "whole.safetensors";
    REQUIRE(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --threads 1 --quiet --out " + whole_path,
                           d / "log") == 0);
    const factorized_model whole(whole_path);
    auto part = [&](const std::string& range, const std::string& name) {
        const int rc = dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --threads 1 --quiet --layers " + range +
                                          " --out " + (d / name),
                                      d / "log");
        INFO("decompose --layers " << range << ": " << dtest::read_text(d / "log"));
        REQUIRE(rc == 0);
    };
    part("1..1", "p1.safetensors");
    part("2..3", "p23.safetensors");
    part("2..2", "p2.safetensors");
    part("3..3", "p3.safetensors");
    const factorized_model p1(d / "p1.safetensors");
    CHECK(p1.manifest()["shard"]["layers"] == nlohmann::json({1, 1}));
    CHECK(p1.contains("token_embd.weight"));  // the tensors outside the blocks travel with layer 1
    CHECK(!factorized_model(d / "p3.safetensors").contains("token_embd.weight"));
    CHECK(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --layers 2..4 --out " + (d / "x.safetensors"),
                         d / "log") == 2);
    CHECK(dtest::read_text(d / "log").find("the model has layers 1..3") != std::string::npos);
    CHECK(dtest::run_cli("decompose " + src + " --plan " + (d / "g.json") + " --layers 2-3 --out " + (d / "x.safetensors"),
                         d / "log") == 2);
    CHECK(!fs::exists(d / "x.safetensors"));

    // Parts in any order; a small --max-shard-size forces several output files.
    const std::string out = d / "merged";
    REQUIRE(dtest::run_cli("merge " + (d / "p3.safetensors") + " " + (d / "p1.safetensors") + " " + (d / "p2.safetensors") +
                               " --max-shard-size 4000 --out " + out, d / "log") == 0);
    const safetensors_model merged = safetensors_model::open(out);
    CHECK(merged.files().size() > 1);
    std::vector<std::string> stored_whole;
    stored_whole = whole.storage().names();  // sorted
    CHECK(merged.names() == stored_whole);
    for (const auto& n : stored_whole) {
        CAPTURE(n);
        const tensor_view a = whole.storage().view(n), b = merged.view(n);
        CHECK(a.dtype == b.dtype);
        CHECK(a.shape == b.shape);
        CHECK(std::equal(a.bytes.begin(), a.bytes.end(), b.bytes.begin(), b.bytes.end()));
    }
    const auto man = nlohmann::json::parse(dtest::read_text((fs::path(out) / "lowrank_manifest.json").string()));
    CHECK(records(man["tensors"]) == records(whole.manifest()["tensors"]));
    CHECK(man["parameters"]["after"] == whole.manifest()["parameters"]["after"]);
    CHECK(man["gamma_id"] == whole.manifest()["gamma_id"]);
    for (const auto* f : merged.files()) CHECK_NOTHROW(factorized_model(f->path()));

    // The directory opens as one factorised model: the same original tensors, records and
    // reconstructions as the unsharded file, through the model layer and `inspect` too.
    CHECK(model::detect_file_kind(out) == model::file_kind::factorized);
    const factorized_model dir_model(out);
    CHECK(dir_model.is_directory());
    REQUIRE(dir_model.tensors().size() == whole.tensors().size());
    for (std::size_t k = 0; k < whole.tensors().size(); ++k) {
        const auto &a = whole.tensors()[k], &b = dir_model.tensors()[k];
        CAPTURE(a.name);
        CHECK(a.name == b.name);
        CHECK(a.factored == b.factored);
        CHECK(a.rank == b.rank);
        CHECK(to_dense(a) == to_dense(b));
    }
    CHECK(dir_model.parameters_after() == whole.parameters_after());
    const auto ms = model::model_source::open(out);
    CHECK(ms.format() == model::source_format::factorized);
    CHECK(ms.files().size() == merged.files().size());
    CHECK(ms.load_f32("blk.2.ffn_up.weight") == model::model_source::open(whole_path).load_f32("blk.2.ffn_up.weight"));
    REQUIRE(dtest::run_cli("inspect --json " + out, d / "ij") == 0);
    REQUIRE(dtest::run_cli("inspect --json " + whole_path, d / "iw") == 0);
    auto ij = nlohmann::json::parse(dtest::read_text(d / "ij")), iw = nlohmann::json::parse(dtest::read_text(d / "iw"));
    CHECK(ij["path"] == out);
    ij.erase("path"), iw.erase("path");
    CHECK(ij == iw);  // the same tensors, ranks, errors and parameter counts

    // A directory whose parts disagree is refused naming the file at fault.
    auto broken = [&](const std::string& name, auto&& edit) {
        const fs::path b = d.path / name;
        fs::copy(out, b);
        edit(b);
        std::string e;
        try {
            factorized_model m(b.string());
        } catch (const io_error& x) {
            e = x.what();
        }
        return e;
    };
    std::string e = broken("b1", [&](const fs::path& b) {
        auto man = nlohmann::json::parse(dtest::read_text((b / "lowrank_manifest.json").string()));
        for (auto& t : man["tensors"])
            if (t.contains("rank")) {
                t["rank"] = t["rank"].get<int>() + 1;
                break;
            }
        dtest::write_text((b / "lowrank_manifest.json").string(), man.dump());
    });
    CAPTURE(e);
    CHECK(e.find("lowrank_manifest.json") != std::string::npos);
    CHECK(e.find("differs from the one in") != std::string::npos);
    e = broken("b2", [&](const fs::path& b) {
        auto man = nlohmann::json::parse(dtest::read_text((b / "lowrank_manifest.json").string()));
        man["tensors"].erase(man["tensors"].size() - 1);
        dtest::write_text((b / "lowrank_manifest.json").string(), man.dump());
    });
    CHECK(e.find("is not in") != std::string::npos);
    e = broken("b3", [&](const fs::path& b) { fs::remove(b / merged.files().back()->path().substr(out.size() + 1)); });
    CHECK(e.find("model-0000") != std::string::npos);

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

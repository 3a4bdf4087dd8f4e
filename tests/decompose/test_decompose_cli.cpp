// `lowrank decompose` on tiny generated Llama-style models, run as a subprocess.
// References: the original weights (full-rank reconstruction), the reference backend's Jacobi
// SVD in double (Eckart–Young error at rank r), sha256 of the input (never modified).
#include "decompose_test_util.hpp"

#include "lowrank/io/checksum.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"

#include <doctest/doctest.h>

using namespace lowrank;
namespace fs = std::filesystem;

namespace {
const std::map<std::string, int> full_ranks{{"q", 16}, {"k", 8}, {"v", 8}, {"o", 16}, {"gate", 16}, {"up", 16}, {"down", 16}};
const std::map<std::string, int> low_ranks{{"q", 3}, {"k", 2}, {"v", 2}, {"o", 3}, {"gate", 4}, {"up", 4}, {"down", 4}};

std::map<std::string, const dtest::tiny_tensor*> by_hf(const std::vector<dtest::tiny_tensor>& ts) {
    std::map<std::string, const dtest::tiny_tensor*> m;
    for (const auto& t : ts) m[t.hf] = &t;
    return m;
}
bool no_temp_files(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find("tmp") != std::string::npos ||
            e.path().filename().string().find("staging") != std::string::npos)
            return false;
    return true;
}
}  // namespace

TEST_CASE("decompose at full rank reproduces the weights (factorised and folded safetensors)") {
    dtest::temp_dir d("full");
    const auto ts = dtest::tiny_llama();
    dtest::write_tiny_hf(d.path / "tiny", ts);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 1, 2}, full_ranks));
    const std::string input = (d.path / "tiny" / "model.safetensors").string();
    const std::string before = sha256_file(input);
    const auto ref = by_hf(ts);
    for (const char* method : {"svd", "tucker2", "hooi"}) {
        CAPTURE(method);
        const std::string out = d / (std::string("f-") + method + ".safetensors");
        REQUIRE(dtest::run_cli("decompose " + (d.path / "tiny").string() + " --plan " + (d / "g.json") + " --method " +
                                   method + " --allow-no-savings --threads 2 --out " + out,
                               d / "log") == 0);
        factorized_model f(out);
        CHECK(f.manifest()["source"]["sha256"] == before);
        CHECK(f.manifest()["method"] == method);
        std::size_t factored = 0;
        for (const auto& t : f.tensors()) {
            CAPTURE(t.name);
            const auto w = to_dense(t);
            if (t.factored) {
                ++factored;
                CHECK(dtest::rel_diff(w, ref.at(t.name)->data) < 1e-5);
                CHECK(t.info["rel_error"].get<double>() < 1e-5);
            } else {
                CHECK(w == ref.at(t.name)->data);  // untouched: bit for bit
            }
        }
        CHECK(factored == 21);
    }
    // --fold: original names and dtypes (BF16 here), values within bf16 rounding.
    dtest::write_tiny_hf(d.path / "tiny16", ts, safetensors_dtype::BF16);
    REQUIRE(dtest::run_cli("decompose " + (d.path / "tiny16").string() + " --plan " + (d / "g.json") +
                               " --allow-no-savings --fold --out " + (d / "folded"),
                           d / "log") == 0);
    CHECK(fs::exists(d.path / "folded" / "config.json"));
    CHECK(fs::exists(d.path / "folded" / "lowrank_manifest.json"));
    const auto in16 = safetensors_model::open((d.path / "tiny16").string());
    const auto out16 = safetensors_model::open(d / "folded");
    CHECK(out16.names() == in16.names());
    CHECK(out16.metadata().at("format") == "pt");
    for (const auto& n : in16.names()) {
        CAPTURE(n);
        CHECK(out16.view(n).dtype == safetensors_dtype::BF16);
        CHECK(dtest::rel_diff(to_float(out16.view(n)), to_float(in16.view(n))) < 1e-2);
    }
    CHECK(sha256_file(input) == before);
    CHECK(no_temp_files(d.path));
}

TEST_CASE("decompose at rank r: per-tensor error equals the Eckart-Young value") {
    dtest::temp_dir d("ey");
    const auto ts = dtest::tiny_llama(11);
    dtest::write_tiny_hf(d.path / "tiny", ts);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {1, 2}, low_ranks));
    const auto ref = by_hf(ts);
    for (const char* method : {"svd", "tucker2"}) {
        CAPTURE(method);
        const std::string out = d / (std::string("r-") + method + ".safetensors");
        REQUIRE(dtest::run_cli("decompose " + (d.path / "tiny").string() + " --plan " + (d / "g.json") + " --method " +
                                   method + " --out " + out + " --threads 1",
                               d / "log") == 0);
        factorized_model f(out);
        std::size_t n = 0;
        for (const auto& t : f.tensors()) {
            if (!t.factored) continue;
            ++n;
            CAPTURE(t.name);
            const auto& w = ref.at(t.name)->data;
            const double ey = dtest::eckart_young_reference(w, t.shape[0], t.shape[1], t.rank);
            CHECK(t.info["rel_error"].get<double>() == doctest::Approx(ey).epsilon(1e-4));
            CHECK(dtest::rel_diff(to_dense(t), w) == doctest::Approx(ey).epsilon(1e-4));
            CHECK(t.info["eckart_young"].get<double>() == doctest::Approx(ey).epsilon(1e-4));
        }
        CHECK(n == 14);
        CHECK(f.parameters_after() < f.parameters_before());
    }
}

TEST_CASE("decompose GGUF: q/k un-permuted in the factorised file, re-permuted when folded") {
    dtest::temp_dir d("gguf");
    const auto ts = dtest::tiny_llama(5);
    const std::string in = d / "tiny.gguf";
    dtest::write_tiny_gguf(in, ts);
    const std::string before = sha256_file(in);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 2}, full_ranks, "tucker2"));
    // Factorised: HF layout, so the reconstruction equals the original (unpermuted) weights.
    REQUIRE(dtest::run_cli("decompose " + in + " --plan " + (d / "g.json") + " --allow-no-savings --out " +
                               (d / "f.safetensors"),
                           d / "log") == 0);
    factorized_model f(d / "f.safetensors");
    for (const auto& t : ts) {
        CAPTURE(t.gguf);
        CHECK(dtest::rel_diff(to_dense(f.at(t.gguf)), t.data) < 1e-5);
    }
    // Folded: the GGUF reads back as the input does, in the file's own (permuted) layout.
    REQUIRE(dtest::run_cli("decompose " + in + " --plan " + (d / "g.json") + " --allow-no-savings --fold --out " +
                               (d / "folded.gguf"),
                           d / "log") == 0);
    const gguf_file a = read_gguf(in), b = read_gguf(d / "folded.gguf");
    REQUIRE(a.tensors.size() == b.tensors.size());
    CHECK(b.architecture() == "llama");
    for (const auto& t : a.tensors) {
        CAPTURE(t.name);
        CHECK(dtest::rel_diff(dequantize(b, b.tensor(t.name)), dequantize(a, t)) < 1e-5);
    }
    CHECK(sha256_file(in) == before);
    CHECK(no_temp_files(d.path));
}

TEST_CASE("decompose --svd-method: gram and randomized against the Eckart-Young optimum; refused for tucker2") {
    // Reference: the reference backend's Jacobi SVD in double (Eckart–Young error at rank r).
    // gram must reach the optimum; randomized can only be at or above it, and its reported error
    // must be the error of the factors it wrote.
    dtest::temp_dir d("svdm");
    const auto ts = dtest::tiny_llama(5);
    dtest::write_tiny_hf(d.path / "tiny", ts);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 2}, low_ranks));
    const auto ref = by_hf(ts);
    for (const char* algo : {"gram", "randomized"}) {
        CAPTURE(algo);
        const std::string out = d / (std::string("s-") + algo + ".safetensors");
        REQUIRE(dtest::run_cli("decompose " + (d.path / "tiny").string() + " --plan " + (d / "g.json") +
                                   " --method svd --svd-method " + algo + " --out " + out + " --threads 1",
                               d / "log") == 0);
        factorized_model f(out);
        CHECK(f.manifest()["svd_method"] == algo);
        std::size_t n = 0;
        for (const auto& t : f.tensors()) {
            if (!t.factored) continue;
            ++n;
            CAPTURE(t.name);
            const auto& w = ref.at(t.name)->data;
            const double ey = dtest::eckart_young_reference(w, t.shape[0], t.shape[1], t.rank);
            const double measured = dtest::rel_diff(to_dense(t), w);
            CHECK(t.info["rel_error"].get<double>() == doctest::Approx(measured).epsilon(1e-3));
            // randomized may fall back to exact/gram where its cost model finds them cheaper (tiny
            // weights): the per-tensor "algorithm" says which ran.
            const std::string ran = t.info["algorithm"].get<std::string>();
            CAPTURE(t.info.dump());
            if (std::string(algo) == "gram") CHECK(ran == "truncated_svd(gram)");
            CHECK(measured >= ey * (1 - 1e-4));
            CHECK(measured <= ey * (ran == "truncated_svd(randomized)" ? 1.05 : 1 + 1e-3));
            if (ran == "truncated_svd(randomized)") CHECK(t.info["eckart_young"].is_null());  // no full spectrum
            else CHECK(t.info["eckart_young"].get<double>() == doctest::Approx(ey).epsilon(1e-3));
        }
        CHECK(n == 14);
    }
    const std::string out = d / "t.safetensors";
    CHECK(dtest::run_cli("decompose " + (d.path / "tiny").string() + " --plan " + (d / "g.json") +
                             " --method tucker2 --svd-method randomized --out " + out,
                         d / "log") == 2);
    CHECK(dtest::read_text(d / "log").find("--svd-method randomized applies to the svd method only") != std::string::npos);
    CHECK_FALSE(fs::exists(out));
    CHECK(dtest::run_cli("decompose " + (d.path / "tiny").string() + " --plan " + (d / "g.json") +
                             " --svd-method qr --out " + out,
                         d / "log") != 0);
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("decompose --max-memory: the same output under a budget; a budget below one tensor's need is refused") {
    // Reference: the same decomposition without a budget (both on two workers, each on one BLAS
    // thread, so every tensor's factors are bit-identical whichever worker ran it).
    dtest::temp_dir d("maxmem");
    dtest::write_tiny_hf(d.path / "tiny", dtest::tiny_llama(7));
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 1, 2}, low_ranks));
    const std::string base = "decompose " + (d.path / "tiny").string() + " --plan " + (d / "g.json") + " --threads 2 --quiet";
    REQUIRE(dtest::run_cli(base + " --out " + (d / "free.safetensors"), d / "log") == 0);
    REQUIRE(dtest::run_cli(base + " --max-memory 20KB --out " + (d / "budget.safetensors"), d / "log") == 0);
    CHECK(dtest::read_text(d / "log").find("memory budget: 2e-05 GB") != std::string::npos);
    const factorized_model a(d / "free.safetensors"), b(d / "budget.safetensors");
    CHECK(b.manifest()["max_memory"] == 20000);
    REQUIRE(a.storage().names() == b.storage().names());
    for (const auto& n : a.storage().names()) {
        CAPTURE(n);
        const auto x = a.storage().view(n).bytes, y = b.storage().view(n).bytes;
        CHECK(std::equal(x.begin(), x.end(), y.begin(), y.end()));
    }
    const std::string out = d / "x.safetensors";
    CHECK(dtest::run_cli(base + " --max-memory 1KB --out " + out, d / "log") == 2);
    CHECK(dtest::read_text(d / "log").find("alone needs an estimated") != std::string::npos);
    CHECK(dtest::run_cli(base + " --max-memory 2XB --out " + out, d / "log") == 2);
    CHECK(dtest::read_text(d / "log").find("--max-memory") != std::string::npos);
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("decompose refuses bad plans and bad outputs, leaving nothing behind") {
    dtest::temp_dir d("bad");
    dtest::write_tiny_hf(d.path / "tiny", dtest::tiny_llama());
    const std::string model = (d.path / "tiny").string(), out = d / "out.safetensors";
    auto attempt = [&](const std::string& gamma, const std::string& extra, const std::string& expect) {
        CAPTURE(gamma);
        dtest::write_text(d / "g.json", gamma);
        CHECK(dtest::run_cli("decompose " + model + " --plan " + (d / "g.json") + " --out " + out + " " + extra, d / "log") == 2);
        const std::string log = dtest::read_text(d / "log");
        CAPTURE(log);
        CHECK(log.find(expect) != std::string::npos);
        CHECK_FALSE(fs::exists(out));
    };
    attempt(dtest::gamma_json("tiny", {3}, low_ranks), "", "out of range");
    attempt(dtest::gamma_json("tiny", {1}, {{"qq", 1}}), "", "unknown tensor role");
    attempt(dtest::gamma_json("tiny", {1}, {{"k", 9}}), "", "exceeds the tensor's rank");
    attempt(dtest::gamma_json("tiny", {1}, {{"q", 8}}), "", "break-even");
    attempt(dtest::gamma_json("smollm2-135m", {1}, {{"q", 1}}), "", "layers");
    attempt("{not json", "", "not valid JSON");
    // --out equal to the input.
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {1}, {{"q", 2}}));
    const std::string input = (d.path / "tiny" / "model.safetensors").string();
    const std::string before = sha256_file(input);
    CHECK(dtest::run_cli("decompose " + model + " --plan " + (d / "g.json") + " --out " + input, d / "log") == 2);
    CHECK(dtest::read_text(d / "log").find("refusing") != std::string::npos);
    CHECK(dtest::run_cli("decompose " + model + " --plan " + (d / "g.json") + " --fold --out " + model, d / "log") == 2);
    CHECK(sha256_file(input) == before);
}

TEST_CASE("a decompose that fails midway leaves no output under the final name") {
    dtest::temp_dir d("fail");
    auto ts = dtest::tiny_llama();
    for (auto& t : ts)
        if (t.hf == "model.layers.2.mlp.down_proj.weight") t.data[5] = std::nanf("");  // the SVD refuses NaN
    dtest::write_tiny_hf(d.path / "tiny", ts);
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 1, 2}, low_ranks));
    for (const char* extra : {"", "--fold"}) {
        CAPTURE(extra);
        const std::string out = d / "out.safetensors";
        CHECK(dtest::run_cli("decompose " + (d.path / "tiny").string() + " --plan " + (d / "g.json") + " --out " + out +
                                 " --threads 2 " + extra,
                             d / "log") == 1);
        CHECK(dtest::read_text(d / "log").find("down_proj") != std::string::npos);
        CHECK_FALSE(fs::exists(out));
        CHECK_FALSE(fs::exists(d / "out.manifest.json"));
        CHECK(no_temp_files(d.path));
    }
}

TEST_CASE("decompose and inspect judge a file by its content: GGUF under another name, factorised input") {
    // References: the same GGUF under its own name (decompose must give the same tensors), the
    // tiny model's tensor list, and the refusals issue #13 introduced (decompose of a factorised file).
    dtest::temp_dir d("content");
    const auto ts = dtest::tiny_llama();
    dtest::write_tiny_gguf(d / "tiny.gguf", ts);
    fs::copy_file(d / "tiny.gguf", d / "tiny.bin");
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {1}, low_ranks));
    const std::string a = d / "a.safetensors", b = d / "b.safetensors";
    REQUIRE(dtest::run_cli("decompose " + (d / "tiny.gguf") + " --plan " + (d / "g.json") + " --quiet --out " + a, d / "log") == 0);
    REQUIRE(dtest::run_cli("decompose " + (d / "tiny.bin") + " --plan " + (d / "g.json") + " --quiet --out " + b, d / "log") == 0);
    {
        const factorized_model fa(a), fb(b);
        REQUIRE(fa.tensors().size() == ts.size());
        REQUIRE(fb.tensors().size() == ts.size());
        for (std::size_t i = 0; i < ts.size(); ++i) {
            CAPTURE(fa.tensors()[i].name);
            CHECK(fa.tensors()[i].name == fb.tensors()[i].name);
            CHECK(fa.tensors()[i].factored == fb.tensors()[i].factored);
            CHECK(to_dense(fa.tensors()[i]) == to_dense(fb.tensors()[i]));
        }
    }
    // A factorised file is refused as decompose's input (usage error, nothing written).
    const std::string c = d / "c.safetensors";
    CHECK(dtest::run_cli("decompose " + a + " --plan " + (d / "g.json") + " --out " + c, d / "log") == 2);
    CHECK(dtest::read_text(d / "log").find("is a lowrank factorised file") != std::string::npos);
    CHECK_FALSE(fs::exists(c));

    // inspect: a factorised file under any name gets the factorised summary.
    fs::copy_file(a, d / "a.bin");
    REQUIRE(dtest::run_cli("inspect --json " + (d / "a.bin"), d / "j") == 0);
    const auto j = nlohmann::json::parse(dtest::read_text(d / "j"));
    CHECK(j["format"] == "lowrank.factorized");
    CHECK(j["path"] == d / "a.bin");
    REQUIRE(j["tensors"].size() == ts.size());
    std::size_t factored = 0;
    for (const auto& t : j["tensors"]) factored += t["factored"].get<bool>();
    CHECK(factored == low_ranks.size());
    CHECK(j["parameters_after"].get<std::uint64_t>() < j["parameters_before"].get<std::uint64_t>());
    REQUIRE(dtest::run_cli("inspect " + (d / "a.bin"), d / "t") == 0);
    const std::string text = dtest::read_text(d / "t");
    CHECK(text.find("(lowrank factorised safetensors)") != std::string::npos);
    CHECK(text.find("tensors: " + std::to_string(ts.size()) + " (7 factorised)") != std::string::npos);

    // inspect: a GGUF under another name is a GGUF (file order, GGUF names, the model's family).
    REQUIRE(dtest::run_cli("inspect --json " + (d / "tiny.bin"), d / "j") == 0);
    const auto g = nlohmann::json::parse(dtest::read_text(d / "j"));
    CHECK(g["format"] == "gguf");
    CHECK(g["architecture"] == "llama");
    CHECK(g["layers"] == dtest::L);
    REQUIRE(g["tensors"].size() == ts.size());
    for (std::size_t i = 0; i < ts.size(); ++i) CHECK(g["tensors"][i]["name"] == ts[i].gguf);
    CHECK(g["missing_weights"].empty());
}

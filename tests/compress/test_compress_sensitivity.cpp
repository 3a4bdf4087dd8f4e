// `lowrank compress --alloc sensitivity` on the tiny Llama (llama_cli_fixture.hpp). References:
//   - the measured block sensitivities: this test's own NLL (forward + float64 log-softmax) of
//     the dense model with block l taken from the *uniform* output file (`--alloc uniform` at the
//     same K, loaded by the factorised-file loader — not the in-memory swap the probe uses), on
//     the windows the manifest records, which must be the first N of the statistics' window starts;
//   - the weights: w_l = max(s_l, floor)/Σ_{j∈l} L_j(r_j^uniform)/L_j(0), with the sum taken
//     from the uniform output's own records (Σ predicted whitened relative error²);
//   - the allocation: its weighted relative loss equals Σ_i w_l(i)·(predicted relative error)²
//     of its own records, never exceeds that of the uniform and of the global allocation
//     (both feasible for the same budget) under the same weights, and stays within the budget;
//   - bad input: methods without sensitivity allocation, no calibration text, a text that is
//     not the statistics' text, --sensitivity-windows out of range — clear errors, nothing written.
#include <doctest/doctest.h>

#include "compress/cli_test_util.hpp"
#include "compress/llama_cli_fixture.hpp"
#include "lowrank/compress/stats_file.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

using namespace lowrank;
using namespace lowrank::runtime;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace compress_cli_test;

// The test cases live in this namespace with their helpers (not an anonymous one): the unity
// build compiles this target's files as one translation unit.
namespace compress_sensitivity_cases {

/// Mean −ln p(token) over tokens 1..L−1 of each window (each window alone), float64 log-softmax.
double mean_nll(llama_weights w, const std::vector<int>& ids, const std::vector<std::size_t>& starts, std::size_t L) {
    llama_model m(std::move(w), 1);
    const std::size_t V = m.config().vocab;
    double nll = 0;
    std::size_t n = 0;
    for (std::size_t s0 : starts) {
        REQUIRE(s0 + L <= ids.size());
        auto c = m.make_cache(1, L);
        const auto logits = m.forward(ids.data() + s0, L - 1, c, true);
        for (std::size_t i = 1; i < L; ++i) {
            const float* row = logits.data() + (i - 1) * V;
            double mx = row[0];
            for (std::size_t j = 1; j < V; ++j) mx = std::max(mx, double(row[j]));
            double z = 0;
            for (std::size_t j = 0; j < V; ++j) z += std::exp(double(row[j]) - mx);
            nll -= double(row[ids[s0 + i]]) - mx - std::log(z);
            ++n;
        }
    }
    return nll / double(n);
}

/// Σ over factorised records of block l (all blocks: l < 0) of the predicted whitened relative error², times weight(l).
double weighted_relative_loss(const json& man, const std::vector<double>& weight) {
    double s = 0;
    for (const auto& r : man.at("tensors"))
        if (r.contains("rank")) {
            const double e = r.at("predicted_whitened_rel_error").get<double>();
            s += weight.at(r.at("layer").get<std::size_t>()) * e * e;
        }
    return s;
}

json manifest(const fixture& f, const std::string& stem) { return json::parse(dtest::read_text(f.d / (stem + ".manifest.json"))); }


TEST_CASE("compress --alloc sensitivity: measured block losses, weights, weighted-optimal allocation within budget") {
    fixture f;
    const double keep = 0.7;
    const std::size_t nwin = 3;
    std::string log;
    const std::string base = "compress " + f.model + " --keep 0.7 --method svd-llm --calib " + f.stats + " --quiet --threads 1 ";
    REQUIRE_MESSAGE(run(base + "--alloc uniform --out " + (f.d / "u.safetensors"), f.d, &log) == 0, log);
    REQUIRE_MESSAGE(run(base + "--alloc global --out " + (f.d / "g.safetensors"), f.d, &log) == 0, log);
    REQUIRE_MESSAGE(run(base + "--alloc sensitivity --calib-text " + f.text + " --sensitivity-windows " + std::to_string(nwin) +
                            " --out " + (f.d / "s.safetensors") + " --json " + (f.d / "s.json"),
                        f.d, &log) == 0,
                    log);
    const json man = manifest(f, "s"), uni = manifest(f, "u"), glob = manifest(f, "g");
    const json& c = man.at("compress");
    const json& sens = c.at("sensitivity");
    CHECK(json::parse(dtest::read_text(f.d / "s.json")).at("sensitivity") == sens);

    // Windows: the first nwin recorded calibration windows.
    const auto prov = stats_file(f.stats).provenance();
    auto starts = prov.extra.at("starts").get<std::vector<std::size_t>>();
    starts.resize(nwin);
    CHECK(sens.at("windows").at("starts").get<std::vector<std::size_t>>() == starts);
    CHECK(sens.at("windows").at("context").get<std::size_t>() == context);
    CHECK(sens.at("windows").at("tokens_scored").get<std::size_t>() == nwin * (context - 1));
    CHECK(sens.at("windows").at("text_sha256") == prov.text_sha256);

    // Measured NLLs against this test's own forward of dense / block-l-from-the-uniform-file models.
    const gguf_tokenizer tok = gguf_tokenizer::from_hf_dir(f.model);
    std::vector<int> ids{tok.bos() >= 0 ? tok.bos() : tok.eos()};
    const auto enc = tok.encode(calib_text, false);
    ids.insert(ids.end(), enc.begin(), enc.end());
    const double dense = mean_nll(open_llama(f.model).weights, ids, starts, context);
    CHECK(sens.at("dense_nll").get<double>() == doctest::Approx(dense).epsilon(1e-5));
    const auto& blocks = sens.at("blocks");
    REQUIRE(blocks.size() == dtest::L);
    std::vector<double> s(dtest::L), wl(dtest::L), ref(dtest::L, 0.0);
    for (const auto& r : uni.at("tensors"))
        if (r.contains("rank")) ref.at(r.at("layer").get<std::size_t>()) += std::pow(r.at("predicted_whitened_rel_error").get<double>(), 2);
    for (std::size_t l = 0; l < dtest::L; ++l) {
        CAPTURE(l);
        llama_weights w = open_llama(f.model).weights;
        w.blocks[l] = open_llama((f.d / "u.safetensors")).weights.blocks[l];
        const double nll = mean_nll(std::move(w), ids, starts, context);
        CHECK(blocks[l].at("nll").get<double>() == doctest::Approx(nll).epsilon(1e-5));
        s[l] = blocks[l].at("nll_increase").get<double>();
        CHECK(s[l] == doctest::Approx(nll - dense).epsilon(1e-3).scale(1e-6));
        CHECK(blocks[l].at("uniform_relative_loss").get<double>() == doctest::Approx(ref[l]).epsilon(1e-9));
        wl[l] = blocks[l].at("weight").get<double>();
    }
    const double top = *std::max_element(s.begin(), s.end());
    const double floor = top > 0 ? 1e-3 * top : 1e-12;
    CHECK(sens.at("floor").get<double>() == doctest::Approx(floor));
    for (std::size_t l = 0; l < dtest::L; ++l) CHECK(wl[l] == doctest::Approx(std::max(s[l], floor) / ref[l]).epsilon(1e-12));

    // The allocation minimised Σ w·L(r)/L(0): its reported objective is its records' sum, and the
    // uniform and global allocations (same budget) are no better under the same weights.
    const double obj = weighted_relative_loss(man, wl);
    CHECK(c.at("allocation").at("weighted_relative_loss").get<double>() == doctest::Approx(obj).epsilon(1e-6));
    CHECK(obj <= weighted_relative_loss(uni, wl) * (1 + 1e-9));
    CHECK(obj <= weighted_relative_loss(glob, wl) * (1 + 1e-9));
    // Budget; per-block parameters add up.
    const auto after = c.at("linear_parameters_after").get<std::uint64_t>();
    CHECK(after <= c.at("linear_budget").get<std::uint64_t>());
    CHECK(c.at("linear_budget").get<std::uint64_t>() ==
          static_cast<std::uint64_t>(std::floor(keep * c.at("linear_parameters_before").get<double>())));
    std::uint64_t per_block = 0;
    for (const auto& b : blocks) per_block += b.at("parameters_allocated").get<std::uint64_t>();
    CHECK(per_block == after);
    CHECK(c.at("linear_budget") == glob.at("compress").at("linear_budget"));
    CHECK(hidden_entries(f.d.path) == 0);

    // The output loads and runs.
    llama_model m(open_llama((f.d / "s.safetensors")).weights, 1);
    auto cache = m.make_cache(1, 4);
    const std::vector<int> toks{5, 17, 300, 42};
    for (float v : m.forward(toks.data(), toks.size(), cache, true)) REQUIRE(std::isfinite(v));

    // --calib-text alone (calibrated first into a temporary file): same windows, same measurement.
    REQUIRE_MESSAGE(run("compress " + f.model + " --keep 0.7 --method svd-llm --alloc sensitivity --calib-text " + f.text +
                            " --windows 5 --context 16 --seed 3 --sensitivity-windows 3 --quiet --threads 1 --out " +
                            (f.d / "t.safetensors"),
                        f.d, &log) == 0,
                    log);
    const json t = manifest(f, "t").at("compress").at("sensitivity");
    CHECK(t.at("windows").at("starts") == sens.at("windows").at("starts"));
    for (std::size_t l = 0; l < dtest::L; ++l)
        CHECK(t.at("blocks")[l].at("nll").get<double>() == doctest::Approx(blocks[l].at("nll").get<double>()).epsilon(1e-6));
    CHECK(hidden_entries(f.d.path) == 0);
}

TEST_CASE("compress --alloc sensitivity refuses bad input and writes nothing") {
    fixture f;
    const std::string out = f.d / "bad.safetensors";
    auto refused = [&](const std::string& args, const std::string& needle) {
        expect_refused(args, f.d, needle, out);
        CHECK(!fs::exists(f.d / "bad.manifest.json"));
        CHECK(hidden_entries(f.d.path) == 0);
    };
    const std::string cmp = "compress " + f.model + " --keep 0.7 --out " + out + " --quiet --alloc sensitivity ";
    const std::string cal = " --calib " + f.stats + " --calib-text " + f.text;
    refused(cmp + "--method struct" + cal, "--alloc sensitivity is not available for --method struct");
    refused(cmp + "--method svd-llm-seq" + cal, "--alloc sensitivity is not available for --method svd-llm-seq");
    refused(cmp + "--method svd-llm --calib " + f.stats, "--alloc sensitivity needs the calibration text: --calib-text");
    refused(cmp + "--method plain", "--alloc sensitivity needs the calibration text");
    dtest::write_text(f.d / "other.txt", std::string(calib_text) + " And more.");
    refused(cmp + "--method svd-llm --calib " + f.stats + " --calib-text " + (f.d / "other.txt"),
            "is not the text --calib");
    refused(cmp + "--method svd-llm" + cal + " --sensitivity-windows 0", "--sensitivity-windows must be in [1, 5]");
    refused(cmp + "--method asvd" + cal + " --sensitivity-windows 6", "--sensitivity-windows must be in [1, 5]");
    refused("compress " + f.model + " --keep 0.7 --out " + out + " --quiet --alloc bogus --method svd-llm --calib " + f.stats,
            "--alloc must be uniform, global or sensitivity");
}

}  // namespace compress_sensitivity_cases

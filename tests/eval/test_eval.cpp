// Tests of examples/engine/eval: lm-evaluation-harness semantics on hand-made tasks (answers and scores
// known by construction), windowed perplexity against direct scoring with the runtime's
// llama_model::score on a tiny random model, results-schema validation, --limit subsets, parallel
// workers against one worker.
#include "eval/bert_eval.hpp"
#include "eval/continuation_scoring.hpp"
#include "eval/results.hpp"
#include "eval/scoring.hpp"
#include "eval/tasks.hpp"
#include "runtime/llama.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <deque>
#include <map>
#include <random>

using namespace lowrank;
using nlohmann::json;

namespace {

/// Returns a fixed log-probability per (context, continuation); records the calls.
struct fake_scorer : eval::lm_scorer {
    std::map<std::pair<std::string, std::string>, double> table;
    std::vector<std::pair<std::string, std::string>> calls;
    std::vector<eval::loglikelihood> score(const std::string& ctx, const std::vector<std::string>& conts) override {
        std::vector<eval::loglikelihood> out;
        for (const auto& c : conts) {
            calls.emplace_back(ctx, c);
            auto it = table.find({ctx, c});
            REQUIRE_MESSAGE(it != table.end(), "unexpected request: [" << ctx << "] [" << c << "]");
            out.push_back({it->second, false, 1});
        }
        return out;
    }
};

runtime::llama_weights tiny_llama(std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 0.3f);
    auto vec = [&](std::size_t n) {
        std::vector<float> v(n);
        for (auto& x : v) x = nd(rng);
        return v;
    };
    runtime::llama_weights w;
    auto& c = w.cfg;
    c.vocab = 37, c.hidden = 16, c.intermediate = 24, c.layers = 2, c.heads = 4, c.kv_heads = 2, c.head_dim = 4;
    c.context = 64;
    w.embed = vec(c.vocab * c.hidden);
    w.final_norm = std::vector<float>(c.hidden, 1.f);
    for (std::size_t l = 0; l < c.layers; ++l) {
        runtime::llama_block b;
        b.attn_norm = std::vector<float>(c.hidden, 1.f), b.ffn_norm = std::vector<float>(c.hidden, 1.f);
        b.q = runtime::linear::dense(vec(16 * 16), 16, 16);
        b.k = runtime::linear::dense(vec(8 * 16), 8, 16);
        b.v = runtime::linear::dense(vec(8 * 16), 8, 16);
        b.o = runtime::linear::dense(vec(16 * 16), 16, 16);
        b.gate = runtime::linear::dense(vec(24 * 16), 24, 16);
        b.up = runtime::linear::dense(vec(24 * 16), 24, 16);
        b.down = runtime::linear::dense(vec(16 * 24), 16, 24);
        w.blocks.push_back(std::move(b));
    }
    return w;
}

}  // namespace

TEST_CASE("acc vs acc_norm: length normalisation flips the prediction (lm-eval definition)") {
    // choices "a" (1 char) and "bbbbbbbbbb" (10 chars): log-likelihoods −2 and −5.
    // acc: argmax(−2, −5) = 0; acc_norm: argmax(−2/1, −5/10 = −0.5) = 1. Gold = 1.
    json d = {{"id", "0"}, {"question", "Q?"}, {"choices", {"a", "bbbbbbbbbb"}}, {"gold", 1}};
    const auto doc = eval::format_doc("arc_easy", d);
    CHECK(doc.requests[0].context == "Question: Q?\nAnswer:");
    CHECK(doc.requests[0].continuation == " a");
    fake_scorer f;
    f.table[{"Question: Q?\nAnswer:", " a"}] = -2;
    f.table[{"Question: Q?\nAnswer:", " bbbbbbbbbb"}] = -5;
    const auto r = eval::evaluate_multiple_choice({doc}, f);
    CHECK(r.pred[0] == 0);
    CHECK(r.pred_norm[0] == 1);
    CHECK(r.acc == 0.0);
    CHECK(r.acc_norm == 1.0);
    // Per-document log-likelihoods (what --samples-out writes), in choice order.
    REQUIRE(r.loglik.size() == 1);
    CHECK(r.loglik[0] == std::vector<double>{-2.0, -5.0});
    // Normalisation counts characters (Python len), not bytes: "é" is one character.
    json d2 = {{"id", "1"}, {"question", "Q?"}, {"choices", {"éé", "ab"}}, {"gold", 0}};
    fake_scorer g;
    g.table[{"Question: Q?\nAnswer:", " éé"}] = -1.0;
    g.table[{"Question: Q?\nAnswer:", " ab"}] = -1.0;
    const auto r2 = eval::evaluate_multiple_choice({eval::format_doc("arc_easy", d2)}, g);
    CHECK(r2.pred_norm[0] == 0);  // tie → first (numpy.argmax)
}

TEST_CASE("accuracy and its standard error match lm-eval's mean / mean_stderr") {
    // 4 docs, 3 right: acc 0.75, sample variance 0.25, stderr sqrt(0.25 / 4) = 0.25.
    std::vector<eval::mc_doc> docs;
    fake_scorer f;
    for (int i = 0; i < 4; ++i) {
        json d = {{"id", std::to_string(i)}, {"question", "q" + std::to_string(i)}, {"choices", {"x", "y"}}, {"gold", 0}};
        docs.push_back(eval::format_doc("piqa", d));
        const std::string ctx = "Question: q" + std::to_string(i) + "\nAnswer:";
        f.table[{ctx, " x"}] = i == 3 ? -3 : -1;
        f.table[{ctx, " y"}] = -2;
    }
    const auto r = eval::evaluate_multiple_choice(docs, f);
    CHECK(r.n == 4);
    CHECK(r.acc == doctest::Approx(0.75));
    CHECK(r.acc_stderr == doctest::Approx(0.25));
    CHECK(f.calls.size() == 8);
}

TEST_CASE("task prompts follow lm-eval's templates") {
    SUBCASE("hellaswag preprocess and capitalize") {
        CHECK(eval::hellaswag_preprocess("  Making a cake [title] Add flour.  [step] Mix  well. ") ==
              "Making a cake. Add flour.  Mix well.");  // Python str.replace("  ", " ") is one pass
        json d = {{"id", "0"}, {"activity_label", "Baking"}, {"ctx_a", "A man mixes flour."}, {"ctx_b", "he THEN"},
                  {"choices", {"adds eggs [title] ok.", "sleeps."}}, {"gold", 0}};
        const auto doc = eval::format_doc("hellaswag", d);
        CHECK(doc.requests[0].context == "Baking: A man mixes flour. He then");
        CHECK(doc.requests[0].continuation == " adds eggs. ok.");
        CHECK(doc.choices[1] == "sleeps.");
    }
    SUBCASE("winogrande partial scoring: two contexts, one continuation") {
        json d = {{"id", "0"}, {"sentence", "Sarah was better than Maria so _ got the easier cases."},
                  {"choices", {"Sarah", "Maria"}}, {"gold", 1}};
        const auto doc = eval::format_doc("winogrande", d);
        CHECK(doc.requests[0].context == "Sarah was better than Maria so Sarah");
        CHECK(doc.requests[1].context == "Sarah was better than Maria so Maria");
        CHECK(doc.requests[0].continuation == " got the easier cases.");
        CHECK(doc.requests[1].continuation == " got the easier cases.");
        fake_scorer f;
        f.table[{doc.requests[0].context, " got the easier cases."}] = -9;
        f.table[{doc.requests[1].context, " got the easier cases."}] = -4;
        CHECK(eval::evaluate_multiple_choice({doc}, f).acc == 1.0);
    }
    SUBCASE("boolq, openbookqa, piqa") {
        const auto b = eval::format_doc("boolq", {{"id", "0"}, {"question", "is it"}, {"passage", "P."}, {"choices", {"no", "yes"}}, {"gold", 1}});
        CHECK(b.requests[0].context == "P.\nQuestion: is it?\nAnswer:");
        CHECK(b.requests[1].continuation == " yes");
        const auto o = eval::format_doc("openbookqa", {{"id", "0"}, {"question", "The sun is"}, {"choices", {"hot", "cold"}}, {"gold", 0}});
        CHECK(o.requests[0].context == "The sun is");
        CHECK(o.requests[0].continuation == " hot");
    }
    SUBCASE("mmlu 0-shot default template") {
        json d = {{"id", "x/0"}, {"subject", "high_school_physics"}, {"question", " What is g? "},
                  {"choices", {"9.8", "1", "0", "3"}}, {"gold", 0}};
        const auto doc = eval::format_doc("mmlu", d);
        CHECK(doc.requests[2].context ==
              "The following are multiple choice questions (with answers) about high school physics.\n\n"
              "What is g?\nA. 9.8\nB. 1\nC. 0\nD. 3\nAnswer:");
        CHECK(doc.requests[2].continuation == " C");
    }
    SUBCASE("strip is Python's str.strip(): Unicode whitespace too (found by scripts/crosscheck_lm_eval.py)") {
        // MMLU sociology/69 ends its question with U+0085 (NEL); lm-eval's "{{question.strip()}}"
        // removes it (Python str.isspace), an ASCII-only strip kept it and the context differed.
        json d = {{"id", "sociology/69"}, {"subject", "sociology"}, {"question", "Role-learning theory suggests that\u0085"},
                  {"choices", {"a", "b", "c", "d"}}, {"gold", 0}};
        CHECK(eval::format_doc("mmlu", d).requests[0].context ==
              "The following are multiple choice questions (with answers) about sociology.\n\n"
              "Role-learning theory suggests that\nA. a\nB. b\nC. c\nD. d\nAnswer:");
        // The whole set, both ends (expected strings from Python: s.strip()).
        CHECK(eval::python_strip("\u3000\u00a0\x1f x\u2003y \u2028\u2029\u202f\u205f\u1680\u0085\x1c\v") == "x\u2003y");
        CHECK(eval::python_strip("\u200b x \u200b") == "\u200b x \u200b");  // U+200B is not whitespace in Python
        CHECK(eval::python_strip("\u00a0\u2000") == "");
        CHECK(eval::python_strip("caf\u00e9\u00a0") == "caf\u00e9");     // é (C3 A9) is kept whole
        CHECK(eval::python_strip("\xff\xa0") == "\xff\xa0");          // invalid UTF-8 is not whitespace
        CHECK(eval::python_rstrip_bytes("Answer:\u00a0 ") == 3);   // what lm-eval moves to the continuation
        // hellaswag preprocess and the winogrande target strip the same way.
        CHECK(eval::hellaswag_preprocess("\u00a0Fold it.\u2009") == "Fold it.");
        json w = {{"id", "0"}, {"sentence", "A _ b.\u00a0"}, {"choices", {"x", "y"}}, {"gold", 0}};
        CHECK(eval::format_doc("winogrande", w).requests[0].continuation == " b.");
    }
    SUBCASE("lambada: no delimiter") {
        const auto doc = eval::format_doc("lambada", {{"id", "0"}, {"context", "He said"}, {"continuation", " hello"}});
        CHECK(doc.requests[0].continuation == " hello");
    }
    CHECK_THROWS(eval::find_task("truthfulqa"));
}

TEST_CASE("--limit subsets are deterministic prefixes; mmlu is limited per subject") {
    CHECK(eval::limited_indices(10, 3) == std::vector<std::size_t>{0, 1, 2});
    CHECK(eval::limited_indices(2, 5).size() == 2);
    CHECK(eval::limited_indices(4, 0).size() == 4);
    std::vector<eval::mc_doc> docs(7);
    const char* g[] = {"a", "a", "a", "b", "b", "c", "c"};
    for (int i = 0; i < 7; ++i) docs[i].group = g[i];
    CHECK(eval::limited_docs(docs, 3) == std::vector<std::size_t>{0, 3, 5});
    CHECK(eval::limited_docs(docs, 4) == std::vector<std::size_t>{0, 1, 3, 4, 5, 6});
    CHECK(eval::limited_docs(docs, 4) == eval::limited_docs(docs, 4));
}

TEST_CASE("perplexity windows score every token once with the promised context") {
    for (std::size_t n : {2u, 5u, 17u, 64u})
        for (std::size_t L : {2u, 4u, 8u})
            for (std::size_t S = 1; S < L; ++S) {
                const auto ws = eval::plan_windows(n, L, S);
                std::vector<int> seen(n, 0);
                for (std::size_t k = 0; k < ws.size(); ++k) {
                    CHECK(ws[k].end - ws[k].begin <= L);
                    for (std::size_t i = ws[k].score_from; i < ws[k].end; ++i) {
                        ++seen[i];
                        if (k > 0) CHECK(i - ws[k].begin >= L - S);  // history inside the window
                    }
                }
                CHECK(seen[0] == 0);
                for (std::size_t i = 1; i < n; ++i) CHECK(seen[i] == 1);
            }
    CHECK_THROWS(eval::plan_windows(10, 4, 4));
}

TEST_CASE("windowed perplexity equals direct scoring with the runtime model (tiny random Llama)") {
    runtime::llama_model m(tiny_llama(7), 1);
    std::mt19937 rng(3);
    std::vector<int> t(40);
    for (auto& x : t) x = int(rng() % 37);
    std::vector<std::size_t> bytes(t.size(), 2);
    auto window_lp = [&](const std::vector<int>& w, std::size_t from) {
        auto c = m.make_cache(1, w.size());
        const auto logits = m.forward(w.data(), w.size() - 1, c, true);
        std::vector<double> lp;
        for (std::size_t i = from; i < w.size(); ++i) {
            const float* row = logits.data() + (i - 1) * 37;
            lp.push_back(double(row[w[i]]) - runtime::log_sum_exp(row, 37));
        }
        return lp;
    };
    SUBCASE("one window covering the text = full-context score") {
        const auto r = eval::evaluate_perplexity(t, bytes, 64, 32, window_lp);
        const auto direct = m.score({t[0]}, std::vector<int>(t.begin() + 1, t.end()));
        CHECK(r.windows == 1);
        CHECK(r.tokens == 39);
        CHECK(r.nll_per_token * 39 == doctest::Approx(-direct.total).epsilon(1e-9));
        CHECK(r.perplexity == doctest::Approx(std::exp(-direct.total / 39)).epsilon(1e-9));
        CHECK(r.bits_per_byte == doctest::Approx(-direct.total / std::log(2.0) / (39 * 2)).epsilon(1e-9));
    }
    SUBCASE("stride 1: token i is scored given exactly t[max(0, i-L+1) .. i)") {
        const std::size_t L = 8;
        const auto r = eval::evaluate_perplexity(t, bytes, L, 1, window_lp);
        double direct = 0;
        for (std::size_t i = 1; i < t.size(); ++i) {
            const std::size_t b = i + 1 >= L ? i + 1 - L : 0;
            direct += m.score(std::vector<int>(t.begin() + long(b), t.begin() + long(i)), {t[i]}).total;
        }
        CHECK(r.tokens == 39);
        CHECK(r.nll_per_token * 39 == doctest::Approx(-direct).epsilon(1e-6));
        CHECK(r.nll_stderr > 0);
    }
    SUBCASE("per-window records add up to the totals (what --samples-out writes per window)") {
        std::vector<std::size_t> b(t.size());
        for (std::size_t i = 0; i < t.size(); ++i) b[i] = 1 + i % 3;
        const auto r = eval::evaluate_perplexity(t, b, 8, 4, window_lp);
        const auto ws = eval::plan_windows(t.size(), 8, 4);
        REQUIRE(r.per_window.size() == ws.size());
        double nll = 0;
        std::size_t tokens = 0, bytes = 0;
        for (std::size_t k = 0; k < ws.size(); ++k) {
            const auto& w = r.per_window[k];
            CHECK(w.tokens == ws[k].end - ws[k].score_from);
            std::size_t wb = 0;
            for (std::size_t i = ws[k].score_from; i < ws[k].end; ++i) wb += b[i];
            CHECK(w.bytes == wb);
            // independent reference: the window scored directly by the runtime model
            const std::vector<int> ctx(t.begin() + long(ws[k].begin), t.begin() + long(ws[k].score_from));
            const std::vector<int> tgt(t.begin() + long(ws[k].score_from), t.begin() + long(ws[k].end));
            CHECK(w.nll == doctest::Approx(-m.score(ctx, tgt).total).epsilon(1e-6));
            nll += w.nll, tokens += w.tokens, bytes += w.bytes;
        }
        CHECK(tokens == r.tokens);
        CHECK(bytes == r.bytes);
        CHECK(nll / double(tokens) == doctest::Approx(r.nll_per_token).epsilon(1e-12));
    }
    SUBCASE("max_windows limits the windows deterministically") {
        const auto a = eval::evaluate_perplexity(t, bytes, 8, 4, window_lp, 3);
        const auto b = eval::evaluate_perplexity(t, bytes, 8, 4, window_lp, 3);
        CHECK(a.windows == 3);
        CHECK(a.total_windows > 3);
        CHECK(a.nll_per_token == b.nll_per_token);
    }
}

TEST_CASE("weighted mean and its standard error") {
    const auto e = eval::weighted_mean({1.0, 3.0}, {1.0, 1.0});
    CHECK(e.mean == doctest::Approx(2.0));
    CHECK(e.stderr == doctest::Approx(1.0));  // equal weights: sample stdev √2 / √2
    CHECK(eval::weighted_mean({5.0}, {3.0}).stderr == 0.0);
}

TEST_CASE("BERT metric helpers") {
    // Threshold: positives score high, negatives low → perfect split between 0.4 and 0.6.
    const double tau = eval::best_threshold({0.1, 0.4, 0.6, 0.9}, {0, 0, 1, 1});
    CHECK(tau == doctest::Approx(0.5));
    const auto r = eval::paraphrase_by_threshold({0.1, 0.4, 0.6, 0.9}, {0, 0, 1, 1}, {0.2, 0.7, 0.45}, {0, 1, 1});
    CHECK(r.eval.acc == doctest::Approx(2.0 / 3));
    CHECK(r.eval.f1 == doctest::Approx(2.0 / 3));
    CHECK(r.eval.pred == std::vector<int>{0, 1, 0});  // 0.2 < τ, 0.7 ≥ τ, 0.45 < τ
    // Nearest centroid in 2-D.
    const std::vector<float> cal{1, 0, 0.9f, 0.1f, 0, 1, 0.1f, 0.9f};
    const auto nc = eval::nearest_centroid(cal, {1, 1, 0, 0}, {0.8f, 0.2f, 0.3f, 0.7f}, {1, 0}, 2);
    CHECK(nc.acc == 1.0);
    CHECK(nc.pred == std::vector<int>{1, 0});
}

TEST_CASE("results schema: a complete document validates; missing pieces are named") {
    json j = {{"schema", eval::results_schema},
              {"schema_version", 1},
              {"model", {{"path", "/m.gguf"}, {"sha256", std::string(64, 'a')}, {"kind", "gguf"}}},
              {"gamma", nullptr},
              {"method", "dense"},
              {"tasks", {{"arc_easy", {{"metrics", {{"acc", eval::metric(0.5, 0.1)}}}, {"samples", 10u},
                                       {"dataset", {{"file", "arc_easy.jsonl"}, {"sha256", std::string(64, 'b')}}}}}}},
              {"efficiency", {{"latency_ms", 1.0}, {"throughput_tok_s", "unavailable"}, {"peak_rss_mb", 3.0}, {"energy_j", "unavailable"}}},
              {"machine", {{"cores", 2}}},
              {"software", {{"lowrank_version", "0.1"}, {"git_commit", "unknown"}}},
              {"wall_time_s", 1.5}};
    CHECK(eval::validate_results(j).empty());
    auto k = j;
    k["efficiency"]["energy_j"] = "n/a";
    k["tasks"]["arc_easy"].erase("samples");
    k.erase("software");
    const auto errs = eval::validate_results(k);
    CHECK(errs.size() == 3);
    k = j;
    k["gamma"] = {{"id", "g-1"}};
    CHECK(eval::validate_results(k).size() == 1);
    CHECK(eval::metric(std::nan(""), 0.0)["value"].is_null());
}

TEST_CASE("continuation scoring: batched, shared-context and per-request agree with llama_model::score") {
    // Reference: the runtime's own llama_model::score (one forward over context + continuation,
    // independent of eval/continuation_scoring.hpp). Continuations of different lengths (the batch is
    // right-padded), an empty one, a one-token one, and a GQA model with 2 layers.
    runtime::llama_model m(tiny_llama(11), 1);
    std::mt19937 rng(5);
    auto toks = [&](std::size_t n) {
        std::vector<int> v(n);
        for (auto& x : v) x = int(rng() % 37);
        return v;
    };
    for (std::size_t ctx_len : {1u, 6u, 20u}) {
        CAPTURE(ctx_len);
        const std::vector<int> ctx = toks(ctx_len);
        const std::vector<std::vector<int>> conts = {toks(3), toks(9), {}, toks(1), toks(5), toks(9)};
        std::vector<std::vector<eval::loglikelihood>> by_mode;
        for (auto mode : {eval::scoring_mode::batched, eval::scoring_mode::shared_context, eval::scoring_mode::per_request})
            by_mode.push_back(eval::score_continuations(m, ctx, conts, mode));
        for (std::size_t i = 0; i < conts.size(); ++i) {
            CAPTURE(i);
            double ref = 0;
            std::size_t greedy = 0;
            if (!conts[i].empty()) {
                const auto r = m.score(ctx, conts[i]);
                ref = r.total, greedy = r.greedy_matches;
            }
            for (const auto& res : by_mode) {
                CHECK(res[i].tokens == conts[i].size());
                CHECK(res[i].logprob == doctest::Approx(ref).epsilon(1e-5).scale(1.0));
                CHECK(std::abs(res[i].logprob - ref) < 1e-4);
                CHECK(res[i].greedy == (greedy == conts[i].size()));
            }
        }
    }
    CHECK_THROWS_AS(eval::score_continuations(m, {}, {{1}}), lowrank::invalid_argument);
    CHECK(eval::parse_scoring_mode("shared-context", "--scoring") == eval::scoring_mode::shared_context);
    CHECK_THROWS_WITH_AS(eval::parse_scoring_mode("fast", "--scoring"), doctest::Contains("--scoring: 'fast'"),
                         lowrank::invalid_argument);
}

namespace {

/// Scores text with a tiny runtime model, one token per byte (mod the vocabulary), through
/// eval/continuation_scoring.hpp: a real model under several workers.
struct byte_scorer : eval::lm_scorer {
    runtime::llama_model& m;
    explicit byte_scorer(runtime::llama_model& model) : m(model) {}
    std::vector<int> tokens(const std::string& s) const {
        std::vector<int> t;
        for (unsigned char ch : s) t.push_back(int(ch % m.config().vocab));
        return t;
    }
    std::vector<eval::loglikelihood> score(const std::string& ctx, const std::vector<std::string>& conts) override {
        std::vector<std::vector<int>> ks;
        for (const auto& c : conts) ks.push_back(tokens(c));
        return eval::score_continuations(m, ctx.empty() ? std::vector<int>{0} : tokens(ctx), ks);
    }
};

}  // namespace

TEST_CASE("parallel workers on shared weights score every document exactly as one worker does") {
    // Reference: the same documents scored by one worker in the calling thread. The workers are
    // llama_model::sharing_weights copies (one thread each) running at once on the same weights.
    runtime::llama_model main_model(tiny_llama(13), 1);
    std::mt19937 rng(9);
    auto text = [&](std::size_t n) {
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s.push_back(char('a' + rng() % 26));
        return s;
    };
    std::vector<eval::mc_doc> docs(41);
    for (std::size_t i = 0; i < docs.size(); ++i) {
        auto& d = docs[i];
        d.id = std::to_string(i), d.gold = i % 3;
        const std::string ctx = i % 7 == 0 ? std::string() : text(1 + rng() % 20);
        for (std::size_t c = 0; c < 3 + i % 2; ++c) {
            d.choices.push_back(text(1 + rng() % 9));
            d.requests.push_back({ctx, " " + d.choices.back()});
        }
    }
    byte_scorer one(main_model);
    const auto ref = eval::evaluate_multiple_choice(docs, one);

    std::deque<runtime::llama_model> models;
    std::deque<byte_scorer> scorers;
    std::vector<eval::lm_scorer*> workers{&one};
    for (int w = 1; w < 4; ++w) {
        models.push_back(main_model.sharing_weights(1));
        scorers.emplace_back(models.back());
        workers.push_back(&scorers.back());
    }
    CHECK(&models.front().weights() == &main_model.weights());  // shared, not copied
    std::vector<std::size_t> seen;
    const auto par = eval::evaluate_multiple_choice(docs, workers, [&](std::size_t d, std::size_t n) {
        CHECK(n == docs.size());
        seen.push_back(d);
    });
    REQUIRE(par.loglik.size() == docs.size());
    for (std::size_t i = 0; i < docs.size(); ++i) {
        CAPTURE(i);
        REQUIRE(par.loglik[i].size() == ref.loglik[i].size());
        for (std::size_t c = 0; c < ref.loglik[i].size(); ++c) CHECK(par.loglik[i][c] == ref.loglik[i][c]);
        CHECK(par.greedy[i] == ref.greedy[i]);
    }
    CHECK(par.pred == ref.pred);
    CHECK(par.pred_norm == ref.pred_norm);
    CHECK(par.acc == ref.acc);
    CHECK(par.acc_norm_stderr == ref.acc_norm_stderr);
    REQUIRE(seen.size() == docs.size());  // progress: once per document, counting up
    for (std::size_t k = 0; k < seen.size(); ++k) CHECK(seen[k] == k + 1);
}

TEST_CASE("parallel workers: a failing document's error reaches the caller; no workers is refused") {
    struct failing : eval::lm_scorer {
        std::vector<eval::loglikelihood> score(const std::string& ctx, const std::vector<std::string>& conts) override {
            if (ctx == "bad") throw lowrank::invalid_argument("document 'bad' cannot be scored");
            return std::vector<eval::loglikelihood>(conts.size());
        }
    } a, b;
    std::vector<eval::mc_doc> docs(30);
    for (std::size_t i = 0; i < docs.size(); ++i)
        docs[i].choices = {"x", "y"}, docs[i].requests = {{i == 17 ? "bad" : "ok", "x"}, {i == 17 ? "bad" : "ok", "y"}};
    const std::vector<eval::lm_scorer*> two{&a, &b};
    CHECK_THROWS_WITH_AS(eval::evaluate_multiple_choice(docs, two), doctest::Contains("'bad'"), lowrank::invalid_argument);
    CHECK_THROWS_AS(eval::evaluate_multiple_choice(docs, std::vector<eval::lm_scorer*>{}), lowrank::invalid_argument);
}

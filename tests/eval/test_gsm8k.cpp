// Tests of examples/engine/eval/gsm8k.hpp against lm-evaluation-harness v0.4's gsm8k task semantics:
// hand-made responses whose extracted answers are known. The expected strings were derived by
// hand from lm-eval's filters (RegexFilter with its two patterns, take_first) and exact_match's
// regexes_to_ignore, and confirmed with Python's `re` module (the engine lm-eval runs them on).
// The generation loop is driven by a scripted fake model, so stop handling is checked exactly.
// A fixture made with lm-evaluation-harness's own filter/metric code (0.4.9) is checked case by
// case as an independent reference.
#include "eval/gsm8k.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <map>

using namespace lowrank::eval;

TEST_CASE("gsm8k strict-match: the number after the first '#### '") {
    CHECK(gsm8k::strict_extract(" She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7\n\n") == "7");
    CHECK(gsm8k::strict_extract("He pays $1,200 then $50.\n#### 1,250") == "1,250");
    CHECK(gsm8k::strict_extract("#### -5 and later #### 6") == "-5");  // first, not last
    CHECK(gsm8k::strict_extract("She ends with 3.5 liters\n#### 3.50") == "3.50");
    CHECK(gsm8k::strict_extract("#### .") == ".");
    // no "#### N": invalid, even when the response has numbers
    CHECK(gsm8k::strict_extract("The answer is 42.") == "[invalid]");
    CHECK(gsm8k::strict_extract("#### $12") == "[invalid]");  // '$' is not in the class
    CHECK(gsm8k::strict_extract("###  7") == "[invalid]");
    CHECK(gsm8k::strict_extract("") == "[invalid]");
}

TEST_CASE("gsm8k flexible-extract: the last number-like run") {
    CHECK(gsm8k::flexible_extract(" She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7\n\n") == "7");
    CHECK(gsm8k::flexible_extract("#### -5 and later #### 6") == "6");
    CHECK(gsm8k::flexible_extract("The answer is 42.") == "42.");
    CHECK(gsm8k::flexible_extract("Costs $5. Total 18.") == "18.");
    CHECK(gsm8k::flexible_extract("#### $12") == "$12");
    CHECK(gsm8k::flexible_extract("Result: 1,000,000.\n") == "1,000,000.");
    CHECK(gsm8k::flexible_extract("a 5 b 12") == "12");
    CHECK(gsm8k::flexible_extract("x = 7\n") == "7");        // single digit: second alternative
    CHECK(gsm8k::flexible_extract("it is -3 now") == "-3");
    CHECK(gsm8k::flexible_extract("no digits here") == "[invalid]");
}

TEST_CASE("gsm8k exact_match: regexes_to_ignore then ignore_case") {
    CHECK(gsm8k::normalize("He pays $1,200 then $50.\n#### 1,250") == "1250");
    CHECK(gsm8k::normalize("a #### b #### 9") == "9");  // (?s).*#### is greedy: up to the last
    CHECK(gsm8k::normalize("x #### 18.") == "18");
    CHECK(gsm8k::normalize("5.\n") == "5\n");           // $ also matches before a final newline
    CHECK(gsm8k::normalize("5..") == "5.");             // one trailing '.' only
    CHECK(gsm8k::normalize("$5 #### 7\n") == "7\n");
    CHECK(gsm8k::normalize("[INVALID]") == "[invalid]");
    const std::string ref = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18";
    CHECK(gsm8k::exact_match("18", ref));
    CHECK(gsm8k::exact_match("$18", ref));
    CHECK(gsm8k::exact_match("18.", ref));
    CHECK_FALSE(gsm8k::exact_match("18.0", ref));  // string match, not numeric
    CHECK_FALSE(gsm8k::exact_match("9", ref));
    CHECK_FALSE(gsm8k::exact_match("[invalid]", ref));
    CHECK(gsm8k::exact_match("1,250", "#### 1250"));
    CHECK(gsm8k::exact_match("-5", "... #### -5"));
    CHECK_FALSE(gsm8k::exact_match("5", "... #### -5"));
}

TEST_CASE("gsm8k scoring of whole responses: strict and flexible disagree where they should") {
    const gsm8k::doc d{"0", "q", "Some work.\n#### 1,250"};
    auto g = [](std::string text) { return gsm8k::generation{std::move(text), {}, "stop"}; };
    auto r = gsm8k::score(d, g(" He pays 1000 + 250 = <<1000+250=1250>>1250.\n#### 1250\n\n"));
    CHECK(r.strict == "1250");
    CHECK(r.strict_ok);
    CHECK(r.flexible_ok);
    r = gsm8k::score(d, g(" So the total is $1,250."));  // no "####": strict fails, flexible finds it
    CHECK(r.strict == "[invalid]");
    CHECK_FALSE(r.strict_ok);
    CHECK(r.flexible == "$1,250.");
    CHECK(r.flexible_ok);
    r = gsm8k::score(d, g(" #### 1250 but then 7 more"));  // strict right, flexible takes the last number
    CHECK(r.strict_ok);
    CHECK_FALSE(r.flexible_ok);
}

TEST_CASE("gsm8k prompt: 5 exemplars joined by blank lines, then the question") {
    std::vector<gsm8k::doc> all;
    for (int i = 0; i < 8; ++i)
        all.push_back({std::to_string(i), "Q" + std::to_string(i) + "?", "A" + std::to_string(i) + "\n#### " + std::to_string(i)});
    const auto s = gsm8k::split_fewshot(all);
    REQUIRE(s.exemplars.size() == 5);
    REQUIRE(s.eval.size() == 3);
    CHECK(s.exemplars.front().id == "3");
    CHECK(s.eval.back().id == "2");
    CHECK(gsm8k::context(s.exemplars, s.eval[0]) ==
          "Question: Q3?\nAnswer: A3\n#### 3\n\nQuestion: Q4?\nAnswer: A4\n#### 4\n\n"
          "Question: Q5?\nAnswer: A5\n#### 5\n\nQuestion: Q6?\nAnswer: A6\n#### 6\n\n"
          "Question: Q7?\nAnswer: A7\n#### 7\n\nQuestion: Q0?\nAnswer:");
    CHECK_THROWS(gsm8k::split_fewshot(std::vector<gsm8k::doc>(all.begin(), all.begin() + 5)));
    CHECK_THROWS(gsm8k::from_json({{"id", "1"}, {"question", "q"}, {"answer", "no final line"}}));
}

TEST_CASE("gsm8k filters and exact_match agree with lm-evaluation-harness's own code on every fixture case") {
    // tests/eval/fixtures/gsm8k_lm_eval.json: scripts/make_gsm8k_fixture.py ran lm_eval 0.4.9's
    // RegexFilter and exact_match_hf_evaluate on hand-written edge cases and on 20 real SmolLM2
    // generations (lowrank eval --tasks gsm8k --limit 20).
    std::ifstream in(std::string(LOWRANK_EVAL_FIXTURES) + "/gsm8k_lm_eval.json");
    REQUIRE_MESSAGE(in.good(), "committed fixture tests/eval/fixtures/gsm8k_lm_eval.json is missing");
    const auto fx = nlohmann::json::parse(in);
    REQUIRE(fx["cases"].size() >= 30);
    for (const auto& c : fx["cases"]) {
        const auto resp = c["response"].get<std::string>(), ref = c["reference"].get<std::string>();
        CAPTURE(resp);
        CAPTURE(ref);
        const auto s = gsm8k::strict_extract(resp), f = gsm8k::flexible_extract(resp);
        CHECK(s == c["strict"].get<std::string>());
        CHECK(f == c["flexible"].get<std::string>());
        CHECK(gsm8k::exact_match(s, ref) == c["strict_ok"].get<bool>());
        CHECK(gsm8k::exact_match(f, ref) == c["flexible_ok"].get<bool>());
    }
}

namespace {
/// A scripted "model": emits the token ids of `script` in order, then token 99 forever.
struct scripted {
    std::vector<int> script;
    std::map<int, std::string> pieces;
    int calls = 0;
    int next(const std::vector<int>& so_far) {
        ++calls;
        return so_far.size() < script.size() ? script[so_far.size()] : 99;
    }
};
gsm8k::generation run(scripted& m, std::size_t max_tokens, int eos = 2) {
    return gsm8k::generate_until([&](const std::vector<int>& s) { return m.next(s); },
                                 [&](int t) { return m.pieces.count(t) ? m.pieces.at(t) : std::string("?"); }, eos,
                                 gsm8k::stop_sequences(), max_tokens);
}
}  // namespace

TEST_CASE("gsm8k generation stops at a stop sequence spanning tokens and cuts the text before it") {
    scripted m{{10, 11, 12, 13, 14, 15, 16}, {{10, " 3+4=7"}, {11, "\n####"}, {12, " 7"}, {13, "\n\nQues"},
                                              {14, "tion:"}, {15, " next"}, {16, " more"}}};
    const auto g = run(m, 256);
    CHECK(g.reason == "stop");
    CHECK(g.text == " 3+4=7\n#### 7\n\n");
    CHECK(g.tokens == std::vector<int>{10, 11, 12, 13, 14});  // nothing after the stop token
    CHECK(m.calls == 5);
    CHECK(gsm8k::strict_extract(g.text) == "7");
}

TEST_CASE("gsm8k generation: end-of-text, <|im_end|> text, and max tokens") {
    scripted a{{10, 11, 2, 12}, {{10, " 1"}, {11, "2"}, {12, " x"}}};
    auto g = run(a, 256);
    CHECK(g.reason == "eos");
    CHECK(g.text == " 12");
    CHECK(g.tokens.size() == 2);

    scripted b{{10, 11, 12}, {{10, " 5"}, {11, "<|im_"}, {12, "end|> tail"}}};
    g = run(b, 256, /*eos=*/-1);
    CHECK(g.reason == "stop");
    CHECK(g.text == " 5");

    scripted c{{}, {{99, "ab"}}};
    g = run(c, 4);
    CHECK(g.reason == "length");
    CHECK(g.tokens.size() == 4);
    CHECK(g.text == "abababab");

    scripted d{{10}, {{10, "Question: at once"}}};
    g = run(d, 256);
    CHECK(g.reason == "stop");
    CHECK(g.text.empty());
    CHECK(gsm8k::strict_extract(g.text) == "[invalid]");
}

TEST_CASE("gsm8k stop_position: the earliest of the stop sequences") {
    CHECK(gsm8k::stop_position("abc</s> Question:", gsm8k::stop_sequences()) == 3);
    CHECK(gsm8k::stop_position("no stop here", gsm8k::stop_sequences()) == std::string::npos);
    CHECK(gsm8k::stop_position("question: lower case does not stop", gsm8k::stop_sequences()) == std::string::npos);
}

// With the cached SmolLM2 GGUF (scripts/fetch_assets.py; skipped otherwise): the generator's
// shared few-shot prefix cache must give the same continuation as running the whole prompt.
#include "lowrank/io/gguf.hpp"
#include "runtime/llama_loader.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>

TEST_CASE("gsm8k generator: prefix KV-cache reuse equals a full prefill (real SmolLM2, if cached)") {
    const char* c = std::getenv("LOWRANK_CACHE");
    const char* home = std::getenv("HOME");
    const auto root = c ? std::filesystem::path(c) : std::filesystem::path(home ? home : "/") / ".cache/lowrank";
    const auto path = root / "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (!std::filesystem::exists(path)) {
        std::cout << "SKIPPED gsm8k generator: " << path.string() << " not cached\n";
        return;
    }
    const auto f = lowrank::read_gguf(path.string());
    const auto tok = lowrank::runtime::gguf_tokenizer::from_gguf(f);
    lowrank::runtime::llama_model m(lowrank::runtime::load_llama_gguf(f, 2048), 2);
    std::vector<gsm8k::doc> ex{{"a", "Tom has 3 apples and buys 4 more. How many apples does he have?",
                                "Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"},
                               {"b", "A box holds 12 pens. How many pens are in 2 boxes?", "2 * 12 = <<2*12=24>>24 pens.\n#### 24"}};
    const gsm8k::doc d{"q", "Sara had 10 dollars and spent 4. How much is left?", "10 - 4 = 6\n#### 6"};
    gsm8k::llama_generator shared(m, tok, gsm8k::fewshot_prefix(ex), 24, 512);
    gsm8k::llama_generator whole(m, tok, "", 24, 512);
    bool reused = false, reused2 = true;
    const auto a = shared(gsm8k::context(ex, d), &reused);
    const auto b = whole(gsm8k::context(ex, d), &reused2);
    CHECK(reused);
    CHECK_FALSE(reused2);
    CHECK(a.tokens == b.tokens);
    CHECK(a.text == b.text);
    MESSAGE("SmolLM2 continuation: [" << a.text << "] (" << a.reason << ")");
}

// Tokenizers: pre-tokeniser, SentencePiece and WordPiece rules on synthetic vocabularies (no
// downloads), and real vocabularies against independent implementations:
//   SmolLM2 / MiniLM / Qwen2 vocabularies: token ids from Hugging Face `tokenizers`;
//   Llama-2 vocabulary and a small trained SentencePiece model: ids from Python `sentencepiece`
//   (fixtures made by scripts/make_runtime_fixtures.py tokenizers|spm|vocab);
//   llama.cpp's own tokenizer tests (vocab-only GGUFs + .inp texts + .out ids that llama.cpp
//   made with Hugging Face tokenizers; fetched by scripts/fetch_assets.py into
//   <cache>/llama.cpp-vocab with --tokenizer-vocab; skipped with a message when absent).
#include <doctest/doctest.h>

#include "lowrank/io/gguf.hpp"
#include "runtime/bpe_tokenizer.hpp"
#include "runtime/spm_tokenizer.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/wordpiece_tokenizer.hpp"
#include "runtime_test_util.hpp"
#ifdef LOWRANK_HAVE_SENTENCEPIECE
#include "runtime/sentencepiece_tokenizer.hpp"
#endif

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>

using namespace lowrank::runtime;

namespace {
bpe_tokenizer byte_tokenizer(const std::string& pre, std::vector<std::string> merges = {}) {
    // The 256 byte symbols plus the merge results, as GPT-2 builds its vocabulary.
    std::vector<std::string> vocab;
    // bytes_to_unicode, written out independently of the tokenizer.
    std::vector<int> bs;
    for (int b = 33; b <= 126; ++b) bs.push_back(b);
    for (int b = 161; b <= 172; ++b) bs.push_back(b);
    for (int b = 174; b <= 255; ++b) bs.push_back(b);
    std::vector<std::uint32_t> cs(256);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
        const bool keep = std::find(bs.begin(), bs.end(), b) != bs.end();
        cs[static_cast<std::size_t>(b)] = keep ? std::uint32_t(b) : std::uint32_t(256 + n++);
    }
    for (int b = 0; b < 256; ++b) {
        std::string s;
        unicode::append_utf8(s, cs[static_cast<std::size_t>(b)]);
        vocab.push_back(s);
    }
    for (const auto& m : merges) vocab.push_back(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
    vocab.push_back("<|endoftext|>");
    std::vector<std::int32_t> types(vocab.size(), 1);
    types.back() = 3;
    return bpe_tokenizer(vocab, merges, types, pre);
}
}  // namespace

TEST_CASE("bpe: GPT-2 pre-tokenisation (contractions, optional space, whitespace runs, digits)") {
    const auto t = byte_tokenizer("smollm");
    using V = std::vector<std::string>;
    CHECK(t.pre_tokenize("Hello world") == V{"Hello", " world"});
    CHECK(t.pre_tokenize("it's they'll") == V{"it", "'s", " they", "'ll"});
    CHECK(t.pre_tokenize("a   b") == V{"a", "  ", " b"});
    CHECK(t.pre_tokenize("a  \n") == V{"a", "  \n"});
    CHECK(t.pre_tokenize("x\n\ny") == V{"x", "\n", "\n", "y"});
    CHECK(t.pre_tokenize("1234") == V{"1", "2", "3", "4"});           // smollm: every digit alone
    CHECK(t.pre_tokenize(" 12ab") == V{" ", "1", "2", "ab"});
    CHECK(t.pre_tokenize("naïve café!?") == V{"naïve", " café", "!?"});  // \p{L} beyond ASCII
    CHECK(t.pre_tokenize("日本語") == V{"日本語"});
    const auto g = byte_tokenizer("gpt2");
    CHECK(g.pre_tokenize(" 1234 x") == V{" 1234", " x"});
}

TEST_CASE("bpe: merges by rank, byte fallback, special tokens, decode round trip") {
    const auto t = byte_tokenizer("gpt2", {"l l", "ll o", "h e", "he llo"});
    const auto ids = t.encode("hello");
    REQUIRE(ids.size() == 1);
    CHECK(t.token(ids[0]) == "hello");
    CHECK(t.encode("hel").size() == 2);  // "he" + "l"
    const auto sp = t.encode("a<|endoftext|>b");
    REQUIRE(sp.size() == 3);
    CHECK(t.is_control(sp[1]));
    CHECK(t.encode("a<|endoftext|>b", false).size() > 3);
    for (const std::string& s : {std::string("hello wörld 😀\n\t x"), std::string("\x01\xff", 2)}) CHECK(t.decode(t.encode(s)) == s);
}

TEST_CASE("wordpiece: normalisation, punctuation, CJK, greedy longest match") {
    const wordpiece_tokenizer t({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "un", "##aff", "##able", "!",
                                 "cafe", "日", "本", ",", "a"});
    using V = std::vector<std::string>;
    CHECK(t.basic_split("Hello,  WORLD!") == V{"hello", ",", "world", "!"});
    CHECK(t.basic_split("Café\u00a0日本") == V{"cafe", "日", "本"});
    CHECK(t.basic_split("a\u0301\x01" "b") == V{"ab"});  // combining accent and control removed
    const auto ids = t.encode("unaffable hello xyz");
    CHECK(ids == std::vector<int>{2, 6, 7, 8, 4, 1, 3});
    CHECK(t.encode("hello world hello", 4) == std::vector<int>{2, 4, 5, 3});
}

TEST_CASE("bpe: SmolLM2 vocabulary matches Hugging Face tokenizers on tricky text" * doctest::test_suite("assets")) {
    const auto path = rt_test::asset("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "bpe/SmolLM2");
    const auto fx = rt_test::fixture("tokenizer_smollm2.json");
    REQUIRE(fx != nullptr);
    if (path.empty()) return;
    const auto f = lowrank::read_gguf(path);
    const auto t = bpe_tokenizer::from_gguf(f);
    for (const auto& c : fx["cases"]) {
        const std::string text = c["text"];
        CAPTURE(text);
        CHECK(t.encode(text) == c["ids"].get<std::vector<int>>());
        CHECK(t.decode(t.encode(text)) == text);
    }
}

TEST_CASE("wordpiece: MiniLM vocabulary matches Hugging Face tokenizers on tricky text" * doctest::test_suite("assets")) {
    const auto path = rt_test::asset("all-MiniLM-L6-v2/vocab.txt", "wordpiece/MiniLM");
    const auto fx = rt_test::fixture("tokenizer_minilm.json");
    REQUIRE(fx != nullptr);
    if (path.empty()) return;
    const auto t = wordpiece_tokenizer::from_vocab_file(path);
    for (const auto& c : fx["cases"]) {
        const std::string text = c["text"];
        CAPTURE(text);
        CHECK(t.encode(text) == c["ids"].get<std::vector<int>>());
    }
}

// ---------------------------------------------------------------------------------------------
// Qwen2 / Llama-3 pre-tokenisation, selection by tokenizer.ggml.pre

TEST_CASE("bpe: Qwen2 pre-tokenisation (letters with one leading non-letter, single digits, newlines)") {
    const auto t = byte_tokenizer("qwen2");
    using V = std::vector<std::string>;
    CHECK(t.pre_tokenize("Hello world") == V{"Hello", " world"});
    CHECK(t.pre_tokenize("1234 x") == V{"1", "2", "3", "4", " x"});       // \p{N}: one at a time
    CHECK(t.pre_tokenize("(hello)") == V{"(hello", ")"});                  // any non-letter may lead
    CHECK(t.pre_tokenize("\thello") == V{"\thello"});
    CHECK(t.pre_tokenize("\nhello") == V{"\n", "hello"});                 // but not CR/LF
    CHECK(t.pre_tokenize("It'S WE'LL") == V{"It", "'S", " WE", "'LL"});   // contractions, any case
    CHECK(t.pre_tokenize("a  \n\n b") == V{"a", "  \n\n", " b"});         // \s*[\r\n]+
    CHECK(t.pre_tokenize("x !!\n\ny") == V{"x", " !!\n\n", "y"});         // punctuation takes newlines
    CHECK(t.pre_tokenize("a   b") == V{"a", "  ", " b"});
    CHECK(t.pre_tokenize("end  ") == V{"end", "  "});
    const auto l = byte_tokenizer("llama-bpe");
    CHECK(l.pre_tokenize("1234567 x") == V{"123", "456", "7", " x"});     // Llama-3: \p{N}{1,3}
    CHECK_THROWS_WITH_AS(byte_tokenizer("deepseek-llm"), doctest::Contains("'deepseek-llm' is not supported"),
                         std::runtime_error);
}

TEST_CASE("bpe: an unknown tokenizer.ggml.pre in a GGUF file is an error naming the file") {
    lowrank::gguf_file f;
    f.path = "unknown-pre.gguf";
    auto kv = [&](const char* k, lowrank::gguf_value v) { f.metadata.push_back({k, std::move(v), 0}); };
    kv("tokenizer.ggml.model", lowrank::gguf_value::string("gpt2"));
    kv("tokenizer.ggml.pre", lowrank::gguf_value::string("tekken"));
    kv("tokenizer.ggml.tokens", lowrank::gguf_value::array(std::vector<std::string>{"a", "b"}));
    kv("tokenizer.ggml.merges", lowrank::gguf_value::array(std::vector<std::string>{}));
    CHECK_THROWS_WITH_AS(gguf_tokenizer::from_gguf(f), doctest::Contains("unknown-pre.gguf: tokenizer.ggml.pre"),
                         std::runtime_error);
    f.metadata[0].value = lowrank::gguf_value::string("rwkv");
    CHECK_THROWS_WITH_AS(gguf_tokenizer::from_gguf(f), doctest::Contains("'rwkv' is not supported"), std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
// SentencePiece (GGUF "llama" vocabularies)

namespace {
// A hand-made vocabulary: 3 specials, 256 byte tokens, then pieces with chosen scores.
spm_tokenizer tiny_spm(std::vector<std::pair<std::string, float>> pieces) {
    std::vector<std::string> tok{"<unk>", "<s>", "</s>"};
    std::vector<float> sc{0, 0, 0};
    std::vector<std::int32_t> ty{spm_tokenizer::unknown, spm_tokenizer::control, spm_tokenizer::control};
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        tok.push_back(buf), sc.push_back(0), ty.push_back(spm_tokenizer::byte);
    }
    for (auto& [p, s] : pieces) tok.push_back(p), sc.push_back(s), ty.push_back(spm_tokenizer::normal);
    return spm_tokenizer(tok, sc, ty);
}
}  // namespace

TEST_CASE("spm: score-ordered merges, dummy prefix, byte fallback, specials, decode") {
    // ids: 259 ▁, 260 a, 261 b, 262 c, 263 ab, 264 bc, 265 ▁a, 266 ▁ab, 267 abc, 268 cb
    const auto t = tiny_spm({{"\xE2\x96\x81", -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -5}, {"bc", -2},
                             {"\xE2\x96\x81" "a", -3}, {"\xE2\x96\x81" "ab", -4}, {"abc", -1}, {"cb", -2}});
    using I = std::vector<int>;
    // "▁abc": pairs ▁a(-3) ab(-5) bc(-2) → bc first; then a+bc = abc(-1) beats ▁a(-3).
    CHECK(t.encode("abc") == I{259, 267});
    // "▁ab": ▁a(-3) beats ab(-5); then ▁a+b = ▁ab(-4).
    CHECK(t.encode("ab") == I{266});
    // equal scores go to the leftmost pair: "▁cbcbc" → cb@1, then cb@3 (bc@2, bc@4 went stale).
    CHECK(t.encode("cbcbc") == I{259, 268, 268, 262});
    // 'é' (C3 A9) has no piece: byte fallback; ' ' → ▁.
    CHECK(t.encode("a \xC3\xA9") == I{265, 259, 3 + 0xC3, 3 + 0xA9});
    // specials: <s> is its id; the text after it gets the dummy prefix again.
    CHECK(t.encode("<s>a") == I{1, 265});
    CHECK(t.encode("<s>a", false) == I{259, 3 + '<', 3 + 's', 3 + '>', 260});
    CHECK(t.encode("").empty());
    CHECK(t.decode(t.encode("a \xC3\xA9 abc")) == "a \xC3\xA9 abc");
    CHECK(t.decode_token(265) == " a");
    // not a valid vocabulary: lengths differ, bad byte token
    CHECK_THROWS_AS(spm_tokenizer({"a", "b"}, {0.f}, {}), lowrank::invalid_argument);
    CHECK_THROWS_AS(spm_tokenizer({"<0xZZ>"}, {0.f}, {spm_tokenizer::byte}), lowrank::invalid_argument);
}

TEST_CASE("spm: from GGUF metadata (defaults, flags, ids) and clear errors on a bad vocabulary") {
    lowrank::gguf_file f;
    f.path = "spm.gguf";
    auto set = [&](const char* k, lowrank::gguf_value v) {
        for (auto& kv : f.metadata)
            if (kv.key == k) { kv.value = std::move(v); return; }
        f.metadata.push_back({k, std::move(v), 0});
    };
    using lowrank::gguf_value;
    set("tokenizer.ggml.model", gguf_value::string("llama"));
    set("tokenizer.ggml.tokens", gguf_value::array(std::vector<std::string>{"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a"}));
    CHECK_THROWS_WITH_AS(spm_tokenizer::from_gguf(f), doctest::Contains("tokenizer.ggml.scores"), std::exception);
    set("tokenizer.ggml.scores", gguf_value::array(std::vector<float>{0, 0, 0}));
    CHECK_THROWS_WITH_AS(spm_tokenizer::from_gguf(f), doctest::Contains("spm.gguf: spm_tokenizer: 4 tokens but 3 scores"),
                         std::runtime_error);
    set("tokenizer.ggml.scores", gguf_value::array(std::vector<float>{0, 0, 0, -1}));
    set("tokenizer.ggml.token_type", gguf_value::array(std::vector<std::int32_t>{2, 3, 3, 1}));
    set("tokenizer.ggml.bos_token_id", gguf_value::scalar<std::uint32_t>(1));
    auto t = gguf_tokenizer::from_gguf(f);
    REQUIRE(t.spm() != nullptr);
    CHECK(t.add_bos());                  // llama.cpp's default for SentencePiece
    CHECK(t.spm()->add_space_prefix());  // likewise
    CHECK(t.bos() == 1);
    CHECK(t.encode("a") == std::vector<int>{3});
    CHECK(t.encode("b") == std::vector<int>{0, 0});  // no byte tokens: one unknown token per character ("▁", "b")
    set("tokenizer.ggml.add_space_prefix", gguf_value::scalar(false));
    set("tokenizer.ggml.add_bos_token", gguf_value::scalar(false));
    t = gguf_tokenizer::from_gguf(f);
    CHECK_FALSE(t.add_bos());
    CHECK(t.encode(" a") == std::vector<int>{3});
    set("tokenizer.ggml.add_bos_token", gguf_value::scalar<std::uint8_t>(1));
    CHECK_THROWS_WITH_AS(gguf_tokenizer::from_gguf(f), doctest::Contains("spm.gguf: tokenizer.ggml.add_bos_token is not a bool"),
                         std::runtime_error);
    set("tokenizer.ggml.add_bos_token", gguf_value::scalar(true));
    set("tokenizer.ggml.eos_token_id", gguf_value::scalar<std::uint32_t>(7));
    CHECK_THROWS_WITH_AS(gguf_tokenizer::from_gguf(f), doctest::Contains("spm.gguf: tokenizer.ggml.eos_token_id = 7"),
                         std::runtime_error);
}

TEST_CASE("spm: a small trained SentencePiece model matches Python sentencepiece (Unicode, spaces, digits, emoji)") {
    const auto fx = rt_test::fixture("tokenizer_spm_tiny.json");
    REQUIRE(fx != nullptr);
    const spm_tokenizer t(fx["pieces"].get<std::vector<std::string>>(), fx["scores"].get<std::vector<float>>(),
                          fx["types"].get<std::vector<std::int32_t>>());
    std::size_t n = 0, bytes = 0;
    for (const auto& c : fx["cases"]) {
        const std::string text = c["text"];
        CAPTURE(text);
        const auto ids = t.encode(text, false);  // sentencepiece encodes "<s>" as text
        CHECK(ids == c["ids"].get<std::vector<int>>());
        CHECK(t.decode(ids) == text);
        ++n;
        for (int id : ids) bytes += t.token(id).rfind("<0x", 0) == 0;
    }
    CHECK(n >= 20);
    CHECK(bytes > 0);  // the cases do exercise byte fallback
}

TEST_CASE("sentencepiece (libsentencepiece): spm_tiny.model matches Python sentencepiece and our spm_tokenizer") {
#ifdef LOWRANK_HAVE_SENTENCEPIECE
    const auto fx = rt_test::fixture("tokenizer_spm_tiny.json");
    REQUIRE(fx != nullptr);
    const auto sp = sentencepiece_tokenizer::from_model_file(std::string(LOWRANK_RUNTIME_FIXTURES) + "/spm_tiny.model");
    CHECK(sp.vocab_size() == fx["pieces"].size());
    CHECK(sp.bos() == 1);
    CHECK(sp.eos() == 2);
    for (const auto& c : fx["cases"]) {
        const std::string text = c["text"];
        CAPTURE(text);
        const auto ids = sp.encode(text);
        CHECK(ids == c["ids"].get<std::vector<int>>());
        CHECK(sp.decode(ids) == text);
        std::string streamed;
        for (int id : ids) streamed += sp.decode_token(id);
        CHECK(streamed == (text.empty() ? "" : " " + text));  // the dummy prefix stays in streamed pieces
    }
    CHECK_THROWS_WITH_AS(sentencepiece_tokenizer::from_model_file(std::string(LOWRANK_RUNTIME_FIXTURES) +
                                                                  "/tokenizer_spm_tiny.json"),
                         doctest::Contains("tokenizer_spm_tiny.json: not a SentencePiece model"), std::runtime_error);
#else
    std::cout << "SKIPPED sentencepiece/tokenizer.model: built without libsentencepiece (apt-get install "
                 "libsentencepiece-dev, then reconfigure)\n";
#endif
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's vocab-only GGUFs: its own reference tokenisations, and our tricky strings

namespace {
struct vocab_case {
    std::string text;
    std::vector<int> ids;
};
/// The .inp texts (separated by "\n__ggml_vocab_test__\n") and .out ids (one line each).
std::vector<vocab_case> read_llama_cpp_cases(const std::string& gguf) {
    auto slurp = [](const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        REQUIRE_MESSAGE(in, (p + ": cannot open"));
        std::ostringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    const std::string inp = slurp(gguf + ".inp"), outp = slurp(gguf + ".out");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<vocab_case> cases;
    for (std::size_t pos = 0; pos < inp.size();) {
        const std::size_t next = inp.find(sep, pos);
        cases.push_back({inp.substr(pos, next == std::string::npos ? std::string::npos : next - pos), {}});
        if (next == std::string::npos) break;
        pos = next + sep.size();
    }
    std::istringstream lines(outp);
    std::size_t i = 0;
    for (std::string line; std::getline(lines, line) && i < cases.size(); ++i) {
        std::istringstream ids(line);
        for (int id; ids >> id;) cases[i].ids.push_back(id);
    }
    REQUIRE_MESSAGE(i == cases.size(), (gguf + ": .inp has " + std::to_string(cases.size()) + " texts, .out " +
                                            std::to_string(i) + " lines"));
    return cases;
}

/// Checks a llama.cpp vocabulary against its .inp/.out and (when given) a tricky-string fixture.
void check_llama_cpp_vocab(const char* name, const char* expect_model, const char* fixture) {
    const auto path = rt_test::asset(std::string("llama.cpp-vocab/ggml-vocab-") + name + ".gguf",
                                     (std::string("tokenizer/") + name).c_str());
    if (path.empty()) {
        std::cout << "  (fetch with: python3 scripts/fetch_assets.py --tokenizer-vocab)\n";
        return;
    }
    const auto t = gguf_tokenizer::from_gguf(lowrank::read_gguf(path));
    CHECK(t.kind() == expect_model);
    std::size_t n = 0, ok = 0;
    for (const auto& c : read_llama_cpp_cases(path)) {
        CAPTURE(c.text);
        const auto ids = t.encode(c.text, false);
        CHECK(ids == c.ids);
        CHECK(t.decode(ids) == c.text);
        ++n, ok += ids == c.ids;
    }
    std::cout << "tokenizer/" << name << ": " << ok << "/" << n << " llama.cpp reference cases equal\n";
    CHECK(n == 46);
    if (!fixture) return;
    const auto fx = rt_test::fixture(fixture);
    REQUIRE(fx != nullptr);
    for (const auto& c : fx["cases"]) {
        const std::string text = c["text"];
        CAPTURE(text);
        const bool special = t.kind() == "gpt2";  // HF tokenizers parse added tokens; sentencepiece does not
        const auto ids = t.encode(text, special);
        CHECK(ids == c["ids"].get<std::vector<int>>());
        // Qwen2 normalises to NFC first (as its HF tokenizer does), so the text comes back in NFC
        CHECK(t.decode(ids) == (std::string(name) == "qwen2" ? unicode::nfc(text) : text));
    }
}
}  // namespace

TEST_CASE("spm: Llama-2 vocabulary (llama.cpp ggml-vocab-llama-spm) matches HF and Python sentencepiece" * doctest::test_suite("assets")) {
    check_llama_cpp_vocab("llama-spm", "llama", "tokenizer_llama2_spm.json");
}

TEST_CASE("bpe: Qwen2 vocabulary (llama.cpp ggml-vocab-qwen2) matches Hugging Face tokenizers" * doctest::test_suite("assets")) {
    check_llama_cpp_vocab("qwen2", "gpt2", "tokenizer_qwen2.json");
}

TEST_CASE("bpe: Llama-3 vocabulary (llama.cpp ggml-vocab-llama-bpe) matches Hugging Face tokenizers" * doctest::test_suite("assets")) {
    check_llama_cpp_vocab("llama-bpe", "gpt2", nullptr);
}

// ---- Hugging Face tokenizer.json (bpe_tokenizer::from_tokenizer_json, gguf_tokenizer::from_hf_dir) ----

namespace {
namespace fs = std::filesystem;

/// A fresh directory under the temp dir, removed at the end of the scope.
struct scratch_dir {
    fs::path path;
    explicit scratch_dir(const std::string& tag) {
        path = fs::temp_directory_path() / ("lowrank-" + tag + "-" + std::to_string(std::random_device{}()));
        fs::create_directories(path);
    }
    ~scratch_dir() { std::error_code ec; fs::remove_all(path, ec); }
};

void write_file(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

using rt_test::error_of;

/// A tokenizer.json in Hugging Face's layout from GGUF metadata (vocab, merges, control tokens as
/// special added tokens) with the given pre_tokenizer / normalizer; merges as "a b" strings or
/// [a, b] pairs (the two forms `tokenizers` reads).
nlohmann::json tokenizer_json_from_gguf(const lowrank::gguf_file& f, nlohmann::json pre, nlohmann::json norm,
                                        bool pair_merges) {
    const auto& tokens = f.at("tokenizer.ggml.tokens").strings;
    const auto types = f.at("tokenizer.ggml.token_type").array_of<std::int32_t>();
    nlohmann::json vocab = nlohmann::json::object(), merges = nlohmann::json::array(), added = nlohmann::json::array();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        vocab[tokens[i]] = i;
        if (types[i] == 3) added.push_back({{"id", i}, {"content", tokens[i]}, {"special", true}});
    }
    for (const auto& m : f.at("tokenizer.ggml.merges").strings) {
        if (pair_merges) merges.push_back(nlohmann::json::array({m.substr(0, m.find(' ')), m.substr(m.find(' ') + 1)}));
        else merges.push_back(m);
    }
    return {{"version", "1.0"},
            {"added_tokens", added},
            {"normalizer", norm},
            {"pre_tokenizer", pre},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}},
            {"model", {{"type", "BPE"}, {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}}}};
}

nlohmann::json byte_level(bool regex) { return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", regex}}; }

/// Encodes every fixture case with `t` (special tokens parsed) and compares with the fixture ids.
/// `nfc`: the tokenizer normalises to NFC, so decoding gives the NFC of the text back.
template <class Tok>
void check_cases(const Tok& t, const nlohmann::json& cases, bool nfc = false) {
    REQUIRE(cases.is_array());
    REQUIRE(!cases.empty());
    for (const auto& c : cases) {
        const std::string text = c["text"];
        CAPTURE(text);
        const auto ids = t.encode(text);
        CHECK(ids == c["ids"].get<std::vector<int>>());
        CHECK(t.decode(ids) == (nfc ? unicode::nfc(text) : text));
    }
}
}  // namespace

TEST_CASE("bpe: tokenizer.json files saved by Hugging Face tokenizers (SmolLM2, Qwen2 pipelines) give its ids") {
    // Reference: tokenizers 0.23.3's Tokenizer.save() files and Tokenizer.encode ids
    // (scripts/make_runtime_fixtures.py tokenizer-json); merges in the [a, b] pair form.
    const auto fx = rt_test::fixture("tokenizer_json_cases.json");
    REQUIRE(fx != nullptr);
    const fs::path root(LOWRANK_RUNTIME_FIXTURES);
    for (const char* name : {"hf_smollm2_tiny", "hf_qwen2_tiny"}) {
        CAPTURE(name);
        const auto t = bpe_tokenizer::from_tokenizer_json((root / name / "tokenizer.json").string());
        CHECK(t.vocab_size() == fx[name]["vocab"].get<std::size_t>());
        check_cases(t, fx[name]["cases"]);
        const auto g = gguf_tokenizer::from_hf_dir((root / name).string());  // the directory's choice: tokenizer.json
        CHECK(g.kind() == "gpt2");
        check_cases(g, fx[name]["cases"]);
    }
    // tokenizer_config.json beside the SmolLM2 file: bos as a string, eos as {"content": ...}.
    const auto t = bpe_tokenizer::from_tokenizer_json((root / "hf_smollm2_tiny/tokenizer.json").string());
    REQUIRE(t.bos() >= 0);
    REQUIRE(t.eos() >= 0);
    CHECK(t.token(t.bos()) == "<|endoftext|>");
    CHECK(t.token(t.eos()) == "<|im_end|>");
    CHECK(t.add_bos());
    CHECK(t.is_control(t.eos()));
    // No tokenizer_config.json: no BOS / EOS.
    const auto q = bpe_tokenizer::from_tokenizer_json((root / "hf_qwen2_tiny/tokenizer.json").string());
    CHECK(q.bos() == -1);
    CHECK(q.eos() == -1);
    CHECK(!q.add_bos());
}

TEST_CASE("bpe: tokenizer.json built from the GGUF vocabularies gives the Hugging Face ids of the full vocabularies" * doctest::test_suite("assets")) {
    // The full SmolLM2 (49152 tokens) and Qwen2 (151936) vocabularies are too big to commit as
    // tokenizer.json; this writes them from the cached GGUF metadata in Hugging Face's layout
    // ("a b" merges for SmolLM2, [a, b] pairs for Qwen2) and checks the ids against the
    // tokenizers-made fixtures tokenizer_smollm2.json / tokenizer_qwen2.json, and against the
    // GGUF path.
    scratch_dir d("tokjson");
    struct vocab_case {
        const char* asset;
        const char* fixture;
        nlohmann::json pre, norm;
        bool pairs;
    };
    const nlohmann::json qwen2_split = {
        {"type", "Split"},
        {"pattern", {{"Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                               "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
        {"behavior", "Isolated"},
        {"invert", false}};
    const vocab_case cases[] = {
        {"SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "tokenizer_smollm2.json",
         {{"type", "Sequence"}, {"pretokenizers", nlohmann::json::array({{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)})}},
         nullptr, false},
        {"llama.cpp-vocab/ggml-vocab-qwen2.gguf", "tokenizer_qwen2.json",
         {{"type", "Sequence"}, {"pretokenizers", nlohmann::json::array({qwen2_split, byte_level(false)})}}, {{"type", "NFC"}}, true},
    };
    for (const auto& c : cases) {
        CAPTURE(c.asset);
        const auto path = rt_test::asset(c.asset, "bpe/tokenizer.json from GGUF");
        const auto fx = rt_test::fixture(c.fixture);
        REQUIRE(fx != nullptr);
        if (path.empty()) continue;
        const auto f = lowrank::read_gguf(path);
        const fs::path dir = d.path / fs::path(c.fixture).stem();
        fs::create_directories(dir);
        write_file(dir / "tokenizer.json", tokenizer_json_from_gguf(f, c.pre, c.norm, c.pairs).dump());
        const auto t = bpe_tokenizer::from_tokenizer_json((dir / "tokenizer.json").string());
        const auto g = bpe_tokenizer::from_gguf(f);
        CHECK(t.vocab_size() == g.vocab_size());
        check_cases(t, fx["cases"], !c.norm.is_null());
        for (const auto& k : fx["cases"]) CHECK(t.encode(k["text"].get<std::string>()) == g.encode(k["text"].get<std::string>()));
    }
}

TEST_CASE("bpe: a bad tokenizer.json is an error naming the file and what was found") {
    scratch_dir d("tokjson-bad");
    // A valid minimal file: bytes a, b, merge "a b" → "ab", one special token.
    const nlohmann::json good = {
        {"added_tokens", nlohmann::json::array({{{"id", 3}, {"content", "<|end|>"}, {"special", true}}})},
        {"normalizer", nullptr},
        {"pre_tokenizer", byte_level(true)},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"<|end|>", 3}}}, {"merges", nlohmann::json::array({"a b"})}}}};
    const std::string file = (d.path / "tokenizer.json").string();
    write_file(file, good.dump());
    {
        const auto t = bpe_tokenizer::from_tokenizer_json(file);
        CHECK(t.encode("ab<|end|>ba") == std::vector<int>{2, 3, 1, 0});
    }
    auto error_for = [&](const std::function<void(nlohmann::json&)>& edit) {
        nlohmann::json j = good;
        edit(j);
        write_file(file, j.dump());
        return error_of([&] { bpe_tokenizer::from_tokenizer_json(file); });
    };
    auto check_error = [&](const std::string& e, const std::string& what) {
        CAPTURE(e);
        CHECK(e.find(file) != std::string::npos);
        CHECK(e.find(what) != std::string::npos);
    };
    check_error(error_for([](auto& j) { j["model"]["type"] = "WordPiece"; }), "WordPiece");
    check_error(error_for([](auto& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; }), "Metaspace");
    check_error(error_for([](auto& j) { j["pre_tokenizer"]["add_prefix_space"] = true; }), "pre_tokenizer");
    check_error(error_for([](auto& j) { j["decoder"] = {{"type", "Metaspace"}}; }), "decoder");
    check_error(error_for([](auto& j) { j["normalizer"] = {{"type", "Lowercase"}}; }), "Lowercase");
    check_error(error_for([](auto& j) { j["model"]["merges"] = nlohmann::json::array({"a c"}); }), "'c' is not in the vocabulary");
    check_error(error_for([](auto& j) { j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"b", "a"})}); }), "'ba' is not in the vocabulary");
    check_error(error_for([](auto& j) { j["model"]["merges"] = nlohmann::json::array({"ab"}); }), "merges[0]");
    check_error(error_for([](auto& j) { j["model"]["merges"] = nlohmann::json::array({42}); }), "merges[0]");
    check_error(error_for([](auto& j) { j["model"]["vocab"]["b"] = -1; }), "id -1");
    check_error(error_for([](auto& j) { j["model"]["vocab"]["b"] = 9; }), "id 9");
    check_error(error_for([](auto& j) { j["model"]["vocab"]["b"] = 0; }), "id 0 is both");
    check_error(error_for([](auto& j) { j["model"]["vocab"]["b"] = "1"; }), "non-integer");
    check_error(error_for([](auto& j) { j["model"]["vocab"]["ab"] = 4; }), "not contiguous");
    check_error(error_for([](auto& j) { j["model"]["vocab"] = nlohmann::json::array(); }), "model.vocab");
    check_error(error_for([](auto& j) { j["model"]["ignore_merges"] = true; }), "ignore_merges");
    write_file(file, "{\"model\": {\"type\": \"BPE\", ");
    check_error(error_of([&] { bpe_tokenizer::from_tokenizer_json(file); }), "not valid JSON");
    check_error(error_of([&] { bpe_tokenizer::from_tokenizer_json(file + ".missing"); }), "cannot open");
    // tokenizer_config.json naming a token the vocabulary lacks: an error naming that file.
    write_file(file, good.dump());
    write_file(d.path / "tokenizer_config.json", R"({"bos_token": "<s>", "add_bos_token": true})");
    const std::string e = error_of([&] { bpe_tokenizer::from_tokenizer_json(file); });
    CHECK(e.find("tokenizer_config.json") != std::string::npos);
    CHECK(e.find("<s>") != std::string::npos);
    // Llama-3 style: BOS from a TemplateProcessing post-processor ("<|end|>" stands in for
    // <|begin_of_text|>), overridden by tokenizer_config.json's add_bos_token.
    fs::remove(d.path / "tokenizer_config.json");
    nlohmann::json tp = good;
    tp["post_processor"] = {{"type", "Sequence"},
                            {"processors", nlohmann::json::array({{{"type", "ByteLevel"}},
                                                                  {{"type", "TemplateProcessing"},
                                                                   {"single", nlohmann::json::array({
                                                                        {{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}},
                                                                        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}}})}};
    write_file(file, tp.dump());
    {
        const auto t = bpe_tokenizer::from_tokenizer_json(file);
        CHECK(t.bos() == 3);
        CHECK(t.add_bos());
    }
    write_file(d.path / "tokenizer_config.json", R"({"add_bos_token": false})");
    {
        const auto t = bpe_tokenizer::from_tokenizer_json(file);
        CHECK(t.bos() == 3);
        CHECK(!t.add_bos());
    }
    fs::remove(d.path / "tokenizer_config.json");
    tp["post_processor"]["processors"][1]["single"][0]["SpecialToken"]["id"] = "<|nope|>";
    write_file(file, tp.dump());
    check_error(error_of([&] { bpe_tokenizer::from_tokenizer_json(file); }), "<|nope|>");
    // A directory with neither tokenizer.json nor tokenizer.model.
    fs::remove(file);
    CHECK(error_of([&] { gguf_tokenizer::from_hf_dir(d.path.string()); }).find("no tokenizer.json or tokenizer.model") !=
          std::string::npos);
}

#ifdef LOWRANK_HAVE_SENTENCEPIECE
TEST_CASE("sentencepiece: a Hugging Face directory with only tokenizer.model uses libsentencepiece") {
    // Reference: Python sentencepiece's ids for spm_tiny.model (tokenizer_spm_tiny.json).
    scratch_dir d("tokmodel");
    fs::copy_file(fs::path(LOWRANK_RUNTIME_FIXTURES) / "spm_tiny.model", d.path / "tokenizer.model");
    const auto t = gguf_tokenizer::from_hf_dir(d.path.string());
    CHECK(t.kind() == "llama");
    const auto fx = rt_test::fixture("tokenizer_spm_tiny.json");
    REQUIRE(fx != nullptr);
    for (const auto& c : fx["cases"]) {
        const std::string text = c["text"];
        CAPTURE(text);
        CHECK(t.encode(text) == c["ids"].get<std::vector<int>>());
    }
}
#endif

#ifdef LOWRANK_CLI_PATH
#include "decompose/decompose_test_util.hpp"
#include "runtime/llama_loader.hpp"

TEST_CASE("lowrank generate: a Hugging Face Llama directory with tokenizer.json, and a factorised file of it") {
    // A tiny random Llama (dtest: vocab 40) in HF layout with a hand-made byte-level tokenizer.json:
    // id 0 <|endoftext|> (special, EOS), 1..26 a..z, 27 Ġ (space), 28..37 digits, 38 Ġc, 39 th.
    // References: the prompt ids worked out by hand; the generated ids from greedy argmax over the
    // in-process runtime's logits for the same directory.
    dtest::temp_dir d("rt-hftok");
    auto ts = dtest::tiny_llama(5);
    for (auto& t : ts)
        for (auto& x : t.data) x = t.shape.size() == 1 ? 1.f + 0.1f * x : 0.3f * x;
    const fs::path dir = fs::path(d / "tiny-hf");
    dtest::write_tiny_hf(dir, ts);
    nlohmann::json vocab = {{"<|endoftext|>", 0}, {"\xC4\xA0", 27}, {"\xC4\xA0" "c", 38}, {"th", 39}};
    for (int i = 0; i < 26; ++i) vocab[std::string(1, char('a' + i))] = 1 + i;
    for (int i = 0; i < 10; ++i) vocab[std::string(1, char('0' + i))] = 28 + i;
    const nlohmann::json tj = {
        {"added_tokens", nlohmann::json::array({{{"id", 0}, {"content", "<|endoftext|>"}, {"special", true}}})},
        {"normalizer", nullptr},
        {"pre_tokenizer", byte_level(true)},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array({"t h", "\xC4\xA0 c"})}}}};
    write_file(dir / "tokenizer.json", tj.dump());
    write_file(dir / "tokenizer_config.json", R"({"eos_token": "<|endoftext|>", "add_bos_token": false})");
    const std::vector<int> prompt{39, 5, 38, 1, 20};  // "th" "e" " c" "a" "t"

    // Greedy reference in process.
    std::vector<int> want;
    {
        llama_model m(load_llama_hf(dir.string()), 1);
        auto cache = m.make_cache(1, prompt.size() + 6);
        auto logits = m.forward(prompt.data(), prompt.size(), cache);
        for (int step = 0; step < 6; ++step) {
            const int next = int(std::max_element(logits.begin(), logits.begin() + 40) - logits.begin());
            if (next == 0) break;
            want.push_back(next);
            logits = m.forward(&next, 1, cache);
        }
    }
    auto run = [&](const std::string& model, const std::string& tag) {
        const std::string out = d / (tag + ".json"), log = d / (tag + ".log");
        const int rc = dtest::run_cli("generate " + model + " --prompt \"the cat\" --max-tokens 6 --threads 1 --tokens-out " + out, log);
        INFO(dtest::read_text(log));
        REQUIRE(rc == 0);
        return nlohmann::json::parse(dtest::read_text(out));
    };
    REQUIRE(!want.empty());  // the check below compares something
    const auto dense = run(dir.string(), "dense");
    MESSAGE("generate on the HF directory: prompt " << dense["prompt"].dump() << ", generated " << dense["generated"].dump());
    CHECK(dense["prompt"].get<std::vector<int>>() == prompt);
    CHECK(dense["generated"].get<std::vector<int>>() == want);

    // A factorised file whose source is the directory: same tokenizer (ids of the prompt).
    dtest::write_text(d / "g.json", dtest::gamma_json("tiny", {0, 2}, {{"q", 16}, {"k", 8}, {"v", 8}, {"o", 16},
                                                                      {"gate", 16}, {"up", 16}, {"down", 16}}));
    const std::string file = d / "f.safetensors";
    const int rc = dtest::run_cli("decompose " + dir.string() + " --plan " + (d / "g.json") +
                                      " --allow-no-savings --threads 1 --quiet --out " + file,
                                  d / "dec.log");
    INFO(dtest::read_text(d / "dec.log"));
    REQUIRE(rc == 0);
    const auto fact = run(file, "factorised");
    CHECK(fact["prompt"].get<std::vector<int>>() == prompt);
    CHECK(fact["generated"].get<std::vector<int>>() == want);  // full rank: the dense model's greedy tokens

    // Without any tokenizer file: an error naming the directory, no crash.
    fs::remove(dir / "tokenizer.json");
    const std::string log = d / "none.log";
    CHECK(dtest::run_cli("generate " + dir.string() + " --prompt x --max-tokens 1", log) != 0);
    CHECK(dtest::read_text(log).find("no tokenizer.json or tokenizer.model") != std::string::npos);
}
#endif

// GPT-2-style byte-level BPE (SmolLM2, StarCoder, GPT-2, Qwen2, Llama-3) built from GGUF
// metadata: tokenizer.ggml.tokens / merges / token_type / pre.
//
// encode(text):
//   1. special (control / user-defined) tokens found verbatim in the text are emitted as-is;
//   2. pre-tokenisation, hand-written instead of std::regex (which is neither Unicode-aware
//      nor fast), chosen by tokenizer.ggml.pre (an unknown name is an error, never a guess):
//        "smollm", "starcoder", "refact", ... : \p{N} (each digit alone), then the GPT-2 regex
//        "gpt2" / "default" / absent          : the GPT-2 regex only
//        "qwen2"                               : the Qwen2 regex (below, digits one at a time)
//        "llama3" / "llama-v3" / "llama-bpe"   : the same with \p{N}{1,3}, and ignore_merges
//                                                (a piece that is a whole token is not merged)
//      GPT-2 regex: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (equal to Hugging Face's Sequence[Digits(individual_digits), ByteLevel(use_regex)]);
//      Qwen2 regex: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//                   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//      (Hugging Face: Split(that regex, isolated) then ByteLevel(use_regex=false));
//      before splitting, "qwen2" normalises each text segment between special tokens to Unicode
//      NFC (runtime/unicode_nfc.hpp), as Qwen2's tokenizer.json does (a tokenizer.json applies
//      NFC when its normalizer is NFC, whatever the pre-tokenizer);
//   3. every piece is mapped byte → printable code point (GPT-2's bytes_to_unicode) and merged
//      by BPE: repeatedly merge the adjacent pair of lowest merge rank.
//
// from_tokenizer_json reads the same tokenizer from a Hugging Face tokenizer.json (see there for
// the pipelines it accepts; anything else is refused with an error naming the file).
#pragma once

#include "lowrank/io/gguf.hpp"
#include "runtime/special_tokens.hpp"
#include "runtime/unicode.hpp"
#include "runtime/unicode_nfc.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lowrank::runtime {

class bpe_tokenizer {
public:
    enum class pre_type { gpt2, digits_then_gpt2, qwen2, llama3 };

    /// The pre-tokenizer for a tokenizer.ggml.pre value; throws for a name not listed above.
    static pre_type pre_type_of(const std::string& pre) {
        if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "codeshell" || pre == "exaone" ||
            pre == "command-r" || pre == "minerva")
            return pre_type::digits_then_gpt2;
        if (pre == "gpt2" || pre == "default" || pre.empty()) return pre_type::gpt2;
        if (pre == "qwen2") return pre_type::qwen2;
        if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe") return pre_type::llama3;
        throw invalid_argument("bpe_tokenizer: pre-tokenizer '" + pre +
                                 "' is not supported (known: gpt2/default, smollm/starcoder/refact/codeshell/"
                                 "exaone/command-r/minerva, qwen2, llama3/llama-v3/llama-bpe)");
    }

    bpe_tokenizer() = default;

    /// From vocabulary, merges ("a b"), token types (llama.cpp: 1 normal, 3 control,
    /// 4 user-defined, 6 byte) and the pre-tokenizer name.
    bpe_tokenizer(std::vector<std::string> tokens, const std::vector<std::string>& merges,
                  std::vector<std::int32_t> types, const std::string& pre)
        : tokens_(std::move(tokens)), types_(std::move(types)), pre_(pre_type_of(pre)) {
        ignore_merges_ = pre_ == pre_type::llama3;
        nfc_ = pre_ == pre_type::qwen2;
        for (std::size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<int>(i));
        for (std::size_t i = 0; i < merges.size(); ++i) ranks_.emplace(merges[i], static_cast<int>(i));
        if (types_.size() != tokens_.size()) types_.assign(tokens_.size(), 1);
        for (std::size_t i = 0; i < tokens_.size(); ++i)
            if (types_[i] == 3 || types_[i] == 4) specials_.push_back(static_cast<int>(i));
        // bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to 256 + n.
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            const bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            const std::uint32_t cp = keep ? static_cast<std::uint32_t>(b) : static_cast<std::uint32_t>(256 + n++);
            byte_char_[b].clear();
            unicode::append_utf8(byte_char_[b], cp);
            char_byte_[cp] = static_cast<unsigned char>(b);
        }
    }

    /// Reads tokenizer.ggml.* from a GGUF file (tokenizer.ggml.model must be "gpt2").
    static bpe_tokenizer from_gguf(const gguf_file& f) {
        const std::string model = f.at("tokenizer.ggml.model").as_string();
        if (model != "gpt2") throw io_error(f.path, std::string("tokenizer model '") + model + "' is not byte-level BPE");
        std::vector<std::int32_t> types;
        if (const auto* t = f.find("tokenizer.ggml.token_type")) types = t->array_of<std::int32_t>();
        const auto* pre = f.find("tokenizer.ggml.pre");
        const std::string pre_name = pre ? pre->as_string() : "gpt2";
        try {
            pre_type_of(pre_name);
        } catch (const std::runtime_error& e) {
            throw io_error(f.path, std::string("tokenizer.ggml.pre: ") + e.what());
        }
        bpe_tokenizer tok(f.at("tokenizer.ggml.tokens").strings, f.at("tokenizer.ggml.merges").strings, types,
                          pre_name);
        auto id = [&](const char* key) { const auto* v = f.find(key); return v ? static_cast<int>(v->to_int()) : -1; };
        tok.bos_ = id("tokenizer.ggml.bos_token_id");
        tok.eos_ = id("tokenizer.ggml.eos_token_id");
        if (const auto* v = f.find("tokenizer.ggml.add_bos_token")) tok.add_bos_ = v->get<bool>();
        return tok;
    }

    /// Reads a Hugging Face tokenizer.json holding a byte-level BPE model (model.type "BPE",
    /// ByteLevel decoder) whose pre_tokenizer is one of (HF names; add_prefix_space false):
    ///   ByteLevel(use_regex)                                              → "gpt2"
    ///   Sequence[Digits(individual_digits), ByteLevel(use_regex)]         → "smollm" (SmolLM2)
    ///   Sequence[Split(Qwen2 regex, Isolated), ByteLevel(use_regex=false)] → "qwen2"
    ///   Sequence[Split(Llama-3 regex, Isolated), ByteLevel(use_regex=false)] → "llama3"
    /// normalizer: none, or NFC (applied to the text between special tokens). model.vocab
    /// (token → id, ids 0..n-1 with added_tokens filling the rest), model.merges ("a b" strings
    /// or [a, b] pairs; a, b and a+b must be tokens), added_tokens (special → control, others
    /// user-defined). BOS / EOS / add_bos from tokenizer_config.json in the same directory
    /// (bos_token, eos_token: a string or {"content": ...}; add_bos_token), else none; a
    /// TemplateProcessing post_processor that starts with a special token (Llama-3) sets BOS and
    /// add_bos unless tokenizer_config.json says otherwise.
    /// Every problem (malformed JSON, unsupported pipeline, bad id, unknown merge token) is a
    /// runtime_error naming the file.
    static bpe_tokenizer from_tokenizer_json(const std::string& path) {
        using nlohmann::json;
        auto fail = [&](const std::string& what) { return io_error(path, what); };
        std::ifstream in(path, std::ios::binary);
        if (!in) throw fail("cannot open");
        json j;
        try {
            j = json::parse(in);
        } catch (const json::exception& e) {
            throw fail(std::string("not valid JSON: ") + e.what());
        }
        try {
            return from_tokenizer_json_doc(j, path);
        } catch (const json::exception& e) {  // a field of the wrong type
            throw fail(std::string("unexpected tokenizer.json content: ") + e.what());
        }
    }

    std::size_t vocab_size() const { return tokens_.size(); }
    int bos() const { return bos_; }
    int eos() const { return eos_; }
    bool add_bos() const { return add_bos_; }
    const std::string& token(int id) const { return tokens_.at(static_cast<std::size_t>(id)); }
    bool is_control(int id) const { return types_.at(static_cast<std::size_t>(id)) == 3; }

    /// Token ids of `text` (no BOS added; see add_bos()). With `parse_special`, control and
    /// user-defined token strings in the text become their ids (as Hugging Face does).
    std::vector<int> encode(std::string_view text, bool parse_special = true) const {
        std::vector<int> out;
        std::size_t start = 0;
        while (start < text.size()) {
            const auto [hit, hit_id] = parse_special ? find_special(text, start, specials_, tokens_)
                                                     : std::pair<std::size_t, int>{text.size(), -1};
            encode_plain(text.substr(start, hit - start), out);
            if (hit_id < 0) break;
            out.push_back(hit_id);
            start = hit + tokens_[static_cast<std::size_t>(hit_id)].size();
        }
        return out;
    }

    /// The bytes a token stands for (control tokens: their text).
    std::string decode_token(int id) const {
        const std::string& t = token(id);
        if (types_[static_cast<std::size_t>(id)] == 3 || types_[static_cast<std::size_t>(id)] == 4) return t;
        std::string out;
        for (std::size_t i = 0; i < t.size();) {
            const std::uint32_t cp = unicode::next(t, i);
            auto it = char_byte_.find(cp);
            if (it != char_byte_.end()) out += static_cast<char>(it->second);
            else unicode::append_utf8(out, cp);
        }
        return out;
    }
    std::string decode(const std::vector<int>& ids) const {
        std::string out;
        for (int id : ids) out += decode_token(id);
        return out;
    }

    /// The pre-tokenised pieces of `text` (exposed for tests).
    std::vector<std::string> pre_tokenize(std::string_view text) const {
        std::vector<std::string> pieces;
        const auto d = unicode::decode(text);
        auto emit = [&](std::size_t a, std::size_t b) {
            if (b > a) pieces.emplace_back(text.substr(d.offsets[a], d.offsets[b] - d.offsets[a]));
        };
        if (pre_ == pre_type::gpt2) {
            gpt2_split(d.cps, 0, d.cps.size(), emit);
            return pieces;
        }
        if (pre_ == pre_type::qwen2 || pre_ == pre_type::llama3) {
            llama3_split(d.cps, 0, d.cps.size(), pre_ == pre_type::qwen2 ? 1 : 3, emit);
            return pieces;
        }
        std::size_t seg = 0;  // \p{N}: every number character is a piece of its own
        for (std::size_t i = 0; i < d.cps.size(); ++i)
            if (unicode::is_number(d.cps[i])) {
                gpt2_split(d.cps, seg, i, emit);
                emit(i, i + 1);
                seg = i + 1;
            }
        gpt2_split(d.cps, seg, d.cps.size(), emit);
        return pieces;
    }

private:
    static bpe_tokenizer from_tokenizer_json_doc(const nlohmann::json& j, const std::string& path) {
        using nlohmann::json;
        auto fail = [&](const std::string& what) { return io_error(path, what); };
        auto type_of = [](const json& o) {
            return o.is_object() && o.contains("type") && o["type"].is_string() ? o["type"].get<std::string>()
                                                                                 : std::string(o.is_null() ? "none" : "?");
        };
        if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) throw fail("no \"model\" object");
        const json& m = j["model"];
        if (type_of(m) != "BPE")
            throw fail("model.type is '" + type_of(m) + "', only byte-level \"BPE\" is supported here");
        if (m.value("byte_fallback", false)) throw fail("model.byte_fallback is set: not a byte-level BPE tokenizer");
        for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (m.contains(k) && !m[k].is_null() && !(m[k].is_string() && m[k].get<std::string>().empty()))
                throw fail(std::string("model.") + k + " is not supported");
        const json dec = j.value("decoder", json());
        if (type_of(dec) != "ByteLevel") throw fail("decoder is '" + type_of(dec) + "', expected ByteLevel (byte-level BPE)");
        const json norm = j.value("normalizer", json());
        if (!norm.is_null() && type_of(norm) != "NFC")
            throw fail("normalizer '" + type_of(norm) + "' is not supported (none or NFC)");

        // Pre-tokenizer → one of the hand-written variants.
        const std::string qwen2_re =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
            "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
        const std::string llama3_re =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
            "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
        const json pt = j.value("pre_tokenizer", json());
        auto byte_level = [&](const json& o, bool regex) {
            return type_of(o) == "ByteLevel" && !o.value("add_prefix_space", false) && o.value("use_regex", true) == regex;
        };
        std::string pre;
        if (byte_level(pt, true)) {
            pre = "gpt2";
        } else if (type_of(pt) == "Sequence" && pt.contains("pretokenizers") && pt["pretokenizers"].is_array() &&
                   pt["pretokenizers"].size() == 2) {
            const json& a = pt["pretokenizers"][0];
            const json& b = pt["pretokenizers"][1];
            if (type_of(a) == "Digits" && a.value("individual_digits", false) && byte_level(b, true)) pre = "smollm";
            if (type_of(a) == "Split" && a.value("behavior", std::string{}) == "Isolated" && !a.value("invert", false) &&
                a.contains("pattern") && a["pattern"].is_object() && a["pattern"].contains("Regex") &&
                byte_level(b, false)) {
                const std::string re = a["pattern"]["Regex"].get<std::string>();
                if (re == qwen2_re) pre = "qwen2";
                if (re == llama3_re) pre = "llama3";
            }
        }
        if (pre.empty())
            throw fail("pre_tokenizer " + (pt.is_null() ? std::string("none") : pt.dump()).substr(0, 300) +
                       " is not one this runtime implements (ByteLevel; Sequence[Digits(individual_digits), "
                       "ByteLevel]; Sequence[Split(Qwen2 or Llama-3 regex, Isolated), ByteLevel(use_regex=false)])");
        if (m.value("ignore_merges", false) != (pre == "llama3"))
            throw fail("model.ignore_merges is " + std::string(m.value("ignore_merges", false) ? "true" : "false") +
                       ", which this runtime pairs only with the " +
                       (pre == "llama3" ? "other pre-tokenizers" : "Llama-3 pre-tokenizer"));

        // Vocabulary: model.vocab plus added_tokens, ids 0..n-1 with no gap or clash.
        if (!m.contains("vocab") || !m["vocab"].is_object()) throw fail("model.vocab is not an object");
        const json added = j.value("added_tokens", json::array());
        if (!added.is_array()) throw fail("added_tokens is not an array");
        const std::size_t limit = m["vocab"].size() + added.size();
        std::vector<std::string> tokens(limit);
        std::vector<std::int32_t> types(limit, 0);  // 0: no token with this id (yet)
        auto place = [&](long long id, const std::string& text, std::int32_t type, const char* where) {
            if (id < 0 || static_cast<std::size_t>(id) >= limit)
                throw fail(std::string(where) + ": token '" + text + "' has id " + std::to_string(id) + ", outside 0.." +
                           std::to_string(limit - 1) + " (vocabulary + added tokens)");
            const auto i = static_cast<std::size_t>(id);
            if (types[i] != 0 && tokens[i] != text)
                throw fail(std::string(where) + ": id " + std::to_string(id) + " is both '" + tokens[i] + "' and '" + text + "'");
            if (types[i] == 0 || type != 1) types[i] = type;
            tokens[i] = text;
        };
        for (const auto& [text, id] : m["vocab"].items()) {
            if (!id.is_number_integer()) throw fail("model.vocab: token '" + text + "' has a non-integer id");
            place(id.get<long long>(), text, 1, "model.vocab");
        }
        for (const auto& a : added) {
            if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
                !a["content"].is_string())
                throw fail("added_tokens: an entry without an integer id and a string content");
            const std::string text = a["content"].get<std::string>();
            if (text.empty()) throw fail("added_tokens: empty token (id " + std::to_string(a["id"].get<long long>()) + ")");
            place(a["id"].get<long long>(), text, a.value("special", false) ? 3 : 4, "added_tokens");
        }
        std::size_t n = 0;
        while (n < limit && types[n] != 0) ++n;
        for (std::size_t i = n; i < limit; ++i)
            if (types[i] != 0)
                throw fail("token ids are not contiguous: id " + std::to_string(n) + " is missing but id " +
                           std::to_string(i) + " ('" + tokens[i] + "') exists");
        tokens.resize(n);
        types.resize(n);

        // Merges: "a b" or [a, b]; both parts and their concatenation must be tokens.
        if (!m.contains("merges") || !m["merges"].is_array()) throw fail("model.merges is not an array");
        std::unordered_map<std::string, int> ids;
        for (std::size_t i = 0; i < n; ++i) ids.emplace(tokens[i], static_cast<int>(i));
        std::vector<std::string> merges;
        merges.reserve(m["merges"].size());
        for (std::size_t r = 0; r < m["merges"].size(); ++r) {
            const json& e = m["merges"][r];
            std::string a, b;
            if (e.is_string()) {
                const std::string s = e.get<std::string>();
                const auto sp = s.find(' ');
                if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                    throw fail("model.merges[" + std::to_string(r) + "]: '" + s + "' is not two tokens separated by a space");
                a = s.substr(0, sp), b = s.substr(sp + 1);
            } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                a = e[0].get<std::string>(), b = e[1].get<std::string>();
                if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos)
                    throw fail("model.merges[" + std::to_string(r) + "]: a token with a space (not byte-level)");
            } else {
                throw fail("model.merges[" + std::to_string(r) + "]: neither \"a b\" nor [\"a\", \"b\"]");
            }
            for (const std::string* t : {&a, &b})
                if (!ids.count(*t)) throw fail("model.merges[" + std::to_string(r) + "]: '" + *t + "' is not in the vocabulary");
            if (!ids.count(a + b))
                throw fail("model.merges[" + std::to_string(r) + "]: the merge result '" + a + b + "' is not in the vocabulary");
            merges.push_back(a + " " + b);
        }
        bpe_tokenizer tok(std::move(tokens), merges, std::move(types), pre);
        tok.nfc_ = !norm.is_null();  // NFC (checked above) or none

        // A TemplateProcessing post-processor whose single-sequence template starts with a special
        // token (Llama-3: <|begin_of_text|> $A) adds that token as BOS; tokenizer_config.json's
        // add_bos_token, when present, overrides this below.
        const json post = j.value("post_processor", json());
        std::vector<json> posts;
        if (type_of(post) == "Sequence" && post.contains("processors") && post["processors"].is_array())
            for (const auto& p : post["processors"]) posts.push_back(p);
        else posts.push_back(post);
        for (const auto& p : posts) {
            if (type_of(p) != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array() || p["single"].empty())
                continue;
            const json& first = p["single"][0];
            if (!first.is_object() || !first.contains("SpecialToken")) continue;
            const json name = first["SpecialToken"].value("id", json());
            if (!name.is_string()) throw fail("post_processor: TemplateProcessing special token without a string id");
            const auto it = tok.ids_.find(name.get<std::string>());
            if (it == tok.ids_.end())
                throw fail("post_processor: TemplateProcessing adds '" + name.get<std::string>() + "', which is not a token");
            tok.bos_ = it->second;
            tok.add_bos_ = true;
        }

        // tokenizer_config.json beside it: bos_token / eos_token / add_bos_token.
        const auto cfg_path = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
        if (std::ifstream cin(cfg_path, std::ios::binary); cin) {
            json c;
            try {
                c = json::parse(cin);
            } catch (const json::exception& e) {
                throw io_error(cfg_path, std::string("not valid JSON: ") + e.what());
            }
            if (!c.is_object()) throw io_error(cfg_path, "not a JSON object");
            auto special = [&](const char* key) {
                if (!c.contains(key) || c[key].is_null()) return -1;
                const json& v = c[key];
                const json& content = v.is_object() ? v.value("content", json()) : v;
                if (!content.is_string()) throw io_error(cfg_path, std::string(key) + " is neither a string nor {\"content\": string}");
                const auto it = tok.ids_.find(content.get<std::string>());
                if (it == tok.ids_.end())
                    throw io_error(cfg_path, std::string(key) + " '" + content.get<std::string>() + "' is not a token of " + path);
                return it->second;
            };
            if (const int b = special("bos_token"); b >= 0 || !tok.add_bos_) tok.bos_ = b;
            tok.eos_ = special("eos_token");
            if (c.contains("add_bos_token")) {
                if (!c["add_bos_token"].is_boolean()) throw io_error(cfg_path, "add_bos_token is not a boolean");
                tok.add_bos_ = c["add_bos_token"].get<bool>();
                if (tok.add_bos_ && tok.bos_ < 0) throw io_error(cfg_path, "add_bos_token is true but there is no bos_token");
            }
        }
        return tok;
    }

    template <class Emit>
    static void gpt2_split(const std::vector<std::uint32_t>& c, std::size_t begin, std::size_t end, Emit&& emit) {
        using namespace unicode;
        auto L = [&](std::size_t i) { return i < end && is_letter(c[i]); };
        auto N = [&](std::size_t i) { return i < end && is_number(c[i]); };
        auto S = [&](std::size_t i) { return i < end && is_whitespace(c[i]); };
        auto O = [&](std::size_t i) { return i < end && !is_whitespace(c[i]) && !is_letter(c[i]) && !is_number(c[i]); };
        std::size_t i = begin;
        while (i < end) {
            const std::uint32_t ch = c[i];
            // 's|'t|'re|'ve|'m|'ll|'d
            if (ch == '\'' && i + 1 < end) {
                const std::uint32_t a = c[i + 1], b = i + 2 < end ? c[i + 2] : 0;
                if (a == 's' || a == 't' || a == 'm' || a == 'd') { emit(i, i + 2); i += 2; continue; }
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
                    emit(i, i + 3); i += 3; continue;
                }
            }
            const std::size_t j = (ch == ' ') ? i + 1 : i;  // optional leading space
            if (L(j)) { std::size_t k = j; while (L(k)) ++k; emit(i, k); i = k; continue; }
            if (N(j)) { std::size_t k = j; while (N(k)) ++k; emit(i, k); i = k; continue; }
            if (O(j)) { std::size_t k = j; while (O(k)) ++k; emit(i, k); i = k; continue; }
            // \s+(?!\S) | \s+
            std::size_t k = i;
            while (S(k)) ++k;
            if (k > i + 1 && k < end) --k;  // leave the last space to prefix the next piece
            emit(i, k);
            i = k;
        }
    }

    /// The Qwen2 (max_digits 1) / Llama-3 (max_digits 3) regex, alternatives tried in order.
    template <class Emit>
    static void llama3_split(const std::vector<std::uint32_t>& c, std::size_t begin, std::size_t end,
                             std::size_t max_digits, Emit&& emit) {
        using namespace unicode;
        auto L = [&](std::size_t i) { return i < end && is_letter(c[i]); };
        auto N = [&](std::size_t i) { return i < end && is_number(c[i]); };
        auto S = [&](std::size_t i) { return i < end && is_whitespace(c[i]); };
        auto O = [&](std::size_t i) { return i < end && !is_whitespace(c[i]) && !is_letter(c[i]) && !is_number(c[i]); };
        auto NL = [&](std::size_t i) { return i < end && (c[i] == '\r' || c[i] == '\n'); };
        auto lower = [](std::uint32_t x) { return x < 0x80 ? (x | 0x20) : x; };  // only ASCII letters reach 's' etc.
        std::size_t i = begin;
        while (i < end) {
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if (c[i] == '\'' && i + 1 < end) {
                const std::uint32_t a = lower(c[i + 1]), b = i + 2 < end ? lower(c[i + 2]) : 0;
                if (a == 's' || a == 't' || a == 'm' || a == 'd') { emit(i, i + 2); i += 2; continue; }
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
                    emit(i, i + 3); i += 3; continue;
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (L(i) || (!NL(i) && !N(i) && L(i + 1))) {
                std::size_t k = i + 1;
                while (L(k)) ++k;
                emit(i, k); i = k; continue;
            }
            // \p{N}{1,max_digits}
            if (N(i)) {
                std::size_t k = i;
                while (N(k) && k - i < max_digits) ++k;
                emit(i, k); i = k; continue;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            const std::size_t j = c[i] == ' ' ? i + 1 : i;
            if (O(j)) {
                std::size_t k = j;
                while (O(k)) ++k;
                while (NL(k)) ++k;
                emit(i, k); i = k; continue;
            }
            std::size_t k = i;  // the whitespace run
            while (S(k)) ++k;
            if (k == i) { emit(i, i + 1); ++i; continue; }  // unreachable: every character is L, N, S or other
            // \s*[\r\n]+ : up to the run's last newline
            std::size_t nl = k;
            for (std::size_t q = i; q < k; ++q)
                if (NL(q)) nl = q;
            if (nl < k) { emit(i, nl + 1); i = nl + 1; continue; }
            // \s+(?!\S) | \s+
            if (k > i + 1 && k < end) --k;
            emit(i, k); i = k;
        }
    }

    void encode_plain(std::string_view text, std::vector<int>& out) const {
        const std::string normalised = nfc_ ? unicode::nfc(text) : std::string();
        if (nfc_) text = normalised;
        for (const std::string& piece : pre_tokenize(text)) {
            auto cached = cache_.find(piece);
            if (cached == cache_.end()) cached = cache_.emplace(piece, bpe(piece)).first;
            out.insert(out.end(), cached->second.begin(), cached->second.end());
        }
    }

    std::vector<int> bpe(const std::string& piece) const {
        std::vector<std::string> sym;
        if (ignore_merges_) {  // Llama-3: a piece that is a whole token is that token
            std::string mapped;
            for (unsigned char b : piece) mapped += byte_char_[b];
            if (auto it = ids_.find(mapped); it != ids_.end()) return {it->second};
        }
        for (unsigned char b : piece) sym.push_back(byte_char_[b]);
        std::string key;
        while (sym.size() > 1) {
            int best = -1;
            std::size_t at = 0;
            for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
                key.assign(sym[i]).append(" ").append(sym[i + 1]);
                auto it = ranks_.find(key);
                if (it != ranks_.end() && (best < 0 || it->second < best)) best = it->second, at = i;
            }
            if (best < 0) break;
            const std::string a = sym[at], b = sym[at + 1];
            std::vector<std::string> merged;
            merged.reserve(sym.size());
            for (std::size_t i = 0; i < sym.size(); ++i) {
                if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) { merged.push_back(a + b); ++i; }
                else merged.push_back(sym[i]);
            }
            sym.swap(merged);
        }
        std::vector<int> ids;
        for (const auto& s : sym) {
            auto it = ids_.find(s);
            if (it != ids_.end()) { ids.push_back(it->second); continue; }
            for (std::size_t i = 0; i < s.size();) {  // no such token: fall back to single bytes
                const std::size_t from = i;
                unicode::next(s, i);
                auto b = ids_.find(s.substr(from, i - from));
                if (b != ids_.end()) ids.push_back(b->second);
            }
        }
        return ids;
    }

    std::vector<std::string> tokens_;
    std::vector<std::int32_t> types_;
    std::vector<int> specials_;
    std::unordered_map<std::string, int> ids_, ranks_;
    std::array<std::string, 256> byte_char_;
    std::unordered_map<std::uint32_t, unsigned char> char_byte_;
    mutable std::unordered_map<std::string, std::vector<int>> cache_;
    pre_type pre_ = pre_type::gpt2;
    bool ignore_merges_ = false;
    bool nfc_ = false;  ///< normalise to NFC before pre-tokenising
    int bos_ = -1, eos_ = -1;
    bool add_bos_ = false;
};

}  // namespace lowrank::runtime

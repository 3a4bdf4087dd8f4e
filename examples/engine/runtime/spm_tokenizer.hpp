// SentencePiece-style BPE tokenizer (Llama-1/2, Mistral v0.1, TinyLlama) built from GGUF
// metadata (tokenizer.ggml.model == "llama"): tokens, scores, token_type, bos/eos/unk ids,
// add_bos_token, add_space_prefix. No dependency on libsentencepiece.
//
// encode(text), as SentencePiece's BPE model with Llama-2's normaliser ("identity", dummy
// prefix on, no whitespace folding) and llama.cpp's handling of special tokens:
//   1. with parse_special, control / user-defined token strings in the text are emitted as
//      their ids; the plain text between them is encoded alone;
//   2. a plain fragment at the start, or right after a special token, gets one leading ' '
//      (the dummy prefix) when add_space_prefix; every ' ' becomes "▁" (U+2581);
//   3. the fragment starts as one symbol per UTF-8 character; repeatedly the adjacent pair
//      whose concatenation is a vocabulary piece (normal, user-defined or unused) of highest
//      score is merged (ties: leftmost first);
//   4. each final symbol is its piece's id; a symbol with no piece (a character outside the
//      vocabulary) becomes its UTF-8 bytes as the byte tokens <0xNN> (byte fallback), or the
//      unknown token when the vocabulary has no byte tokens.
// decode: "▁" → ' ', byte tokens → their byte, control / user-defined → their text; decode()
// of a whole sequence also drops the dummy prefix (one leading ' ' of the first piece).
#pragma once

#include "lowrank/io/gguf.hpp"
#include "runtime/special_tokens.hpp"
#include "runtime/unicode.hpp"

#include <cstdint>
#include <array>
#include <queue>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lowrank::runtime {

class spm_tokenizer {
public:
    /// llama.cpp's token types (tokenizer.ggml.token_type).
    enum token_type : std::int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

    spm_tokenizer() = default;

    /// From pieces, scores and types (same length; an empty `types` means all normal).
    spm_tokenizer(std::vector<std::string> tokens, std::vector<float> scores, std::vector<std::int32_t> types,
                  bool add_space_prefix = true)
        : tokens_(std::move(tokens)), scores_(std::move(scores)), types_(std::move(types)),
          add_space_prefix_(add_space_prefix) {
        if (types_.empty()) types_.assign(tokens_.size(), normal);
        if (scores_.size() != tokens_.size() || types_.size() != tokens_.size())
            throw std::invalid_argument("spm_tokenizer: " + std::to_string(tokens_.size()) + " tokens but " +
                                        std::to_string(scores_.size()) + " scores and " +
                                        std::to_string(types_.size()) + " token types");
        byte_ids_.fill(-1);
        for (std::size_t i = 0; i < tokens_.size(); ++i) {
            const int id = static_cast<int>(i);
            const std::int32_t t = types_[i];
            if (t == normal || t == user_defined || t == unused) pieces_.emplace(tokens_[i], id);
            if (t == control || t == user_defined) specials_.push_back(id);
            if (t == unknown && unk_ < 0) unk_ = id;
            if (t == byte) {
                const int b = byte_value(tokens_[i]);
                if (b < 0) throw std::invalid_argument("spm_tokenizer: byte token " + std::to_string(i) + " is '" +
                                                       tokens_[i] + "', not <0xNN>");
                byte_ids_[static_cast<std::size_t>(b)] = id;
            }
        }
    }

    /// Reads tokenizer.ggml.* from a GGUF file (tokenizer.ggml.model must be "llama").
    /// Throws (naming the file and key) on a missing or inconsistent vocabulary.
    static spm_tokenizer from_gguf(const gguf_file& f) {
        const std::string model = f.at("tokenizer.ggml.model").as_string();
        if (model != "llama")
            throw std::runtime_error(f.path + ": tokenizer model '" + model + "' is not SentencePiece (llama)");
        const auto& tokens = f.at("tokenizer.ggml.tokens");
        if (!tokens.is_array() || tokens.strings.size() != tokens.count)
            throw std::runtime_error(f.path + ": tokenizer.ggml.tokens is not an array of strings");
        std::vector<float> scores;
        std::vector<std::int32_t> types;
        try {
            scores = f.at("tokenizer.ggml.scores").array_of<float>();
            if (const auto* t = f.find("tokenizer.ggml.token_type")) types = t->array_of<std::int32_t>();
        } catch (const std::invalid_argument& e) {
            throw std::runtime_error(f.path + ": tokenizer.ggml.scores / token_type: " + e.what());
        }
        auto flag = [&](const char* key, bool fallback) {  // llama.cpp's defaults for SPM vocabularies
            const auto* v = f.find(key);
            if (!v) return fallback;
            if (v->is_array() || v->type != gguf_value_type::boolean)
                throw std::runtime_error(f.path + ": " + key + " is not a bool");
            return v->get<bool>();
        };
        const bool space = flag("tokenizer.ggml.add_space_prefix", true);
        spm_tokenizer tok;
        try {
            tok = spm_tokenizer(tokens.strings, std::move(scores), std::move(types), space);
        } catch (const std::invalid_argument& e) {
            throw std::runtime_error(f.path + ": " + e.what());
        }
        const long n = static_cast<long>(tok.vocab_size());
        auto id = [&](const char* key, int fallback) {
            const auto* v = f.find(key);
            if (!v) return fallback;
            std::int64_t x = 0;
            try {
                x = v->to_int();
            } catch (const std::invalid_argument&) {
                throw std::runtime_error(f.path + ": " + key + " is not an integer");
            }
            if (x < 0 || x >= n) throw std::runtime_error(f.path + ": " + key + " = " + std::to_string(x) +
                                                          " is outside the vocabulary (" + std::to_string(n) + ")");
            return static_cast<int>(x);
        };
        tok.bos_ = id("tokenizer.ggml.bos_token_id", -1);
        tok.eos_ = id("tokenizer.ggml.eos_token_id", -1);
        tok.unk_ = id("tokenizer.ggml.unknown_token_id", tok.unk_);
        tok.add_bos_ = flag("tokenizer.ggml.add_bos_token", true);
        return tok;
    }

    std::size_t vocab_size() const { return tokens_.size(); }
    int bos() const { return bos_; }
    int eos() const { return eos_; }
    int unk() const { return unk_; }
    bool add_bos() const { return add_bos_; }
    bool add_space_prefix() const { return add_space_prefix_; }
    const std::string& token(int id) const { return tokens_.at(static_cast<std::size_t>(id)); }
    float score(int id) const { return scores_.at(static_cast<std::size_t>(id)); }
    bool is_control(int id) const { return types_.at(static_cast<std::size_t>(id)) == control; }

    /// Token ids of `text` (no BOS added; see add_bos()).
    std::vector<int> encode(std::string_view text, bool parse_special = true) const {
        std::vector<int> out;
        std::size_t start = 0;
        bool after_special = true;  // the text start counts as "after a special token"
        while (start < text.size()) {
            const auto [hit, hit_id] = parse_special ? find_special(text, start, specials_, tokens_)
                                                     : std::pair<std::size_t, int>{text.size(), -1};
            if (hit > start) {
                encode_fragment(text.substr(start, hit - start), after_special, out);
                after_special = false;
            }
            if (hit_id < 0) break;
            out.push_back(hit_id);
            after_special = true;
            start = hit + tokens_[static_cast<std::size_t>(hit_id)].size();
        }
        return out;
    }

    /// The bytes a token stands for ("▁" as ' '; byte tokens as their byte).
    std::string decode_token(int id) const {
        const auto i = static_cast<std::size_t>(id);
        const std::string& t = tokens_.at(i);
        if (types_[i] == byte) return std::string(1, static_cast<char>(byte_value(t)));
        if (types_[i] == control || types_[i] == user_defined) return t;
        std::string out;
        for (std::size_t p = 0; p < t.size();) {
            if (t.compare(p, 3, space_mark) == 0) out += ' ', p += 3;
            else out += t[p++];
        }
        return out;
    }
    /// The text of a sequence: the pieces joined, less the dummy prefix of the first one.
    std::string decode(const std::vector<int>& ids) const {
        std::string out;
        for (std::size_t k = 0; k < ids.size(); ++k) {
            std::string s = decode_token(ids[k]);
            if (k == 0 && add_space_prefix_ && !s.empty() && s[0] == ' ' &&
                types_.at(static_cast<std::size_t>(ids[k])) != control)
                s.erase(0, 1);
            out += s;
        }
        return out;
    }

private:
    static constexpr std::string_view space_mark = "\xE2\x96\x81";  // U+2581 "▁"

    /// 0..255 for "<0xNN>", else -1.
    static int byte_value(const std::string& t) {
        if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
        auto hex = [](char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        const int hi = hex(t[3]), lo = hex(t[4]);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    struct symbol {
        std::size_t start, size;  ///< bytes of the escaped fragment; size 0 once merged away
        int prev, next;
    };
    struct bigram {
        float score;
        int left, right;
        std::size_t size;  ///< combined size when queued (stale once either side changed)
        bool operator<(const bigram& o) const {  // priority_queue top: highest score, then leftmost
            return score < o.score || (score == o.score && left > o.left);
        }
    };

    void encode_fragment(std::string_view raw, bool first, std::vector<int>& out) const {
        std::string text;
        if (add_space_prefix_ && first) text += space_mark;
        for (char c : raw) {
            if (c == ' ') text += space_mark;
            else text += c;
        }
        std::vector<symbol> sym;
        for (std::size_t i = 0; i < text.size();) {
            const std::size_t from = i;
            unicode::next(text, i);
            const int n = static_cast<int>(sym.size());
            sym.push_back({from, i - from, n - 1, -1});
            if (n > 0) sym[static_cast<std::size_t>(n - 1)].next = n;
        }
        std::priority_queue<bigram> queue;
        auto try_pair = [&](int l, int r) {
            if (l < 0 || r < 0) return;
            const auto& a = sym[static_cast<std::size_t>(l)];
            const auto& b = sym[static_cast<std::size_t>(r)];
            const auto it = pieces_.find(std::string(text.substr(a.start, a.size + b.size)));
            if (it == pieces_.end()) return;
            queue.push({scores_[static_cast<std::size_t>(it->second)], l, r, a.size + b.size});
        };
        for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) try_pair(i, i + 1);
        while (!queue.empty()) {
            const bigram g = queue.top();
            queue.pop();
            auto& a = sym[static_cast<std::size_t>(g.left)];
            auto& b = sym[static_cast<std::size_t>(g.right)];
            if (a.size == 0 || b.size == 0 || a.size + b.size != g.size || a.next != g.right) continue;
            a.size += b.size;
            b.size = 0;
            a.next = b.next;
            if (b.next >= 0) sym[static_cast<std::size_t>(b.next)].prev = g.left;
            try_pair(a.prev, g.left);
            try_pair(g.left, a.next);
        }
        for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[static_cast<std::size_t>(i)].next) {
            const auto& s = sym[static_cast<std::size_t>(i)];
            const std::string piece(text.substr(s.start, s.size));
            const auto it = pieces_.find(piece);
            if (it != pieces_.end()) {
                out.push_back(it->second);
                continue;
            }
            for (unsigned char b : piece) {  // byte fallback
                const int id = byte_ids_[b];
                if (id >= 0) out.push_back(id);
                else if (unk_ >= 0) {
                    out.push_back(unk_);
                    break;  // one <unk> per character, as SentencePiece without byte fallback
                } else
                    throw std::runtime_error("spm_tokenizer: character '" + piece +
                                             "' has no piece, no byte token and there is no unknown token");
            }
        }
    }

    std::vector<std::string> tokens_;
    std::vector<float> scores_;
    std::vector<std::int32_t> types_;
    std::vector<int> specials_;
    std::unordered_map<std::string, int> pieces_;
    std::array<int, 256> byte_ids_{};
    int bos_ = -1, eos_ = -1, unk_ = -1;
    bool add_bos_ = true, add_space_prefix_ = true;
};

}  // namespace lowrank::runtime

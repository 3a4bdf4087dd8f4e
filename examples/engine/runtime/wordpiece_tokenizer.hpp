// BERT WordPiece tokenizer from vocab.txt, following Hugging Face's BertNormalizer +
// BertPreTokenizer + WordPiece (the fast tokenizer sentence-transformers uses):
//   normalise: drop NUL, U+FFFD and C* characters (tab/newline/CR count as spaces), every
//              White_Space → ' ', spaces around CJK ideographs, (uncased) NFD + drop Mn +
//              lower-case;
//   split on whitespace, then every punctuation character (ASCII punctuation or P*) alone;
//   WordPiece: greedy longest match, continuation pieces prefixed "##", a word longer than
//   100 characters or with no match → [UNK]; [CLS] … [SEP] around, truncated to max_length.
#pragma once

#include "runtime/unicode.hpp"

#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lowrank::runtime {

class wordpiece_tokenizer {
public:
    wordpiece_tokenizer() = default;
    explicit wordpiece_tokenizer(std::vector<std::string> vocab, bool lowercase = true)
        : vocab_(std::move(vocab)), lowercase_(lowercase) {
        for (std::size_t i = 0; i < vocab_.size(); ++i) ids_.emplace(vocab_[i], static_cast<int>(i));
        cls_ = id_of("[CLS]"), sep_ = id_of("[SEP]"), unk_ = id_of("[UNK]"), pad_ = id_of("[PAD]");
        for (const auto& f : unicode_tables::bert_fold) fold_.emplace(f.cp, f.utf8);
    }

    static wordpiece_tokenizer from_vocab_file(const std::string& path, bool lowercase = true) {
        std::ifstream in(path);
        if (!in) throw std::runtime_error(path + ": cannot open vocabulary");
        std::vector<std::string> v;
        for (std::string line; std::getline(in, line);) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            v.push_back(line);
        }
        return wordpiece_tokenizer(std::move(v), lowercase);
    }

    int cls() const { return cls_; }
    int sep() const { return sep_; }
    int pad() const { return pad_; }
    std::size_t vocab_size() const { return vocab_.size(); }
    const std::string& token(int id) const { return vocab_.at(static_cast<std::size_t>(id)); }

    /// [CLS] pieces… [SEP], at most max_length ids (pieces are truncated, as HF does).
    std::vector<int> encode(std::string_view text, std::size_t max_length = 512) const {
        std::vector<int> ids{cls_};
        for (const auto& word : basic_split(text)) wordpiece(word, ids);
        if (max_length >= 2 && ids.size() > max_length - 1) ids.resize(max_length - 1);
        ids.push_back(sep_);
        return ids;
    }

    /// Normalised, whitespace- and punctuation-split words (exposed for tests).
    std::vector<std::string> basic_split(std::string_view text) const {
        std::vector<std::string> words;
        std::string cur;
        auto flush = [&] { if (!cur.empty()) words.push_back(std::move(cur)), cur.clear(); };
        for (std::size_t i = 0; i < text.size();) {
            std::uint32_t c = unicode::next(text, i);
            if (c == 0 || c == 0xFFFD) continue;
            if (c == '\t' || c == '\n' || c == '\r' || unicode::is_whitespace(c)) { flush(); continue; }
            if (unicode::is_other(c)) continue;
            if (is_cjk(c)) { flush(); unicode::append_utf8(cur, c); flush(); continue; }
            std::string folded;
            if (lowercase_) {
                if (c >= 0xAC00 && c <= 0xD7A3) {  // Hangul syllable: NFD into conjoining jamo
                    const std::uint32_t s = c - 0xAC00;
                    unicode::append_utf8(folded, 0x1100 + s / 588);
                    unicode::append_utf8(folded, 0x1161 + (s % 588) / 28);
                    if (s % 28) unicode::append_utf8(folded, 0x11A7 + s % 28);
                } else if (auto it = fold_.find(c); it != fold_.end()) {
                    folded = it->second;  // NFD, Mn removed, lower-cased (possibly empty)
                } else {
                    unicode::append_utf8(folded, c);
                }
            } else {
                unicode::append_utf8(folded, c);
            }
            for (std::size_t j = 0; j < folded.size();) {
                const std::size_t from = j;
                const std::uint32_t f = unicode::next(folded, j);
                if (is_punct(f)) { flush(); cur.assign(folded, from, j - from); flush(); }
                else cur.append(folded, from, j - from);
            }
        }
        flush();
        return words;
    }

private:
    int id_of(const std::string& s) const {
        auto it = ids_.find(s);
        return it == ids_.end() ? -1 : it->second;
    }
    static bool is_cjk(std::uint32_t c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
               (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
               (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }
    static bool is_punct(std::uint32_t c) {
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
        return unicode::is_punctuation(c);
    }
    void wordpiece(const std::string& word, std::vector<int>& out) const {
        const auto d = unicode::decode(word);
        if (d.cps.size() > 100) { out.push_back(unk_); return; }
        std::vector<int> pieces;
        std::size_t start = 0;
        while (start < d.cps.size()) {
            std::size_t end = d.cps.size();
            int found = -1;
            while (end > start) {
                std::string sub = (start > 0 ? "##" : "") + word.substr(d.offsets[start], d.offsets[end] - d.offsets[start]);
                if (int id = id_of(sub); id >= 0) { found = id; break; }
                --end;
            }
            if (found < 0) { out.push_back(unk_); return; }
            pieces.push_back(found);
            start = end;
        }
        out.insert(out.end(), pieces.begin(), pieces.end());
    }

    std::vector<std::string> vocab_;
    std::unordered_map<std::string, int> ids_;
    std::unordered_map<std::uint32_t, std::string> fold_;
    bool lowercase_ = true;
    int cls_ = -1, sep_ = -1, unk_ = -1, pad_ = -1;
};

}  // namespace lowrank::runtime

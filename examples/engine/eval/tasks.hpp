// Zero-shot task formatting with lm-evaluation-harness semantics (v0.4 task YAML/utils):
// each document becomes loglikelihood requests (context, continuation) and a gold index.
//
//   task           prompt (context)                                  continuations          metrics
//   arc_easy,      "Question: {question}\nAnswer:"                    " " + choice           acc, acc_norm
//   arc_challenge
//   hellaswag      preprocess("{activity_label}: {ctx_a} {ctx_b.capitalize()}")
//                                                                     " " + preprocess(end)  acc, acc_norm
//   winogrande     partial scoring: contexts sentence[:i] + option    " " + sentence[i+1:].strip()   acc
//                  (i = index of "_"); one shared continuation
//   piqa           "Question: {goal}\nAnswer:"                        " " + sol              acc, acc_norm
//   boolq          "{passage}\nQuestion: {question}?\nAnswer:"        " no", " yes"          acc
//   openbookqa     "{question_stem}"                                  " " + choice           acc, acc_norm
//   mmlu           "The following are multiple choice questions (with answers) about {subject}.\n\n"
//                  "{question.strip()}\nA. {c0}\nB. {c1}\nC. {c2}\nD. {c3}\nAnswer:"
//                                                                     " A", " B", " C", " D" acc
//   lambada        text without its last word                         " " + last word        acc (greedy), perplexity
//
// acc picks argmaxᵢ log p(contᵢ | ctxᵢ); acc_norm picks argmaxᵢ log p(contᵢ | ctxᵢ) / len(choiceᵢ)
// with len the number of characters (Unicode code points, Python's len) of the choice text
// without the leading delimiter — lm-eval's `completion_len`; for ASCII text this is the byte
// length. Ties go to the first choice (numpy.argmax). strip() everywhere is Python's str.strip(),
// which removes Unicode whitespace (U+0085, U+00A0, U+2000–U+200A, ...), not only ASCII.
#pragma once

#include "lowrank/core/errors.hpp"
#include "eval/stats.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <stdexcept>
#include <string>
#include <vector>

namespace lowrank::eval {

struct mc_request {
    std::string context, continuation;
};

/// One multiple-choice document, formatted.
struct mc_doc {
    std::string id;
    std::vector<mc_request> requests;  ///< one per choice
    std::vector<std::string> choices;  ///< the choice texts whose lengths acc_norm divides by
    std::size_t gold = 0;
    std::string group;                 ///< subject (mmlu) for per-group limits; empty otherwise
};

struct task_info {
    std::string name, file;  ///< task name and its JSONL file in the data directory
    bool acc_norm = false;   ///< report acc_norm (lm-eval's metric list for the task)
    double chance = 0;       ///< accuracy of uniform guessing (mean over docs of 1/choices; set when loading)
};

/// The tasks this module knows; throws for an unknown name.
inline task_info find_task(const std::string& name) {
    static const std::vector<task_info> tasks{
        {"arc_easy", "arc_easy.jsonl", true},   {"arc_challenge", "arc_challenge.jsonl", true},
        {"hellaswag", "hellaswag.jsonl", true}, {"winogrande", "winogrande.jsonl", false},
        {"piqa", "piqa.jsonl", true},           {"boolq", "boolq.jsonl", false},
        {"openbookqa", "openbookqa.jsonl", true}, {"mmlu", "mmlu.jsonl", false},
        {"lambada", "lambada.jsonl", false},
    };
    for (const auto& t : tasks)
        if (t.name == name) return t;
    throw invalid_argument("unknown task '" + name + "'");
}

namespace detail {
inline void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
}
/// Python's str.isspace() for one code point — the set str.strip() removes: U+0009–000D,
/// U+001C–001F, U+0020, U+0085, U+00A0, U+1680, U+2000–200A, U+2028, U+2029, U+202F, U+205F, U+3000.
inline bool py_isspace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
/// The code point of the UTF-8 sequence at s[i, i + n); an invalid sequence decodes to U+FFFD
/// (never whitespace, so malformed bytes are kept, as they would be by a lossless decoder).
inline char32_t utf8_at(const std::string& s, std::size_t i, std::size_t n) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    if (n == 1) return b(0) < 0x80 ? b(0) : 0xFFFD;
    const unsigned char lead = b(0);
    if ((n == 2 && (lead & 0xE0) != 0xC0) || (n == 3 && (lead & 0xF0) != 0xE0) || (n == 4 && (lead & 0xF8) != 0xF0)) return 0xFFFD;
    char32_t c = lead & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
        if ((b(k) & 0xC0) != 0x80) return 0xFFFD;
        c = (c << 6) | (b(k) & 0x3F);
    }
    return c;
}
/// Byte length of the UTF-8 sequence that starts at s[i] (1 for an invalid lead byte).
inline std::size_t utf8_len_at(const std::string& s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return i + n <= s.size() ? n : 1;
}
}  // namespace detail

/// Number of bytes Python's str.rstrip() removes from the UTF-8 string s (Unicode whitespace;
/// invalid UTF-8 is never whitespace).
inline std::size_t python_rstrip_bytes(const std::string& s) {
    std::size_t end = s.size();
    while (end > 0) {
        std::size_t start = end - 1;  // back over continuation bytes to the sequence start
        while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        if (detail::utf8_len_at(s, start) != end - start) start = end - 1;  // not one sequence: a lone byte
        if (!detail::py_isspace(detail::utf8_at(s, start, end - start))) break;
        end = start;
    }
    return s.size() - end;
}
/// Python's str.strip() (Unicode whitespace, as lm-eval's templates and utils call it).
inline std::string python_strip(const std::string& s) {
    std::size_t b = 0;
    while (b < s.size()) {
        const std::size_t n = detail::utf8_len_at(s, b);
        if (!detail::py_isspace(detail::utf8_at(s, b, n))) break;
        b += n;
    }
    if (b == s.size()) return "";
    return s.substr(b, s.size() - python_rstrip_bytes(s) - b);
}

/// lm-eval hellaswag utils.preprocess: strip, " [title]" → ". ", drop "[...]" tags, "  " → " "
/// (one pass of str.replace, as in Python).
inline std::string hellaswag_preprocess(std::string text) {
    text = python_strip(text);
    detail::replace_all(text, " [title]", ". ");
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '[') {
            const auto close = text.find(']', i);
            if (close != std::string::npos) {
                i = close;
                continue;
            }
        }
        out += text[i];
    }
    std::string r;  // Python's str.replace("  ", " "): non-overlapping, left to right
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == ' ' && i + 1 < out.size() && out[i + 1] == ' ') {
            r += ' ';
            ++i;
        } else {
            r += out[i];
        }
    }
    return r;
}

/// Python's str.capitalize() for ASCII text: first character upper-case, the rest lower-case.
inline std::string py_capitalize(std::string s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) continue;  // non-ASCII left as is (rare in HellaSwag contexts)
        s[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
    }
    return s;
}

/// Formats one document of the uniform JSONL schema (scripts/fetch_eval_data.py) for `task`.
inline mc_doc format_doc(const std::string& task, const nlohmann::json& d) {
    mc_doc doc;
    doc.id = d.at("id").get<std::string>();
    doc.gold = d.value("gold", 0);
    auto simple = [&](const std::string& context) {
        for (const auto& c : d.at("choices")) {
            doc.choices.push_back(c.get<std::string>());
            doc.requests.push_back({context, " " + doc.choices.back()});
        }
    };
    if (task == "arc_easy" || task == "arc_challenge" || task == "piqa") {
        simple("Question: " + d.at("question").get<std::string>() + "\nAnswer:");
    } else if (task == "openbookqa") {
        simple(d.at("question").get<std::string>());
    } else if (task == "boolq") {
        simple(d.at("passage").get<std::string>() + "\nQuestion: " + d.at("question").get<std::string>() + "?\nAnswer:");
    } else if (task == "hellaswag") {
        const std::string ctx = d.at("ctx_a").get<std::string>() + " " + py_capitalize(d.at("ctx_b").get<std::string>());
        const std::string query = hellaswag_preprocess(d.at("activity_label").get<std::string>() + ": " + ctx);
        for (const auto& e : d.at("choices")) {
            doc.choices.push_back(hellaswag_preprocess(e.get<std::string>()));
            doc.requests.push_back({query, " " + doc.choices.back()});
        }
    } else if (task == "winogrande") {
        const std::string s = d.at("sentence").get<std::string>();
        const auto idx = s.find('_');
        if (idx == std::string::npos) throw invalid_argument("winogrande doc " + doc.id + ": no '_' in sentence");
        const std::string target = python_strip(s.substr(idx + 1));
        for (const auto& o : d.at("choices")) {
            doc.choices.push_back(s.substr(0, idx) + o.get<std::string>());  // lm-eval doc_to_choice
            doc.requests.push_back({doc.choices.back(), " " + target});
        }
    } else if (task == "mmlu") {
        std::string subject = d.at("subject").get<std::string>();
        doc.group = subject;
        for (auto& c : subject) if (c == '_') c = ' ';
        const auto& ch = d.at("choices");
        if (ch.size() != 4) throw invalid_argument("mmlu doc " + doc.id + ": expected 4 choices");
        const std::string ctx = "The following are multiple choice questions (with answers) about " + subject + ".\n\n" +
                                python_strip(d.at("question").get<std::string>()) + "\nA. " + ch[0].get<std::string>() +
                                "\nB. " + ch[1].get<std::string>() + "\nC. " + ch[2].get<std::string>() + "\nD. " +
                                ch[3].get<std::string>() + "\nAnswer:";
        for (const char* l : {"A", "B", "C", "D"}) {
            doc.choices.push_back(l);
            doc.requests.push_back({ctx, std::string(" ") + l});
        }
    } else if (task == "lambada") {
        doc.choices.push_back(d.at("continuation").get<std::string>());
        doc.requests.push_back({d.at("context").get<std::string>(), doc.choices.back()});  // target_delimiter ""
    } else {
        throw invalid_argument("format_doc: unknown task '" + task + "'");
    }
    if (doc.gold >= doc.requests.size()) throw invalid_argument(task + " doc " + doc.id + ": gold out of range");
    return doc;
}

/// The documents --limit N selects: the first N in file order; for tasks with groups (mmlu's
/// 57 subjects) the first ⌈N / groups⌉ of every group, as lm-eval applies --limit per subtask.
inline std::vector<std::size_t> limited_docs(const std::vector<mc_doc>& docs, std::size_t limit) {
    if (limit == 0 || docs.empty() || docs.front().group.empty()) return limited_indices(docs.size(), limit);
    std::vector<std::string> groups;
    for (const auto& d : docs)
        if (groups.empty() || groups.back() != d.group) groups.push_back(d.group);
    const std::size_t per = (limit + groups.size() - 1) / groups.size();
    std::vector<std::size_t> out;
    std::size_t taken = 0;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        if (i > 0 && docs[i].group != docs[i - 1].group) taken = 0;
        if (taken++ < per) out.push_back(i);
    }
    return out;
}

}  // namespace lowrank::eval

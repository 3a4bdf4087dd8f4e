// Scoring: multiple choice (acc / acc_norm), LAMBADA (greedy acc, perplexity), and windowed
// perplexity over a token stream. Model-independent: a scorer supplies log-probabilities.
#pragma once

#include "lowrank/core/errors.hpp"
#include "eval/parallel_documents.hpp"
#include "eval/stats.hpp"
#include "eval/tasks.hpp"

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lowrank::eval {

/// log p(continuation | context) (natural log) and whether every continuation token was the argmax.
struct loglikelihood {
    double logprob = 0;
    bool greedy = false;
    std::size_t tokens = 0;
};

/// What the evaluation needs from a language model.
class lm_scorer {
public:
    virtual ~lm_scorer() = default;
    /// Scores several continuations of one context (implementations may share the context's work).
    virtual std::vector<loglikelihood> score(const std::string& context, const std::vector<std::string>& continuations) = 0;
};

using progress_fn = std::function<void(std::size_t done, std::size_t total)>;

struct mc_result {
    std::size_t n = 0;
    double acc = 0, acc_stderr = 0, acc_norm = 0, acc_norm_stderr = 0;
    std::vector<std::size_t> pred, pred_norm;  ///< per document
    std::vector<std::vector<double>> loglik;   ///< per document, per choice: log p(continuation | context)
    std::vector<std::vector<bool>> greedy;     ///< per document, per choice: every continuation token is the argmax
};

/// Scores docs with lm-eval's multiple-choice rule (tasks.hpp). Requests that share a context are
/// scored in one call. Several workers (scorers of the same model, e.g. llama_model::sharing_weights)
/// score documents in parallel; the results are per document and do not depend on the split.
inline mc_result evaluate_multiple_choice(const std::vector<mc_doc>& docs, const std::vector<lm_scorer*>& workers,
                                          const progress_fn& progress = {}) {
    mc_result r;
    r.loglik.resize(docs.size()), r.greedy.resize(docs.size());
    for_each_document<lm_scorer>(docs.size(), workers, [&](lm_scorer& lm, std::size_t i) {
        const mc_doc& d = docs[i];
        std::vector<double> ll(d.requests.size());
        std::vector<bool> gr(d.requests.size());
        std::size_t j = 0;
        while (j < d.requests.size()) {  // group consecutive requests with the same context
            std::size_t k = j;
            std::vector<std::string> conts;
            while (k < d.requests.size() && d.requests[k].context == d.requests[j].context)
                conts.push_back(d.requests[k++].continuation);
            const auto s = lm.score(d.requests[j].context, conts);
            for (std::size_t m = 0; m < s.size(); ++m) ll[j + m] = s[m].logprob, gr[j + m] = s[m].greedy;
            j = k;
        }
        r.loglik[i] = std::move(ll), r.greedy[i] = std::move(gr);
    }, progress);
    std::vector<double> acc, accn;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        const mc_doc& d = docs[i];
        const auto& ll = r.loglik[i];
        std::vector<double> norm(ll.size());
        for (std::size_t c = 0; c < ll.size(); ++c)
            norm[c] = ll[c] / double(std::max<std::size_t>(1, utf8_length(d.choices[c])));
        r.pred.push_back(argmax(ll));
        r.pred_norm.push_back(argmax(norm));
        acc.push_back(r.pred.back() == d.gold ? 1.0 : 0.0);
        accn.push_back(r.pred_norm.back() == d.gold ? 1.0 : 0.0);
    }
    r.n = docs.size();
    r.acc = mean(acc), r.acc_stderr = stderr_of_mean(acc);
    r.acc_norm = mean(accn), r.acc_norm_stderr = stderr_of_mean(accn);
    return r;
}

inline mc_result evaluate_multiple_choice(const std::vector<mc_doc>& docs, lm_scorer& lm, const progress_fn& progress = {}) {
    return evaluate_multiple_choice(docs, std::vector<lm_scorer*>{&lm}, progress);
}

struct lambada_result {
    std::size_t n = 0;
    double acc = 0, acc_stderr = 0;
    double perplexity = 0;      ///< exp(−mean log p(target)), lm-eval's lambada "perplexity"
    double mean_logprob = 0, logprob_stderr = 0;
    std::vector<double> logprob;  ///< per document: log p(target | context)
    std::vector<bool> greedy;     ///< per document: every target token was the argmax
};

/// LAMBADA: greedy accuracy and perplexity of the target word; workers as evaluate_multiple_choice.
inline lambada_result evaluate_lambada(const std::vector<mc_doc>& docs, const std::vector<lm_scorer*>& workers,
                                       const progress_fn& progress = {}) {
    lambada_result r;
    std::vector<double> lp(docs.size());
    std::vector<char> greedy(docs.size());  // not vector<bool>: workers write neighbouring slots at once
    for_each_document<lm_scorer>(docs.size(), workers, [&](lm_scorer& lm, std::size_t i) {
        const auto s = lm.score(docs[i].requests[0].context, {docs[i].requests[0].continuation});
        lp[i] = s[0].logprob, greedy[i] = s[0].greedy;
    }, progress);
    std::vector<double> acc;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        acc.push_back(greedy[i] ? 1.0 : 0.0);
        r.greedy.push_back(greedy[i] != 0);
    }
    r.n = docs.size();
    r.acc = mean(acc), r.acc_stderr = stderr_of_mean(acc);
    r.logprob = lp;
    r.mean_logprob = mean(lp), r.logprob_stderr = stderr_of_mean(lp);
    r.perplexity = std::exp(-r.mean_logprob);
    return r;
}

inline lambada_result evaluate_lambada(const std::vector<mc_doc>& docs, lm_scorer& lm, const progress_fn& progress = {}) {
    return evaluate_lambada(docs, std::vector<lm_scorer*>{&lm}, progress);
}

// ------------------------------------------------------------------ windowed perplexity
//
// The token stream t[0..N) starts with a document-start token t[0] (the tokenizer's BOS, or
// its EOS/end-of-text when it has no BOS) that is never predicted. Window k spans
// [b_k, e_k) with b_k = k·stride and e_k = min(b_k + context, N); the model sees the window
// alone (fresh KV cache) and it scores the targets in [max(b_k + 1, e_{k−1}), e_k), so every
// token t[1..N) is scored exactly once, and — after the first window — with at least
// context − stride tokens of left context. The last window is the first with e_k = N.
// The stride must be below the context (a window's first token has no history inside the
// window, so consecutive windows must overlap by at least one token); stride = 1 gives every
// token the full context − 1 tokens of history (the most faithful and the slowest), stride =
// context − 1 the cheapest overlap. lowrank eval defaults to context 512, stride 256.
struct window {
    std::size_t begin = 0, end = 0;  ///< tokens fed to the model
    std::size_t score_from = 0;      ///< first position whose token is scored (begin < score_from ≤ end)
};

inline std::vector<window> plan_windows(std::size_t n_tokens, std::size_t context, std::size_t stride) {
    if (context < 2) throw invalid_argument("perplexity: context must be at least 2 tokens");
    if (stride == 0 || stride >= context) throw invalid_argument("perplexity: stride must be in [1, context - 1]");
    std::vector<window> w;
    if (n_tokens < 2) return w;
    std::size_t prev_end = 1;
    for (std::size_t b = 0;; b += stride) {
        const std::size_t e = std::min(b + context, n_tokens);
        const std::size_t from = std::max(b + 1, prev_end);
        if (from < e) w.push_back({b, e, from});
        prev_end = e;
        if (e == n_tokens) break;
    }
    return w;
}

/// log p(tokens[i] | tokens[0..i)) for i in [score_from, n) of one window (positions relative to the window).
using window_logprob_fn = std::function<std::vector<double>(const std::vector<int>& tokens, std::size_t score_from)>;

/// One scored window: nll = Σ −ln p over its `tokens` scored tokens, which decode to `bytes` bytes.
struct window_score {
    std::size_t tokens = 0, bytes = 0;
    double nll = 0;
};

struct perplexity_result {
    std::size_t windows = 0, tokens = 0, bytes = 0;
    std::vector<window_score> per_window;       ///< in window order; Σ nll / Σ tokens == nll_per_token
    double nll_per_token = 0, nll_stderr = 0;  ///< natural log; stderr from the per-window mean losses
    double perplexity = 0;                      ///< exp(nll_per_token)
    double bits_per_byte = 0;                   ///< Σ nll / ln 2 / bytes of the scored tokens
    double bits_per_byte_stderr = 0;
    std::size_t context = 0, stride = 0, total_windows = 0;
};

/// `token_bytes[i]`: UTF-8 bytes token i decodes to (for bits per byte). max_windows = 0: all.
inline perplexity_result evaluate_perplexity(const std::vector<int>& tokens, const std::vector<std::size_t>& token_bytes,
                                             std::size_t context, std::size_t stride, const window_logprob_fn& lm,
                                             std::size_t max_windows = 0, const progress_fn& progress = {}) {
    perplexity_result r;
    r.context = context, r.stride = stride;
    auto ws = plan_windows(tokens.size(), context, stride);
    r.total_windows = ws.size();
    if (max_windows && ws.size() > max_windows) ws.resize(max_windows);
    std::vector<double> loss, weight;
    double total = 0;
    for (std::size_t k = 0; k < ws.size(); ++k) {
        const auto& w = ws[k];
        const std::vector<int> win(tokens.begin() + long(w.begin), tokens.begin() + long(w.end));
        const auto lp = lm(win, w.score_from - w.begin);
        if (lp.size() != w.end - w.score_from) throw error("perplexity: scorer returned the wrong count");
        double s = 0;
        for (double v : lp) s -= v;
        std::size_t b = 0;
        for (std::size_t i = w.score_from; i < w.end; ++i) b += token_bytes.at(i);
        r.bytes += b;
        r.per_window.push_back({lp.size(), b, s});
        total += s;
        r.tokens += lp.size();
        loss.push_back(s / double(lp.size()));
        weight.push_back(double(lp.size()));
        if (progress) progress(k + 1, ws.size());
    }
    r.windows = ws.size();
    if (r.tokens == 0) return r;
    const auto est = weighted_mean(loss, weight);
    r.nll_per_token = total / double(r.tokens);
    r.nll_stderr = est.stderr;
    r.perplexity = std::exp(r.nll_per_token);
    const double tokens_per_byte = double(r.tokens) / double(std::max<std::size_t>(1, r.bytes));
    r.bits_per_byte = r.nll_per_token * tokens_per_byte / std::log(2.0);
    r.bits_per_byte_stderr = r.nll_stderr * tokens_per_byte / std::log(2.0);
    return r;
}

}  // namespace lowrank::eval

// KL divergence of a model Q (compressed) from a base model P (dense) on the perplexity windows
// (`lowrank eval --kl-divergence-base DENSE`), the quantisation community's quality measure as
// llama.cpp's llama-perplexity --kl-divergence reports it.
//
// Windows: exactly those of evaluate_perplexity (scoring.hpp plan_windows: same context, stride,
// --ppl-windows). At every scored position i (predicting token t_i from the window's prefix), with
// p = softmax(P's logits), q = softmax(Q's logits), in double precision:
//   KL_i = Σ_v p_v (ln p_v − ln q_v)          (nats; ≥ 0, 0 iff the distributions are equal)
//   same_top_i = [argmax p = argmax q]
//   ln-ratio_i = ln p(t_i) − ln q(t_i)       (so mean = ln PPL(Q) − ln PPL(P))
// Reported: mean KL ± its standard error (sample sd / √n over positions), max, median, 99th
// percentile; same-top fraction ± √(f(1−f)/n); PPL(Q), PPL(P) and PPL(Q)/PPL(P) = exp(mean ln-ratio)
// with the delta-method standard error. The models must share the vocabulary (checked by size).
#pragma once

#include "eval/scoring.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <vector>

namespace lowrank::eval {

/// Logits [n − 1, vocab] of a window of n tokens (row j predicts token j + 1).
using window_logits_fn = std::function<std::vector<float>(const std::vector<int>& window)>;

struct kl_result {
    std::size_t windows = 0, tokens = 0, vocab = 0;
    double kl_mean = 0, kl_stderr = 0, kl_max = 0, kl_median = 0, kl_p99 = 0;
    double same_top = 0, same_top_stderr = 0;
    double ppl_q = 0, ppl_base = 0, ppl_ratio = 0, ppl_ratio_stderr = 0;
};

namespace detail {
inline void log_softmax(const float* x, std::size_t n, std::vector<double>& out) {
    out.resize(n);
    double mx = x[0];
    for (std::size_t i = 1; i < n; ++i) mx = std::max(mx, double(x[i]));
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - mx);
    const double lse = mx + std::log(s);
    for (std::size_t i = 0; i < n; ++i) out[i] = double(x[i]) - lse;
}
inline double quantile(std::vector<double> v, double q) {  // linear interpolation (numpy's default)
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double pos = q * double(v.size() - 1);
    const auto lo = static_cast<std::size_t>(pos);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}
}  // namespace detail

inline kl_result evaluate_kl_divergence(const std::vector<int>& tokens, std::size_t context, std::size_t stride,
                                        std::size_t vocab, const window_logits_fn& base, const window_logits_fn& q,
                                        std::size_t max_windows = 0, const progress_fn& progress = {}) {
    kl_result r;
    r.vocab = vocab;
    auto ws = plan_windows(tokens.size(), context, stride);
    if (max_windows && ws.size() > max_windows) ws.resize(max_windows);
    std::vector<double> kls, ln_ratio;
    std::size_t same = 0;
    double nll_q = 0, nll_p = 0;
    std::vector<double> lp, lq;
    for (std::size_t k = 0; k < ws.size(); ++k) {
        const auto& w = ws[k];
        const std::vector<int> win(tokens.begin() + long(w.begin), tokens.begin() + long(w.end));
        const auto a = base(win), b = q(win);
        if (a.size() != (win.size() - 1) * vocab || b.size() != a.size())
            throw invalid_argument("kl divergence: the models' logits do not have the same shape (vocabularies differ?)");
        for (std::size_t i = w.score_from - w.begin; i < win.size(); ++i) {
            detail::log_softmax(a.data() + (i - 1) * vocab, vocab, lp);
            detail::log_softmax(b.data() + (i - 1) * vocab, vocab, lq);
            double kl = 0;
            std::size_t ap = 0, aq = 0;
            for (std::size_t v = 0; v < vocab; ++v) {
                kl += std::exp(lp[v]) * (lp[v] - lq[v]);
                if (lp[v] > lp[ap]) ap = v;
                if (lq[v] > lq[aq]) aq = v;
            }
            kls.push_back(std::max(0.0, kl));
            same += ap == aq;
            const auto t = static_cast<std::size_t>(win[i]);
            nll_p -= lp[t], nll_q -= lq[t];
            ln_ratio.push_back(lp[t] - lq[t]);
        }
        if (progress) progress(k + 1, ws.size());
    }
    r.windows = ws.size();
    r.tokens = kls.size();
    if (r.tokens == 0) return r;
    const double n = double(r.tokens);
    r.kl_mean = mean(kls), r.kl_stderr = stderr_of_mean(kls);
    r.kl_max = *std::max_element(kls.begin(), kls.end());
    r.kl_median = detail::quantile(kls, 0.5), r.kl_p99 = detail::quantile(kls, 0.99);
    r.same_top = double(same) / n, r.same_top_stderr = std::sqrt(r.same_top * (1 - r.same_top) / n);
    r.ppl_q = std::exp(nll_q / n), r.ppl_base = std::exp(nll_p / n);
    r.ppl_ratio = std::exp(mean(ln_ratio));
    r.ppl_ratio_stderr = r.ppl_ratio * stderr_of_mean(ln_ratio);
    return r;
}

}  // namespace lowrank::eval

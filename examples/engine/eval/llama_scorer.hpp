// Adapter: the runtime's Llama-family model + its GGUF tokenizer (BPE or SentencePiece) as an eval::lm_scorer,
// with lm-evaluation-harness's request encoding (HFLM._encode_pair / _loglikelihood_tokens):
//   - trailing whitespace of the context (Python str.rstrip(): Unicode whitespace) moves to the
//     front of the continuation;
//   - context_enc = encode(context); continuation_enc = encode(context + continuation)[len(context_enc):];
//   - an empty context becomes the end-of-text token; no BOS is added (lm-eval's default for
//     causal models other than Gemma);
//   - the model input is (context_enc + continuation_enc)[−(max_length+1):][:-1].
// The model work is eval/continuation_scoring.hpp's: by default the context once per document and
// every continuation in one batched forward from its KV cache (exact: every choice shares
// context_enc); set_mode picks the per-request or shared-context way instead.
#pragma once

#include "eval/continuation_scoring.hpp"
#include "eval/scoring.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/llama.hpp"

#include <string>
#include <vector>

namespace lowrank::eval {

class llama_scorer : public lm_scorer {
public:
    llama_scorer(runtime::llama_model& model, const runtime::gguf_tokenizer& tok) : m_(model), tok_(tok) {}

    int document_start_token() const { return tok_.bos() >= 0 ? tok_.bos() : tok_.eos(); }

    std::vector<int> encode(const std::string& s) const { return tok_.encode(s, false); }

    std::vector<loglikelihood> score(const std::string& context_in, const std::vector<std::string>& continuations) override {
        std::vector<loglikelihood> out;
        // Split each pair lm-eval's way (the context part is the same for every continuation).
        std::string context = context_in;
        const std::string moved = context.substr(context.size() - python_rstrip_bytes(context));  // Python rstrip()
        context.resize(context.size() - moved.size());
        std::vector<int> ctx = context.empty() ? std::vector<int>{document_start_token()} : encode(context);
        std::vector<std::vector<int>> conts;
        std::size_t longest = 0;
        for (const auto& c : continuations) {
            std::vector<int> k;
            if (context.empty()) {
                k = encode(moved + c);
            } else {
                const auto whole = encode(context + moved + c);
                k.assign(whole.begin() + long(std::min(ctx.size(), whole.size())), whole.end());
            }
            longest = std::max(longest, k.size());
            conts.push_back(std::move(k));
        }
        const std::size_t max_len = m_.config().context;
        if (ctx.size() + longest > max_len + 1) {  // truncation needed: score each pair alone
            for (const auto& k : conts) out.push_back(score_truncated(ctx, k, max_len));
            return out;
        }
        return score_continuations(m_, ctx, conts, mode_);
    }

    /// How a document's continuations are run (eval/continuation_scoring.hpp; default batched).
    void set_mode(scoring_mode m) { mode_ = m; }

    /// log p(tokens[i] | tokens[<i]) for i in [from, n): one forward pass over the window.
    std::vector<double> window_logprobs(const std::vector<int>& tokens, std::size_t from) {
        runtime::kv_cache c = m_.make_cache(1, tokens.size());
        const auto logits = m_.forward(tokens.data(), tokens.size() - 1, c, true);
        const std::size_t V = m_.config().vocab;
        std::vector<double> lp;
        for (std::size_t i = from; i < tokens.size(); ++i) {
            const float* row = logits.data() + (i - 1) * V;
            lp.push_back(double(row[tokens[i]]) - runtime::log_sum_exp(row, V));
        }
        return lp;
    }

private:
    loglikelihood score_truncated(const std::vector<int>& ctx, const std::vector<int>& k, std::size_t max_len) {
        std::vector<int> all(ctx);
        all.insert(all.end(), k.begin(), k.end());
        if (all.size() > max_len + 1) all.erase(all.begin(), all.end() - long(max_len + 1));
        const std::size_t from = all.size() - k.size();  // continuation never truncated (k ≤ max_len)
        runtime::kv_cache c = m_.make_cache(1, all.size());
        const auto logits = m_.forward(all.data(), all.size() - 1, c, true);
        loglikelihood r;
        r.tokens = k.size(), r.greedy = true;
        for (std::size_t i = from; i < all.size(); ++i) detail::accumulate_token(logits.data() + (i - 1) * m_.config().vocab, m_.config().vocab, all[i], r);
        return r;
    }

    runtime::llama_model& m_;
    const runtime::gguf_tokenizer& tok_;
    scoring_mode mode_ = scoring_mode::batched;
};

}  // namespace lowrank::eval

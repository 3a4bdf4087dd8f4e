// BERT sentence-embedding metrics that need no fine-tuning (all-MiniLM-L6-v2 style encoders):
//   - MRPC paraphrase detection: predict "paraphrase" when cos(e1, e2) ≥ τ; τ maximises accuracy
//     on the calibration split and is then applied to the evaluation split (acc, F1).
//   - SST-2 sentiment: nearest centroid (cosine) of the unit-normalised embeddings; centroids
//     from the calibration split, accuracy on the evaluation split.
//   - Agreement: mean cosine between a decomposed model's embeddings and the dense model's.
// Splits: the GLUE validation set (the only labelled split shipped) is split by position —
// even rows calibrate, odd rows evaluate — so the choice never sees the evaluation rows.
// Embeddings are unit vectors, [n, dim] row-major.
#pragma once

#include "eval/stats.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lowrank::eval {

inline double dot(const float* a, const float* b, std::size_t d) {
    double s = 0;
    for (std::size_t i = 0; i < d; ++i) s += double(a[i]) * b[i];
    return s;
}
inline double cosine(const float* a, const float* b, std::size_t d) {
    const double na = std::sqrt(dot(a, a, d)), nb = std::sqrt(dot(b, b, d));
    return na > 0 && nb > 0 ? dot(a, b, d) / (na * nb) : 0.0;
}

/// The threshold τ maximising accuracy of (score ≥ τ) == label; τ is the midpoint between
/// consecutive sorted scores (ties: the smallest such τ).
inline double best_threshold(const std::vector<double>& score, const std::vector<int>& label) {
    std::vector<std::size_t> o(score.size());
    for (std::size_t i = 0; i < o.size(); ++i) o[i] = i;
    std::sort(o.begin(), o.end(), [&](auto a, auto b) { return score[a] < score[b]; });
    long correct = 0;  // τ below everything: all predicted positive
    for (int l : label) correct += l == 1;
    long best = correct;
    double tau = o.empty() ? 0.0 : score[o[0]] - 1e-9;
    for (std::size_t i = 0; i < o.size(); ++i) {
        correct += label[o[i]] == 1 ? -1 : 1;  // o[i] now predicted negative
        if (i + 1 < o.size() && score[o[i + 1]] == score[o[i]]) continue;
        if (correct > best) {
            best = correct;
            tau = i + 1 < o.size() ? 0.5 * (score[o[i]] + score[o[i + 1]]) : score[o[i]] + 1e-9;
        }
    }
    return tau;
}

struct binary_metrics {
    std::size_t n = 0;
    double acc = 0, acc_stderr = 0, f1 = 0;
    std::vector<int> pred;  ///< the prediction (0/1) of each evaluated row, in order
};

inline binary_metrics score_binary(const std::vector<int>& pred, const std::vector<int>& label) {
    binary_metrics m;
    std::vector<double> hit;
    double tp = 0, fp = 0, fn = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) {
        hit.push_back(pred[i] == label[i]);
        tp += pred[i] == 1 && label[i] == 1;
        fp += pred[i] == 1 && label[i] == 0;
        fn += pred[i] == 0 && label[i] == 1;
    }
    m.n = pred.size();
    m.pred = pred;
    m.acc = mean(hit), m.acc_stderr = stderr_of_mean(hit);
    m.f1 = tp > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
    return m;
}

/// MRPC: pairs' cosine similarities and labels for calibration and evaluation rows.
struct threshold_result {
    double threshold = 0;
    binary_metrics eval;
};
inline threshold_result paraphrase_by_threshold(const std::vector<double>& cal_score, const std::vector<int>& cal_label,
                                                const std::vector<double>& score, const std::vector<int>& label) {
    threshold_result r;
    r.threshold = best_threshold(cal_score, cal_label);
    std::vector<int> pred;
    for (double s : score) pred.push_back(s >= r.threshold ? 1 : 0);
    r.eval = score_binary(pred, label);
    return r;
}

/// SST-2: nearest centroid by cosine. emb rows are sentences; labels 0/1.
inline binary_metrics nearest_centroid(const std::vector<float>& cal, const std::vector<int>& cal_label,
                                       const std::vector<float>& emb, const std::vector<int>& label, std::size_t d) {
    std::vector<double> c[2] = {std::vector<double>(d), std::vector<double>(d)};
    for (std::size_t i = 0; i < cal_label.size(); ++i)
        for (std::size_t j = 0; j < d; ++j) c[cal_label[i]][j] += cal[i * d + j];
    std::vector<float> cf[2] = {std::vector<float>(d), std::vector<float>(d)};
    for (int k = 0; k < 2; ++k)
        for (std::size_t j = 0; j < d; ++j) cf[k][j] = float(c[k][j]);
    std::vector<int> pred;
    for (std::size_t i = 0; i < label.size(); ++i)
        pred.push_back(cosine(emb.data() + i * d, cf[1].data(), d) > cosine(emb.data() + i * d, cf[0].data(), d) ? 1 : 0);
    return score_binary(pred, label);
}

}  // namespace lowrank::eval

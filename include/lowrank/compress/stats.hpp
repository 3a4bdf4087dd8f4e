// Calibration statistics of one linear-layer input: the data every activation-aware method
// (whitened SVD, ASVD, refits, allocation) consumes instead of raw activations.
//
// Notation (used by every compress/ header). A linear layer y = W x has W of shape [m, n]
// (PyTorch [out, in]). Calibration runs N tokens through the model; x_t ∈ Rⁿ is the input the
// layer sees for token t, and X = [x_1 … x_N] ∈ R^{n×N} (the runtime hands these over as N
// rows of n floats, i.e. Xᵀ in row-major order). The statistics are
//   H = X Xᵀ = Σ_t x_t x_tᵀ          [n, n]  Gram matrix, symmetric positive semi-definite
//   a = Σ_t |x_t|                      [n]     per-channel sum of |x| (mean |x| = a / N)
//   N                                          token count
// and, in the two-stream ("sequential") mode where the layer's input comes from a model whose
// earlier layers are already compressed (X) while X̄ is the dense model's input for the same
// tokens,
//   C = X̄ Xᵀ = Σ_t x̄_t x_tᵀ          [n, n]  cross-Gram (not symmetric)
//   H̄ = X̄ X̄ᵀ                         [n, n]  Gram of the dense-model inputs.
// Output errors are then quadratic forms: ‖(W − W′)X‖²_F = tr((W − W′) H (W − W′)ᵀ).
//
// Everything is summed (not averaged) in float64, so statistics of disjoint token sets merge
// by addition (threads, windows, files).
//
// Streaming. A 7B layer's four Grams take ~1.4 GB, so calibration must never hold all layers:
// run the model layer by layer over all windows (keeping only the hidden states between
// layers), make one stats_accumulator per distinct input of the current layer, take() its
// input_stats when the layer is done, hand it to a stats_writer (compress/stats_file.hpp) and
// drop it before the next layer. The same loop gives the sequential mode: the hidden states
// passed on are those of the already-compressed layer.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/detail/host.hpp"
#include "lowrank/core/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

/// Calibration statistics of one linear-layer input (see the header comment for the maths).
struct input_stats {
    std::size_t channels = 0;        ///< n
    std::uint64_t tokens = 0;        ///< N
    std::vector<double> gram;        ///< [n, n] H = Σ_t x_t x_tᵀ (row-major)
    std::vector<double> abs_sum;     ///< [n] Σ_t |x_t|
    std::vector<double> cross;       ///< [n, n] C = Σ_t x̄_t x_tᵀ; empty unless two-stream
    std::vector<double> ref_gram;    ///< [n, n] H̄ = Σ_t x̄_t x̄_tᵀ; empty unless two-stream

    /// All-zero statistics of n channels (with the two-stream parts when asked).
    static input_stats zeros(std::size_t n, bool two_stream = false) {
        input_stats s;
        s.channels = n;
        s.gram.assign(n * n, 0.0);
        s.abs_sum.assign(n, 0.0);
        if (two_stream) {
            s.cross.assign(n * n, 0.0);
            s.ref_gram.assign(n * n, 0.0);
        }
        return s;
    }

    bool two_stream() const { return !cross.empty(); }

    /// Per-channel mean |x| = a / N (zeros when no token was seen).
    std::vector<double> mean_abs() const {
        std::vector<double> m(abs_sum.size(), 0.0);
        if (tokens > 0)
            for (std::size_t j = 0; j < m.size(); ++j) m[j] = abs_sum[j] / static_cast<double>(tokens);
        return m;
    }

    /// Throws shape_error unless the vectors have the sizes `channels` implies (gram n², abs_sum
    /// n, and cross/ref_gram both n² or both empty).
    void validate_shape(const std::string& what = "input_stats") const {
        const std::size_t n = channels, n2 = n * n;
        auto bad = [&](const char* part, std::size_t got, std::size_t want) {
            throw shape_error(what + ": " + part + " holds " + std::to_string(got) + " values, expected " +
                              std::to_string(want) + " for " + std::to_string(n) + " channels");
        };
        if (gram.size() != n2) bad("gram", gram.size(), n2);
        if (abs_sum.size() != n) bad("abs_sum", abs_sum.size(), n);
        if (cross.size() != ref_gram.size() || (!cross.empty() && cross.size() != n2))
            bad("cross/ref_gram", cross.size(), n2);
    }

    /// Adds the statistics of a disjoint token set: every sum and the token count add up.
    /// Throws shape_error when the channel counts or the two-stream modes differ.
    void merge(const input_stats& other) {
        validate_shape("input_stats::merge (target)");
        other.validate_shape("input_stats::merge (source)");
        if (other.channels != channels || other.two_stream() != two_stream())
            throw shape_error("input_stats::merge: cannot merge statistics of " + std::to_string(other.channels) +
                              " channels" + (other.two_stream() ? " (two-stream)" : "") + " into " +
                              std::to_string(channels) + (two_stream() ? " (two-stream)" : ""));
        auto add = [](std::vector<double>& a, const std::vector<double>& b) {
            for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
        };
        add(gram, other.gram);
        add(abs_sum, other.abs_sum);
        add(cross, other.cross);
        add(ref_gram, other.ref_gram);
        tokens += other.tokens;
    }
};

/// A mutex-guarded input_stats that several threads merge their partial statistics into
/// (each thread accumulates privately with its own stats_accumulator, then merges once).
class shared_input_stats {
public:
    explicit shared_input_stats(std::size_t channels, bool two_stream = false)
        : stats_(input_stats::zeros(channels, two_stream)) {}
    /// Thread-safe: adds `part` (same channels and mode; shape_error otherwise).
    void merge(const input_stats& part) {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.merge(part);
    }
    /// The merged statistics; the object is reset to zeros. Thread-safe.
    input_stats take() {
        std::lock_guard<std::mutex> lock(mutex_);
        input_stats out = std::move(stats_);
        stats_ = input_stats::zeros(out.channels, out.two_stream());
        return out;
    }

private:
    std::mutex mutex_;
    input_stats stats_;
};

/// Streaming accumulation of input_stats from float32 activation rows on any backend.
///
/// Rows are taken `chunk_rows` at a time, widened to float64 on the host and uploaded; the
/// Grams grow by one SYRK (and, two-stream, one GEMM for C) per chunk on the backend, so the
/// sums are float64 sums of exact float64 products of the float32 inputs. Memory: the n×n
/// float64 sums (three of them two-stream) on the backend plus one chunk. One accumulator is
/// not thread-safe; give each thread its own and merge (input_stats::merge,
/// shared_input_stats).
template <backend_context Ctx>
class stats_accumulator {
public:
    using backend = backend_of<Ctx>;

    /// n = channels > 0; chunk_rows > 0 (invalid_argument / shape_error otherwise).
    stats_accumulator(Ctx& ctx, std::size_t channels, bool two_stream = false, std::size_t chunk_rows = 256)
        : ctx_(&ctx), n_(channels), two_stream_(two_stream), chunk_(chunk_rows) {
        if (n_ == 0) throw shape_error("stats_accumulator: 0 channels");
        if (chunk_ == 0) throw invalid_argument("stats_accumulator: chunk_rows must be positive");
        reset();
    }

    std::size_t channels() const { return n_; }
    bool two_stream() const { return two_stream_; }
    std::uint64_t tokens() const { return tokens_; }

    /// Adds `count` tokens: rows[t·ld + j] = x_t[j] (ld ≥ n; 0 means n). Single-stream only
    /// (invalid_argument otherwise). If any value is NaN/Inf nothing is added and
    /// status::nonfinite_input is returned; otherwise status::ok.
    status add(const float* rows, std::size_t count, std::size_t ld = 0) {
        if (two_stream_) throw invalid_argument("stats_accumulator::add: two-stream statistics need add_pair");
        return add_impl(rows, nullptr, count, ld);
    }
    /// add() for a row-major block of whole rows (size a multiple of n; shape_error otherwise).
    status add(std::span<const float> rows) {
        if (rows.size() % n_ != 0)
            throw shape_error("stats_accumulator::add: " + std::to_string(rows.size()) + " values are not whole rows of " +
                              std::to_string(n_));
        return add(rows.data(), rows.size() / n_, n_);
    }

    /// Two-stream: adds `count` tokens with x_t = rows (the compressed-path input) and
    /// x̄_t = ref_rows (the dense model's input for the same token), both with row stride ld.
    /// Same NaN/Inf rule as add().
    status add_pair(const float* rows, const float* ref_rows, std::size_t count, std::size_t ld = 0) {
        if (!two_stream_) throw invalid_argument("stats_accumulator::add_pair: single-stream statistics need add");
        return add_impl(rows, ref_rows, count, ld);
    }

    /// The accumulated statistics (downloaded to the host); the accumulator restarts at zero.
    input_stats take() {
        input_stats s;
        s.channels = n_;
        s.tokens = tokens_;
        s.gram = detail::compress::to_host(*ctx_, gram_);
        s.abs_sum = abs_sum_;
        if (two_stream_) {
            s.cross = detail::compress::to_host(*ctx_, cross_);
            s.ref_gram = detail::compress::to_host(*ctx_, ref_gram_);
        }
        reset();
        return s;
    }

private:
    void reset() {
        using B = backend;
        gram_ = B::template zeros<double>(*ctx_, {n_, n_});
        if (two_stream_) {
            cross_ = B::template zeros<double>(*ctx_, {n_, n_});
            ref_gram_ = B::template zeros<double>(*ctx_, {n_, n_});
        }
        abs_sum_.assign(n_, 0.0);
        tokens_ = 0;
    }

    status add_impl(const float* rows, const float* ref_rows, std::size_t count, std::size_t ld) {
        using B = backend;
        if (ld == 0) ld = n_;
        if (ld < n_) throw shape_error("stats_accumulator: row stride " + std::to_string(ld) + " < " + std::to_string(n_));
        if (count == 0) return status::ok;
        for (std::size_t t = 0; t < count; ++t)
            for (std::size_t j = 0; j < n_; ++j)
                if (!std::isfinite(rows[t * ld + j]) || (ref_rows && !std::isfinite(ref_rows[t * ld + j])))
                    return status::nonfinite_input;
        std::vector<double> x, xr;
        for (std::size_t t0 = 0; t0 < count; t0 += chunk_) {
            const std::size_t k = std::min(chunk_, count - t0);
            widen(rows + t0 * ld, k, ld, x);
            for (std::size_t t = 0; t < k; ++t)
                for (std::size_t j = 0; j < n_; ++j) abs_sum_[j] += std::abs(x[t * n_ + j]);
            auto dx = B::template upload<double>(*ctx_, x.data(), {k, n_});
            B::syrk(*ctx_, op::trans, n_, k, 1.0, B::data(dx), n_, 1.0, B::data(gram_), n_);
            if (ref_rows) {
                widen(ref_rows + t0 * ld, k, ld, xr);
                auto dr = B::template upload<double>(*ctx_, xr.data(), {k, n_});
                B::gemm(*ctx_, op::trans, op::none, n_, n_, k, 1.0, B::data(dr), n_, B::data(dx), n_, 1.0,
                        B::data(cross_), n_);
                B::syrk(*ctx_, op::trans, n_, k, 1.0, B::data(dr), n_, 1.0, B::data(ref_gram_), n_);
            }
        }
        tokens_ += count;
        return status::ok;
    }

    void widen(const float* src, std::size_t k, std::size_t ld, std::vector<double>& out) const {
        out.resize(k * n_);
        for (std::size_t t = 0; t < k; ++t)
            for (std::size_t j = 0; j < n_; ++j) out[t * n_ + j] = static_cast<double>(src[t * ld + j]);
    }

    Ctx* ctx_;
    std::size_t n_;
    bool two_stream_;
    std::size_t chunk_;
    tensor_t<backend, double> gram_, cross_, ref_gram_;
    std::vector<double> abs_sum_;
    std::uint64_t tokens_ = 0;
};

}  // namespace lowrank

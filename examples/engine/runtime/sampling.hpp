// Token selection: greedy (temperature 0) or temperature sampling (optionally top-k), with an
// explicit seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace lowrank::runtime {

class sampler {
public:
    explicit sampler(float temperature = 0.f, std::uint64_t seed = 0, std::size_t top_k = 0)
        : temperature_(temperature), top_k_(top_k), rng_(seed) {}

    int operator()(const float* logits, std::size_t vocab) {
        if (temperature_ <= 0.f) return static_cast<int>(std::max_element(logits, logits + vocab) - logits);
        std::vector<std::pair<float, int>> c(vocab);
        for (std::size_t i = 0; i < vocab; ++i) c[i] = {logits[i] / temperature_, static_cast<int>(i)};
        std::size_t k = (top_k_ == 0 || top_k_ > vocab) ? vocab : top_k_;
        if (k < vocab)
            std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k), c.end(),
                              [](auto& a, auto& b) { return a.first > b.first; });
        float mx = c[0].first;
        for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, c[i].first);
        std::vector<double> p(k);
        for (std::size_t i = 0; i < k; ++i) p[i] = std::exp(double(c[i].first - mx));
        std::discrete_distribution<std::size_t> dist(p.begin(), p.end());
        return c[dist(rng_)].second;
    }

private:
    float temperature_;
    std::size_t top_k_;
    std::mt19937_64 rng_;
};

}  // namespace lowrank::runtime

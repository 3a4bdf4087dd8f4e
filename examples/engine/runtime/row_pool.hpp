// A small persistent thread pool for the runtime's own row-parallel kernels (the bf16 weight
// kernels); GEMMs use OpenBLAS's threads instead.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace lowrank::runtime {

/// A fixed set of worker threads that split a row range with the calling thread. Workers spin
/// briefly for the next job (decode issues hundreds of small jobs per token) and then sleep.
class row_pool {
public:
    explicit row_pool(unsigned threads) {
        for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
    }
    ~row_pool() {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
            epoch_.fetch_add(1);
        }
        cv_.notify_all();
        for (auto& t : workers_) t.join();
    }
    row_pool(const row_pool&) = delete;
    row_pool& operator=(const row_pool&) = delete;

    unsigned size() const { return unsigned(workers_.size()) + 1; }

    /// Calls f(begin, end) on size() contiguous parts of [0, n); returns when all are done.
    void run(std::size_t n, const std::function<void(std::size_t, std::size_t)>& f) {
        if (workers_.empty() || n < 2 * size()) {
            f(0, n);
            return;
        }
        job_ = &f, n_ = n;
        pending_.store(int(workers_.size()));
        {
            std::lock_guard<std::mutex> lk(m_);
            epoch_.fetch_add(1);
        }
        cv_.notify_all();
        slice(0);
        while (pending_.load(std::memory_order_acquire) != 0) pause();
    }

private:
    static void pause() {
#if defined(__x86_64__) || defined(__i386__)
        _mm_pause();
#else
        std::this_thread::yield();
#endif
    }
    void slice(unsigned part) {
        const std::size_t parts = size(), b = n_ * part / parts, e = n_ * (part + 1) / parts;
        if (b < e) (*job_)(b, e);
    }
    void work(unsigned part) {
        std::uint64_t seen = 0;
        for (;;) {
            int spins = 0;
            while (epoch_.load(std::memory_order_acquire) == seen && spins < 20000) pause(), ++spins;
            if (epoch_.load(std::memory_order_acquire) == seen) {
                std::unique_lock<std::mutex> lk(m_);
                cv_.wait(lk, [&] { return epoch_.load() != seen; });
            }
            seen = epoch_.load(std::memory_order_acquire);
            if (stop_) return;
            slice(part);
            pending_.fetch_sub(1, std::memory_order_release);
        }
    }

    std::vector<std::thread> workers_;
    std::mutex m_;
    std::condition_variable cv_;
    std::atomic<std::uint64_t> epoch_{0};
    std::atomic<int> pending_{0};
    bool stop_ = false;
    const std::function<void(std::size_t, std::size_t)>* job_ = nullptr;
    std::size_t n_ = 0;
};

}  // namespace lowrank::runtime

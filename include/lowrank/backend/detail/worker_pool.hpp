// A small fixed pool of worker threads for the CPU backend's own parallel kernels (the
// mode-n product kernel); BLAS/LAPACK calls keep using OpenBLAS's threads.
//
// run(f) calls f(part) for every part in [0, size()) concurrently and returns when all are
// done; the calling thread runs part 0, so a pool of size 1 starts no thread at all. Workers
// block on a condition variable between jobs (no spinning: the jobs are milliseconds long and
// the machine may be shared). Concurrent run() calls on one pool are serialised. f must not
// throw (allocate before run()).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lowrank::detail {

class worker_pool {
public:
    explicit worker_pool(unsigned threads) {
        for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
    }
    ~worker_pool() {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
            ++epoch_;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    unsigned size() const { return unsigned(workers_.size()) + 1; }

    void run(const std::function<void(unsigned)>& f) {
        if (workers_.empty()) {
            f(0);
            return;
        }
        std::lock_guard<std::mutex> serial(run_m_);
        {
            std::lock_guard<std::mutex> lk(m_);
            job_ = &f;
            pending_ = unsigned(workers_.size());
            ++epoch_;
        }
        wake_.notify_all();
        f(0);
        std::unique_lock<std::mutex> lk(m_);
        done_.wait(lk, [&] { return pending_ == 0; });
        job_ = nullptr;
    }

private:
    void work(unsigned part) {
        std::uint64_t seen = 0;
        for (;;) {
            const std::function<void(unsigned)>* job = nullptr;
            {
                std::unique_lock<std::mutex> lk(m_);
                wake_.wait(lk, [&] { return epoch_ != seen; });
                seen = epoch_;
                if (stop_) return;
                job = job_;
            }
            (*job)(part);
            std::lock_guard<std::mutex> lk(m_);
            if (--pending_ == 0) done_.notify_one();
        }
    }

    std::vector<std::thread> workers_;
    std::mutex m_, run_m_;
    std::condition_variable wake_, done_;
    std::uint64_t epoch_ = 0;
    unsigned pending_ = 0;
    bool stop_ = false;
    const std::function<void(unsigned)>* job_ = nullptr;
};

}  // namespace lowrank::detail

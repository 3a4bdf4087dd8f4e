// A fixed pool of worker threads computing f(0) … f(n−1) and handing the results back in
// index order, with at most `window` results computed but not yet taken (so memory stays
// bounded by window × one result). Used by `lowrank decompose` to decompose tensors in
// parallel while the writer streams them out in file order.
//
// Optional byte budget (pool_budget): task i has an estimated cost c_i (bytes it holds at its
// peak, result included). Tasks are admitted strictly in index order while the costs of the
// admitted tasks not yet released stay within the budget; task i is released when the consumer
// takes i + 1 (by then it has finished with result i) or the pool stops. The oldest unreleased
// task is always admitted when nothing else is held, so the pool cannot deadlock; a task whose
// cost alone exceeds the budget runs alone (callers refuse such budgets up front). The peak of
// the tasks' memory is then ≤ max(budget, the largest c_i), whatever the thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace lowrank::cli {

/// A byte budget over the tasks in flight (bytes 0: none).
struct pool_budget {
    std::uint64_t bytes = 0;
    std::function<std::uint64_t(std::size_t)> cost;  ///< estimated peak bytes of task i
};

template <class R>
class ordered_pool {
public:
    /// `init(worker)` runs once on each worker thread before its first task (per-thread setup).
    ordered_pool(std::size_t n, std::size_t threads, std::size_t window, std::function<R(std::size_t)> f,
                 std::function<void(std::size_t)> init = {}, pool_budget budget = {})
        : n_(n), window_(window ? window : 1), f_(std::move(f)), slots_(n), errors_(n), budget_(budget.bytes) {
        if (budget_ && budget.cost) {
            cost_.resize(n);
            for (std::size_t i = 0; i < n; ++i) cost_[i] = budget.cost(i);
        }
        if (threads == 0) threads = 1;
        for (std::size_t w = 0; w < threads; ++w)
            workers_.emplace_back([this, w, init] {
                if (init) init(w);
                work();
            });
    }
    ordered_pool(const ordered_pool&) = delete;
    ordered_pool& operator=(const ordered_pool&) = delete;
    ~ordered_pool() { stop(); }

    /// Result i (each index taken once, in increasing order); rethrows the task's exception.
    R take(std::size_t i) {
        std::unique_lock lock(m_);
        if (!cost_.empty() && i > 0 && released_ < i) {  // the consumer is done with result i − 1
            held_ -= cost_[i - 1];
            released_ = i;
            space_cv_.notify_all();
        }
        done_cv_.wait(lock, [&] { return slots_[i].has_value() || errors_[i] || stopping_; });
        if (errors_[i]) {
            auto e = errors_[i];
            lock.unlock();
            stop();
            std::rethrow_exception(e);
        }
        if (!slots_[i]) throw std::runtime_error("ordered_pool: stopped");
        R r = std::move(*slots_[i]);
        slots_[i].reset();
        taken_ = i + 1;
        lock.unlock();
        space_cv_.notify_all();
        return r;
    }

    /// The most bytes of admitted, unreleased tasks' estimates ever held at once (budget only).
    std::uint64_t peak_held_bytes() const {
        std::lock_guard lock(m_);
        return peak_held_;
    }

    /// Cancels pending tasks and joins the workers (running tasks finish first).
    void stop() {
        {
            std::lock_guard lock(m_);
            stopping_ = true;
        }
        space_cv_.notify_all();
        done_cv_.notify_all();
        for (auto& t : workers_)
            if (t.joinable()) t.join();
    }

private:
    void work() {
        for (;;) {
            std::size_t i;
            {
                std::unique_lock lock(m_);
                space_cv_.wait(lock, [&] { return stopping_ || next_ >= n_ || (next_ < taken_ + window_ && fits(next_)); });
                if (stopping_ || next_ >= n_) return;
                i = next_++;
                if (!cost_.empty()) held_ += cost_[i], peak_held_ = std::max(peak_held_, held_);
            }
            std::optional<R> r;
            std::exception_ptr e;
            try {
                r.emplace(f_(i));
            } catch (...) {
                e = std::current_exception();
            }
            {
                std::lock_guard lock(m_);
                if (e) errors_[i] = e;
                else slots_[i] = std::move(r);
            }
            done_cv_.notify_all();
        }
    }

    /// Task i may start: no budget, nothing held, or its cost fits beside what is held.
    bool fits(std::size_t i) const { return cost_.empty() || held_ == 0 || held_ + cost_[i] <= budget_; }

    std::size_t n_, window_;
    std::function<R(std::size_t)> f_;
    std::vector<std::optional<R>> slots_;
    std::vector<std::exception_ptr> errors_;
    std::vector<std::thread> workers_;
    std::uint64_t budget_ = 0, held_ = 0, peak_held_ = 0;
    std::size_t released_ = 0;  // tasks 0 .. released_ − 1 no longer count against the budget
    std::vector<std::uint64_t> cost_;  // empty: no budget
    mutable std::mutex m_;
    std::condition_variable space_cv_, done_cv_;
    std::size_t next_ = 0, taken_ = 0;
    bool stopping_ = false;
};

}  // namespace lowrank::cli

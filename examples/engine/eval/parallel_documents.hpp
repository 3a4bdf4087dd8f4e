// Runs one function per document on several workers (one scorer each), in parallel threads.
// Documents are handed out in order; each result goes to the document's own slot, so the
// outcome does not depend on which worker scored which document or on the number of workers.
#pragma once

#include "lowrank/core/errors.hpp"

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lowrank::eval {

/// Calls fn(*workers[w], i) exactly once for every i in [0, n), with no worker used by two threads
/// at once. One worker: in the calling thread. Several: one thread per worker. progress(done, n),
/// when given, is called after each document, from one thread at a time, with done increasing.
/// The first exception a call throws stops the hand-out and is rethrown here once every thread
/// has finished its current document.
template <class Worker>
void for_each_document(std::size_t n, const std::vector<Worker*>& workers,
                       const std::function<void(Worker&, std::size_t)>& fn,
                       const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    if (workers.empty()) throw invalid_argument("for_each_document: no workers");
    if (workers.size() == 1) {
        for (std::size_t i = 0; i < n; ++i) {
            fn(*workers[0], i);
            if (progress) progress(i + 1, n);
        }
        return;
    }
    std::atomic<std::size_t> next{0};
    std::mutex m;
    std::size_t done = 0;
    std::exception_ptr failure;
    auto run = [&](Worker& w) {
        for (std::size_t i; (i = next.fetch_add(1)) < n;) {
            try {
                fn(w, i);
                const std::lock_guard<std::mutex> lock(m);
                if (!failure && progress) progress(++done, n);
            } catch (...) {  // (the lock above is released before this handler runs)
                const std::lock_guard<std::mutex> lock(m);
                if (!failure) failure = std::current_exception();
                next.store(n);
                return;
            }
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(workers.size());
    try {
        for (Worker* w : workers) threads.emplace_back(run, std::ref(*w));
    } catch (...) {  // a thread could not be started: stop the others, then report it
        next.store(n);
        for (auto& t : threads) t.join();
        throw;
    }
    for (auto& t : threads) t.join();
    if (failure) std::rethrow_exception(failure);
}

}  // namespace lowrank::eval

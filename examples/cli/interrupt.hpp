// SIGINT/SIGTERM during a long command: while an interrupt_scope lives, either signal only sets a
// flag (the command polls it and stops cleanly, writing nothing); the previous handlers are
// restored when the scope ends. One scope at a time (the CLI runs one command per process).
#pragma once

#include <atomic>
#include <csignal>

namespace lowrank::cli {

namespace detail {
inline std::atomic<bool> interrupt_requested{false};
extern "C" inline void on_interrupt_signal(int) { interrupt_requested.store(true); }
}  // namespace detail

class interrupt_scope {
public:
    interrupt_scope()
        : old_int_(std::signal(SIGINT, detail::on_interrupt_signal)), old_term_(std::signal(SIGTERM, detail::on_interrupt_signal)) {
        detail::interrupt_requested = false;
    }
    ~interrupt_scope() {
        std::signal(SIGINT, old_int_);
        std::signal(SIGTERM, old_term_);
    }
    interrupt_scope(const interrupt_scope&) = delete;
    interrupt_scope& operator=(const interrupt_scope&) = delete;

    /// True once SIGINT or SIGTERM arrived inside this scope.
    static bool requested() { return detail::interrupt_requested.load(); }

private:
    using handler = void (*)(int);
    handler old_int_, old_term_;
};

}  // namespace lowrank::cli

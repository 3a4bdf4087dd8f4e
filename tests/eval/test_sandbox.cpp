// The code sandbox (eval/sandbox.hpp, eval/code_exec.hpp) and HumanEval's harness parts
// (eval/humaneval.hpp) on tiny generated problems — no model, no download:
//   - a correct solution passes; each deliberately broken completion (infinite loop, sleep,
//     fork bomb, huge allocation, megabytes of output, a huge file, writing outside the working
//     directory, a network connection, early exits, killing its process group, a detached
//     sleeper, a wrong answer, an exception) fails with its expected status, and afterwards no
//     file exists outside the working directory and no process of the sandbox uid survives;
//   - the classifier on crafted outcomes (a forged report, exit status, signals);
//   - the program layout and the stop sequences of the OpenAI harness / lm-eval (by hand);
//   - the resumable run log (resume, a torn last line, a log of another run).
// The interpreter is /usr/bin/python3 (readable by the unprivileged sandbox user); without it
// the execution cases print SKIPPED. With the cached humaneval.jsonl, the first 10 canonical
// solutions must pass (all 164: `lowrank humaneval-exec --canonical`).
#include "eval/humaneval.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include <sys/stat.h>
#include <unistd.h>

using namespace lowrank::eval;
namespace fs = std::filesystem;

namespace {

const char* python() { return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : nullptr; }

humaneval::problem tiny_problem() {
    return {"tiny/0", "def add(a, b):\n    \"\"\"Return a + b.\n    >>> add(1, 2)\n    3\n    \"\"\"\n", "    return a + b\n",
            "\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n", "add"};
}

/// Tight limits so that the slow cases stay short.
sandbox::limits test_limits() {
    sandbox::limits l;
    l.wall_seconds = 4, l.cpu_seconds = 1, l.memory_bytes = 512u << 20, l.file_bytes = 4u << 20;
    l.output_bytes = 256u << 10, l.processes = 16;
    return l;
}

std::size_t processes_of(uid_t uid) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator("/proc")) {
        const auto name = e.path().filename().string();
        if (name.empty() || name[0] < '0' || name[0] > '9') continue;
        struct stat st {};
        if (::stat(e.path().c_str(), &st) == 0 && st.st_uid == uid) ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("humaneval: program layout and stop sequences (OpenAI harness / lm-eval humaneval)") {
    const auto p = tiny_problem();
    // human-eval's check_program: prompt + completion + "\n" + test + "\n" + f"check({entry_point})"
    CHECK(humaneval::program(p, "    return a + b\n") ==
          p.prompt + "    return a + b\n" + "\n" + p.test + "\n" + "check(add)");
    CHECK(humaneval::stop_sequences() == std::vector<std::string>{"\nclass", "\ndef", "\n#", "\nif", "\nprint"});
    CHECK(humaneval::expected_status("assertion|error", "error"));
    CHECK(humaneval::expected_status("timeout", "timeout"));
    CHECK_FALSE(humaneval::expected_status("assertion|error", "assert"));
    CHECK_FALSE(humaneval::expected_status("timeout", "passed"));
    // a scripted generation: the text is cut before the first stop sequence, even across tokens
    const std::vector<std::string> pieces{"    return", " a + b", "\n", "\n", "\nd", "ef other():"};
    std::size_t i = 0;
    auto g = gsm8k::generate_until([&](const std::vector<int>&) { return int(i++); }, [&](int t) { return pieces[t]; }, -1,
                                   humaneval::stop_sequences(), 100);
    CHECK(g.text == "    return a + b\n\n");
    CHECK(g.reason == "stop");
    // an indented comment is not the "\n#" stop
    i = 0;
    const std::vector<std::string> p2{"    x = 1\n", "    # note\n", "    return x\n", "#"};
    g = gsm8k::generate_until([&](const std::vector<int>&) { return int(i++); }, [&](int t) { return p2[t]; }, -1,
                              humaneval::stop_sequences(), 100);
    CHECK(g.text == "    x = 1\n    # note\n    return x");
    CHECK(humaneval::from_json({{"task_id", "t"}, {"prompt", "p"}, {"canonical_solution", "c"}, {"test", "x"},
                                {"entry_point", "f"}}).entry_point == "f");
    CHECK_THROWS_WITH_AS(humaneval::from_json({{"task_id", "t"}}), doctest::Contains("prompt"), lowrank::invalid_argument);
}

TEST_CASE("sandbox: the classifier on crafted outcomes") {
    const auto lim = test_limits();
    sandbox::outcome o;
    o.exited = true, o.exit_code = 0;
    o.report = "{\"nonce\": \"abc\", \"status\": \"passed\"}\n";
    CHECK(code_exec::classify(o, "abc", lim).status == "passed");
    CHECK(code_exec::classify(o, "xyz", lim).status == "crash");  // a report without our nonce is forged
    o.exit_code = 3;
    CHECK(code_exec::classify(o, "abc", lim).status == "crash");  // passed but a bad exit status
    o.exit_code = 0, o.report.clear();
    CHECK(code_exec::classify(o, "abc", lim).status == "crash");  // exited 0 before reporting
    auto exc = [&](const char* type, int err) {
        sandbox::outcome e;
        e.exited = true, e.exit_code = 0;
        e.report = nlohmann::json{{"nonce", "n"}, {"status", "exception"}, {"type", type}, {"message", "m"}, {"errno", err}}.dump();
        return code_exec::classify(e, "n", lim).status;
    };
    CHECK(exc("AssertionError", 0) == "assertion");
    CHECK(exc("MemoryError", 0) == "memory");
    CHECK(exc("OSError", EROFS) == "escape");
    CHECK(exc("PermissionError", EACCES) == "escape");
    CHECK(exc("OSError", ENETUNREACH) == "escape");
    CHECK(exc("BlockingIOError", EAGAIN) == "process_limit");
    CHECK(exc("OSError", EFBIG) == "output_cap");
    CHECK(exc("NameError", 0) == "error");
    CHECK(exc("SystemExit", 0) == "error");
    sandbox::outcome s;
    s.signal = SIGSYS;
    CHECK(code_exec::classify(s, "n", lim).status == "escape");
    s.signal = SIGKILL, s.cpu_seconds = lim.cpu_seconds + 1;
    CHECK(code_exec::classify(s, "n", lim).status == "timeout");
    s.cpu_seconds = 0.1;
    CHECK(code_exec::classify(s, "n", lim).status == "crash");
    s.signal = SIGSEGV;
    CHECK(code_exec::classify(s, "n", lim).status == "crash");
    s.signal = 0, s.timed_out = true;
    CHECK(code_exec::classify(s, "n", lim).status == "timeout");
    s.timed_out = false, s.output_capped = true;
    CHECK(code_exec::classify(s, "n", lim).status == "output_cap");
}

TEST_CASE("sandbox: a correct solution passes; broken completions fail, contained, with their reasons") {
    const char* py = python();
    if (!py) {
        std::cout << "SKIPPED sandbox execution: /usr/bin/python3 not found\n";
        return;
    }
    const auto lim = test_limits();
    const auto p = tiny_problem();
    const auto ok = code_exec::run_python(py, humaneval::program(p, p.canonical_solution), lim);
    CHECK_MESSAGE(ok.passed(), ok.status << ": " << ok.detail << " stderr: " << ok.run.err);
    const auto& iso = ok.run.iso;
    MESSAGE("isolation: namespaces " << iso.namespaces << ", read-only fs " << iso.readonly_filesystem << ", own uid "
                                     << iso.own_uid << ", seccomp " << iso.seccomp << (iso.notes.empty() ? "" : "; " + iso.notes));
    CHECK(iso.seccomp);
    if (::geteuid() == 0) {
        CHECK(iso.own_uid);
        if (!iso.namespaces) std::cout << "WARNING sandbox: running as root without namespaces: " << iso.notes << "\n";
    }
    const fs::path outside = fs::temp_directory_path() / "lowrank-humaneval-escape";
    const bool fs_protected = iso.readonly_filesystem || iso.own_uid;
    for (const auto& b : humaneval::broken_completions()) {
        CAPTURE(b.name);
        fs::remove("/tmp/lowrank-humaneval-escape");
        fs::remove(outside);
        const auto v = code_exec::run_python(py, humaneval::program(p, b.body), lim);
        MESSAGE(std::string(b.name) << ": " << v.status << " (" << v.detail << "), " << v.run.wall_seconds << " s");
        CHECK_FALSE(v.passed());
        const std::string want = b.expected;
        if (want == "escape" && !fs_protected && std::string(b.name).find("write") != std::string::npos) {
            std::cout << "SKIPPED sandbox '" << b.name << "': no read-only filesystem and no own uid here\n";
        } else {
            CHECK_MESSAGE(humaneval::expected_status(want, v.status), "expected " << want);
        }
        if (fs_protected) {
            CHECK_FALSE(fs::exists("/tmp/lowrank-humaneval-escape"));
            CHECK_FALSE(fs::exists(outside));
        }
        if (::geteuid() == 0) CHECK(processes_of(sandbox::sandbox_uid()) == 0);  // nothing survived
        CHECK(v.run.out.size() <= lim.kept_output);
    }
    fs::remove("/tmp/lowrank-humaneval-escape");
    fs::remove(outside);
}

TEST_CASE("humaneval: the run log resumes, drops a torn last line, and refuses another run's log") {
    const fs::path dir = fs::temp_directory_path() / ("lowrank-he-log-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "log.jsonl").string();
    const nlohmann::json header{{"humaneval_log", 1}, {"model_sha256", "m"}};
    {
        humaneval::run_log log(path, header);
        CHECK(log.resumed() == 0);
        humaneval::record r;
        r.task_id = "a", r.completion = "    return 1\n", r.status = "passed";
        log.add(r);
        r.task_id = "b", r.status = "assertion";
        log.add(r);
    }
    std::ofstream(path, std::ios::app) << "{\"task_id\": \"c\", \"compl";  // a run killed mid-write
    {
        humaneval::run_log log(path, header);
        CHECK(log.resumed() == 2);
        REQUIRE(log.find("a") != nullptr);
        CHECK(log.find("a")->passed());
        CHECK(log.find("b")->status == "assertion");
        CHECK(log.find("c") == nullptr);
        humaneval::record r;
        r.task_id = "c", r.status = "timeout";
        log.add(r);
    }
    {
        humaneval::run_log log(path, header);
        CHECK(log.resumed() == 3);  // the torn line was dropped, the new record kept
    }
    // evaluate() reuses logged problems instead of generating them again
    {
        humaneval::run_log log(path, header);
        std::vector<humaneval::problem> ps{{"a", "", "", "", "f"}, {"b", "", "", "", "f"}};
        std::size_t made = 0;
        const auto t = humaneval::evaluate(ps, [&](const humaneval::problem&) { ++made; return humaneval::record{}; },
                                           "/nonexistent/python", test_limits(), log);
        CHECK(made == 0);
        CHECK(t.resumed == 2);
        CHECK(t.pass_at_1 == doctest::Approx(0.5));
    }
    const std::string err = [&] {
        try {
            humaneval::run_log log(path, {{"humaneval_log", 1}, {"model_sha256", "other"}});
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string();
    }();
    CHECK(err.find("another run") != std::string::npos);
    CHECK(err.find(path) != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("humaneval: the first canonical solutions pass (cached data)") {
    const char* c = std::getenv("LOWRANK_CACHE");
    const char* home = std::getenv("HOME");
    const fs::path file = (c ? fs::path(c) : fs::path(home ? home : "/") / ".cache/lowrank") / "eval-data/humaneval.jsonl";
    const char* py = python();
    if (!fs::exists(file) || !py) {
        std::cout << "SKIPPED humaneval canonical: " << file.string() << " not cached (python3 scripts/fetch_assets.py --data)"
                  << " or no /usr/bin/python3\n";
        return;
    }
    std::ifstream in(file);
    std::string line;
    sandbox::limits lim;  // the evaluation's limits
    for (int i = 0; i < 10 && std::getline(in, line); ++i) {
        const auto p = humaneval::from_json(nlohmann::json::parse(line));
        CAPTURE(p.task_id);
        const auto v = code_exec::run_python(py, humaneval::program(p, p.canonical_solution), lim);
        CHECK_MESSAGE(v.passed(), v.status << ": " << v.detail);
    }
}

// lowrank humaneval-exec (--canonical | --completions FILE | --broken) [--data DIR] [--limit N]
//                        [--json OUT] [--python PATH]
// Executes HumanEval programs in the code sandbox (eval/sandbox.hpp, eval/code_exec.hpp) without
// a model: the canonical solutions (all must pass: a check of the data, the harness and the
// interpreter), completions from a JSONL file ({task_id, completion} per line; a `lowrank eval
// --humaneval-log` file works, its header line is skipped), or deliberately broken completions
// (eval/humaneval.hpp broken_completions, problem i gets kind i mod K; none may pass, each must
// end with its expected status, nothing may be written outside the working directory and no
// process may survive). Prints pass@1 and a line per status; exit status 1 when a --canonical
// solution fails or a --broken completion is not contained as expected.
#include "cli/command.hpp"
#include "eval/humaneval.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <sys/stat.h>

namespace cmd_humaneval_exec {

using namespace lowrank;
using nlohmann::json;
namespace fs = std::filesystem;
namespace he = eval::humaneval;

struct exec_args {
    std::string data, completions, json_out, python = "/usr/bin/python3";
    bool canonical = false, broken = false;
    std::size_t limit = 0;
};

std::string default_data_dir() {
    if (const char* c = std::getenv("LOWRANK_CACHE"); c && *c) return (fs::path(c) / "eval-data").string();
    const char* home = std::getenv("HOME");
    return (fs::path(home ? home : ".") / ".cache/lowrank/eval-data").string();
}

std::vector<he::problem> read_problems(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw cli::usage_error(file + ": cannot open (run python3 scripts/fetch_assets.py --data)");
    std::vector<he::problem> v;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        try {
            v.push_back(he::from_json(json::parse(line)));
        } catch (const std::exception& e) {
            throw std::runtime_error(file + ": line " + std::to_string(n) + ": " + e.what());
        }
    }
    return v;
}

/// Processes still owned by `uid` (what a contained run must leave: none).
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

int run(const exec_args& a) {
    if (int(a.canonical) + int(a.broken) + int(!a.completions.empty()) != 1)
        throw cli::usage_error("give exactly one of --canonical, --completions FILE, --broken");
    const std::string python = eval::code_exec::find_executable(a.python);
    if (python.empty()) throw cli::usage_error("--python " + a.python + ": not an executable");
    const std::string file = (fs::path(a.data.empty() ? default_data_dir() : a.data) / "humaneval.jsonl").string();
    auto problems = read_problems(file);
    if (a.limit && a.limit < problems.size()) problems.resize(a.limit);
    std::map<std::string, std::string> given;
    if (!a.completions.empty()) {
        std::ifstream in(a.completions);
        if (!in) throw cli::usage_error(a.completions + ": cannot open");
        std::string line;
        for (std::size_t n = 1; std::getline(in, line); ++n) {
            if (line.empty()) continue;
            try {
                const json j = json::parse(line);
                if (!j.contains("task_id")) continue;  // a --humaneval-log header
                given[j.at("task_id").get<std::string>()] = j.at("completion").get<std::string>();
            } catch (const std::exception& e) {
                throw std::runtime_error(a.completions + ": line " + std::to_string(n) + ": " + e.what());
            }
        }
    }
    const eval::sandbox::limits lim;
    const auto& kinds = he::broken_completions();
    const fs::path tmp = fs::temp_directory_path();
    const std::vector<fs::path> escapes{"/tmp/lowrank-humaneval-escape", tmp / "lowrank-humaneval-escape"};
    for (const auto& e : escapes) fs::remove(e);
    json outputs = json::array();
    std::map<std::string, std::size_t> by_status;
    std::size_t passed = 0, problems_bad = 0, n = 0;
    bool isolation_reported = false;
    for (std::size_t i = 0; i < problems.size(); ++i) {
        const auto& p = problems[i];
        std::string completion, expected;
        if (a.canonical) completion = p.canonical_solution, expected = "passed";
        else if (a.broken) completion = kinds[i % kinds.size()].body, expected = kinds[i % kinds.size()].expected;
        else if (auto it = given.find(p.task_id); it != given.end()) completion = it->second;
        else continue;
        const auto v = eval::code_exec::run_python(python, he::program(p, completion), lim);
        ++n;
        if (!isolation_reported) {
            const auto& iso = v.run.iso;
            std::cerr << "sandbox: namespaces " << (iso.namespaces ? "yes" : "no") << ", read-only filesystem "
                      << (iso.readonly_filesystem ? "yes" : "no") << ", own uid " << (iso.own_uid ? "yes" : "no")
                      << ", seccomp " << (iso.seccomp ? "yes" : "no") << (iso.notes.empty() ? "" : "; " + iso.notes) << "\n";
            isolation_reported = true;
        }
        passed += v.passed();
        ++by_status[v.status];
        json o{{"task_id", p.task_id}, {"status", v.status}, {"detail", v.detail}, {"cpu_s", v.run.cpu_seconds},
               {"wall_s", v.run.wall_seconds}};
        bool bad = false;
        if (a.canonical && !v.passed()) bad = true;
        if (a.broken) {
            o["kind"] = kinds[i % kinds.size()].name, o["expected"] = expected;
            for (const auto& e : escapes)
                if (fs::exists(e)) o["leak"] = "wrote " + e.string(), fs::remove(e), bad = true;
            if (::geteuid() == 0)
                if (const std::size_t left = processes_of(eval::sandbox::sandbox_uid()))
                    o["leak"] = std::to_string(left) + " processes survived", bad = true;
            if (v.passed() || !he::expected_status(expected, v.status)) bad = true;
        }
        if (bad) {
            ++problems_bad;
            std::cerr << p.task_id << ": " << v.status << " (" << v.detail << ")"
                      << (expected.empty() ? "" : ", expected " + expected) << (o.contains("leak") ? ", " + o["leak"].get<std::string>() : "")
                      << "\n";
        }
        outputs.push_back(o);
        std::cerr << "\r" << n << "/" << problems.size() << std::flush;
    }
    std::cerr << "\n";
    const double p1 = n ? double(passed) / double(n) : 0.0;
    std::cout << "programs\t" << n << "\npass@1\t" << p1 << "\n";
    for (const auto& [s, k] : by_status) std::cout << "status\t" << s << "\t" << k << "\n";
    if (a.canonical || a.broken) std::cout << "unexpected\t" << problems_bad << "\n";
    if (!a.json_out.empty()) {
        json j{{"mode", a.canonical ? "canonical" : a.broken ? "broken" : "completions"}, {"data", file},
               {"python", python}, {"programs", n}, {"pass_at_1", p1}, {"by_status", by_status},
               {"unexpected", problems_bad},
               {"limits", {{"wall_s", lim.wall_seconds}, {"cpu_s", lim.cpu_seconds}, {"memory_bytes", lim.memory_bytes},
                           {"file_bytes", lim.file_bytes}, {"processes", lim.processes}, {"output_bytes", lim.output_bytes}}},
               {"outputs", outputs}};
        const std::string t = a.json_out + ".tmp";
        std::ofstream(t) << j.dump(1) << "\n";
        fs::rename(t, a.json_out);
    }
    return problems_bad ? 1 : 0;
}

void install(CLI::App& app, int* exit_code) {
    auto a = std::make_shared<exec_args>();
    auto* sub = app.add_subcommand("humaneval-exec", "Execute HumanEval programs in the sandbox: canonical solutions, given completions, or broken ones");
    sub->add_flag("--canonical", a->canonical, "the canonical solutions (all must pass)");
    sub->add_option("--completions", a->completions, "JSONL of {task_id, completion} (e.g. a --humaneval-log file)");
    sub->add_flag("--broken", a->broken, "deliberately broken completions (loops, fork bomb, allocation, output, escapes)");
    sub->add_option("--data", a->data, "evaluation data directory (default ${LOWRANK_CACHE:-~/.cache/lowrank}/eval-data)");
    sub->add_option("--limit", a->limit, "first N problems");
    sub->add_option("--json", a->json_out, "write per-problem results to this file");
    sub->add_option("--python", a->python, "Python interpreter the programs run with (readable by an unprivileged user)");
    sub->callback([a, exit_code] { *exit_code = run(*a); });
}

const cli::registrar reg{"humaneval-exec", install};

}  // namespace cmd_humaneval_exec

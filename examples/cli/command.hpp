// Subcommand registry of the `lowrank` CLI.
//
// Each examples/cli/cmd_<name>.cpp defines a registration function and a static
// `lowrank::cli::registrar` that adds it to the registry; main.cpp builds the CLI11 app
// from the registry. Subcommand callbacks return the process exit code.
// A command file keeps its internals in `namespace cmd_<name>` rather than an anonymous
// namespace: the unity build (CMAKE_UNITY_BUILD, scripts/test.sh) compiles several command files
// as one translation unit, where two anonymous `install`/`reg` would collide.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lowrank::cli {

/// A subcommand: its name (for ordering the help text) and a function that adds it to the
/// app. The function must set `*exit_code` when its subcommand runs.
struct command {
    std::string name;
    std::function<void(CLI::App& app, int* exit_code)> install;
};

inline std::vector<command>& registry() {
    static std::vector<command> commands;
    return commands;
}

struct registrar {
    registrar(std::string name, std::function<void(CLI::App&, int*)> install) {
        registry().push_back({std::move(name), std::move(install)});
    }
};

/// Error for a bad command-line argument or input file detected after parsing; main
/// prints "lowrank <sub>: <message>" and exits with status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace lowrank::cli

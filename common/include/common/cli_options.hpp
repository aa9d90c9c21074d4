// The command-line plumbing every tablepub program shares (CLI11): the
// options they have in common and the way a parse ends.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace tablepub {

// A repeatable ZeroMQ endpoint list: --NAME EP --NAME EP2, or comma-separated
// in the flag or its environment variable.
CLI::Option* add_endpoints(CLI::App& app, const std::string& name, const std::string& env,
                           std::vector<std::string>& target, const std::string& help);

// A file option (a CURVE key file, an allow-list, ...), also read from env.
CLI::Option* add_file(CLI::App& app, const std::string& name, const std::string& env, std::string& target,
                      const std::string& help, const std::string& type_name = "FILE");

// --log-level, spdlog's levels, default as target holds it.
CLI::Option* add_log_level(CLI::App& app, const std::string& env, std::string& target);

// Parses args (without the program name). Returns the exit status when the
// parse ends the program: 0 after --help or --version (printed to out), 2
// after a usage error (one line "PROGRAM: what (see --help)" on err).
[[nodiscard]] std::optional<int> parse_command_line(CLI::App& app, const std::vector<std::string>& args,
                                                    const std::string& program, std::ostream& out, std::ostream& err);

// Reports a usage error found after parsing the way parse_command_line()
// does; returns the exit status 2.
int usage_error(std::ostream& err, const std::string& program, const std::string& message);

}  // namespace tablepub

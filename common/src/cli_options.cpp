#include "common/cli_options.hpp"

#include <CLI/CLI.hpp>

#include <ostream>

namespace tablepub {

CLI::Option* add_endpoints(CLI::App& app, const std::string& name, const std::string& env,
                           std::vector<std::string>& target, const std::string& help) {
    return app.add_option(name, target, help)->envname(env)->delimiter(',');
}

CLI::Option* add_file(CLI::App& app, const std::string& name, const std::string& env, std::string& target,
                      const std::string& help, const std::string& type_name) {
    return app.add_option(name, target, help)->envname(env)->type_name(type_name);
}

CLI::Option* add_log_level(CLI::App& app, const std::string& env, std::string& target) {
    return app.add_option("--log-level", target, "trace, debug, info, warn, error, critical or off")
        ->envname(env)
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
}

std::optional<int> parse_command_line(CLI::App& app, const std::vector<std::string>& args, const std::string& program,
                                      std::ostream& out, std::ostream& err) {
    // CLI11 takes the arguments last first.
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::Success& e) {
        return app.exit(e, out, err);
    } catch (const CLI::ParseError& e) {
        return usage_error(err, program, e.what());
    }
    return std::nullopt;
}

int usage_error(std::ostream& err, const std::string& program, const std::string& message) {
    err << program << ": " << message << " (see --help)\n";
    return 2;
}

}  // namespace tablepub

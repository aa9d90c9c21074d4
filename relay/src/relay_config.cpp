#include "relay/relay_config.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <ostream>
#include <regex>
#include <sstream>

#include "relay/relay_options.hpp"

namespace tablepub {

void add_ops_options(CLI::App& app, RelayOptions& o) {
    // The file holds the same keys as the long flags, without the dashes in
    // front (`poll-interval = "1s"`, `publish = ["tcp://..."]`). CLI11 fills
    // from it only what neither a flag nor an environment variable set.
    app.set_config("--config", "", "read options from this TOML or INI file (keys are the flag names)")
        ->envname("TABLEPUB_CONFIG")
        ->type_name("FILE")
        ->check(CLI::ExistingFile);
    // A misspelt key must not be ignored in silence.
    app.allow_config_extras(CLI::config_extras_mode::error);
    // The built-in default as it reads back (CLI11 would print "[...]").
    app.get_option("--publish")->default_str(o.publish.front());
    app.add_flag("--print-config", o.print_config, "print the effective configuration (TOML) and exit")
        ->configurable(false);

    app.add_option("--metrics", o.metrics.endpoint,
                   "serve Prometheus metrics, /healthz and /readyz over HTTP on HOST:PORT (default: off)")
        ->envname("TABLEPUB_METRICS")
        ->type_name("HOST:PORT")
        ->capture_default_str();
    app.add_option("--metrics-max-tables", o.metrics.max_table_labels,
                   "tables with series of their own in the per-table metrics; later ones count as table=\"other\"")
        ->envname("TABLEPUB_METRICS_MAX_TABLES")
        ->check(CLI::Range(0, 100000))
        ->capture_default_str();
    add_duration(app, "--metrics-ready-lag", "TABLEPUB_METRICS_READY_LAG", o.metrics.ready_lag,
                 "/readyz fails for an active relay further behind than this");
    add_duration(app, "--metrics-outbox-interval", "TABLEPUB_METRICS_OUTBOX_INTERVAL", o.metrics.outbox_interval,
                 "read the outbox partitions' sizes this often (active relay, with --metrics)");
    app.add_option("--log-format", o.log_format, "text, or json: one JSON object per line for log shippers")
        ->envname("TABLEPUB_LOG_FORMAT")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
}

std::vector<std::string> with_environment(const CLI::App& app, const std::vector<std::string>& args) {
    std::vector<std::string> out = args;
    for (const CLI::Option* opt : app.get_options()) {
        const auto& env = opt->get_envname();
        const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
        if (value == nullptr || opt->get_lnames().empty()) continue;
        const auto flag = "--" + opt->get_lnames().front();
        bool given = false;
        for (const auto& a : args) given = given || a == flag || a.rfind(flag + "=", 0) == 0;
        if (!given) out.insert(out.end(), {flag, value});
    }
    return out;
}

std::string mask_password(const std::string& conninfo) {
    // keyword=value form: password=secret or password='se cret'
    static const std::regex keyword(R"((password\s*=\s*)('([^'\\]|\\.)*'|[^\s]+))", std::regex::icase);
    // URI form: postgresql://user:secret@host, and ?password=secret
    static const std::regex uri(R"(^(postgres(ql)?://[^:/@]*:)[^@]*@)", std::regex::icase);
    std::string masked = std::regex_replace(conninfo, keyword, "$1********");
    return std::regex_replace(masked, uri, "$1********@");
}

bool print_config_if_asked(const CLI::App& app, const RelayOptions& options, std::ostream& out) {
    if (!options.print_config) return false;
    std::istringstream in(app.config_to_str(true, true));
    const auto masked_db = mask_password(options.db);
    for (std::string line; std::getline(in, line);) {
        // An option without a value must stay unset when the output is read
        // back (an empty string would be an endpoint or a path).
        if (line.size() > 3 && line.compare(line.size() - 3, 3, "=\"\"") == 0) {
            out << "# " << line.substr(0, line.size() - 3) << " (not set)\n";
            continue;
        }
        if (line.rfind("db=", 0) == 0) {
            std::ostringstream v;
            v << "db=\"";
            for (const char c : masked_db) {
                if (c == '"' || c == '\\') v << '\\';
                v << c;
            }
            v << '"';
            line = v.str();
        }
        out << line << "\n";
    }
    return true;
}

}  // namespace tablepub

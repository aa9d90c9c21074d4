#include "tablepub/tail_options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <ostream>

namespace tablepub {

TailParse parse_tail_options(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    TailOptions o;
    CLI::App app{"tablepub-tail: prints the changes a tablepub relay publishes, one JSON object a line",
                 "tablepub-tail"};
    app.set_version_flag("--version", std::string("tablepub-tail ") + TABLEPUB_VERSION);
    app.add_option("--connect", o.connect, "relay PUB endpoint to connect to (repeatable)")
        ->envname("TABLEPUB_CONNECT")
        ->delimiter(',')
        ->capture_default_str();
    app.add_option("--table", o.tables, "table to follow, as schema.table (repeatable; default: all)")
        ->envname("TABLEPUB_TABLE")
        ->delimiter(',');
    app.add_flag("--heartbeats", o.heartbeats, "print heartbeats too")->envname("TABLEPUB_HEARTBEATS");
    std::string bytes = "base64";
    app.add_option("--bytes", bytes, "how bytea values print: base64 or hex (\\x...)")
        ->envname("TABLEPUB_BYTES")
        ->check(CLI::IsMember({"base64", "hex"}))
        ->capture_default_str();
    app.add_option("--count", o.count, "exit after printing this many changes (0: run until interrupted)")
        ->envname("TABLEPUB_COUNT");

    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::Success& e) {
        return app.exit(e, out, err);
    } catch (const CLI::ParseError& e) {
        err << "tablepub-tail: " << e.what() << " (see --help)\n";
        return 2;
    }
    for (const auto& t : o.tables) {
        if (t.find('.') == std::string::npos) {
            err << "tablepub-tail: --table \"" << t << "\" must be schema.table (see --help)\n";
            return 2;
        }
    }
    o.bytes = bytes == "hex" ? BytesFormat::hex : BytesFormat::base64;
    return o;
}

bool topic_selected(const TailOptions& options, std::string_view topic) {
    return options.tables.empty() ||
           std::find(options.tables.begin(), options.tables.end(), topic) != options.tables.end();
}

}  // namespace tablepub

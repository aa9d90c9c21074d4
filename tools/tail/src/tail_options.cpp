#include "tail/tail_options.hpp"

#include <CLI/CLI.hpp>

#include "common/cli_options.hpp"

#include <algorithm>
#include <ostream>

namespace tablepub {

TailParse parse_tail_options(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    TailOptions o;
    CLI::App app{
        "tablepub-tail: prints the changes a tablepub relay publishes, one JSON object a line.\n"
        "\n"
        "Without --snapshot/--mirror it prints the stream of every table (or each --table) from\n"
        "where it joined and checks each table's seq. A reader slower than the relay overflows\n"
        "the relay's --send-hwm, and ZeroMQ drops messages:\n"
        "  with --snapshot-endpoint, the tail replays what was dropped and prints each table's\n"
        "    messages once and in seq order (live messages wait meanwhile, up to\n"
        "    --replay-buffer bytes; beyond that they are replayed too);\n"
        "  without it (or when the relay no longer retains them: GONE) it prints what arrives,\n"
        "    duplicates after a relay restart included.\n"
        "Every range it could not print is reported on stderr as\n"
        "\"tablepub-tail: table T: missed seq A..B (N messages)\", with a summary at exit and\n"
        "exit status 3 (unless --allow-gaps).\n"
        "With --snapshot/--mirror it follows each --table through tablepub::Subscriber: snapshot,\n"
        "then only the changes that take effect after it, without duplicates or gaps.\n"
        "\n"
        "Lines in --snapshot mode:\n"
        "  {\"op\":\"snapshot_begin\",\"table\",\"seq\",\"xmin\",\"xmax\",\"xip\"}  a snapshot starts\n"
        "      (again after a resync: drop what you built from the previous one)\n"
        "  {\"op\":\"snapshot\",\"table\",\"key\",\"values\"}  one snapshot row (INSERT form)\n"
        "  {\"op\":\"snapshot_end\",\"table\",\"rows\"}\n"
        "  then changes as in raw mode: op insert/update/delete/truncate/schema/unpublish/resync.\n"
        "  {\"op\":\"resync\",\"reason\"} means the rows changed in a way no row change says:\n"
        "  a new snapshot_begin follows; drop what you built from the previous one.\n"
        "State changes (syncing, live, replaying, resyncing, unpublished, moved, failed) are\n"
        "logged on stderr; moved names the table's new topic.\n"
        "\n"
        "Values print as JSON by type; SQL_ASCII text that is not UTF-8 prints as\n"
        "{\"raw_text\":BYTES}, BYTES encoded as --bytes says. Heartbeats (--heartbeats) carry\n"
        "\"unpublished\":true for an unpublished table and \"moved_to\":\"schema.table\" on the\n"
        "old topic of a renamed one.\n"
        "In raw mode, the transaction topic prints only when named (--table .tx), one line per\n"
        "transaction: {\"commit_time\",\"op\":\"transaction\",\"position\",\"seq\",\"table\":\".tx\",\n"
        "\"tables\":[{\"first_seq\",\"last_seq\",\"table\"}],\"txid\"} (its messages' ranges per table).\n"
        "\n"
        "--tx: follows the --table set as ONE unit (one snapshot of every table in one database\n"
        "transaction, then whole transactions in commit order; docs/protocol.md section 9,\n"
        "\"Several tables as one unit\") and prints one line per committed transaction:\n"
        "  {\"changes\":[change objects as above, each with its \"table\"],\"commit_time\",\"position\",\"txid\"}\n"
        "With --snapshot, every snapshot of the set (the first, and each resync) prints first as\n"
        "  {\"op\":\"snapshot_begin\",\"position\",\"tables\"}, one {\"row\",\"table\"} line per row (as in\n"
        "  --mirror), {\"op\":\"snapshot_end\",\"position\"}: drop what you built before it.\n"
        "With --mirror, the file then always shows one transaction boundary of the whole set, and\n"
        "FILE.status is {\"dumps\",\"state\",\"position\",\"latest_position\",\"lag\",\"lag_seconds\",\n"
        "\"tables\":[{\"table\",\"last_seq\",\"rows\"}],\"stats\":{...}}.\n"
        "\n"
        "--mirror FILE: on SIGUSR1 and on exit, writes FILE (atomically: FILE.tmp + rename) with\n"
        "one line per row, {\"row\":{column:value,...},\"table\":\"schema.table\"}, columns by\n"
        "name, values as printed in changes, sorted by table then primary key; then\n"
        "FILE.status, one JSON object: {\"dumps\":N,\"tables\":[{\"table\",\"state\",\"last_seq\",\n"
        "\"latest_seq\",\"lag\",\"rows\",\"stale\",\"moved_to\",\"reason\",\"stats\":{...}}]}.",
        "tablepub-tail"};
    app.set_version_flag("--version", std::string("tablepub-tail ") + TABLEPUB_VERSION);
    add_endpoints(app, "--connect", "TABLEPUB_CONNECT", o.connect, "relay PUB endpoint to connect to (repeatable)")
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
    app.add_flag("--allow-gaps", o.allow_gaps,
                 "raw mode: exit 0 although messages were lost (each one still reported on stderr)")
        ->envname("TABLEPUB_ALLOW_GAPS");
    app.add_option("--receive-hwm", o.receive_hwm,
                   "raw mode: messages the tail's socket queues per relay before the relay's --send-hwm applies "
                   "(0: no limit; default 0, or 100000 with --snapshot-endpoint)")
        ->envname("TABLEPUB_RECEIVE_HWM")
        ->check(CLI::Range(0, 100'000'000));
    app.add_option("--replay-buffer", o.replay_buffer_bytes,
                   "raw mode with --snapshot-endpoint: bytes of live messages held while a replay runs "
                   "(suffixes k, M, G: 1024-based); more are dropped and replayed afterwards")
        ->envname("TABLEPUB_REPLAY_BUFFER")
        ->transform(CLI::AsSizeValue(false))
        ->default_str("64MiB");
    app.add_flag("--snapshot", o.snapshot, "print each table's snapshot rows, then its changes (needs --table)")
        ->envname("TABLEPUB_SNAPSHOT");
    app.add_flag("--quiet", o.quiet,
                 "--snapshot: no progress on stderr (by default a line redrawn on a terminal, else a line per "
                 "table every 5 s)")
        ->envname("TABLEPUB_QUIET");
    app.add_flag("--tx", o.tx,
                 "follow the --table set as one unit and print one JSON object per transaction "
                 "(needs --snapshot-endpoint)")
        ->envname("TABLEPUB_TX");
    add_endpoints(app, "--snapshot-endpoint", "TABLEPUB_SNAPSHOT_ENDPOINT", o.snapshot_endpoints,
                  "relay snapshot (ROUTER) endpoint: replays for the raw mode, snapshots for --snapshot and --mirror "
                  "(repeatable)");
    app.add_option("--mirror", o.mirror, "keep a mirror of each --table; write it to FILE on SIGUSR1 and on exit")
        ->envname("TABLEPUB_MIRROR");
    app.add_option("--request-timeout", o.request_timeout_ms,
                   "ms without a reply before a snapshot/replay request is asked again")
        ->envname("TABLEPUB_REQUEST_TIMEOUT")
        ->check(CLI::Range(100, 3'600'000))
        ->capture_default_str();
    add_file(app, "--curve-server-key", "TABLEPUB_CURVE_SERVER_KEY", o.curve_server_key,
             "the relay's CURVE public key file (its .key); with --curve-client-key: connect with CURVE");
    add_file(app, "--curve-client-key", "TABLEPUB_CURVE_CLIENT_KEY", o.curve_client_key,
             "this client's CURVE secret key file (tablepub-keygen's .key_secret, mode 0600)");

    constexpr const char* program = "tablepub-tail";
    if (const auto status = parse_command_line(app, args, program, out, err)) return *status;
    for (const auto& t : o.tables) {
        if (t.find('.') == std::string::npos)
            return usage_error(err, program, "--table \"" + t + "\" must be schema.table");
    }
    if (o.subscriber_mode()) {
        if (o.tables.empty())
            return usage_error(err, program, "--snapshot, --tx and --mirror need at least one --table");
        if (o.snapshot_endpoints.empty())
            return usage_error(err, program, "--snapshot, --tx and --mirror need --snapshot-endpoint");
    }
    if (o.curve_server_key.empty() != o.curve_client_key.empty())
        return usage_error(err, program, "--curve-server-key and --curve-client-key go together");
    o.bytes = bytes == "hex" ? BytesFormat::hex : BytesFormat::base64;
    return o;
}

bool topic_selected(const TailOptions& options, std::string_view topic) {
    const bool named = std::find(options.tables.begin(), options.tables.end(), topic) != options.tables.end();
    // A topic starting with a dot is no table's: ".tx", the Transaction
    // messages (docs/protocol.md section 4a), which an empty prefix
    // receives too. It is printed only when named (`--table .tx`), so the
    // output of `tablepub-tail` without --table stays what it was.
    if (topic.starts_with('.')) return named;
    return options.tables.empty() || named;
}

}  // namespace tablepub

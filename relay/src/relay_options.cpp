#include "relay/relay_options.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <ostream>

#include "common/cli_options.hpp"
#include "common/error.hpp"
#include "relay/relay_config.hpp"

namespace tablepub {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr == text.data() || n < 0) return std::nullopt;
    const std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
    std::int64_t scale = 0;
    if (unit.empty() || unit == "ms")
        scale = 1;
    else if (unit == "s")
        scale = 1000;
    else if (unit == "min" || unit == "m")
        scale = 60'000;
    else if (unit == "h")
        scale = 3'600'000;
    else
        return std::nullopt;
    return std::chrono::milliseconds(n * scale);
}

std::optional<std::int64_t> parse_bytes(std::string_view text) {
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr == text.data() || n < 0) return std::nullopt;
    const std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
    int shift = 0;
    if (unit.empty() || unit == "B")
        shift = 0;
    else if (unit == "kB")
        shift = 10;
    else if (unit == "MB")
        shift = 20;
    else if (unit == "GB")
        shift = 30;
    else
        return std::nullopt;
    if (n > (std::int64_t{1} << (62 - shift))) return std::nullopt;
    return n << shift;
}

namespace {

const char* const PROGRAM = "tablepub-relay";

// Adds a byte-size option that takes "64kB", "256MB", ... within [lo, hi].
void add_bytes(CLI::App& app, const std::string& name, const std::string& env, std::int64_t& target, std::int64_t lo,
               std::int64_t hi, const std::string& help) {
    app.add_option_function<std::string>(
           name,
           [&target, name, lo, hi](const std::string& v) {
               const auto b = parse_bytes(v);
               if (!b || *b < lo || *b > hi) {
                   throw CLI::ValidationError(name, "\"" + v + "\" is not a size from " + std::to_string(lo >> 10) +
                                                        "kB to " + std::to_string(hi >> 20) + "MB (e.g. 64MB)");
               }
               target = *b;
           },
           help + " (default " + std::to_string(target >> 20) + "MB)")
        ->envname(env)
        ->type_name("SIZE")
        ->default_str(std::to_string(target >> 20) + "MB");
}

}  // namespace

void add_duration(CLI::App& app, const std::string& name, const std::string& env, std::chrono::milliseconds& target,
                  const std::string& help) {
    app.add_option_function<std::string>(
           name,
           [&target, name](const std::string& v) {
               const auto d = parse_duration(v);
               if (!d || d->count() == 0) {
                   throw CLI::ValidationError(name, "\"" + v + "\" is not a positive duration (e.g. 500ms, 2s, 1min)");
               }
               target = *d;
           },
           help + " (default " + std::to_string(target.count()) + "ms)")
        ->envname(env)
        ->type_name("DURATION")
        ->default_str(std::to_string(target.count()) + "ms");
}

RelayParse parse_relay_options(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    RelayOptions o;
    CLI::App app{"tablepub-relay: publishes the changes of published PostgreSQL tables on ZeroMQ", PROGRAM};
    app.set_version_flag("--version", std::string(PROGRAM) + " " + TABLEPUB_VERSION);
    app.add_option("--db", o.db, "libpq conninfo or URI; PG* environment variables fill in the rest")
        ->envname("TABLEPUB_DB");
    add_endpoints(app, "--publish", "TABLEPUB_PUBLISH", o.publish,
                  "ZeroMQ endpoint to bind the PUB socket to (repeatable)")
        ->capture_default_str();
    add_duration(app, "--poll-interval", "TABLEPUB_POLL_INTERVAL", o.poll_interval,
                 "check the outbox this often without a NOTIFY");
    add_endpoints(app, "--snapshot", "TABLEPUB_SNAPSHOT", o.snapshot,
                  "ZeroMQ endpoint for snapshot and replay requests (repeatable; none: off)");
    app.add_option("--snapshot-chunk-rows", o.snapshot_chunk_rows, "rows per snapshot chunk")
        ->envname("TABLEPUB_SNAPSHOT_CHUNK_ROWS")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--snapshot-max-streams", o.snapshot_max_streams,
                   "concurrent snapshot/replay streams; more get BUSY")
        ->envname("TABLEPUB_SNAPSHOT_MAX_STREAMS")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    add_duration(app, "--snapshot-idle-timeout", "TABLEPUB_SNAPSHOT_IDLE_TIMEOUT", o.snapshot_idle_timeout,
                 "drop a snapshot/replay stream that gets no credit this long");
    app.add_option("--snapshot-chunk-bytes", o.snapshot_chunk_bytes,
                   "a snapshot/replay chunk ends before it grows past this many bytes (a larger row goes alone)")
        ->envname("TABLEPUB_SNAPSHOT_CHUNK_BYTES")
        ->check(CLI::Range(std::int64_t{4096}, std::int64_t{64} << 20))
        ->capture_default_str();
    app.add_option("--snapshot-max-reply-bytes", o.snapshot_max_reply_bytes,
                   "a row or replayed message too large for one reply of this size is answered TOO_LARGE")
        ->envname("TABLEPUB_SNAPSHOT_MAX_REPLY_BYTES")
        ->check(CLI::Range(std::int64_t{65536}, std::int64_t{2000} << 20))
        ->capture_default_str();
    app.add_option("--snapshot-max-credit", o.snapshot_max_credit,
                   "chunks a snapshot/replay client may have in flight (credit beyond it is capped)")
        ->envname("TABLEPUB_SNAPSHOT_MAX_CREDIT")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    app.add_option("--snapshot-max-streams-per-peer", o.snapshot_max_streams_per_peer,
                   "concurrent snapshot/replay streams per client connection; more get BUSY")
        ->envname("TABLEPUB_SNAPSHOT_MAX_STREAMS_PER_PEER")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    add_duration(app, "--snapshot-preempt-after", "TABLEPUB_SNAPSHOT_PREEMPT_AFTER", o.snapshot_preempt_after,
                 "when every stream slot is taken, a stream waiting this long for credit yields its slot");
    add_duration(app, "--linger", "TABLEPUB_LINGER", o.linger,
                 "after a NOTIFY or a batch, keep polling this long (must exceed tablepub.notify_interval)");
    add_duration(
        app, "--batch-interval", "TABLEPUB_BATCH_INTERVAL", o.batch_interval,
        "under load, start batches up to this far apart (100 us per row of the previous batch; 1ms: nearly off)");
    add_duration(app, "--linger-poll", "TABLEPUB_LINGER_POLL", o.linger_poll, "poll interval while lingering");
    add_duration(app, "--heartbeat-interval", "TABLEPUB_HEARTBEAT_INTERVAL", o.heartbeat_interval,
                 "publish each table's latest sequence number this often");
    add_duration(app, "--maintain-interval", "TABLEPUB_MAINTAIN_INTERVAL", o.maintain_interval,
                 "clean consumed outbox partitions and old batches this often");
    app.add_option_function<std::string>(
           "--start-delay",
           [&o](const std::string& v) {
               const auto d = parse_duration(v);
               if (!d) throw CLI::ValidationError("--start-delay", "\"" + v + "\" is not a duration (e.g. 300ms)");
               o.start_delay = *d;
           },
           "after binding, wait this long before publishing so subscribers can (re)connect (default 300ms)")
        ->envname("TABLEPUB_START_DELAY")
        ->type_name("DURATION")
        ->default_str("300ms");
    app.add_option("--fetch-rows", o.fetch_rows, "outbox rows fetched per round trip (bounds memory)")
        ->envname("TABLEPUB_FETCH_ROWS")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    add_bytes(app, "--fetch-bytes", "TABLEPUB_FETCH_BYTES", o.fetch_bytes, 1LL << 20, 1LL << 30,
              "change bytes per FETCH: larger changes are read on their own (bounds memory)");
    add_bytes(app, "--max-change-bytes", "TABLEPUB_MAX_CHANGE_BYTES", o.max_change_bytes, 1LL << 10, 1LL << 30,
              "largest change published; a larger one is published as a RESYNC of its table");
    app.add_option("--send-hwm", o.send_hwm, "messages queued per subscriber before ZeroMQ drops")
        ->envname("TABLEPUB_SEND_HWM")
        ->check(CLI::Range(1, 100'000'000))
        ->capture_default_str();
    add_file(app, "--curve-secret-key", "TABLEPUB_CURVE_SECRET_KEY", o.curve_secret_key,
             "the relay's CURVE secret key file (tablepub-keygen); endpoints with an allow-list use CURVE");
    add_file(app, "--curve-allow", "TABLEPUB_CURVE_ALLOW", o.curve_allow,
             "client public keys allowed on --publish/--snapshot: a directory of *.key files or one file "
             "of keys (needs --curve-secret-key)",
             "PATH");
    std::vector<std::string> group_specs;
    app.add_option("--group", group_specs,
                   "an endpoint group: NAME:pub=EP,snap=EP,keys=PATH,secret=FILE,tables=s.t,s2.* (repeatable; "
                   "needs a pub or snap endpoint, the rest is optional; see docs/operations.md)")
        ->envname("TABLEPUB_GROUP")
        ->delimiter(';')
        ->type_name("SPEC");
    add_log_level(app, "TABLEPUB_LOG_LEVEL", o.log_level);
    add_ops_options(app, o);

    add_amqp_options(app, o.amqp);

    // The environment is turned into flags placed before the command line's
    // (relay_config.hpp): flag > environment > config file.
    if (const auto status = parse_command_line(app, with_environment(app, args), PROGRAM, out, err)) return *status;
    if (o.snapshot_max_reply_bytes < o.snapshot_chunk_bytes) {
        return usage_error(err, PROGRAM, "--snapshot-max-reply-bytes must be at least --snapshot-chunk-bytes");
    }
    if (const auto problem = amqp_options_problem(o.amqp)) return usage_error(err, PROGRAM, *problem);
    if (o.publish.empty()) return usage_error(err, PROGRAM, "--publish needs at least one endpoint");
    try {
        for (const auto& g : group_specs) o.groups.push_back(parse_audience(g));
    } catch (const ConfigError& e) {
        return usage_error(err, PROGRAM, e.what());
    }
    // With --group, the default endpoints are not opened unless asked for:
    // an unasked-for plain endpoint carrying every table would defeat the
    // groups.
    const bool default_asked = app.count("--publish") > 0 || app.count("--snapshot") > 0;
    if (o.groups.empty() || default_asked) {
        AudienceSpec d;
        d.name = "default";
        d.publish = o.publish;
        d.snapshot = o.snapshot;
        d.allow_path = o.curve_allow;
        o.groups.insert(o.groups.begin(), std::move(d));
    } else if (!o.curve_allow.empty()) {
        return usage_error(err, PROGRAM,
                           "--curve-allow applies to --publish/--snapshot, which are not given with --group "
                           "(use keys= in the group)");
    }
    if (print_config_if_asked(app, o, out)) return 0;
    return o;
}

}  // namespace tablepub

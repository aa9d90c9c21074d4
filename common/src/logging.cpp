#include "common/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace tablepub {

namespace {

// One JSON object per line for log shippers:
// {"time":"2026-12-01T10:00:00.123Z","level":"info","message":"..."}.
// nlohmann::json escapes the message (any bytes a table name brought in are
// replaced, never passed through as invalid UTF-8).
class JsonFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto t = std::chrono::system_clock::to_time_t(msg.time);
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
        std::tm tm{};
        gmtime_r(&t, &tm);
        char when[32];
        const auto n = std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        std::snprintf(when + n, sizeof when - n, ".%03dZ", static_cast<int>(ms));
        const auto level = spdlog::level::to_string_view(msg.level);
        nlohmann::json line = {{"time", when},
                               {"level", std::string(level.data(), level.size())},
                               {"message", std::string(msg.payload.data(), msg.payload.size())}};
        const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        dest.append(text.data(), text.data() + text.size());
        dest.push_back('\n');
    }
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
    const auto lvl = spdlog::level::from_str(level);
    // from_str maps anything unknown to "off"; only accept it when asked for.
    if (lvl == spdlog::level::off && level != "off") {
        throw ConfigError("unknown log level \"" + level + "\" (use trace, debug, info, warn, error, critical or off)");
    }
    if (format != "text" && format != "json") {
        throw ConfigError("unknown log format \"" + format + "\" (use text or json)");
    }
    spdlog::drop("tablepub");
    auto logger = spdlog::stderr_logger_mt("tablepub");
    spdlog::set_default_logger(logger);
    if (format == "json") {
        spdlog::set_formatter(std::make_unique<JsonFormatter>());
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
    }
    spdlog::set_level(lvl);
    spdlog::flush_on(spdlog::level::info);
}

}  // namespace tablepub

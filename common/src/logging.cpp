#include "common/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"

namespace tablepub {

void setup_logging(const std::string& level) {
    const auto lvl = spdlog::level::from_str(level);
    // from_str maps anything unknown to "off"; only accept it when asked for.
    if (lvl == spdlog::level::off && level != "off") {
        throw ConfigError("unknown log level \"" + level + "\" (use trace, debug, info, warn, error, critical or off)");
    }
    spdlog::drop("tablepub");
    auto logger = spdlog::stderr_logger_mt("tablepub");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
    spdlog::set_level(lvl);
    spdlog::flush_on(spdlog::level::info);
}

}  // namespace tablepub

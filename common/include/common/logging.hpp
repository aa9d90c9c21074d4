#pragma once

#include <string>

namespace tablepub {

// Configures the default spdlog logger: one line per event on stderr,
// "<time> <level> <message>" (format "text") or one JSON object with time,
// level and message (format "json"). Throws ConfigError for an unknown
// level or format.
void setup_logging(const std::string& level, const std::string& format = "text");

}  // namespace tablepub

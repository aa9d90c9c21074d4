#pragma once

#include <string>

namespace tablepub {

// Configures the default spdlog logger: one line per event on stderr,
// "<time> <level> <message>". Throws ConfigError for an unknown level.
void setup_logging(const std::string& level);

}  // namespace tablepub

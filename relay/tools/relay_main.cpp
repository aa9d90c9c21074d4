// tablepub-relay: drains the tablepub outbox and publishes it on ZeroMQ.
#include <iostream>

#include <spdlog/spdlog.h>

#include "tablepub/error.hpp"
#include "tablepub/logging.hpp"
#include "tablepub/relay.hpp"

int main(int argc, char** argv) {
    const auto parsed = tablepub::parse_relay_options(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                                                      std::cerr);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    const auto& options = std::get<tablepub::RelayOptions>(parsed);
    try {
        tablepub::setup_logging(options.log_level);
        tablepub::Relay::install_signal_handlers();
        tablepub::Relay relay(options);
        return relay.run();
    } catch (const tablepub::ConfigError& e) {
        std::cerr << "tablepub-relay: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        spdlog::critical("fatal: {}", e.what());
        return 1;
    }
}

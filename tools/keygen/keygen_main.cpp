// tablepub-keygen: writes a CURVE key pair for the relay or a subscriber.
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/curve_keys.hpp"
#include "common/error.hpp"

int main(int argc, char** argv) {
    CLI::App app{
        "tablepub-keygen: writes a ZeroMQ CURVE key pair as BASE.key (public certificate, mode 0644)\n"
        "and BASE.key_secret (secret certificate, mode 0600), in the certificate format of CZMQ and\n"
        "pyzmq's zmq.auth, and prints the public key. Existing files are never replaced.\n"
        "\n"
        "Relay:      tablepub-keygen /etc/tablepub/relay\n"
        "            tablepub-relay --curve-secret-key /etc/tablepub/relay.key_secret \\\n"
        "                           --curve-allow /etc/tablepub/clients ...\n"
        "Subscriber: tablepub-keygen ~/.tablepub/policy-engine\n"
        "            copy policy-engine.key into the relay's /etc/tablepub/clients/",
        "tablepub-keygen"};
    app.set_version_flag("--version", std::string("tablepub-keygen ") + TABLEPUB_VERSION);
    std::string base;
    app.add_option("BASE", base, "path of the files to write, without .key / .key_secret")->required();
    CLI11_PARSE(app, argc, argv);
    try {
        const auto keys = tablepub::generate_key_pair();
        tablepub::write_key_pair(base, keys);
        std::cout << keys.public_key << "\n";
        return 0;
    } catch (const tablepub::Error& e) {
        std::cerr << "tablepub-keygen: " << e.what() << "\n";
        return 1;
    }
}

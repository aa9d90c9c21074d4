#include "tablepub/bus.hpp"

namespace tablepub {

Bus::Bus(zmq::context_t& ctx, const std::vector<Audience>& audiences, int send_hwm, bool zap) {
    for (const auto& a : audiences) {
        if (a.publish.empty()) continue;
        EndpointSecurity security;
        if (zap) security.zap_domain = a.name;
        if (a.curve) security.curve_secret_key = a.secret_key;
        groups_.push_back({a.name, std::make_unique<Publisher>(ctx, a.publish, send_hwm, security), a.tables});
    }
}

void Bus::watch(ZapHandler& zap) {
    for (auto& g : groups_) zap.watch(g.publisher->socket(), "group \"" + g.name + "\" publish");
}

void Bus::send(std::string_view topic, std::string_view body) {
    for (auto& g : groups_) {
        if (g.tables.allows_message(topic, body)) g.publisher->send(topic, body);
    }
}

}  // namespace tablepub

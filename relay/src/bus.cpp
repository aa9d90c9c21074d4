#include "relay/bus.hpp"

namespace tablepub {

Bus::Bus(zmq::context_t& ctx, const std::vector<Audience>& audiences, int send_hwm, bool zap) {
    for (const auto& a : audiences) {
        if (a.publish.empty()) continue;
        EndpointSecurity security;
        if (zap) security.zap_domain = a.name;
        if (a.curve) security.curve_secret_key = a.secret_key;
        groups_.push_back(
            {a.name, std::make_unique<Publisher>(ctx, a.publish, send_hwm, security, std::string(TRANSACTION_TOPIC)),
             a.tables});
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

void Bus::send(std::string_view topic, HeadroomBuffer& body) {
    Publisher* last = nullptr;
    for (auto& g : groups_) {
        if (!g.tables.allows_message(topic, body.view())) continue;
        if (last != nullptr) last->send(topic, body.view());
        last = g.publisher.get();
    }
    if (last != nullptr) last->send(topic, body);
}

void Bus::send_all(std::string_view topic, std::string_view body) {
    for (auto& g : groups_) g.publisher->send(topic, body);
}

bool Bus::transaction_topic_subscribed() {
    bool any = false;
    for (auto& g : groups_) {
        g.transaction_subscribers = g.publisher->watched_topic_subscribed();
        any = any || g.transaction_subscribers;
    }
    return any;
}

void Bus::send_transaction(const TransactionEnd& tx) {
    for (auto& g : groups_) {
        if (!g.transaction_subscribers) continue;
        // Each group's message carries its name (a set of tables follows
        // one group's: docs/protocol.md section 9), so each is encoded.
        const TransactionRange* ranges = tx.tables.data();
        std::size_t count = tx.tables.size();
        if (!g.tables.everything()) {
            ranges_.clear();
            for (const auto& r : tx.tables) {
                if (g.tables.allows(std::string(r.schema_name), std::string(r.table_name))) ranges_.push_back(r);
            }
            ranges = ranges_.data();
            count = ranges_.size();
        }
        tx_message_.clear();
        encode_transaction_message(tx_message_, tx.position, tx.txid, tx.commit_time, ranges, count, g.name);
        g.publisher->send(TRANSACTION_TOPIC, tx_message_);
    }
}

std::size_t Bus::queued_bytes() const noexcept {
    std::size_t total = 0;
    for (const auto& g : groups_) total += g.publisher->queued_bytes();
    return total;
}

}  // namespace tablepub

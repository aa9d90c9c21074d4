// The relay's publishing side: one PUB socket per audience (endpoint
// group), each with its own security, carrying only the group's tables.
// The Sequencer and the heartbeats send through it as through one socket.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "common/bus_security.hpp"
#include "common/zmq_util.hpp"
#include "relay/audience.hpp"
#include "relay/sequencer.hpp"

namespace tablepub {

class Bus {
public:
    // Binds the publish endpoints of every audience that has some; with
    // zap set, each socket's connections are checked under the audience's
    // name. Throws ConfigError naming the endpoint that failed.
    Bus(zmq::context_t& ctx, const std::vector<Audience>& audiences, int send_hwm, bool zap);

    // Sends [topic, body] on every socket whose audience may see the table.
    void send(std::string_view topic, std::string_view body);
    // The same for a message built with headroom: handed to ZeroMQ without
    // a copy when one audience carries it (a copy for each further one).
    void send(std::string_view topic, HeadroomBuffer& body);

    // Sends [topic, body] on every socket (the transaction topic's heartbeats).
    void send_all(std::string_view topic, std::string_view body);
    // Whether some subscriber of some socket receives the topic ".tx" now
    // (each socket follows its subscriptions; see Publisher).
    [[nodiscard]] bool transaction_topic_subscribed();
    // Sends a transaction's Transaction message on the topic ".tx" of every
    // socket that has a subscriber of it (as of the last
    // transaction_topic_subscribed()), listing only the tables the socket's
    // audience may see (none: an empty list, so that every audience sees
    // every position), and the audience's name as its group.
    void send_transaction(const TransactionEnd& tx);

    // Bytes of zero-copy messages ZeroMQ still holds, over every socket.
    [[nodiscard]] std::size_t queued_bytes() const noexcept;

    // Has the handler log failed handshakes on every socket.
    void watch(ZapHandler& zap);

private:
    struct Group {
        std::string name;
        std::unique_ptr<Publisher> publisher;
        TableFilter tables;
        bool transaction_subscribers = false;
    };
    std::vector<Group> groups_;
    std::string tx_message_;  // the Transaction message of one audience
    std::vector<TransactionRange> ranges_;
};

}  // namespace tablepub

#include "relay/amqp_sink.hpp"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>
#include <vector>

namespace tablepub {

namespace {

amqp_bytes_t bytes_of(std::string_view s) noexcept {
    return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};  // rabbitmq-c only reads it
}

std::string text_of(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

timeval to_timeval(std::chrono::milliseconds d) noexcept {
    const auto ms = std::max<std::int64_t>(d.count(), 0);
    return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

}  // namespace

std::string redact_amqp_url(std::string_view url) {
    // amqp://user:password@host -> amqp://user:***@host
    const auto scheme = url.find("://");
    const auto at = url.rfind('@');
    if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) return std::string(url);
    const auto colon = url.find(':', scheme + 3);
    if (colon == std::string_view::npos || colon > at) return std::string(url);
    return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

AmqpSink::AmqpSink(const AmqpTarget& target) : exchange_(target.exchange), timeout_(target.timeout) {
    std::vector<char> buf(target.url.begin(), target.url.end());
    buf.push_back('\0');
    amqp_connection_info ci{};
    if (amqp_parse_url(buf.data(), &ci) != AMQP_STATUS_OK) {
        throw ConfigError("invalid --amqp URL \"" + redact_amqp_url(target.url) +
                          "\" (expected amqp://user:password@host:port/vhost)");
    }
    // "amqp://host/" parses as the vhost "", which RabbitMQ does not have:
    // take it as the default vhost "/", as kombu and oslo.messaging do.
    static char default_vhost[] = "/";
    if (ci.vhost == nullptr || ci.vhost[0] == '\0') ci.vhost = default_vhost;
    where_ = std::string(ci.host) + ":" + std::to_string(ci.port) + "/" + ci.vhost;
    conn_ = amqp_new_connection();
    if (conn_ == nullptr) throw AmqpError("cannot allocate an AMQP connection");
    try {
        amqp_socket_t* sock = amqp_tcp_socket_new(conn_);
        if (sock == nullptr) throw AmqpError("cannot create a TCP socket for AMQP");
        timeval tv = to_timeval(target.timeout);
        if (amqp_set_handshake_timeout(conn_, &tv) != AMQP_STATUS_OK ||
            amqp_set_rpc_timeout(conn_, &tv) != AMQP_STATUS_OK) {
            throw AmqpError("cannot set the AMQP timeouts");
        }
        const int status = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
        if (status != AMQP_STATUS_OK) {
            throw AmqpError("cannot connect to RabbitMQ at " + where_ + ": " + amqp_error_string2(status));
        }
        // Heartbeats: a broker that stops answering (not only one that
        // closes the socket) is noticed within two intervals while we wait.
        const int heartbeat = static_cast<int>(std::max<std::int64_t>(1, target.timeout.count() / 2000));
        const amqp_rpc_reply_t login =
            amqp_login(conn_, ci.vhost, 0, 131072, heartbeat, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
        if (login.reply_type != AMQP_RESPONSE_NORMAL) {
            amqp_get_rpc_reply(conn_);
            throw AmqpError("cannot log in to RabbitMQ at " + where_ + " as \"" + ci.user +
                            "\" (wrong user, password or vhost?)");
        }
        amqp_channel_open(conn_, 1);
        check_reply("open a channel");
        amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(target.exchange.c_str()), amqp_cstring_bytes("topic"), 0,
                              target.durable ? 1 : 0, 0, 0, amqp_empty_table);
        check_reply(("declare topic exchange \"" + target.exchange + "\"").c_str());
        if (!target.queue.empty()) {
            const amqp_bytes_t q = amqp_cstring_bytes(target.queue.c_str());
            amqp_queue_declare(conn_, 1, q, 0, target.durable ? 1 : 0, 0, 0, amqp_empty_table);
            check_reply(("declare queue \"" + target.queue + "\"").c_str());
            amqp_queue_bind(conn_, 1, q, amqp_cstring_bytes(target.exchange.c_str()), q, amqp_empty_table);
            check_reply(("bind queue \"" + target.queue + "\"").c_str());
        }
        amqp_confirm_select(conn_, 1);
        check_reply("turn on publisher confirms");
    } catch (...) {
        amqp_destroy_connection(conn_);
        conn_ = nullptr;
        throw;
    }
}

AmqpSink::~AmqpSink() {
    if (conn_ == nullptr) return;
    // A clean close when the connection is healthy (bounded by the RPC
    // timeout); after an error only the socket is closed.
    if (!broken_) amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
}

void AmqpSink::fail(const std::string& message) {
    broken_ = true;
    throw AmqpError(message);
}

void AmqpSink::check_reply(const char* what) {
    const amqp_rpc_reply_t r = amqp_get_rpc_reply(conn_);
    switch (r.reply_type) {
        case AMQP_RESPONSE_NORMAL: return;
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw AmqpError(std::string("cannot ") + what + " on RabbitMQ at " + where_ + ": " +
                            amqp_error_string2(r.library_error));
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                const auto* m = static_cast<const amqp_channel_close_t*>(r.reply.decoded);
                throw AmqpError(std::string("cannot ") + what + " on RabbitMQ at " + where_ + ": " +
                                std::to_string(m->reply_code) + " " + text_of(m->reply_text));
            }
            if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                const auto* m = static_cast<const amqp_connection_close_t*>(r.reply.decoded);
                throw AmqpError(std::string("cannot ") + what + " on RabbitMQ at " + where_ + ": " +
                                std::to_string(m->reply_code) + " " + text_of(m->reply_text));
            }
            break;
        default: break;
    }
    throw AmqpError(std::string("cannot ") + what + " on RabbitMQ at " + where_);
}

void AmqpSink::publish(std::string_view routing_key, std::string_view body, const AmqpMessageProperties& props) {
    amqp_basic_properties_t p{};
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.content_type = bytes_of(props.content_type);
    p.delivery_mode = 2;  // persistent: a durable queue keeps it across a broker restart
    if (!props.content_encoding.empty()) {
        p._flags |= AMQP_BASIC_CONTENT_ENCODING_FLAG;
        p.content_encoding = bytes_of(props.content_encoding);
    }
    if (!props.message_id.empty()) {
        p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        p.message_id = bytes_of(props.message_id);
    }
    amqp_table_entry_t entries[3];
    if (props.with_headers) {
        entries[0].key = amqp_cstring_bytes("table");
        entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
        entries[0].value.value.bytes = bytes_of(props.table);
        entries[1].key = amqp_cstring_bytes("seq");
        entries[1].value.kind = AMQP_FIELD_KIND_I64;
        entries[1].value.value.i64 = static_cast<std::int64_t>(props.seq);
        entries[2].key = amqp_cstring_bytes("txid");
        entries[2].value.kind = AMQP_FIELD_KIND_I64;
        entries[2].value.value.i64 = static_cast<std::int64_t>(props.txid);
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        p.headers = amqp_table_t{3, entries};
    }
    const int status = amqp_basic_publish(conn_, 1, amqp_cstring_bytes(exchange_.c_str()), bytes_of(routing_key), 0, 0,
                                          &p, bytes_of(body));
    if (status != AMQP_STATUS_OK) {
        fail("cannot publish to RabbitMQ at " + where_ + ": " + amqp_error_string2(status));
    }
    ++published_;
    if (unconfirmed() > CONFIRM_WINDOW) {
        read_confirms(CONFIRM_WINDOW / 2, std::chrono::steady_clock::now() + timeout_);
    }
}

void AmqpSink::wait_confirms(std::chrono::milliseconds timeout) {
    read_confirms(0, std::chrono::steady_clock::now() + timeout);
}

void AmqpSink::on_ack(std::uint64_t tag, bool multiple) {
    if (multiple) {
        confirmed_ = std::max(confirmed_, tag);
        acked_above_.erase(acked_above_.begin(), acked_above_.upper_bound(confirmed_));
    } else if (tag > confirmed_) {
        acked_above_.insert(tag);
    }
    while (!acked_above_.empty() && *acked_above_.begin() == confirmed_ + 1) {
        confirmed_ = *acked_above_.begin();
        acked_above_.erase(acked_above_.begin());
    }
}

void AmqpSink::read_confirms(std::uint64_t target, std::chrono::steady_clock::time_point deadline) {
    while (unconfirmed() > target) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            fail("RabbitMQ at " + where_ + " did not confirm " + std::to_string(unconfirmed()) + " messages in time");
        }
        timeval tv = to_timeval(left);
        amqp_frame_t frame{};
        const int status = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
        if (status == AMQP_STATUS_TIMEOUT) continue;
        if (status != AMQP_STATUS_OK) {
            fail("lost the connection to RabbitMQ at " + where_ + ": " + amqp_error_string2(status));
        }
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        switch (frame.payload.method.id) {
            case AMQP_BASIC_ACK_METHOD: {
                const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
                on_ack(ack->delivery_tag, ack->multiple != 0);
                break;
            }
            case AMQP_BASIC_NACK_METHOD: {
                const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
                fail("RabbitMQ at " + where_ + " refused message " + std::to_string(nack->delivery_tag) +
                     " (basic.nack)");
            }
            case AMQP_CHANNEL_CLOSE_METHOD: {
                const auto* m = static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
                fail("RabbitMQ at " + where_ + " closed the channel: " + std::to_string(m->reply_code) + " " +
                     text_of(m->reply_text));
            }
            case AMQP_CONNECTION_CLOSE_METHOD: {
                const auto* m = static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
                fail("RabbitMQ at " + where_ + " closed the connection: " + std::to_string(m->reply_code) + " " +
                     text_of(m->reply_text));
            }
            default: break;
        }
        amqp_maybe_release_buffers(conn_);
    }
}

void AmqpSink::keepalive() {
    // rabbitmq-c sends and checks heartbeats only inside its own calls: a
    // zero-timeout read lets it do so while the forwarder is idle.
    timeval tv{0, 0};
    amqp_frame_t frame{};
    const int status = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
    if (status != AMQP_STATUS_OK && status != AMQP_STATUS_TIMEOUT) {
        fail("lost the connection to RabbitMQ at " + where_ + ": " + amqp_error_string2(status));
    }
    if (status == AMQP_STATUS_OK && frame.frame_type == AMQP_FRAME_METHOD &&
        (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
         frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        fail("RabbitMQ at " + where_ + " closed the connection");
    }
    amqp_maybe_release_buffers(conn_);
}

}  // namespace tablepub

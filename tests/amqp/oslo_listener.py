"""An unmodified oslo.messaging notification listener (rabbit driver) on
the relay's oslo format: get_notification_listener with an endpoint whose
info() receives each change; the payloads mirror the tables (mirror.py).
Writes its state to STATUS every 100 ms until SIGTERM.

usage: oslo_listener.py TRANSPORT_URL EXCHANGE TOPIC STATUS [durable]
(durable: amqp_durable_queues = true, to match the relay's --amqp-durable
true, so that queued notifications survive a broker restart)"""
import os
import signal
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging

from mirror import Mirror


def main():
    url, exchange, topic, status = sys.argv[1:5]
    conf = cfg.ConfigOpts()
    conf([], project="tablepub-test")
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    if sys.argv[5:] == ["durable"]:
        conf.set_override("amqp_durable_queues", True, group="oslo_messaging_rabbit")
    lock = threading.Lock()
    mirror = Mirror()
    seen = {"publisher_ids": set(), "bad": []}

    class Endpoint:
        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            with lock:
                seen["publisher_ids"].add(publisher_id)
                name, op = payload["table"], payload["op"]
                if event_type != "tablepub.%s.%s" % (name, op):
                    seen["bad"].append("event_type %s for %s %s" % (event_type, name, op))
                mirror.apply(name, payload["seq"], op, payload.get("key", {}), payload.get("old_key", {}),
                             payload.get("values", {}))
            return oslo_messaging.NotificationResult.HANDLED

    target = oslo_messaging.Target(exchange=exchange, topic=topic)
    listener = oslo_messaging.get_notification_listener(transport, [target], [Endpoint()], executor="threading")
    # The threading executor handles messages in a pool of threads, in any
    # order; one thread keeps the per-table order the relay publishes in
    # (docs/protocol.md, "RabbitMQ": ordering).
    conf.set_override("executor_thread_pool_size", 1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    listener.start()
    while not stop:
        with lock:
            mirror.dump(status)
            if seen["bad"]:
                raise SystemExit("; ".join(seen["bad"][:5]))
            # Replaced in one step: the test reads it at any moment.
            with open(status + ".publishers.tmp", "w") as f:
                f.write("".join(p + "\n" for p in sorted(seen["publisher_ids"])))
            os.replace(status + ".publishers.tmp", status + ".publishers")
        time.sleep(0.1)
    listener.stop()
    listener.wait()


if __name__ == "__main__":
    main()

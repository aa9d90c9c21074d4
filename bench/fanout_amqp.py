"""RabbitMQ fan-out of one publisher to N local subscribers, for
bench/scaling.sh (docs/scaling.md): the relay's protobuf format's shape
(topic exchange, routing key tablepub.public.bench, persistent messages of
SIZE bytes), N exclusive queues bound to the same key, each with its own
consumer (no_ack, as a subscriber that keeps its mirror in memory may), all
in one consumer process; the publisher in another (py-amqp, Debian's
python3-amqp, which kombu uses).

  python3 bench/fanout_amqp.py PORT SUBSCRIBERS MESSAGES SIZE

Prints one line, the figures of bench/tools/bench_fanout_main.cpp:
  <subscribers> <messages> <seconds> <messages/s per subscriber> <deliveries/s> <consumer CPU s>
seconds: from the first message received to every queue's last; the
consumer process's CPU time in the same span tells whether it (Python) or
the broker was the limit."""
import subprocess
import sys
import time

import amqp

EXCHANGE, KEY = "bench_fanout", "tablepub.public.bench"


def connect(port):
    c = amqp.Connection(host="127.0.0.1:%d" % port, userid="guest", password="guest")
    c.connect()
    return c


def consume(port, n, messages):
    conn = connect(port)
    ch = conn.channel()
    ch.exchange_declare(EXCHANGE, "topic", durable=False, auto_delete=False)
    counts = {}
    times = []
    done = [0]

    def on_message(msg):
        tag = msg.delivery_info["consumer_tag"]
        if not times:
            times.append(time.monotonic())
            times.append(time.process_time())
        counts[tag] += 1
        if counts[tag] == messages:
            done[0] += 1

    for _ in range(n):
        q, _, _ = ch.queue_declare("", exclusive=True, auto_delete=True)
        ch.queue_bind(q, EXCHANGE, KEY)
        tag = ch.basic_consume(q, callback=on_message, no_ack=True)
        counts[tag] = 0
    print("ready", flush=True)
    while done[0] < n:
        conn.drain_events(timeout=120)
    seconds = time.monotonic() - times[0]
    print("%d %d %.3f %d %d %.2f" % (n, messages, seconds, messages / seconds, n * messages / seconds,
                                     time.process_time() - times[1]), flush=True)
    conn.close()


def main():
    if sys.argv[1] == "consume":
        consume(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    port, n, messages, size = (int(a) for a in sys.argv[1:5])
    conn = connect(port)
    ch = conn.channel()
    ch.exchange_declare(EXCHANGE, "topic", durable=False, auto_delete=False)
    consumer = subprocess.Popen([sys.executable, __file__, "consume", str(port), str(n), str(messages)],
                                stdout=subprocess.PIPE, text=True)
    try:
        if consumer.stdout.readline().strip() != "ready":
            sys.exit("the consumer did not start")
        body = b"x" * size
        for _ in range(messages):
            ch.basic_publish(amqp.Message(body, delivery_mode=2,
                                          content_type="application/x-protobuf"),
                             exchange=EXCHANGE, routing_key=KEY)
        print(consumer.stdout.readline().strip(), flush=True)
        if consumer.wait() != 0:
            sys.exit("the consumer failed")
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
        conn.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# A real Prometheus server scrapes the relay's --metrics endpoint.
#
#   tests/ops/prometheus_scrape.sh [BUILD]      (BUILD defaults to ./build)
#
# Starts a throwaway cluster, a relay (a non-superuser login that is only a
# member of tablepub_relay) with --metrics on a free loopback port and
# --log-format json, and Debian's prometheus scraping it every second. Then
# it writes 3 transactions into a published table and asks Prometheus'
# HTTP API (PromQL) for the lag, the role and the messages published, until
# the answers are there (at most 30 s). Also checks /healthz, /readyz and
# that every log line is a JSON object, and that the relay tells
# $NOTIFY_SOCKET READY=1 (systemd Type=notify). Every server is stopped on every
# exit path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
relay_bin=$build/bin/tablepub-relay
prometheus_bin=${PROMETHEUS:-/usr/bin/prometheus}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
[ -x "$prometheus_bin" ] || { echo "prometheus_scrape: $prometheus_bin not found (apt-get install prometheus)" >&2; exit 1; }

D=$(mktemp -d /tmp/tablepub-prom.XXXX)
chmod 755 "$D"  # pgtmp runs postgres as its own user
PGD=$D/pg
RELAY= PROM= NOTIFY=
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/workdir.sh"
cleanup() {
    local rc=$?
    stop_pid "$PROM"; stop_pid "$RELAY"; stop_pid "$NOTIFY"
    "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    end_workdir $rc "$D" 15 "prometheus_scrape: FAILED (logs kept in $D)" "$D/relay.log" "$D/prometheus.log"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/tests/lib/pgtmp" start "$PGD" --owner $$ >/dev/null
. "$PGD/env"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT tablepub.publish('t');
SQL
. "$root/tests/lib/relay_role.sh"
create_relay_role

# systemd's side of Type=notify: a datagram socket recording what the relay
# sends to $NOTIFY_SOCKET (READY=1 once connected).
"$py" - "$D/notify.sock" "$D/notify.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
        out.flush()
PY
NOTIFY=$!

. "$root/tests/lib/free_port.sh"
P=$(free_port); M=$(free_port); W=$(free_port)

NOTIFY_SOCKET=$D/notify.sock "$relay_bin" --db "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$RELAY_ROLE" \
    --publish "tcp://127.0.0.1:$P" --metrics "127.0.0.1:$M" --metrics-outbox-interval 1s \
    --log-format json --start-delay 10ms 2>"$D/relay.log" &
RELAY=$!

# http URL [STATUS]: the body of a GET, exit 1 unless the status matches.
http() {
    "$py" - "$@" <<'PY'
import sys, urllib.request, urllib.error
url, want = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
try:
    with urllib.request.urlopen(url, timeout=2) as r:
        status, body = r.status, r.read().decode()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read().decode()
except OSError:
    sys.exit(1)
print(body, end="")
sys.exit(0 if status == want else 1)
PY
}
# wait_for SECONDS CMD...: runs CMD every 0.2 s until it succeeds.
wait_for() {
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "prometheus_scrape: timed out waiting for: $*" >&2; return 1; }
        kill -0 "$RELAY" || { echo "prometheus_scrape: the relay exited" >&2; return 1; }
        sleep 0.2
    done
}

wait_for 15 http "http://127.0.0.1:$M/readyz"
wait_for 15 grep -qx 'READY=1' "$D/notify.txt"
grep -qx 'STATUS=active: publishing' "$D/notify.txt"
http "http://127.0.0.1:$M/healthz" >/dev/null

cat >"$D/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tablepub
    static_configs:
      - targets: ['127.0.0.1:$M']
YML
"$prometheus_bin" --config.file="$D/prometheus.yml" --storage.tsdb.path="$D/tsdb" \
    --web.listen-address="127.0.0.1:$W" >"$D/prometheus.log" 2>&1 &
PROM=$!

psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO t SELECT g, 'x' FROM generate_series(1, 10) g;
UPDATE t SET v = 'y' WHERE id <= 5;
DELETE FROM t WHERE id = 10;
SQL

# promql QUERY CHECK: the first sample's value of an instant query, checked
# with the Python expression CHECK on v (a float).
promql() {
    "$py" - "http://127.0.0.1:$W/api/v1/query" "$1" "$2" <<'PY'
import json, sys, urllib.parse, urllib.request
url, query, check = sys.argv[1:]
with urllib.request.urlopen(url + "?" + urllib.parse.urlencode({"query": query}), timeout=2) as r:
    answer = json.load(r)
result = answer["data"]["result"]
if answer["status"] != "success" or not result:
    sys.exit(1)
v = float(result[0]["value"][1])
print(query, "=", v)
sys.exit(0 if eval(check) else 1)
PY
}
wait_for 30 promql 'tablepub_relay_lag_seconds{job="tablepub"}' 'v >= 0'
# 1 SCHEMA + 10 inserts + 5 updates + 1 delete, in 4 transactions (publish() is one).
wait_for 30 promql 'tablepub_messages_published_total{table="public.t"}' 'v == 17'
wait_for 30 promql 'tablepub_transactions_published_total{table="public.t"}' 'v == 4'
promql 'tablepub_relay_role{role="active"}' 'v == 1'
wait_for 30 promql 'sum(tablepub_outbox_rows)' 'v >= 0'
promql 'tablepub_relay_lag_seconds' 'v < 30'

# Every line the relay logged is one JSON object with time, level, message.
"$py" - "$D/relay.log" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "the relay logged nothing"
for line in lines:
    o = json.loads(line)
    assert set(o) == {"time", "level", "message"}, o
print(len(lines), "JSON log lines")
PY
echo "prometheus_scrape: ok"

#!/usr/bin/env bash
# Installs the packages `make deb` built into this machine, checks them, and
# purges them again (make test-deb; not part of make test).
#
#   tests/ops/deb_test.sh DEB_DIR
#
# With apt-get install ./*.deb: CREATE EXTENSION tablepub in a throwaway
# cluster of the system's PostgreSQL 15, the packaged relay started the way
# the unit starts it (--config FILE, as a non-superuser member of
# tablepub_relay), the packaged tablepub-tail receiving a change, the
# Python client importing, the C++ example of tests/install built against
# libtablepub-dev with find_package(tablepub) and with pkg-config. On every exit path the packages are purged, and
# files they replaced that no package owned (a `make install` into the
# system PostgreSQL) are put back as they were.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
debdir=$(cd "${1:?usage: deb_test.sh DEB_DIR}" && pwd)
PACKAGES="postgresql-15-tablepub tablepub-relay libtablepub-dev python3-tablepub"
[ "$(id -u)" = 0 ] || { echo "deb_test: run as root (it installs packages)" >&2; exit 1; }
for p in $PACKAGES; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        echo "deb_test: $p is already installed; not touching it" >&2
        exit 1
    fi
done

D=$(mktemp -d /tmp/tablepub-deb.XXXX)
chmod 755 "$D"
PGD=$D/pg
RELAY= TAIL=
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/workdir.sh"

# apt_get ARGS: apt-get, waiting while other processes hold the dpkg lock.
apt_get() {
    local i
    for i in $(seq 1 120); do
        if DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" >"$D/apt.log" 2>&1; then return 0; fi
        grep -q 'Could not get lock\|Unable to acquire the dpkg' "$D/apt.log" || { cat "$D/apt.log" >&2; return 1; }
        sleep 5
    done
    cat "$D/apt.log" >&2
    return 1
}

# Files of the packages that exist now and belong to no package.
: >"$D/unowned"
for deb in "$debdir"/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|' | while read -r f; do
        [ -f "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1 && echo "$f"
    done >>"$D/unowned" || true
done
if [ -s "$D/unowned" ]; then
    tar -C / -cpf "$D/unowned.tar" $(sed 's|^/||' "$D/unowned")
fi

cleanup() {
    local rc=$?
    stop_pid "$TAIL"; stop_pid "$RELAY"
    PGBIN=/usr/lib/postgresql/15/bin "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    apt_get purge $PACKAGES || { echo "deb_test: purge failed, remove by hand: $PACKAGES" >&2; rc=1; }
    [ -f "$D/unowned.tar" ] && tar -C / -xpf "$D/unowned.tar"
    end_workdir $rc "$D" 15 "deb_test: FAILED (logs kept in $D)" "$D/relay.log" "$D/tail.err"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

apt_get install "$debdir"/postgresql-15-tablepub_*.deb "$debdir"/tablepub-relay_*.deb \
    "$debdir"/libtablepub-dev_*.deb "$debdir"/python3-tablepub_*.deb
for p in $PACKAGES; do dpkg-query -W -f='${Package} ${Version} ${Status}\n' "$p"; done
test -x /usr/bin/tablepub-relay && test -x /usr/bin/tablepub-tail && test -x /usr/bin/tablepub-keygen
test -f /lib/systemd/system/tablepub-relay@.service
test -f /usr/share/doc/tablepub-relay/examples/tablepub-relay.conf
/usr/bin/python3 -c 'import tablepub_client, tablepub_pb2; print("python3-tablepub imports")'
cmake -S "$root/tests/install" -B "$D/example" >"$D/example.log"
cmake --build "$D/example" >>"$D/example.log"
# shellcheck disable=SC2046
g++ -std=c++20 -Wall -Wextra -Werror -o "$D/pc_example" "$root/tests/install/mirror_example.cpp" $(pkg-config --libs tablepub)
echo "libtablepub-dev: the example builds with find_package(tablepub) and with pkg-config"

PGBIN=/usr/lib/postgresql/15/bin "$root/tests/lib/pgtmp" start "$PGD" --owner $$ >/dev/null
. "$PGD/env"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT tablepub.publish('t');
SQL
psql -qXAt -c "SELECT extversion FROM pg_extension WHERE extname = 'tablepub'"
. "$root/tests/lib/relay_role.sh"
create_relay_role

. "$root/tests/lib/free_port.sh"
P=$(free_port); M=$(free_port)
# The packaged example with this cluster's settings, as the unit reads it.
sed -e "s|^db = .*|db = \"host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$RELAY_ROLE\"|" \
    -e "s|^metrics = .*|metrics = \"127.0.0.1:$M\"|" \
    -e "s|^# publish = .*|publish = [\"tcp://127.0.0.1:$P\"]|" \
    /usr/share/doc/tablepub-relay/examples/tablepub-relay.conf >"$D/relay.conf"
/usr/bin/tablepub-relay --config "$D/relay.conf" --print-config | grep -q "^metrics=\"127.0.0.1:$M\""
/usr/bin/tablepub-relay --config "$D/relay.conf" 2>"$D/relay.log" &
RELAY=$!
/usr/bin/tablepub-tail --connect "tcp://127.0.0.1:$P" --table public.t --count 2 >"$D/tail.jsonl" 2>"$D/tail.err" &
TAIL=$!
# The subscriber joins at some point: write until it has its change.
for i in $(seq 1 60); do
    kill -0 "$RELAY" || { echo "deb_test: the relay exited" >&2; exit 1; }
    psql -qX -c "INSERT INTO t VALUES ($i, 'deb')" >/dev/null
    kill -0 "$TAIL" 2>/dev/null || break
    sleep 0.5
done
wait "$TAIL" || { echo "deb_test: tablepub-tail failed" >&2; exit 1; }
TAIL=
python3 - "$D/tail.jsonl" <<'PY'
import json, sys
changes = [json.loads(line) for line in open(sys.argv[1])]
assert any(c["table"] == "public.t" and c["op"] == "insert" and c["values"]["v"] == "deb" for c in changes), changes
PY
head -c 300 "$D/tail.jsonl"; echo
python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1]).status != 200)' \
    "http://127.0.0.1:$M/readyz"
echo "deb_test: ok"

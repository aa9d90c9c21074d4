#!/usr/bin/env bash
# Upgrade from the released 0.2 (extension and relay) to this tree, the way
# docs/operations.md ("Upgrading") tells operators to, with a subscriber of
# this tree following the tables throughout:
#
#   1. extension 0.2 and the 0.2 relay (both built from git history, commit
#      RELEASE below) on a copy of the PostgreSQL installation; published
#      tables under writes; the subscriber snapshots and follows.
#   2. The relay is stopped; more writes: captured by the 0.2 library, not
#      published.
#   3. The new package is installed (this tree's tablepub.so and scripts
#      replace the 0.2 ones) and PostgreSQL restarted; more writes, captured
#      by the new library under the 0.2 SQL objects (the window between the
#      package upgrade and ALTER EXTENSION).
#   4. ALTER EXTENSION tablepub UPDATE (0.2 -> 0.3 -> the default version,
#      whatever the scripts hold now); more writes.
#   5. The relay of this tree starts (same endpoints, same role); more writes.
#
# Passes when the subscriber ends live and caught up without a resync or an
# anomaly, with a snapshot taken once, and its mirror equals the tables
# (tests/consistency/compare.py, with the raw bus stream and what the
# subscriber applied checked as well).
#
#   tests/upgrade/run.sh [BUILD]      (this tree's extension installed)
#
# The 0.2 tree is built once into BUILD/upgrade-0.2 (its relay takes a few
# minutes on a busy machine) and reused. Needs the git history.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
# The last commit of release 0.2 (extension default_version '0.2', relay
# 0.2.0); the next one began 0.3.
RELEASE=1336263fc2625fd8515ec2524d222fab022c2770
py=/usr/bin/python3
[ -x "$py" ] || py=python3
start=$(date +%s)

D=$(mktemp -d /tmp/tablepub-upgrade.XXXX)
chmod 755 "$D"  # pgtmp runs postgres as its own user
PGD=$D/pg
RELAY= TAIL= RAW=
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/workdir.sh"
. "$root/tests/lib/mirror_end.sh"
cleanup() {
    local rc=$?
    stop_pid "$TAIL"; stop_pid "$RAW"; stop_pid "$RELAY"
    PGBIN=${PGBIN:-} "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    end_workdir $rc "$D" 15 "upgrade: FAILED (logs kept in $D)" "$D/relay-0.2.log" "$D/relay.log" "$D/tail.err"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- The 0.2 release, built once.
old=$build/upgrade-0.2
if [ ! -d "$old/src" ]; then
    git -C "$root" cat-file -e "$RELEASE^{commit}" 2>/dev/null || fail "commit $RELEASE (release 0.2) is not in the git history"
    mkdir -p "$old/src.tmp"
    git -C "$root" archive "$RELEASE" | tar -x -C "$old/src.tmp"
    mv "$old/src.tmp" "$old/src"
fi
if [ ! -f "$old/src/extension/tablepub.so" ]; then
    echo "building extension 0.2 ($RELEASE) in $old (once)"
    make -C "$old/src/extension" >"$old/extension.log" 2>&1 || { tail -20 "$old/extension.log" >&2; fail "extension 0.2 does not build"; }
fi
if [ ! -x "$old/relay-build/tablepub-relay" ]; then
    echo "building relay 0.2 ($RELEASE) in $old (once, a few minutes)"
    { cmake -S "$old/src/relay" -B "$old/relay-build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTABLEPUB_WERROR=OFF &&
      cmake --build "$old/relay-build" -j "${JOBS:-2}" --target tablepub-relay; } >"$old/relay.log" 2>&1 ||
        { tail -20 "$old/relay.log" >&2; fail "relay 0.2 does not build"; }
fi

# --- A copy of the PostgreSQL installation (bin, lib and share keep their
# relative places, so the copy finds its own files) with extension 0.2.
bindir=$(pg_config --bindir) sharedir=$(pg_config --sharedir) pkglibdir=$(pg_config --pkglibdir)
prefix=$bindir
while [ "${sharedir#"$prefix"/}" = "$sharedir" ]; do prefix=$(dirname "$prefix"); done
for dir in "$(dirname "$bindir")" "$pkglibdir" "$sharedir"; do
    mkdir -p "$D/inst$(dirname "$dir")"
    [ -e "$D/inst$dir" ] || cp -a "$dir" "$D/inst$(dirname "$dir")/"
done
export PGBIN=$D/inst$bindir
copy_config=$PGBIN/pg_config
[ "$("$copy_config" --sharedir)" = "$D/inst$sharedir" ] ||
    fail "the PostgreSQL installation in $prefix is not relocatable (a copy reads $("$copy_config" --sharedir))"
# install_extension SO SQL_FILES...: the files a package of the extension
# holds (the JIT bitcode is left out: PostgreSQL runs without it).
install_extension() {
    rm -rf "$D/inst$pkglibdir"/tablepub.so "$D/inst$pkglibdir"/bitcode/tablepub* "$D/inst$sharedir"/extension/tablepub*
    cp "$1" "$D/inst$pkglibdir/"
    shift
    cp "$@" "$D/inst$sharedir/extension/"
}
install_extension "$old/src/extension/tablepub.so" "$old/src/extension/tablepub.control" "$old"/src/extension/sql/tablepub--*.sql

"$root/tests/lib/pgtmp" start "$PGD" --owner $$ >/dev/null
. "$PGD/env"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TABLE acct (id int PRIMARY KEY, balance numeric(12,2) NOT NULL, owner text, updated timestamptz);
CREATE TABLE item (sku bigint, region text, payload jsonb, blob bytea, tags text[], PRIMARY KEY (sku, region));
INSERT INTO acct SELECT g, g * 10, 'owner ' || g, '2026-01-01'::timestamptz + g * interval '1 min' FROM generate_series(1, 300) g;
INSERT INTO item SELECT g, 'eu', jsonb_build_object('n', g), decode(md5(g::text), 'hex'), ARRAY['a', g::text]
  FROM generate_series(1, 200) g;
SELECT tablepub.publish('acct');
SELECT tablepub.publish('item');
SQL
[ "$(psql -qXAt -c "SELECT extversion FROM pg_extension WHERE extname = 'tablepub'")" = 0.2 ] ||
    fail "the release did not install extension 0.2"
. "$root/tests/lib/relay_role.sh"
create_relay_role
# Release 0.2 let no member of tablepub_relay call published_attnums (its
# snapshots failed with "permission denied"; 0.3 fixed it): a 0.2 operator
# had to grant it, so does this test.
psql -qX -v ON_ERROR_STOP=1 -c \
    "GRANT EXECUTE ON FUNCTION tablepub.published_attnums(tablepub.publication) TO tablepub_relay" >/dev/null

. "$root/tests/lib/free_port.sh"
PUB=tcp://127.0.0.1:$(free_port) SNAP=tcp://127.0.0.1:$(free_port)
start_relay() {  # start_relay BINARY LOG
    "$1" --db "dbname=$PGDATABASE user=$RELAY_ROLE" --publish "$PUB" --snapshot "$SNAP" \
        --heartbeat-interval 500 --poll-interval 200 2>>"$2" &
    RELAY=$!
}

# writes PHASE: a few transactions of inserts, updates and deletes.
writes() {
    local p=$1
    psql -qX -v ON_ERROR_STOP=1 -v p="$p" >/dev/null <<'SQL'
BEGIN;
INSERT INTO acct SELECT 1000 * :p + g, g, 'phase ' || :p, now() FROM generate_series(1, 50) g;
UPDATE acct SET balance = balance + :p, updated = now() WHERE id % 7 = :p % 7;
COMMIT;
BEGIN;
DELETE FROM acct WHERE id % 11 = :p;
INSERT INTO item SELECT 1000 * :p + g, 'us', jsonb_build_object('phase', :p, 'g', g), '\x00ff', '{}' FROM generate_series(1, 30) g;
COMMIT;
UPDATE item SET payload = payload || jsonb_build_object('touched', :p), tags = tags || :p::text WHERE sku % 5 = :p % 5;
UPDATE acct SET id = id + 100000 WHERE id = 1000 * :p + 1;
DELETE FROM item WHERE sku % 13 = :p;
SQL
}

tail_bin=$build/bin/tablepub-tail
# What went over the bus, and the subscriber under test (this tree's).
"$tail_bin" --connect "$PUB" >"$D/raw.jsonl" 2>"$D/raw.err" &
RAW=$!
start_relay "$old/relay-build/tablepub-relay" "$D/relay-0.2.log"
"$tail_bin" --connect "$PUB" --snapshot-endpoint "$SNAP" --request-timeout 1500 --quiet \
    --table public.acct --table public.item --snapshot --mirror "$D/mirror.jsonl" >"$D/tail.jsonl" 2>"$D/tail.err" &
TAIL=$!
for i in $(seq 1 300); do
    [ "$(grep -c ' -> live' "$D/tail.err" || true)" -ge 2 ] && break
    kill -0 "$TAIL" || fail "the subscriber exited"
    [ "$i" -lt 300 ] || fail "the subscriber was not live within 30 s of the 0.2 relay"
    sleep 0.1
done
echo "1. extension 0.2, relay 0.2: subscriber live"
writes 1
writes 2
# The 0.2 relay publishes them (the bus shows phase 2's rows) before it stops.
for i in $(seq 1 300); do
    grep -q '"phase 2"' "$D/raw.jsonl" && break
    [ "$i" -lt 300 ] || fail "the 0.2 relay did not publish the first changes within 30 s"
    sleep 0.1
done

stop_pid "$RELAY"; RELAY=
writes 3
echo "2. relay 0.2 stopped; changes captured by the 0.2 library, not published"

# The package upgrade: this tree's library and scripts replace 0.2's (new
# files, as dpkg does, so running backends keep the old mapping), then
# PostgreSQL restarts.
install_extension "$pkglibdir/tablepub.so" "$sharedir"/extension/tablepub*
"$root/tests/lib/pgtmp" restart "$PGD"
writes 4
echo "3. new package installed, PostgreSQL restarted; captured by the new library under the 0.2 objects"

psql -qX -v ON_ERROR_STOP=1 -c "ALTER EXTENSION tablepub UPDATE" >/dev/null
current=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/extension/tablepub.control")
[ "$(psql -qXAt -c "SELECT extversion FROM pg_extension WHERE extname = 'tablepub'")" = "$current" ] ||
    fail "ALTER EXTENSION did not reach $current"
packed() { psql -qXAt -c "SELECT count(*) FROM tablepub.outbox WHERE get_byte(change, 0) = 0"; }
[ "$(packed)" = 0 ] || fail "packed outbox rows before ALTER EXTENSION"
writes 5
# From 0.4 on, multi-row statements write packed rows (docs/design.md,
# "Packed outbox rows"): the relay must read old plain and new packed rows.
[ "$(packed)" -gt 0 ] || fail "no packed outbox row after ALTER EXTENSION"
echo "4. ALTER EXTENSION tablepub UPDATE (to $current); more changes captured"

start_relay "$build/bin/tablepub-relay" "$D/relay.log"
writes 6
echo "5. relay of this tree started; more changes"

# Caught up, the subscriber's own account (live, no resync, no anomaly, one
# snapshot), and its mirror equal to the tables and to what went over the bus.
wait_caught_up
finish_mirror public.acct,public.item
echo "upgrade 0.2 -> $current: ok in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# The Python client's table set against a real relay: two writers move money
# between accounts in two tables (sometimes opening or closing an account,
# sometimes also touching a table outside the set) while the set mirror
# joins mid-stream and the relay is killed and restarted; the total must
# hold at every transaction boundary the set exposes, and the mirror must
# equal the tables at the end (tests/bank_set_check.py).
#   clients/python/set_integration_test.sh BUILD   (BUILD/bin/tablepub-relay, BUILD/python)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
relay_bin=$build/bin/tablepub-relay
py=${PY:-/usr/bin/python3}
D=$(mktemp -d /tmp/tablepub-pyset.XXXX); rmdir "$D"
"$root/tests/lib/pgtmp" start "$D" --owner $$ >/dev/null
. "$D/env"
RELAY= W1= W2= C=
cleanup() {
    for p in $C $W1 $W2 $RELAY; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$root/tests/lib/pgtmp" stop "$D"
}
trap cleanup EXIT
ACCOUNTS=20
TOTAL=$((2 * ACCOUNTS * 1000))
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE EXTENSION tablepub;
CREATE TABLE acct_a (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE acct_b (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE other (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO acct_a SELECT g, 1000 FROM generate_series(1, $ACCOUNTS) g;
INSERT INTO acct_b SELECT g, 1000 FROM generate_series(1, $ACCOUNTS) g;
INSERT INTO other VALUES (1, 0);
SELECT tablepub.publish('acct_a');
SELECT tablepub.publish('acct_b');
SELECT tablepub.publish('other');
SQL
. "$root/tests/lib/relay_role.sh"
create_relay_role
. "$root/tests/lib/free_port.sh"
P=$(free_port)
S=$(free_port)
start_relay() {
    "$relay_bin" --db "dbname=postgres user=$RELAY_ROLE" --publish tcp://127.0.0.1:$P \
        --snapshot tcp://127.0.0.1:$S --heartbeat-interval 200 2>>"$D/relay.log" &
    RELAY=$!
}
start_relay

# writer W: 500 transactions, each keeping sum(acct_a) + sum(acct_b); rows
# are always locked acct_a first (no deadlocks between the writers).
writer() {
    local w=$1 i a b x own
    for i in $(seq 1 500); do
        a=$((RANDOM % ACCOUNTS + 1)); b=$((RANDOM % ACCOUNTS + 1)); x=$((RANDOM % 200 - 100))
        own=$((100000 * w + i))
        echo "BEGIN;"
        case $((i % 10)) in
        3)  # open an account in acct_b with money from acct_a
            echo "UPDATE acct_a SET balance = balance - 50 WHERE id = $a;"
            echo "INSERT INTO acct_b VALUES ($own, 50);" ;;
        7)  # close the account opened 4 transactions ago, money back to acct_a
            echo "UPDATE acct_a SET balance = balance + (SELECT balance FROM acct_b WHERE id = $((own - 4))) WHERE id = $a;"
            echo "DELETE FROM acct_b WHERE id = $((own - 4));" ;;
        5)  # a move that also touches a table outside the set
            echo "UPDATE acct_a SET balance = balance - $x WHERE id = $a;"
            echo "UPDATE acct_b SET balance = balance + $x WHERE id = $b;"
            echo "UPDATE other SET n = n + 1 WHERE id = 1;" ;;
        *)
            echo "UPDATE acct_a SET balance = balance - $x WHERE id = $a;"
            echo "UPDATE acct_b SET balance = balance + $x WHERE id = $b;" ;;
        esac
        echo "SELECT pg_sleep(0.01); COMMIT;"
    done | psql -qX -v ON_ERROR_STOP=1 >/dev/null
}
writer 1 & W1=$!
writer 2 & W2=$!

# The set joins mid-stream.
[ -n "${PY:-}" ] || export PYTHONPATH=$build/python:$here
"$py" "$here/tests/bank_set_check.py" tcp://127.0.0.1:$P tcp://127.0.0.1:$S $TOTAL "$D" &
C=$!
# Once it is live, the relay dies without a word and comes back.
for _ in $(seq 1 300); do
    [ -e "$D/live" ] || ! kill -0 $C 2>/dev/null && break
    sleep 0.1
done
[ -e "$D/live" ] || { echo "FAIL: the set did not become live in 30 s" >&2; exit 1; }
kill -9 $RELAY; wait $RELAY 2>/dev/null || true
if kill -0 $W1 2>/dev/null || kill -0 $W2 2>/dev/null; then mid=while; else mid=after; fi
start_relay
wait $W1; wait $W2
psql -qXAt -c "SELECT json_build_object('table','public.acct_a','row',json_build_object('balance',balance,'id',id))
               FROM acct_a UNION ALL
               SELECT json_build_object('table','public.acct_b','row',json_build_object('balance',balance,'id',id))
               FROM acct_b" |
    "$py" -c 'import json,sys; print("\n".join(json.dumps(json.loads(l), sort_keys=True) for l in sys.stdin if l.strip()))' \
    >"$D/expected.jsonl"
[ "$(psql -qXAt -c 'SELECT sum(balance) FROM (SELECT balance FROM acct_a UNION ALL SELECT balance FROM acct_b) s')" = $TOTAL ]
touch "$D/expected.jsonl.done"
rc=0; wait $C || rc=$?
C=
if [ $rc -ne 0 ]; then tail -5 "$D/relay.log" >&2; exit 1; fi
echo "ok: the relay was killed and restarted $mid the writers ran; its last position" \
    "$(psql -qXAt -c 'SELECT last_position FROM tablepub.relay_state')"

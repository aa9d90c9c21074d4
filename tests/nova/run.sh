#!/usr/bin/env bash
# The Nova acceptance test: tablepub installed into a real Nova database
# (Debian's python3-nova, Zed), written only by Nova's own database code.
#
#   tests/nova/run.sh [SEED [BUILD]]     (SEED defaults to 1, BUILD to ./build)
#
# 1. A throwaway cluster; database `nova`, owned by the non-superuser login
#    Nova uses, created by Nova's own migrations (nova.db.migration.db_sync)
#    at its initial revision; CREATE EXTENSION tablepub (a superuser); the
#    tables a policy engine wants are published (tests/nova/publish.sql),
#    the rest deliberately not.
# 2. The relay runs as a login whose only privilege is membership in
#    tablepub_relay; a raw tail records every message on the bus.
# 3. Writers (threads, each with its own RequestContext) call
#    nova.db.main.api (tests/nova/nova_driver.py): boots with metadata,
#    state changes, resizes, metadata updates with delete=True, faults,
#    tags, volumes, soft and hard deletes, aborted transactions.
# 4. A C++ subscriber (tablepub-tail --mirror) and a Python one
#    (clients/python) join mid-stream.
# 5. Nova's later migrations run to head while the writers write: the
#    SCHEMA messages of block_device_mapping (4 new columns) go out and
#    the subscribers take a new snapshot of it, as docs/protocol.md says.
# 6. The relay is killed (-9) once and restarted; soft-deleted rows are
#    archived into Nova's shadow tables (tests/nova/archive.sql).
# 7. Checks: both mirrors equal the tables row by row and the C++ one
#    applied exactly what the bus carried (tests/torture/lib.sh tt_finish);
#    only block_device_mapping resynced; nothing of an unpublished table or
#    column reached the bus, the mirrors or the outbox, byte for byte
#    (tests/nova/check_nova.py); Nova saw no error; the policy feed of
#    docs/openstack.md, run as printed, ends with the policy's verdict on
#    the final tables.
scenario=nova
set -- "${1:-1}" "${@:2}"
. "$(dirname "$0")/../torture/lib.sh"
here=$root/tests/nova
NOVA_SECONDS=${NOVA_SECONDS:-15}
NOVA_WRITERS=${NOVA_WRITERS:-4}
INITIAL=8f2f1571d55b  # Nova Zed's first alembic revision (every table exists)
TABLES=()
while read -r t; do TABLES+=("$t"); done < <(sed -n "s/^SELECT tablepub.publish('\([a-z_.]*\)'.*/\1/p" "$here/publish.sql")

"$py" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("nova") and u.find_spec("psycopg2")))' \
    || tt_fail "python3-nova and python3-psycopg2 are not installed (make deps)"

# Nova, imported once (while the cluster starts), obeys one command a line
# (tests/nova/nova_driver.py).
coproc NOVA { exec "$py" "$here/nova_driver.py" 2>"$D/nova.log"; }
TT_PID[nova]=$NOVA_PID
nova_reply() {
    local reply
    IFS= read -r -t "$TT_TIMEOUT" reply <&"${NOVA[0]}" || tt_fail "nova_driver.py did not answer ($*)"
    case $reply in
        ok*) tt_log "nova $*: ${reply#ok }" ;;
        *) tt_fail "nova $*: $reply" ;;
    esac
}
nova() { echo "$*" >&"${NOVA[1]}"; nova_reply "$@"; }
tt_pg_start
# Nova's own login owns its database, as in a deployment: no superuser.
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE nova LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
createdb -O nova nova
export PGDATABASE=nova
nova_reply import
nova connect "postgresql+psycopg2://nova@/nova?host=$PGHOST&port=$PGPORT"
nova sync $INITIAL
tt_db_init nova
psql -qX -v ON_ERROR_STOP=1 -f "$here/publish.sql" >/dev/null
tt_log "published at revision $INITIAL: ${TABLES[*]#public.}"
nova setup

tt_relay A
tt_raw_tail
nova start "$seed" 2 "$NOVA_WRITERS"
nova wait

# Rows an older Nova wrote into block_device_mapping: Zed's model has
# columns the initial revision lacks, so Zed's code writes it only after
# the upgrade (Nova's own instance_destroy soft-deletes these before).
# Written while no writer runs: a hard delete racing with this INSERT would
# fail on the foreign key, in Nova, for a reason of the test's making.
psql -qX -v ON_ERROR_STOP=1 -U nova -c "INSERT INTO block_device_mapping (created_at, instance_uuid, source_type, destination_type,
            device_name, boot_index, volume_id, delete_on_termination, connection_info, deleted)
        SELECT now() AT TIME ZONE 'UTC', uuid, 'volume', 'volume', '/dev/vdb', NULL, md5(uuid)::uuid::text,
               false, '{\"auth_password\": \"tpsecret-chap-legacy-' || id || '\"}', 0
          FROM instances WHERE deleted = 0" >/dev/null
echo "start $((seed + 1000)) $NOVA_SECONDS $NOVA_WRITERS" >&"${NOVA[1]}"
nova_reply start

tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
# Both have their snapshots (every table live) before Nova upgrades.
t0=$(date +%s)
until for n in c p; do tt_dump $n; done && "$py" - "$D"/mirror-{c,p}.jsonl.status <<'PY'
import json, sys
sys.exit(any(t["state"] != "live" for f in sys.argv[1:] for t in json.load(open(f))["tables"]))
PY
do
    [ $(( $(date +%s) - t0 )) -lt "$TT_TIMEOUT" ] || tt_fail "the subscribers did not go live"
    sleep 0.2
done
tt_log "subscribers joined mid-stream and are live"

# docs/openstack.md's policy feed, run as the page prints it.
awk '/<!-- policy_feed.py:/ { f = 1; next } f && /^```python/ { p = 1; next } p && /^```/ { exit } p' \
    "$root/docs/openstack.md" >"$D/policy_feed.py"
grep -q Subscriber "$D/policy_feed.py" || tt_fail "no policy_feed.py block in docs/openstack.md"
PYTHONPATH="$build/python:$root/clients/python" "$py" "$D/policy_feed.py" "${TT_PUB[A]}" "${TT_SNAP[A]}" \
    >"$D/feed.log" 2>"$D/feed.err" &
TT_PID[feed]=$!

nova sync head
# The relay dies once the raw tail has the upgrade's SCHEMA messages, while
# Nova writes.
t0=$(date +%s)
until grep '"op":"schema"' "$D/raw.jsonl" | grep '"table":"public.block_device_mapping"' | grep -q encryption_options; do
    [ $(( $(date +%s) - t0 )) -lt "$TT_TIMEOUT" ] || tt_fail "the upgrade's SCHEMA message did not reach the bus"
    sleep 0.1
done
tt_kill relay-A
tt_log "relay killed (-9) after the upgrade; restarting it"
tt_relay A
# Shadow-table traffic: soft-deleted rows archived by plain SQL, as Nova's
# login, while Nova writes.
psql -qX -v ON_ERROR_STOP=1 -U nova -f "$here/archive.sql" >/dev/null
tt_log "archived soft-deleted rows: $(tt_sql "SELECT (SELECT count(*) FROM shadow_instance_metadata) + (SELECT count(*) FROM shadow_instance_system_metadata)
    + (SELECT count(*) FROM shadow_instance_faults) + (SELECT count(*) FROM shadow_block_device_mapping)") rows moved to shadow tables"

echo wait >&"${NOVA[1]}"
nova_reply wait
nova quit
{ wait "${TT_PID[nova]}"; } 2>/dev/null || true
unset 'TT_PID[nova]'
tt_log "Nova saw no error (log: $(grep -c . "$D/nova.log" || true) lines)"

TT_ALLOW_RESYNC="block_device_mapping gained 4 columns in the upgrade (checked per table below)"
tt_finish
"$py" "$here/check_nova.py" --raw "$D/raw.jsonl" \
    --status "$D/mirror-c.jsonl.status" --status "$D/mirror-p.jsonl.status" \
    --files "$D"/mirror-c.jsonl "$D"/mirror-p.jsonl "$D"/tail-c.jsonl \
    --tables "$(IFS=,; echo "${TABLES[*]}")" --upgraded public.block_device_mapping \
    || tt_fail "see above"
# The feed's last line is the policy evaluated on the final tables.
want=$(tt_sql "SELECT (SELECT count(*) FROM instances) || ' instances, ' || (SELECT count(*) FROM services) || ' services, '
    || (SELECT count(*) FROM instances WHERE deleted = 0 AND vm_state = 'active' AND host IN
        (SELECT host FROM services WHERE \"binary\" = 'nova-compute' AND disabled AND deleted = 0)) || ' violations'")
t0=$(date +%s)
until tail -n 1 "$D/feed.log" | grep -qF " $want "; do
    kill -0 "${TT_PID[feed]}" 2>/dev/null || tt_fail "docs/openstack.md's policy feed died: $(tail -5 "$D/feed.err")"
    [ $(( $(date +%s) - t0 )) -lt "$TT_TIMEOUT" ] \
        || tt_fail "the policy feed's last line is '$(tail -n 1 "$D/feed.log")', not '$want'"
    sleep 0.1
done
tt_log "docs/openstack.md's policy feed ($(grep -c . "$D/feed.log") lines) ends with: $(tail -n 1 "$D/feed.log")"
echo "nova: ok in $(( $(date +%s) - tt_start )) s"

#!/usr/bin/env bash
# Checks packaging/systemd/tablepub-relay@.service with systemd-analyze:
# `verify` must print nothing (it exits 0 on unknown keys and bad values,
# so any output is a failure), and `security --offline` must rate the
# unit's exposure at most 2.0 (out of 10).
#
#   tests/ops/systemd_verify.sh [BUILD]
#
# verify wants ExecStart's binary to exist: a copy of the unit in a temp dir
# points it at the built relay, nothing is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
unit=$root/packaging/systemd/tablepub-relay@.service
command -v systemd-analyze >/dev/null || { echo "systemd_verify: systemd-analyze not found (apt-get install systemd)" >&2; exit 1; }

D=$(mktemp -d /tmp/tablepub-systemd.XXXX)
trap 'rm -rf "$D"' EXIT
sed "s|/usr/bin/tablepub-relay|$build/bin/tablepub-relay|" "$unit" >"$D/tablepub-relay@.service"
ln -s tablepub-relay@.service "$D/tablepub-relay@nova.service"
out=$(systemd-analyze verify "$D/tablepub-relay@nova.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "systemd_verify: systemd-analyze verify complained:" >&2
    echo "$out" >&2
    exit 1
fi
systemd-analyze security --offline=yes --threshold=20 "$D/tablepub-relay@nova.service" >"$D/security.txt" 2>&1 \
    || { cat "$D/security.txt" >&2; echo "systemd_verify: exposure above 2.0" >&2; exit 1; }
grep 'Overall exposure' "$D/security.txt"
echo "systemd_verify: ok"

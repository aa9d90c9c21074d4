#!/usr/bin/env bash
# The operations tests (make test-ops, part of make test; about 20 s):
# the systemd unit, and a real Prometheus scraping the relay.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/systemd_verify.sh" "$@"
"$here/prometheus_scrape.sh" "$@"

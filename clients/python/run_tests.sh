#!/usr/bin/env bash
# Unit tests of the Python client (no database): generates tablepub_pb2.py
# into BUILD/python (never committed) and runs unittest.
#   clients/python/run_tests.sh [BUILD]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(mkdir -p "${1:-$root/build}/python" && cd "${1:-$root/build}/python" && pwd)
# Absolute: the checks below run after cd (make test-python passes "build").
broot=$(cd "$build/.." && pwd)
# Debian's python3 has python3-zmq and python3-protobuf; a pyenv shim may not.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
protoc -I "$root/proto" --python_out="$build" "$root/proto/tablepub.proto"
cd "$here"
PYTHONPATH="$build:$here" "$py" -m unittest discover -s tests -v
# Against a real relay when it has been built (make test-python builds it).
if [ -x "$broot/bin/tablepub-relay" ] && command -v psql >/dev/null; then
    "$here/integration_test.sh" "$broot"
    "$here/set_integration_test.sh" "$broot"
    "$here/curve_test.sh" "$broot"
fi

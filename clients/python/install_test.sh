#!/usr/bin/env bash
# The Python client as a user installs it: a fresh venv over Debian's
# python3-zmq and python3-protobuf (--system-site-packages), `pip install
# --no-index --no-build-isolation ./clients/python` (no package index:
# setup.py generates tablepub_pb2 with protoc), then the unit tests and the
# integration tests run with the venv's python and nothing of the source
# tree on PYTHONPATH.
#   clients/python/install_test.sh BUILD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
T=$(mktemp -d /tmp/tablepub-pyinst.XXXX)
chmod 755 "$T"  # pgtmp runs postgres as its own user, in our working directory
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 -m venv --system-site-packages "$T/venv"
# pip builds in place (build/ and *.egg-info are in .gitignore).
"$T/venv/bin/pip" install -q --no-index --no-build-isolation "$here"
# Only the tests, away from the package sources, so the import comes from the venv.
mkdir "$T/run" && cp -r "$here/tests" "$T/run/tests"
cd "$T/run"
"$T/venv/bin/python" -c 'import tablepub_client, tablepub_pb2, sys; assert tablepub_client.__file__.startswith(sys.prefix), tablepub_client.__file__'
"$T/venv/bin/python" -m tablepub_client --help >/dev/null
"$T/venv/bin/tablepub-client" --help >/dev/null
"$T/venv/bin/python" -m unittest discover -s tests
if [ -x "$build/bin/tablepub-relay" ] && command -v psql >/dev/null; then
    PY="$T/venv/bin/python" "$here/integration_test.sh" "$build"
fi
echo "python client: installed in a venv, tests pass from there"

"""tablepub Python client: mirror published PostgreSQL tables from a relay.

Written from docs/protocol.md. Needs Debian's python3-zmq and
python3-protobuf, and tablepub_pb2 generated from proto/tablepub.proto:
`pip install --no-build-isolation ./clients/python` generates and installs
it (setup.py); in the source tree, `protoc --python_out=DIR
proto/tablepub.proto` with DIR on sys.path.
"""

from .sync import Mirror, PgSnapshot, TableSync, encode_key  # noqa: F401
from .table_set import TX_TOPIC, TableSetSync, Transaction  # noqa: F401

"""tablepub Python client: mirror published PostgreSQL tables from a relay.

Written from docs/protocol.md. Needs Debian's python3-zmq and
python3-protobuf, and tablepub_pb2 generated from proto/tablepub.proto
(`protoc --python_out=DIR proto/tablepub.proto`, DIR on sys.path).
"""

from .sync import Mirror, PgSnapshot, TableSync, encode_key  # noqa: F401

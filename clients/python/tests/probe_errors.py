"""Integration probe (run by integration_test.sh): replay and error replies."""

import sys

import zmq

import tablepub_pb2 as pb


def ask(d, req=None, raw=None):
    d.send(raw if raw is not None else req.SerializeToString())
    out = []
    while True:
        r = pb.Reply()
        r.ParseFromString(d.recv())
        if req is not None and r.request_id != req.request_id:
            continue  # a late reply of an earlier stream
        out.append(r)
        kind = r.WhichOneof("kind")
        if kind in ("replay_messages", "snapshot_rows"):
            credit = pb.Request(request_id=r.request_id)
            credit.credit_grant.chunks = 1
            d.send(credit.SerializeToString())
        if kind in ("replay_end", "snapshot_end", "error"):
            return out


def main(endpoint):
    d = zmq.Context.instance().socket(zmq.DEALER)
    d.setsockopt(zmq.RCVTIMEO, 10000)
    d.setsockopt(zmq.LINGER, 0)
    d.connect(endpoint)
    req = pb.Request(request_id=1)
    req.replay.schema_name, req.replay.table_name, req.replay.from_seq = "public", "t", 1
    replies = ask(d, req)
    seqs = [m.seq for r in replies if r.HasField("replay_messages") for m in r.replay_messages.messages]
    assert replies[0].HasField("replay_begin"), replies[0]
    assert seqs == list(range(1, replies[0].replay_begin.to_seq + 1)), seqs[:5]
    assert replies[-1].replay_end.message_count == len(seqs)
    cases = [(("public", "secret", []), pb.NOT_PUBLISHED), (("public", "nope", []), pb.UNKNOWN_TABLE),
             (("public", "t", ["password"]), pb.COLUMN_NOT_PUBLISHED), (("", "t", []), pb.MALFORMED_REQUEST)]
    for i, ((schema, table, cols), code) in enumerate(cases):
        req = pb.Request(request_id=10 + i)
        req.snapshot.schema_name, req.snapshot.table_name = schema, table
        req.snapshot.columns.extend(cols)
        err = ask(d, req)[-1].error
        assert err.code == code, (schema, table, err)
    err = ask(d, raw=b"\xff\xff garbage")[-1].error
    assert err.code == pb.MALFORMED_REQUEST, err
    print(f"ok: replay of {len(seqs)} messages, error replies")


if __name__ == "__main__":
    main(sys.argv[1])

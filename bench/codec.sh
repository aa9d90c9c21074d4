#!/usr/bin/env bash
# Encode cost of the relay's envelopes (issue 9): the one hand-assembled
# encoder (wire.cpp, reply_encoding.cpp) against generated protobuf code
# with the payloads declared as bytes (bench/codec/envelope_bytes.proto),
# in alternating rounds. With --base REV, the same benchmark built from the
# encoder sources of REV runs too, alternating with this tree's, for a
# before/after of the encoder itself.
#   bench/codec.sh [--rounds N] [--base REV]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=5; BASE=
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# The encoder and what it needs, relative to a tree's root (before the
# layout of issue 9 they were under relay/).
sources() {
    if git -C "$ROOT" cat-file -e "$1:common/src/wire.cpp" 2>/dev/null; then
        SOURCES="common/src/wire.cpp common/src/error.cpp relay/sync/src/reply_encoding.cpp"
        INCLUDES="common/include relay/sync/include"
    else
        SOURCES="relay/src/wire.cpp relay/src/error.cpp relay/sync/src/reply_encoding.cpp"
        INCLUDES="relay/include relay/sync/include"
    fi
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
protoc --cpp_out="$WORK" -I "$ROOT/proto" "$ROOT/proto/tablepub.proto"
protoc --cpp_out="$WORK" -I "$ROOT/bench/codec" "$ROOT/bench/codec/envelope_bytes.proto"
CXX="${CXX:-g++} -std=c++20 -O2 -DNDEBUG"
$CXX -c -o "$WORK/gen.o" "$WORK/tablepub.pb.cc"
$CXX -c -o "$WORK/bytes.o" -I "$WORK" "$WORK/envelope_bytes.pb.cc"

# build NAME TREE: the benchmark against the encoder sources under TREE.
build() {
    local flags="-I $WORK" objs=
    for d in $INCLUDES; do flags="$flags -I $2/$d"; done
    for s in $SOURCES; do
        $CXX -c $flags -o "$WORK/$1-$(basename "$s" .cpp).o" "$2/$s"
        objs="$objs $WORK/$1-$(basename "$s" .cpp).o"
    done
    $CXX $flags -o "$WORK/$1" "$ROOT/bench/codec/encode_bench.cpp" $objs "$WORK/gen.o" "$WORK/bytes.o" -lprotobuf -lpthread
}
SOURCES="common/src/wire.cpp common/src/error.cpp relay/sync/src/reply_encoding.cpp"
INCLUDES="common/include relay/sync/include"
build now "$ROOT"
if [ -n "$BASE" ]; then
    sources "$BASE"
    mkdir -p "$WORK/base-tree"
    git -C "$ROOT" archive "$BASE" $SOURCES $INCLUDES | tar -x -C "$WORK/base-tree"
    build base "$WORK/base-tree"
fi
printf '%-12s' build; "$WORK/now" 0
# Which build goes first alternates from round to round.
for r in $(seq "$ROUNDS"); do
    order="now"
    [ -n "$BASE" ] && { [ $((r % 2)) = 1 ] && order="base now" || order="now base"; }
    for which in $order; do
        label="this tree"; [ "$which" = base ] && label=$BASE
        printf '%-12s' "$label"; "$WORK/$which" 1 | tail -1
    done
done

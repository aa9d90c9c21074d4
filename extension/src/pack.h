/*
 * pack.h: the packed outbox row (extension 0.4, docs/design.md "Packed
 * outbox rows"), written by outbox.c and read by decode.c and the fuzzer,
 * without the PostgreSQL backend. This file must not include postgres.h.
 *
 * A plain row's change is one serialized tablepub.v1.Change, whose first
 * byte is a protobuf tag and never 0x00. A packed row's change is the byte
 * 0x00, then 2 or more entries, each a protobuf base-128 varint length L >= 1
 * and L bytes: one serialized Change (never itself 0x00-prefixed). Nothing
 * follows the last entry.
 */
#ifndef PACK_H
#define PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first byte of a packed row. */
#define PACK_MARKER 0x00

/* The most bytes a packed row's change may hold, marker included. */
#define PACK_MAX_BYTES 1000

/* Room for PackCheck()'s detail: one sentence, no caller-chosen text. */
#define PACK_DETAIL_SIZE 120

/* Does the change of an outbox row start like a packed row? */
static inline bool
PackIsPacked(const uint8_t *data, size_t len)
{
	return len > 0 && data[0] == PACK_MARKER;
}

/* Bytes the varint of v takes. */
extern size_t PackVarintSize(uint64_t v);

/* Writes the varint of v at p; returns the bytes written. */
extern size_t PackPutVarint(uint8_t *p, uint64_t v);

/*
 * Checks the packed row of len bytes at data (marker included): returns its
 * number of entries (2 or more), or 0 with why in detail (a truncated or too
 * long varint, an empty entry, an entry past the end, fewer than 2 entries,
 * an entry that is itself 0x00-prefixed).
 */
extern size_t PackCheck(const uint8_t *data, size_t len, char *detail);

/*
 * Walks the entries of a packed row PackCheck() accepted: *off starts at 0;
 * each call sets *entry and *entry_len to the next entry and returns true,
 * then false after the last one.
 */
extern bool PackNext(const uint8_t *data, size_t len, size_t *off,
					 const uint8_t **entry, size_t *entry_len);

#endif							/* PACK_H */

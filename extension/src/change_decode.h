/*
 * change_decode.h: parsing and validating a serialized tablepub.v1.Change
 * from an untrusted source, without the PostgreSQL backend.
 *
 * decode_change() (decode.c) and the libFuzzer harness (extension/fuzz) both
 * call ChangeDecode(), so the fuzzer exercises exactly the code that runs on
 * a caller's bytes inside a backend. This file must not include postgres.h.
 */
#ifndef CHANGE_DECODE_H
#define CHANGE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tablepub.pb-c.h"

/*
 * The most memory ChangeDecode() lets the parser allocate: PostgreSQL's
 * MaxAllocSize, the most any single allocation and the JSON text built from
 * the result can take. The parsed form of a change can be 20 times its wire
 * size (a 2-byte empty Column becomes a pointer and a struct), so without a
 * budget a 1 GB bytea could ask for 20 GB.
 */
#define CHANGE_DECODE_MAX_MEMORY ((size_t) 0x3fffffff)

typedef enum ChangeDecodeStatus
{
	CHANGE_DECODE_OK,
	CHANGE_DECODE_MALFORMED,	/* not a protobuf Change (wire format) */
	CHANGE_DECODE_INVALID,		/* a Change, but not one a decoder can render */
	CHANGE_DECODE_TOO_LARGE		/* parsing it needs more than max_memory */
} ChangeDecodeStatus;

/* Room for ChangeDecodeResult.detail: one sentence, no caller-chosen text. */
#define CHANGE_DECODE_DETAIL_SIZE 160

typedef struct ChangeDecodeResult
{
	ChangeDecodeStatus status;
	char		detail[CHANGE_DECODE_DETAIL_SIZE];	/* why, when not OK */
} ChangeDecodeResult;

/*
 * Parses len bytes at data with allocator, allocating at most max_memory
 * bytes, and checks every field a renderer reads. Returns the Change when
 * result->status is CHANGE_DECODE_OK, else NULL (what was allocated is freed
 * through allocator).
 *
 * A Change it returns has: an op that Tablepub__V1__Op names, other than
 * OP_UNSPECIFIED; non-NULL key, old_key and values arrays (when their count
 * is not 0) whose Columns are non-NULL and have a non-NULL name and a
 * non-NULL value; every Value with a kind this file knows (not NOT_SET),
 * non-NULL strings, a non-NULL interval, non-NULL bytes data when its length
 * is not 0; a schema, when present, with non-NULL names and non-NULL
 * ColumnSchemas with non-NULL name and type; a non-NULL reason. Strings are
 * not checked for valid UTF-8 (the caller converts them to its encoding,
 * which validates), and end at the first NUL byte (protobuf-c's C strings).
 */
extern Tablepub__V1__Change *ChangeDecode(const uint8_t *data, size_t len,
										  ProtobufCAllocator *allocator,
										  size_t max_memory,
										  ChangeDecodeResult *result);

/* The lower-case name of a validated Change's op ("insert", "resync", ...). */
extern const char *ChangeOpName(const Tablepub__V1__Change *change);

#endif							/* CHANGE_DECODE_H */

/*
 * libFuzzer target for the change decoder: ChangeDecode() from
 * extension/src/change_decode.c and, for a packed outbox row (first byte
 * 0x00), PackCheck()/PackNext() from extension/src/pack.c: the code
 * tablepub.decode_change() and decode_changes() run on the bytes their
 * caller passes, built here without the PostgreSQL backend (malloc instead
 * of palloc). `make -C extension fuzz FUZZ_SECONDS=N` runs it.
 *
 * Beyond "no crash, no leak, no undefined behaviour" under ASan and UBSan, it
 * checks ChangeDecode()'s contract (change_decode.h): a refused input has a
 * status and a detail, and an accepted Change can be walked the way decode.c
 * renders it, reading every string and byte it will read; and pack.h's: a
 * refused pack has a detail, an accepted one walks into as many entries as
 * PackCheck() counted (2 or more), each non-empty, inside the input, not
 * 0x00-prefixed, and ending exactly at its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change_decode.h"
#include "pack.h"

static void *
Alloc(void *data, size_t size)
{
	return malloc(size);
}

static void
Free(void *data, void *ptr)
{
	free(ptr);
}

static void
Require(int ok, const char *what)
{
	if (!ok)
	{
		fprintf(stderr, "ChangeDecode contract violated: %s\n", what);
		abort();
	}
}

/* Reads every byte of s or b, so that ASan sees a bad pointer or length. */
static size_t
TouchString(const char *s)
{
	Require(s != NULL, "NULL string in an accepted Change");
	return strlen(s);
}

static size_t
TouchBytes(const ProtobufCBinaryData *b)
{
	size_t		sum = 0;
	size_t		i;

	Require(b->len == 0 || b->data != NULL, "bytes without data in an accepted Change");
	for (i = 0; i < b->len; i++)
		sum += b->data[i];
	return sum;
}

static size_t
TouchValue(const Tablepub__V1__Value *v)
{
	switch (v->kind_case)
	{
		case TABLEPUB__V1__VALUE__KIND_TEXT:
			return TouchString(v->text);
		case TABLEPUB__V1__VALUE__KIND_NUMERIC:
			return TouchString(v->numeric);
		case TABLEPUB__V1__VALUE__KIND_JSON:
			return TouchString(v->json);
		case TABLEPUB__V1__VALUE__KIND_OTHER:
			return TouchString(v->other);
		case TABLEPUB__V1__VALUE__KIND_BINARY:
			return TouchBytes(&v->binary);
		case TABLEPUB__V1__VALUE__KIND_UUID:
			return TouchBytes(&v->uuid);
		case TABLEPUB__V1__VALUE__KIND_RAW_TEXT:
			return TouchBytes(&v->raw_text);
		case TABLEPUB__V1__VALUE__KIND_INTERVAL:
			Require(v->interval != NULL, "interval without a message");
			return (size_t) v->interval->months + (size_t) v->interval->days +
				(size_t) v->interval->microseconds;
		case TABLEPUB__V1__VALUE__KIND_NULL:
		case TABLEPUB__V1__VALUE__KIND_BOOLEAN:
		case TABLEPUB__V1__VALUE__KIND_INTEGER:
		case TABLEPUB__V1__VALUE__KIND_REAL:
		case TABLEPUB__V1__VALUE__KIND_TIMESTAMP:
		case TABLEPUB__V1__VALUE__KIND_LOCAL_TIMESTAMP:
		case TABLEPUB__V1__VALUE__KIND_DATE:
			return 0;
		default:
			Require(0, "accepted a Value without a known kind");
			return 0;
	}
}

static size_t
TouchColumns(size_t n, Tablepub__V1__Column *const *cols)
{
	size_t		sum = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		Require(cols[i] != NULL && cols[i]->value != NULL, "column without a value");
		sum += TouchString(cols[i]->name) + TouchValue(cols[i]->value);
	}
	return sum;
}

static size_t
TouchChange(const Tablepub__V1__Change *c)
{
	size_t		sum = strlen(ChangeOpName(c)) + TouchString(c->reason);
	size_t		i;

	sum += TouchColumns(c->n_key, c->key);
	sum += TouchColumns(c->n_old_key, c->old_key);
	sum += TouchColumns(c->n_values, c->values);
	if (c->schema != NULL)
	{
		sum += TouchString(c->schema->schema_name) + TouchString(c->schema->table_name);
		for (i = 0; i < c->schema->n_columns; i++)
		{
			Require(c->schema->columns[i] != NULL, "NULL ColumnSchema");
			sum += TouchString(c->schema->columns[i]->name) +
				TouchString(c->schema->columns[i]->type);
		}
	}
	return sum;
}

/* One serialized Change, as decode_change() (or one entry of decode_changes()) sees it. */
static void
DecodeOne(const uint8_t *data, size_t size)
{
	ProtobufCAllocator allocator = {Alloc, Free, NULL};
	ChangeDecodeResult result;
	Tablepub__V1__Change *change;
	/*
	 * A budget that some inputs exceed (a Change's parsed form can be 20
	 * times its size), so the refusal path and protobuf-c's cleanup after a
	 * failed allocation are fuzzed as well.
	 */
	size_t		budget = 16 * size + 256;
	volatile size_t sink;

	change = ChangeDecode(data, size, &allocator, budget, &result);
	if (change == NULL)
	{
		Require(result.status != CHANGE_DECODE_OK, "NULL Change with status OK");
		Require(result.detail[0] != '\0', "refused without a detail");
		Require(memchr(result.detail, '\0', sizeof(result.detail)) != NULL,
				"detail not terminated");
		return;
	}
	Require(result.status == CHANGE_DECODE_OK, "a Change with a failure status");
	sink = TouchChange(change);
	(void) sink;
	tablepub__v1__change__free_unpacked(change, &allocator);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		detail[PACK_DETAIL_SIZE];
	size_t		n;
	size_t		seen = 0;
	size_t		off = 0;
	const uint8_t *entry;
	size_t		entry_len;

	if (!PackIsPacked(data, size))
	{
		DecodeOne(data, size);
		return 0;
	}
	detail[0] = '\0';
	n = PackCheck(data, size, detail);
	if (n == 0)
	{
		Require(detail[0] != '\0', "pack refused without a detail");
		Require(memchr(detail, '\0', sizeof(detail)) != NULL, "pack detail not terminated");
		return 0;
	}
	Require(n >= 2, "a pack of fewer than 2 entries accepted");
	while (PackNext(data, size, &off, &entry, &entry_len))
	{
		Require(entry_len >= 1, "an empty entry");
		Require(entry > data && entry + entry_len <= data + size, "an entry outside the input");
		Require(entry[0] != PACK_MARKER, "a 0x00-prefixed entry");
		seen++;
		DecodeOne(entry, entry_len);
	}
	Require(seen == n, "PackNext() walked another number of entries than PackCheck() counted");
	Require(off == size, "PackNext() stopped before the end of an accepted pack");
	return 0;
}

/*
 * change_decode.c: parses a serialized tablepub.v1.Change from an untrusted
 * source and checks everything a renderer will read, without the PostgreSQL
 * backend (see change_decode.h for the guarantees).
 *
 * protobuf-c rejects what is not the wire format of a Change (truncation,
 * wrong wire types, bad lengths); what it accepts can still lack what our
 * encoder always writes: a Column without a value, a Value whose oneof is
 * unset, an op no one defined. Those are what crashed decode_change() before.
 */
#include "change_decode.h"

#include <stdarg.h>
#include <stdio.h>

#define lengthof_array(a) (sizeof(a) / sizeof((a)[0]))

static const char *const OP_NAMES[] = {
	[TABLEPUB__V1__OP__INSERT] = "insert",
	[TABLEPUB__V1__OP__UPDATE] = "update",
	[TABLEPUB__V1__OP__DELETE] = "delete",
	[TABLEPUB__V1__OP__TRUNCATE] = "truncate",
	[TABLEPUB__V1__OP__SCHEMA] = "schema",
	[TABLEPUB__V1__OP__UNPUBLISH] = "unpublish",
	[TABLEPUB__V1__OP__RESYNC] = "resync",
};

/* A protobuf-c allocator that refuses once the budget is spent. */
typedef struct BudgetAllocator
{
	ProtobufCAllocator base;
	ProtobufCAllocator *inner;
	size_t		left;
	bool		exhausted;
} BudgetAllocator;

static void *
BudgetAlloc(void *data, size_t size)
{
	BudgetAllocator *b = data;

	if (size > b->left)
	{
		b->exhausted = true;
		return NULL;
	}
	/* Frees are not refunded: the parser frees only on its way to failing. */
	b->left -= size;
	return b->inner->alloc(b->inner->allocator_data, size);
}

static void
BudgetFree(void *data, void *ptr)
{
	BudgetAllocator *b = data;

	b->inner->free(b->inner->allocator_data, ptr);
}

static bool Fail(ChangeDecodeResult *result, ChangeDecodeStatus status, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static bool
Fail(ChangeDecodeResult *result, ChangeDecodeStatus status, const char *fmt,...)
{
	va_list		ap;

	result->status = status;
	va_start(ap, fmt);
	vsnprintf(result->detail, sizeof(result->detail), fmt, ap);
	va_end(ap);
	return false;
}

static bool
CheckBytes(const ProtobufCBinaryData *b)
{
	return b->len == 0 || b->data != NULL;
}

/* Checks a Value; where names the column for the detail ("column 3 of key"). */
static bool
CheckValue(const Tablepub__V1__Value *v, const char *field, size_t i,
		   ChangeDecodeResult *result)
{
	bool		ok;

	switch (v->kind_case)
	{
		case TABLEPUB__V1__VALUE__KIND_NULL:
		case TABLEPUB__V1__VALUE__KIND_BOOLEAN:
		case TABLEPUB__V1__VALUE__KIND_INTEGER:
		case TABLEPUB__V1__VALUE__KIND_REAL:
		case TABLEPUB__V1__VALUE__KIND_TIMESTAMP:
		case TABLEPUB__V1__VALUE__KIND_LOCAL_TIMESTAMP:
		case TABLEPUB__V1__VALUE__KIND_DATE:
			ok = true;
			break;
		case TABLEPUB__V1__VALUE__KIND_TEXT:
			ok = v->text != NULL;
			break;
		case TABLEPUB__V1__VALUE__KIND_NUMERIC:
			ok = v->numeric != NULL;
			break;
		case TABLEPUB__V1__VALUE__KIND_JSON:
			ok = v->json != NULL;
			break;
		case TABLEPUB__V1__VALUE__KIND_OTHER:
			ok = v->other != NULL;
			break;
		case TABLEPUB__V1__VALUE__KIND_BINARY:
			ok = CheckBytes(&v->binary);
			break;
		case TABLEPUB__V1__VALUE__KIND_UUID:
			ok = CheckBytes(&v->uuid);
			break;
		case TABLEPUB__V1__VALUE__KIND_RAW_TEXT:
			ok = CheckBytes(&v->raw_text);
			break;
		case TABLEPUB__V1__VALUE__KIND_INTERVAL:
			ok = v->interval != NULL;
			break;
		case TABLEPUB__V1__VALUE__KIND__NOT_SET:
			return Fail(result, CHANGE_DECODE_INVALID,
						"The value of column %zu of %s has no kind.", i + 1, field);
		default:
			return Fail(result, CHANGE_DECODE_INVALID,
						"The value of column %zu of %s has unknown kind %d.",
						i + 1, field, (int) v->kind_case);
	}
	if (!ok)
		return Fail(result, CHANGE_DECODE_INVALID,
					"The value of column %zu of %s is missing.", i + 1, field);
	return true;
}

static bool
CheckColumns(size_t n, Tablepub__V1__Column *const *cols, const char *field,
			 ChangeDecodeResult *result)
{
	size_t		i;

	if (n > 0 && cols == NULL)
		return Fail(result, CHANGE_DECODE_INVALID, "The %s columns are missing.", field);
	for (i = 0; i < n; i++)
	{
		const Tablepub__V1__Column *c = cols[i];

		if (c == NULL || c->name == NULL)
			return Fail(result, CHANGE_DECODE_INVALID,
						"Column %zu of %s has no name.", i + 1, field);
		if (c->value == NULL)
			return Fail(result, CHANGE_DECODE_INVALID,
						"Column %zu of %s has no value.", i + 1, field);
		if (!CheckValue(c->value, field, i, result))
			return false;
	}
	return true;
}

static bool
CheckSchema(const Tablepub__V1__TableSchema *s, ChangeDecodeResult *result)
{
	size_t		i;

	if (s->schema_name == NULL || s->table_name == NULL)
		return Fail(result, CHANGE_DECODE_INVALID, "The schema has no table name.");
	if (s->n_columns > 0 && s->columns == NULL)
		return Fail(result, CHANGE_DECODE_INVALID, "The schema's columns are missing.");
	for (i = 0; i < s->n_columns; i++)
	{
		const Tablepub__V1__ColumnSchema *c = s->columns[i];

		if (c == NULL || c->name == NULL || c->type == NULL)
			return Fail(result, CHANGE_DECODE_INVALID,
						"Column %zu of the schema has no name or type.", i + 1);
	}
	return true;
}

static bool
CheckChange(const Tablepub__V1__Change *c, ChangeDecodeResult *result)
{
	if (c->op <= 0 || (size_t) c->op >= lengthof_array(OP_NAMES) || OP_NAMES[c->op] == NULL)
		return Fail(result, CHANGE_DECODE_INVALID, "Op %d is not a known operation.", (int) c->op);
	if (c->reason == NULL)
		return Fail(result, CHANGE_DECODE_INVALID, "The reason is missing.");
	return CheckColumns(c->n_key, c->key, "key", result) &&
		CheckColumns(c->n_old_key, c->old_key, "old_key", result) &&
		CheckColumns(c->n_values, c->values, "values", result) &&
		(c->schema == NULL || CheckSchema(c->schema, result));
}

Tablepub__V1__Change *
ChangeDecode(const uint8_t *data, size_t len, ProtobufCAllocator *allocator,
			 size_t max_memory, ChangeDecodeResult *result)
{
	BudgetAllocator budget = {{BudgetAlloc, BudgetFree, NULL}, allocator, max_memory, false};
	Tablepub__V1__Change *change;

	budget.base.allocator_data = &budget;
	result->status = CHANGE_DECODE_OK;
	result->detail[0] = '\0';
	change = tablepub__v1__change__unpack(&budget.base, len, data);
	if (change == NULL)
	{
		if (budget.exhausted)
			Fail(result, CHANGE_DECODE_TOO_LARGE,
				 "Decoding it needs more than %zu bytes of memory.", max_memory);
		else
			Fail(result, CHANGE_DECODE_MALFORMED,
				 "The input (%zu bytes) is not in the protobuf wire format of a Change.", len);
		return NULL;
	}
	if (!CheckChange(change, result))
	{
		tablepub__v1__change__free_unpacked(change, &budget.base);
		return NULL;
	}
	return change;
}

const char *
ChangeOpName(const Tablepub__V1__Change *change)
{
	return OP_NAMES[change->op];
}

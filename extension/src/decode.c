/*
 * decode.c: tablepub.decode_change(bytea) RETURNS jsonb, a readable and
 * stable rendering of a serialized Change for debugging and tests.
 *
 * Values that JSON holds natively (null, boolean, integer, text) appear as
 * themselves; every other kind as {"<kind>": raw}, so the test output shows
 * exactly what was encoded.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "tablepub.h"

static const char *const OP_NAMES[] = {
	"unspecified", "insert", "update", "delete", "truncate", "schema", "unpublish"
};

static void
AppendHex(StringInfo buf, const ProtobufCBinaryData *bin)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	appendStringInfoString(buf, "\"\\\\x");
	for (i = 0; i < bin->len; i++)
	{
		appendStringInfoChar(buf, digits[bin->data[i] >> 4]);
		appendStringInfoChar(buf, digits[bin->data[i] & 0xf]);
	}
	appendStringInfoChar(buf, '"');
}

static void
AppendValue(StringInfo buf, const Value *v)
{
	switch (v->kind_case)
	{
		case TABLEPUB__V1__VALUE__KIND__NOT_SET:
			appendStringInfoString(buf, "{\"unset\": true}");
			break;
		case TABLEPUB__V1__VALUE__KIND_NULL:
			appendStringInfoString(buf, "null");
			break;
		case TABLEPUB__V1__VALUE__KIND_BOOLEAN:
			appendStringInfoString(buf, v->boolean ? "true" : "false");
			break;
		case TABLEPUB__V1__VALUE__KIND_INTEGER:
			appendStringInfo(buf, INT64_FORMAT, (int64) v->integer);
			break;
		case TABLEPUB__V1__VALUE__KIND_REAL:
			appendStringInfoString(buf, "{\"real\": ");
			if (isnan(v->real))
				appendStringInfoString(buf, "\"NaN\"");
			else if (isinf(v->real))
				appendStringInfoString(buf, v->real > 0 ? "\"Infinity\"" : "\"-Infinity\"");
			else
			{
				char		num[DOUBLE_SHORTEST_DECIMAL_LEN];

				double_to_shortest_decimal_buf(v->real, num);
				escape_json(buf, num);
			}
			appendStringInfoChar(buf, '}');
			break;
		case TABLEPUB__V1__VALUE__KIND_TEXT:
			escape_json(buf, v->text);
			break;
		case TABLEPUB__V1__VALUE__KIND_BINARY:
			appendStringInfoString(buf, "{\"binary\": ");
			AppendHex(buf, &v->binary);
			appendStringInfoChar(buf, '}');
			break;
		case TABLEPUB__V1__VALUE__KIND_NUMERIC:
			appendStringInfoString(buf, "{\"numeric\": ");
			escape_json(buf, v->numeric);
			appendStringInfoChar(buf, '}');
			break;
		case TABLEPUB__V1__VALUE__KIND_TIMESTAMP:
			appendStringInfo(buf, "{\"timestamp\": " INT64_FORMAT "}", (int64) v->timestamp);
			break;
		case TABLEPUB__V1__VALUE__KIND_LOCAL_TIMESTAMP:
			appendStringInfo(buf, "{\"local_timestamp\": " INT64_FORMAT "}",
							 (int64) v->local_timestamp);
			break;
		case TABLEPUB__V1__VALUE__KIND_DATE:
			appendStringInfo(buf, "{\"date\": %d}", v->date);
			break;
		case TABLEPUB__V1__VALUE__KIND_INTERVAL:
			appendStringInfo(buf, "{\"interval\": {\"months\": %d, \"days\": %d, \"microseconds\": " INT64_FORMAT "}}",
							 v->interval->months, v->interval->days,
							 (int64) v->interval->microseconds);
			break;
		case TABLEPUB__V1__VALUE__KIND_UUID:
			appendStringInfoString(buf, "{\"uuid\": ");
			AppendHex(buf, &v->uuid);
			appendStringInfoChar(buf, '}');
			break;
		case TABLEPUB__V1__VALUE__KIND_JSON:
			appendStringInfo(buf, "{\"json\": %s}", v->json);
			break;
		case TABLEPUB__V1__VALUE__KIND_OTHER:
			appendStringInfoString(buf, "{\"other\": ");
			escape_json(buf, v->other);
			appendStringInfoChar(buf, '}');
			break;
		default:
			appendStringInfo(buf, "{\"unknown\": %d}", (int) v->kind_case);
	}
}

static void
AppendColumns(StringInfo buf, const char *field, size_t n, Column **cols)
{
	size_t		i;

	if (n == 0)
		return;
	appendStringInfo(buf, ", \"%s\": {", field);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, cols[i]->name);
		appendStringInfoString(buf, ": ");
		AppendValue(buf, cols[i]->value);
	}
	appendStringInfoChar(buf, '}');
}

static void
AppendSchema(StringInfo buf, const Tablepub__V1__TableSchema *schema)
{
	size_t		i;

	appendStringInfoString(buf, ", \"schema\": {\"schema_name\": ");
	escape_json(buf, schema->schema_name);
	appendStringInfoString(buf, ", \"table_name\": ");
	escape_json(buf, schema->table_name);
	appendStringInfo(buf, ", \"full_row\": %s, \"columns\": [",
					 schema->full_row ? "true" : "false");
	for (i = 0; i < schema->n_columns; i++)
	{
		Tablepub__V1__ColumnSchema *col = schema->columns[i];

		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, "{\"name\": ");
		escape_json(buf, col->name);
		appendStringInfoString(buf, ", \"type\": ");
		escape_json(buf, col->type);
		appendStringInfo(buf, ", \"not_null\": %s, \"key_position\": %u}",
						 col->not_null ? "true" : "false", col->key_position);
	}
	appendStringInfoString(buf, "]}");
}

/* tablepub.decode_change(change bytea) RETURNS jsonb */
PG_FUNCTION_INFO_V1(tablepub_decode_change);
Datum
tablepub_decode_change(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	Change	   *change;
	StringInfoData buf;

	change = tablepub__v1__change__unpack(PallocAllocator(), VARSIZE_ANY_EXHDR(data),
										  (const uint8_t *) VARDATA_ANY(data));
	if (change == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid tablepub.v1.Change"),
				 errhint("Pass the change column of tablepub.outbox or the result of tablepub.encode_row().")));
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"op\": \"%s\"",
					 change->op < lengthof(OP_NAMES) ? OP_NAMES[change->op] : "unknown");
	AppendColumns(&buf, "key", change->n_key, change->key);
	AppendColumns(&buf, "old_key", change->n_old_key, change->old_key);
	AppendColumns(&buf, "values", change->n_values, change->values);
	if (change->schema)
		AppendSchema(&buf, change->schema);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

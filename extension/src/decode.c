/*
 * decode.c: tablepub.decode_change(bytea) RETURNS jsonb, a readable and
 * stable rendering of a serialized Change for debugging and tests, and
 * tablepub.decode_changes(bytea) RETURNS SETOF jsonb, the same for every
 * change of an outbox row, plain or packed (pack.h).
 *
 * Values that JSON holds natively (null, boolean, integer, text) appear as
 * themselves; every other kind as {"<kind>": <string or number>}, so the
 * test output shows exactly what was encoded. The input is untrusted (any
 * bytes a caller passes): change_decode.c parses and checks it, and every
 * string, including column names and json values, goes through escape_json,
 * so the result is valid JSON whose keys are only the ones written here.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "change_decode.h"
#include "pack.h"
#include "tablepub.h"

/* A protobuf string (UTF-8) as a JSON string in the server encoding. */
static void
AppendString(StringInfo buf, const char *s)
{
	/* Validates the UTF-8 and converts it; raises on invalid or untranslatable input. */
	char	   *conv = pg_any_to_server(s, strlen(s), PG_UTF8);

	escape_json(buf, conv);
	if (conv != s)
		pfree(conv);
}

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

/* {"<kind>": <string>} */
static void
AppendTagged(StringInfo buf, const char *kind, const char *s)
{
	appendStringInfo(buf, "{\"%s\": ", kind);
	AppendString(buf, s);
	appendStringInfoChar(buf, '}');
}

/* {"<kind>": "\\x<hex>"} */
static void
AppendTaggedHex(StringInfo buf, const char *kind, const ProtobufCBinaryData *bin)
{
	appendStringInfo(buf, "{\"%s\": ", kind);
	AppendHex(buf, bin);
	appendStringInfoChar(buf, '}');
}

/* v was checked by ChangeDecode(): its kind is known, its pointers are set. */
static void
AppendValue(StringInfo buf, const Value *v)
{
	switch (v->kind_case)
	{
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
			if (isnan(v->real))
				AppendTagged(buf, "real", "NaN");
			else if (isinf(v->real))
				AppendTagged(buf, "real", v->real > 0 ? "Infinity" : "-Infinity");
			else
			{
				char		num[DOUBLE_SHORTEST_DECIMAL_LEN];

				double_to_shortest_decimal_buf(v->real, num);
				AppendTagged(buf, "real", num);
			}
			break;
		case TABLEPUB__V1__VALUE__KIND_TEXT:
			AppendString(buf, v->text);
			break;
		case TABLEPUB__V1__VALUE__KIND_BINARY:
			AppendTaggedHex(buf, "binary", &v->binary);
			break;
		case TABLEPUB__V1__VALUE__KIND_NUMERIC:
			AppendTagged(buf, "numeric", v->numeric);
			break;
		case TABLEPUB__V1__VALUE__KIND_TIMESTAMP:
			appendStringInfo(buf, "{\"timestamp\": " INT64_FORMAT "}", (int64) v->timestamp);
			break;
		case TABLEPUB__V1__VALUE__KIND_LOCAL_TIMESTAMP:
			appendStringInfo(buf, "{\"local_timestamp\": " INT64_FORMAT "}",
							 (int64) v->local_timestamp);
			break;
		case TABLEPUB__V1__VALUE__KIND_DATE:
			appendStringInfo(buf, "{\"date\": %d}", (int) v->date);
			break;
		case TABLEPUB__V1__VALUE__KIND_INTERVAL:
			appendStringInfo(buf, "{\"interval\": {\"months\": %d, \"days\": %d, \"microseconds\": " INT64_FORMAT "}}",
							 (int) v->interval->months, (int) v->interval->days,
							 (int64) v->interval->microseconds);
			break;
		case TABLEPUB__V1__VALUE__KIND_UUID:
			AppendTaggedHex(buf, "uuid", &v->uuid);
			break;
		case TABLEPUB__V1__VALUE__KIND_JSON:
			/* A string, never spliced: the text is the sender's, not ours to trust. */
			AppendTagged(buf, "json", v->json);
			break;
		case TABLEPUB__V1__VALUE__KIND_OTHER:
			AppendTagged(buf, "other", v->other);
			break;
		case TABLEPUB__V1__VALUE__KIND_RAW_TEXT:
			AppendTaggedHex(buf, "raw_text", &v->raw_text);
			break;
		default:
			elog(ERROR, "unexpected Value kind %d", (int) v->kind_case);
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
		CHECK_FOR_INTERRUPTS();
		if (i > 0)
			appendStringInfoString(buf, ", ");
		AppendString(buf, cols[i]->name);
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
	AppendString(buf, schema->schema_name);
	appendStringInfoString(buf, ", \"table_name\": ");
	AppendString(buf, schema->table_name);
	appendStringInfo(buf, ", \"full_row\": %s, \"columns\": [",
					 schema->full_row ? "true" : "false");
	for (i = 0; i < schema->n_columns; i++)
	{
		Tablepub__V1__ColumnSchema *col = schema->columns[i];

		CHECK_FOR_INTERRUPTS();
		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, "{\"name\": ");
		AppendString(buf, col->name);
		appendStringInfoString(buf, ", \"type\": ");
		AppendString(buf, col->type);
		appendStringInfo(buf, ", \"not_null\": %s, \"key_position\": %u}",
						 col->not_null ? "true" : "false", (unsigned) col->key_position);
	}
	appendStringInfoString(buf, "]}");
}

/* One serialized Change of len bytes at data as jsonb; raises when it is not one. */
static Datum
RenderChange(const uint8_t *data, size_t len)
{
	ChangeDecodeResult res;
	Change	   *change;
	StringInfoData buf;

	change = ChangeDecode(data, len, PallocAllocator(), CHANGE_DECODE_MAX_MEMORY, &res);
	switch (res.status)
	{
		case CHANGE_DECODE_OK:
			break;
		case CHANGE_DECODE_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("tablepub.v1.Change is too large to decode"),
					 errdetail_internal("%s", res.detail)));
			break;
		case CHANGE_DECODE_MALFORMED:
		case CHANGE_DECODE_INVALID:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid tablepub.v1.Change"),
					 errdetail_internal("%s", res.detail),
					 errhint("Pass the change column of tablepub.outbox or the result of tablepub.encode_row().")));
			break;
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"op\": \"%s\"", ChangeOpName(change));
	AppendColumns(&buf, "key", change->n_key, change->key);
	AppendColumns(&buf, "old_key", change->n_old_key, change->old_key);
	AppendColumns(&buf, "values", change->n_values, change->values);
	if (change->schema)
		AppendSchema(&buf, change->schema);
	if (change->reason[0] != '\0')
	{
		appendStringInfoString(&buf, ", \"reason\": ");
		AppendString(&buf, change->reason);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* The number of entries of a packed row; raises when it is malformed. */
static size_t
CheckPack(const uint8_t *data, size_t len)
{
	char		detail[PACK_DETAIL_SIZE];
	size_t		n = PackCheck(data, len, detail);

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid packed outbox row"),
				 errdetail_internal("%s", detail),
				 errhint("Pass the change column of tablepub.outbox.")));
	return n;
}

/*
 * tablepub.decode_change(change bytea) RETURNS jsonb: one Change. A packed
 * row (extension 0.4) holds several: rendering one of them, or an array,
 * would read as something the row is not, so it is refused with a pointer
 * to decode_changes().
 */
PG_FUNCTION_INFO_V1(tablepub_decode_change);
Datum
tablepub_decode_change(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	const uint8_t *bytes = (const uint8_t *) VARDATA_ANY(data);
	size_t		len = VARSIZE_ANY_EXHDR(data);

	if (PackIsPacked(bytes, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a packed outbox row holds %zu changes, not one",
						CheckPack(bytes, len)),
				 errhint("Use tablepub.decode_changes(), which returns one jsonb per change.")));
	PG_RETURN_DATUM(RenderChange(bytes, len));
}

/*
 * tablepub.decode_changes(change bytea) RETURNS SETOF jsonb: every change of
 * an outbox row, plain (one) or packed (each entry, in capture order). A
 * malformed pack is refused whole, before anything is returned.
 */
PG_FUNCTION_INFO_V1(tablepub_decode_changes);
Datum
tablepub_decode_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	const uint8_t *bytes = (const uint8_t *) VARDATA_ANY(data);
	size_t		len = VARSIZE_ANY_EXHDR(data);
	Datum		value;
	bool		isnull = false;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	if (PackIsPacked(bytes, len))
	{
		size_t		off = 0;
		const uint8_t *entry;
		size_t		entry_len;

		(void) CheckPack(bytes, len);
		while (PackNext(bytes, len, &off, &entry, &entry_len))
		{
			CHECK_FOR_INTERRUPTS();
			value = RenderChange(entry, entry_len);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
		}
	}
	else
	{
		value = RenderChange(bytes, len);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}

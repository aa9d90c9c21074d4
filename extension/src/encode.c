/*
 * encode.c: datums to tablepub.v1.Value, rows to serialized Changes.
 *
 * Every value is encoded from the stored datum with settings-independent
 * code, or, for types without a native Value kind, through the type's output
 * function with the session settings that affect output pinned to canonical
 * values, so what is recorded never depends on the writing session.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "tablepub.h"

#define UNIX_EPOCH_DAYS (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)
#define UNIX_EPOCH_USECS ((int64) UNIX_EPOCH_DAYS * USECS_PER_DAY)

static MemoryContext encode_cxt = NULL;
static pg_tz *utc_tz = NULL;

/* The per-row context: reset before and after every encoded change. */
MemoryContext
EncodeContext(void)
{
	if (encode_cxt == NULL)
		encode_cxt = AllocSetContextCreate(TopMemoryContext, "tablepub encode",
										   ALLOCSET_DEFAULT_SIZES);
	return encode_cxt;
}

static void *
PallocAlloc(void *data, size_t size)
{
	return palloc(size);
}

static void
PallocFree(void *data, void *ptr)
{
	/* everything goes with the memory context */
}

/* A protobuf-c allocator that pallocs in CurrentMemoryContext. */
ProtobufCAllocator *
PallocAllocator(void)
{
	static ProtobufCAllocator allocator = {PallocAlloc, PallocFree, NULL};

	return &allocator;
}

/* Serializes change into a freshly palloc'd bytea. */
bytea *
PackChange(Change *change)
{
	size_t		len = tablepub__v1__change__get_packed_size(change);
	bytea	   *result;

	/*
	 * A Change always has an op, so its first byte is the tag of field 1:
	 * never the 0x00 that marks a packed outbox row (pack.h).
	 */
	if (change->op == TABLEPUB__V1__OP__OP_UNSPECIFIED || len == 0)
		elog(ERROR, "tablepub: refusing to write a change without an op");
	result = palloc(VARHDRSZ + len);
	tablepub__v1__change__pack(change, (uint8_t *) VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + len);
	return result;
}

/*
 * Sets text-like value v to server-encoded s: UTF-8 in the field of kind
 * kind (text, json or other), or in a SQL_ASCII database, when s is not
 * valid UTF-8, its bytes as raw_text.
 */
static void
SetTextValue(Value *v, Tablepub__V1__Value__KindCase kind, char *s)
{
	char	   *utf8 = ServerToUtf8(s);

	if (utf8 == NULL)
	{
		v->kind_case = TABLEPUB__V1__VALUE__KIND_RAW_TEXT;
		v->raw_text.len = strlen(s);
		v->raw_text.data = (uint8_t *) s;
		return;
	}
	v->kind_case = kind;
	switch (kind)
	{
		case TABLEPUB__V1__VALUE__KIND_TEXT:
			v->text = utf8;
			break;
		case TABLEPUB__V1__VALUE__KIND_JSON:
			v->json = utf8;
			break;
		case TABLEPUB__V1__VALUE__KIND_OTHER:
			v->other = utf8;
			break;
		default:
			elog(ERROR, "value kind %d is not text-like", (int) kind);
	}
}

/* Fills v from datum d of column col. */
static void
EncodeValue(Value *v, PubColumn *col, Datum d, bool isnull)
{
	tablepub__v1__value__init(v);
	if (isnull)
	{
		v->kind_case = TABLEPUB__V1__VALUE__KIND_NULL;
		v->null = TABLEPUB__V1__NULL_VALUE__NULL_VALUE;
		return;
	}
	switch (col->kind)
	{
		case VK_BOOL:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_BOOLEAN;
			v->boolean = DatumGetBool(d);
			break;
		case VK_INT2:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_INTEGER;
			v->integer = DatumGetInt16(d);
			break;
		case VK_INT4:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_INTEGER;
			v->integer = DatumGetInt32(d);
			break;
		case VK_INT8:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_INTEGER;
			v->integer = DatumGetInt64(d);
			break;
		case VK_OID:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_INTEGER;
			v->integer = DatumGetObjectId(d);
			break;
		case VK_FLOAT4:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_REAL;
			v->real = DatumGetFloat4(d);
			break;
		case VK_FLOAT8:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_REAL;
			v->real = DatumGetFloat8(d);
			break;
		case VK_TEXT:
			SetTextValue(v, TABLEPUB__V1__VALUE__KIND_TEXT,
						 text_to_cstring(DatumGetTextPP(d)));
			break;
		case VK_NAME:
			SetTextValue(v, TABLEPUB__V1__VALUE__KIND_TEXT,
						 NameStr(*DatumGetName(d)));
			break;
		case VK_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(d);

				v->kind_case = TABLEPUB__V1__VALUE__KIND_BINARY;
				v->binary.len = VARSIZE_ANY_EXHDR(b);
				v->binary.data = (uint8_t *) VARDATA_ANY(b);
				break;
			}
		case VK_NUMERIC:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_NUMERIC;
			v->numeric = DatumGetCString(DirectFunctionCall1(numeric_out, d));
			break;
		case VK_TIMESTAMPTZ:
		case VK_TIMESTAMP:
			{
				int64		ts = DatumGetInt64(d);

				if (!TIMESTAMP_NOT_FINITE(ts))
					ts += UNIX_EPOCH_USECS;
				if (col->kind == VK_TIMESTAMPTZ)
				{
					v->kind_case = TABLEPUB__V1__VALUE__KIND_TIMESTAMP;
					v->timestamp = ts;
				}
				else
				{
					v->kind_case = TABLEPUB__V1__VALUE__KIND_LOCAL_TIMESTAMP;
					v->local_timestamp = ts;
				}
				break;
			}
		case VK_DATE:
			{
				DateADT		date = DatumGetDateADT(d);

				v->kind_case = TABLEPUB__V1__VALUE__KIND_DATE;
				v->date = DATE_NOT_FINITE(date) ? date : date + UNIX_EPOCH_DAYS;
				break;
			}
		case VK_INTERVAL:
			{
				Interval   *in = DatumGetIntervalP(d);
				Tablepub__V1__Interval *out = palloc(sizeof(*out));

				tablepub__v1__interval__init(out);
				out->months = in->month;
				out->days = in->day;
				out->microseconds = in->time;
				v->kind_case = TABLEPUB__V1__VALUE__KIND_INTERVAL;
				v->interval = out;
				break;
			}
		case VK_UUID:
			v->kind_case = TABLEPUB__V1__VALUE__KIND_UUID;
			v->uuid.len = UUID_LEN;
			v->uuid.data = DatumGetUUIDP(d)->data;
			break;
		case VK_JSON:
			SetTextValue(v, TABLEPUB__V1__VALUE__KIND_JSON,
						 text_to_cstring(DatumGetTextPP(d)));
			break;
		case VK_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);

				SetTextValue(v, TABLEPUB__V1__VALUE__KIND_JSON,
							 JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
				break;
			}
		case VK_OTHER:
			SetTextValue(v, TABLEPUB__V1__VALUE__KIND_OTHER,
						 OutputFunctionCall(&col->out, d));
			break;
	}
}

/* A Column for column col of tup. */
static Column *
MakeColumn(PubColumn *col, HeapTuple tup, TupleDesc desc)
{
	Column	   *c = palloc(sizeof(Column) + sizeof(Value));
	Value	   *v = (Value *) (c + 1);
	bool		isnull;
	Datum		d = heap_getattr(tup, col->attnum, desc, &isnull);

	tablepub__v1__column__init(c);
	c->name = col->name;
	c->value = v;
	EncodeValue(v, col, d, isnull);
	return c;
}

/* Whether column col differs between two tuples, by binary equality. */
static bool
ColumnChanged(PubColumn *col, HeapTuple oldtup, HeapTuple newtup, TupleDesc desc)
{
	bool		oldnull,
				newnull;
	Datum		o = heap_getattr(oldtup, col->attnum, desc, &oldnull);
	Datum		n = heap_getattr(newtup, col->attnum, desc, &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	return !datumIsEqual(o, n, col->typbyval, col->typlen);
}

/*
 * Builds and serializes the Change for one row event (see the Change comment
 * in proto/tablepub.proto), or returns NULL for an UPDATE that changed no
 * published column. Allocates in CurrentMemoryContext.
 */
static bytea *
EncodeRowChangeGuts(CapturePlan *plan, Tablepub__V1__Op op,
					HeapTuple oldtup, HeapTuple newtup, TupleDesc desc)
{
	Change		change = TABLEPUB__V1__CHANGE__INIT;
	Column	  **cols = palloc(sizeof(Column *) * plan->ncolumns);
	Column	  **keys = palloc(sizeof(Column *) * plan->nkeys);
	int			n = 0;
	int			i;

	change.op = op;
	if (op == TABLEPUB__V1__OP__INSERT)
	{
		for (i = 0; i < plan->ncolumns; i++)
			cols[i] = MakeColumn(&plan->columns[i], newtup, desc);
		for (i = 0; i < plan->nkeys; i++)
			keys[i] = cols[plan->keys[i]];
		n = plan->ncolumns;
	}
	else if (op == TABLEPUB__V1__OP__UPDATE)
	{
		bool		key_changed = false;
		bool	   *changed = palloc(sizeof(bool) * plan->ncolumns);
		bool		any = false;

		for (i = 0; i < plan->ncolumns; i++)
		{
			changed[i] = ColumnChanged(&plan->columns[i], oldtup, newtup, desc);
			any |= changed[i];
			if (changed[i] && plan->columns[i].is_key)
				key_changed = true;
		}
		if (!any)
			return NULL;
		for (i = 0; i < plan->ncolumns; i++)
			if (changed[i] || plan->full_row || plan->columns[i].is_key)
				cols[i] = MakeColumn(&plan->columns[i], newtup, desc);
		for (i = 0; i < plan->nkeys; i++)
			keys[i] = cols[plan->keys[i]];
		for (i = 0; i < plan->ncolumns; i++)
			if (changed[i] || plan->full_row)
				cols[n++] = cols[i];
		if (key_changed)
		{
			Column	  **old_keys = palloc(sizeof(Column *) * plan->nkeys);

			for (i = 0; i < plan->nkeys; i++)
				old_keys[i] = MakeColumn(&plan->columns[plan->keys[i]], oldtup, desc);
			change.n_old_key = plan->nkeys;
			change.old_key = old_keys;
		}
	}
	else
	{
		if (plan->full_row)
		{
			for (i = 0; i < plan->ncolumns; i++)
				cols[i] = MakeColumn(&plan->columns[i], oldtup, desc);
			for (i = 0; i < plan->nkeys; i++)
				keys[i] = cols[plan->keys[i]];
			n = plan->ncolumns;
		}
		else
			for (i = 0; i < plan->nkeys; i++)
				keys[i] = MakeColumn(&plan->columns[plan->keys[i]], oldtup, desc);
	}
	change.n_key = plan->nkeys;
	change.key = keys;
	change.n_values = n;
	change.values = cols;
	return PackChange(&change);
}

/*
 * EncodeRowChangeGuts with DateStyle, IntervalStyle, TimeZone,
 * extra_float_digits and bytea_output pinned to canonical values when some
 * column goes through its type's output function; restored on every exit.
 */
bytea *
EncodeRowChange(CapturePlan *plan, Tablepub__V1__Op op,
				HeapTuple oldtup, HeapTuple newtup, TupleDesc desc)
{
	int			save_datestyle = DateStyle;
	int			save_dateorder = DateOrder;
	int			save_intervalstyle = IntervalStyle;
	int			save_extra_float_digits = extra_float_digits;
	int			save_bytea_output = bytea_output;
	pg_tz	   *save_timezone = session_timezone;
	bytea	   *result;

	if (!plan->has_other)
		return EncodeRowChangeGuts(plan, op, oldtup, newtup, desc);

	if (utc_tz == NULL)
	{
		utc_tz = pg_tzset("UTC");
		if (utc_tz == NULL)
			elog(ERROR, "could not load time zone UTC");
	}
	PG_TRY();
	{
		DateStyle = USE_ISO_DATES;
		DateOrder = DATEORDER_MDY;
		IntervalStyle = INTSTYLE_POSTGRES;
		extra_float_digits = 1;
		bytea_output = BYTEA_OUTPUT_HEX;
		session_timezone = utc_tz;
		result = EncodeRowChangeGuts(plan, op, oldtup, newtup, desc);
	}
	PG_FINALLY();
	{
		DateStyle = save_datestyle;
		DateOrder = save_dateorder;
		IntervalStyle = save_intervalstyle;
		extra_float_digits = save_extra_float_digits;
		bytea_output = save_bytea_output;
		session_timezone = save_timezone;
	}
	PG_END_TRY();
	return result;
}

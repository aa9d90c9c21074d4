/*
 * publication.c: what is published, as capture plans cached per relation,
 * TableSchema messages, and the SQL functions built on them
 * (record_event, record_schema, encode_row).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "tablepub.h"

/* Attribute numbers of tablepub.publication. */
#define Anum_pub_relid 1
#define Anum_pub_full_row 2
#define Anum_pub_include 3
#define Anum_pub_exclude 4
#define Anum_pub_exclude_names 6	/* added in 0.3, after since */

/* A publication resolved against the published table's current columns. */
typedef struct PubInfo
{
	bool		full_row;
	int			natts;
	AttrNumber *atts;			/* published attnums of the table, ascending */
	int			nkeys;
	AttrNumber *keys;			/* primary key attnums, key order */
} PubInfo;

typedef struct PlanEntry
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext cxt;
	CapturePlan *plan;
} PlanEntry;

static HTAB *plan_cache = NULL;

static Oid
TablepubRelid(const char *name)
{
	Oid			nsp = get_namespace_oid("tablepub", false);
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "relation tablepub.%s is missing", name);
	return relid;
}

/* Whether text array arr holds name. */
static bool
ArrayHasName(ArrayType *arr, const char *name)
{
	Datum	   *items;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &items, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i] && strcmp(TextDatumGetCString(items[i]), name) == 0)
			return true;
	return false;
}

static bool
ArrayHasAttnum(ArrayType *arr, AttrNumber attnum)
{
	int16	   *items = (int16 *) ARR_DATA_PTR(arr);
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	int			i;

	for (i = 0; i < n; i++)
		if (items[i] == attnum)
			return true;
	return false;
}

/*
 * Resolves the publication of table rel into info, allocated in
 * CurrentMemoryContext. Returns false when rel is not published.
 */
static bool
GetPubInfo(Relation rel, PubInfo *info)
{
	Relation	pubrel = table_open(TablepubRelid("publication"), AccessShareLock);
	Oid			pkey = RelationGetPrimaryKeyIndex(pubrel);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc = RelationGetDescr(rel);
	ArrayType  *include = NULL;
	ArrayType  *exclude = NULL;
	ArrayType  *exclude_names = NULL;
	bool		isnull;
	Oid			pkindex;
	int			i;

	ScanKeyInit(&skey, Anum_pub_relid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	scan = systable_beginscan(pubrel, pkey, true, GetLatestSnapshot(), 1, &skey);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
	{
		systable_endscan(scan);
		table_close(pubrel, AccessShareLock);
		return false;
	}
	info->full_row = DatumGetBool(heap_getattr(tup, Anum_pub_full_row,
											   RelationGetDescr(pubrel), &isnull));
	{
		Datum		d = heap_getattr(tup, Anum_pub_include, RelationGetDescr(pubrel), &isnull);

		if (!isnull)
			include = DatumGetArrayTypePCopy(d);
		d = heap_getattr(tup, Anum_pub_exclude, RelationGetDescr(pubrel), &isnull);
		if (!isnull)
			exclude = DatumGetArrayTypePCopy(d);
		/* the column is missing before ALTER EXTENSION ... UPDATE TO '0.3' */
		isnull = RelationGetDescr(pubrel)->natts < Anum_pub_exclude_names;
		if (!isnull)
			d = heap_getattr(tup, Anum_pub_exclude_names, RelationGetDescr(pubrel), &isnull);
		if (!isnull)
			exclude_names = DatumGetArrayTypePCopy(d);
	}
	systable_endscan(scan);
	table_close(pubrel, AccessShareLock);

	pkindex = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pkindex))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("published table \"%s\" has no primary key",
						RelationGetRelationName(rel)),
				 errhint("Add a primary key, or unpublish the table.")));
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkindex));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", pkindex);
	{
		Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);

		info->nkeys = idx->indnkeyatts;
		info->keys = palloc(sizeof(AttrNumber) * info->nkeys);
		for (i = 0; i < info->nkeys; i++)
			info->keys[i] = idx->indkey.values[i];
	}
	ReleaseSysCache(tup);

	info->natts = 0;
	info->atts = palloc(sizeof(AttrNumber) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		published;
		int			k;

		if (att->attisdropped)
			continue;
		if (include)
		{
			published = ArrayHasAttnum(include, att->attnum);
			for (k = 0; k < info->nkeys; k++)
				published |= info->keys[k] == att->attnum;
		}
		else if (exclude)
		{
			/*
			 * Excluded by number or by name: a column dropped and added again
			 * under an excluded name stays a secret (docs/design.md).
			 */
			published = !ArrayHasAttnum(exclude, att->attnum) &&
				!(exclude_names && ArrayHasName(exclude_names, NameStr(att->attname)));
		}
		else
			published = true;
		if (published)
			info->atts[info->natts++] = att->attnum;
	}
	return true;
}

static ValueKind
KindOfType(Oid typid)
{
	switch (getBaseType(typid))
	{
		case BOOLOID:
			return VK_BOOL;
		case INT2OID:
			return VK_INT2;
		case INT4OID:
			return VK_INT4;
		case INT8OID:
			return VK_INT8;
		case OIDOID:
			return VK_OID;
		case FLOAT4OID:
			return VK_FLOAT4;
		case FLOAT8OID:
			return VK_FLOAT8;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return VK_TEXT;
		case NAMEOID:
			return VK_NAME;
		case BYTEAOID:
			return VK_BYTEA;
		case NUMERICOID:
			return VK_NUMERIC;
		case TIMESTAMPTZOID:
			return VK_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return VK_TIMESTAMP;
		case DATEOID:
			return VK_DATE;
		case INTERVALOID:
			return VK_INTERVAL;
		case UUIDOID:
			return VK_UUID;
		case JSONOID:
			return VK_JSON;
		case JSONBOID:
			return VK_JSONB;
		default:
			return VK_OTHER;
	}
}

/*
 * Refuses a publication whose primary key has a column that is not
 * published: every change is keyed by it. publish() refuses to exclude a
 * key column and the DDL event trigger refuses a new key with an excluded
 * column, so this fires only for a publication made inconsistent before
 * those checks existed.
 */
static void
CheckKeyPublished(Relation pub, PubInfo *info)
{
	int			k;
	int			i;

	for (k = 0; k < info->nkeys; k++)
	{
		bool		published = false;

		for (i = 0; i < info->natts; i++)
			published |= info->atts[i] == info->keys[k];
		if (!published)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("primary key column \"%s\" of published table \"%s\" is not published",
							NameStr(TupleDescAttr(RelationGetDescr(pub), info->keys[k] - 1)->attname),
							RelationGetRelationName(pub)),
					 errdetail("Every change is identified by the primary key."),
					 errhint("Publish the table again without excluding that column, or unpublish it.")));
	}
}

/* Builds the capture plan for rows of rel published as table pubrelid. */
static CapturePlan *
BuildCapturePlan(Relation rel, Oid pubrelid, MemoryContext cxt)
{
	Relation	pub = rel;
	TupleDesc	desc = RelationGetDescr(rel);
	PubInfo		info;
	CapturePlan *plan;
	MemoryContext old;
	int			i;

	if (RelationGetRelid(rel) != pubrelid)
	{
		if (!rel->rd_rel->relispartition ||
			!list_member_oid(get_partition_ancestors(RelationGetRelid(rel)), pubrelid))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table \"%s\" is not a partition of published table \"%s\"",
							RelationGetRelationName(rel),
							get_rel_name(pubrelid) ? get_rel_name(pubrelid) : "?"),
					 errhint("Capture triggers are created by tablepub.publish() only.")));
		pub = table_open(pubrelid, AccessShareLock);
	}

	old = MemoryContextSwitchTo(cxt);
	if (!GetPubInfo(pub, &info))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" is not published", RelationGetRelationName(pub)),
				 errhint("Capture triggers are created by tablepub.publish() only.")));

	plan = palloc0(sizeof(CapturePlan));
	plan->relid = RelationGetRelid(rel);
	plan->pubrelid = pubrelid;
	plan->full_row = info.full_row;
	plan->ncolumns = info.natts;
	plan->columns = palloc0(sizeof(PubColumn) * info.natts);
	plan->nkeys = info.nkeys;
	plan->keys = palloc0(sizeof(int) * info.nkeys);
	for (i = 0; i < info.natts; i++)
	{
		PubColumn  *col = &plan->columns[i];
		Form_pg_attribute patt = TupleDescAttr(RelationGetDescr(pub), info.atts[i] - 1);
		Form_pg_attribute att;
		int			k;

		col->attnum = pub == rel ? patt->attnum :
			get_attnum(RelationGetRelid(rel), NameStr(patt->attname));
		if (col->attnum == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" missing in partition \"%s\"",
				 NameStr(patt->attname), RelationGetRelationName(rel));
		col->name = pstrdup(NameToUtf8(NameStr(patt->attname), "column"));
		att = TupleDescAttr(desc, col->attnum - 1);
		col->kind = KindOfType(att->atttypid);
		col->typlen = att->attlen;
		col->typbyval = att->attbyval;
		if (col->kind == VK_OTHER)
		{
			Oid			outfunc;
			bool		varlena;

			getTypeOutputInfo(getBaseType(att->atttypid), &outfunc, &varlena);
			fmgr_info_cxt(outfunc, &col->out, cxt);
			plan->has_other = true;
		}
		for (k = 0; k < info.nkeys; k++)
			if (info.keys[k] == patt->attnum)
			{
				col->is_key = true;
				plan->keys[k] = i;
			}
	}
	CheckKeyPublished(pub, &info);
	MemoryContextSwitchTo(old);
	if (pub != rel)
		table_close(pub, AccessShareLock);
	return plan;
}

/* Relcache callback: plans of the relation, or of its publication, go stale. */
static void
InvalidatePlans(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	PlanEntry  *entry;

	hash_seq_init(&status, plan_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (!OidIsValid(relid) || entry->relid == relid ||
			(entry->plan && entry->plan->pubrelid == relid))
			entry->valid = false;
}

void
InitCapturePlanCache(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(PlanEntry);
	plan_cache = hash_create("tablepub capture plans", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	CacheRegisterRelcacheCallback(InvalidatePlans, (Datum) 0);
}

/*
 * The capture plan for rows of rel published as pubrelid, rebuilt after any
 * relcache invalidation of either. Errors if pubrelid is not published or
 * rel is neither it nor one of its partitions.
 */
CapturePlan *
GetCapturePlan(Relation rel, Oid pubrelid)
{
	Oid			relid = RelationGetRelid(rel);
	bool		found;
	PlanEntry  *entry = hash_search(plan_cache, &relid, HASH_ENTER, &found);

	if (found && entry->valid && entry->plan->pubrelid == pubrelid)
		return entry->plan;
	if (!found)
	{
		entry->cxt = NULL;
		entry->plan = NULL;
	}
	entry->valid = false;
	if (entry->cxt)
		MemoryContextDelete(entry->cxt);
	entry->plan = NULL;
	entry->cxt = AllocSetContextCreate(CacheMemoryContext, "tablepub capture plan",
									   ALLOCSET_SMALL_SIZES);
	entry->plan = BuildCapturePlan(rel, pubrelid, entry->cxt);
	entry->valid = true;
	return entry->plan;
}

/*
 * Refuses a published table with an unlogged table in its partition tree:
 * crash recovery empties an unlogged table, and no trigger sees that.
 */
static void
CheckLogged(Oid pubrelid)
{
	List	   *rels = find_all_inheritors(pubrelid, NoLock, NULL);
	ListCell   *lc;

	foreach(lc, rels)
		if (get_rel_persistence(lfirst_oid(lc)) == RELPERSISTENCE_UNLOGGED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot publish unlogged table \"%s\"", get_rel_name(lfirst_oid(lc))),
					 errdetail("Crash recovery empties an unlogged table, and no change is captured for that."),
					 errhint("Use ALTER TABLE ... SET LOGGED, or unpublish the table.")));
}

/* The TableSchema of published table pubrelid, in CurrentMemoryContext. */
Tablepub__V1__TableSchema *
BuildTableSchema(Oid pubrelid)
{
	Relation	rel = table_open(pubrelid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Tablepub__V1__TableSchema *schema = palloc(sizeof(*schema));
	PubInfo		info;
	int			i;

	if (!GetPubInfo(rel, &info))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not published", RelationGetRelationName(rel)),
				 errhint("Publish it with tablepub.publish().")));
	CheckKeyPublished(rel, &info);
	CheckLogged(pubrelid);
	tablepub__v1__table_schema__init(schema);
	schema->schema_name = NameToUtf8(get_namespace_name(RelationGetNamespace(rel)), "schema");
	schema->table_name = NameToUtf8(pstrdup(RelationGetRelationName(rel)), "table");
	schema->full_row = info.full_row;
	schema->n_columns = info.natts;
	schema->columns = palloc(sizeof(Tablepub__V1__ColumnSchema *) * info.natts);
	for (i = 0; i < info.natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, info.atts[i] - 1);
		Tablepub__V1__ColumnSchema *col = palloc(sizeof(*col));
		int			k;

		tablepub__v1__column_schema__init(col);
		col->name = NameToUtf8(pstrdup(NameStr(att->attname)), "column");
		col->type = NameToUtf8(format_type_with_typemod(att->atttypid, att->atttypmod), "type");
		col->type_oid = att->atttypid;
		col->not_null = att->attnotnull;
		for (k = 0; k < info.nkeys; k++)
			if (info.keys[k] == att->attnum)
				col->key_position = k + 1;
		schema->columns[i] = col;
	}
	table_close(rel, AccessShareLock);
	return schema;
}

/*
 * tablepub.record_event(tbl regclass, op text): writes a SCHEMA change (with
 * the table's current TableSchema) or an UNPUBLISH change to the outbox.
 */
PG_FUNCTION_INFO_V1(tablepub_record_event);
Datum
tablepub_record_event(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *op = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Change		change = TABLEPUB__V1__CHANGE__INIT;

	if (strcmp(op, "schema") == 0)
	{
		change.op = TABLEPUB__V1__OP__SCHEMA;
		change.schema = BuildTableSchema(relid);
		/* Capture plans of the table and its partitions must see the new settings. */
		CacheInvalidateRelcacheByRelid(relid);
	}
	else if (strcmp(op, "unpublish") == 0)
		change.op = TABLEPUB__V1__OP__UNPUBLISH;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown event \"%s\"", op),
				 errhint("Valid events are \"schema\" and \"unpublish\".")));
	OutboxInsert(relid, PackChange(&change), false);
	PG_RETURN_VOID();
}

/* The packed SCHEMA change of published table relid as it is now. */
static bytea *
PackSchemaChange(Oid relid)
{
	Change		change = TABLEPUB__V1__CHANGE__INIT;

	change.op = TABLEPUB__V1__OP__SCHEMA;
	change.schema = BuildTableSchema(relid);
	return PackChange(&change);
}

/*
 * tablepub.schema_change(tbl regclass) RETURNS bytea: the SCHEMA change
 * record_event(tbl, 'schema') would write now. Unused, and dropped by
 * tablepub--0.3--0.4.sql; the symbol stays while tablepub--0.2--0.3.sql
 * creates the function (PostgreSQL looks a C function's symbol up when it is
 * created, whatever check_function_bodies says) and a 0.3 catalog may run
 * this library (before ALTER EXTENSION tablepub UPDATE).
 */
PG_FUNCTION_INFO_V1(tablepub_schema_change);
Datum
tablepub_schema_change(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(PackSchemaChange(PG_GETARG_OID(0)));
}

/*
 * tablepub.record_schema(tbl regclass, always boolean): writes the SCHEMA
 * change of published table tbl when always is true or it differs from the
 * last one written (tablepub.publication.last_schema), and remembers it
 * there, so that DDL which leaves the published columns as they were writes
 * none. The change is built once, for the comparison and the outbox alike.
 */
PG_FUNCTION_INFO_V1(tablepub_record_schema);
Datum
tablepub_record_schema(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		always = PG_GETARG_BOOL(1);
	bytea	   *change = PackSchemaChange(relid);
	Oid			argtypes[2] = {OIDOID, BYTEAOID};
	Datum		args[2] = {ObjectIdGetDatum(relid), PointerGetDatum(change)};

	SPI_connect();
	if (!always)
	{
		bool		isnull = true;

		if (SPI_execute_with_args("SELECT p.last_schema FROM tablepub.publication p"
								  " WHERE p.relid OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the last SCHEMA change of table %u", relid);
		if (SPI_processed == 1)
		{
			Datum		last = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			/* By content, as bytea's = compares: the stored one may be packed or compressed. */
			if (!isnull)
			{
				bytea	   *lastb = DatumGetByteaPP(last);

				if (VARSIZE_ANY_EXHDR(lastb) == VARSIZE_ANY_EXHDR(change) &&
					memcmp(VARDATA_ANY(lastb), VARDATA_ANY(change), VARSIZE_ANY_EXHDR(change)) == 0)
				{
					SPI_finish();
					PG_RETURN_VOID();
				}
			}
		}
	}
	/* Capture plans of the table and its partitions must see the new settings. */
	CacheInvalidateRelcacheByRelid(relid);
	OutboxInsert(relid, change, false);
	if (SPI_execute_with_args("UPDATE tablepub.publication p SET last_schema = $2"
							  " WHERE p.relid OPERATOR(pg_catalog.=) $1",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not remember the SCHEMA change of table %u", relid);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * tablepub.record_resync(tbl regclass, reason text): writes a RESYNC change
 * for table tbl: its rows changed in a way no row change expresses, and
 * every subscriber must take a new snapshot.
 */
PG_FUNCTION_INFO_V1(tablepub_record_resync);
Datum
tablepub_record_resync(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Change		change = TABLEPUB__V1__CHANGE__INIT;

	change.op = TABLEPUB__V1__OP__RESYNC;
	change.reason = TextToUtf8Lossy(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	OutboxInsert(relid, PackChange(&change), false);
	PG_RETURN_VOID();
}

/*
 * tablepub.encode_row(tbl regclass, r record) RETURNS bytea: row r of
 * published table tbl as an INSERT-form Change, for snapshots.
 */
PG_FUNCTION_INFO_V1(tablepub_encode_row);
Datum
tablepub_encode_row(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	HeapTupleHeader th = PG_GETARG_HEAPTUPLEHEADER(1);
	HeapTupleData tup;
	Relation	rel = try_table_open(relid, AccessShareLock);
	CapturePlan *plan;
	MemoryContext old;
	bytea	   *change;
	bytea	   *result;

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (HeapTupleHeaderGetTypeId(th) != rel->rd_rel->reltype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("row is not of the row type of table \"%s\"",
						RelationGetRelationName(rel)),
				 errhint("Pass the table's own rows: SELECT tablepub.encode_row('t'::regclass, t) FROM t.")));
	plan = GetCapturePlan(rel, relid);
	tup.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = relid;
	tup.t_data = th;

	MemoryContextReset(EncodeContext());
	old = MemoryContextSwitchTo(EncodeContext());
	change = EncodeRowChange(plan, TABLEPUB__V1__OP__INSERT, NULL, &tup,
							 RelationGetDescr(rel));
	MemoryContextSwitchTo(old);
	result = palloc(VARSIZE(change));
	memcpy(result, change, VARSIZE(change));
	MemoryContextReset(EncodeContext());
	table_close(rel, AccessShareLock);
	PG_RETURN_BYTEA_P(result);
}

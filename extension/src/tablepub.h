/*
 * tablepub.h: declarations shared by the tablepub extension's source files.
 */
#ifndef TABLEPUB_H
#define TABLEPUB_H

#include "postgres.h"

#include "access/attnum.h"
#include "access/htup.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "tablepub.pb-c.h"

typedef Tablepub__V1__Change Change;
typedef Tablepub__V1__Column Column;
typedef Tablepub__V1__Value Value;

/* How a column's datum becomes a Value (encode.c). */
typedef enum ValueKind
{
	VK_BOOL,
	VK_INT2,
	VK_INT4,
	VK_INT8,
	VK_OID,
	VK_FLOAT4,
	VK_FLOAT8,
	VK_TEXT,
	VK_NAME,
	VK_BYTEA,
	VK_NUMERIC,
	VK_TIMESTAMPTZ,
	VK_TIMESTAMP,
	VK_DATE,
	VK_INTERVAL,
	VK_UUID,
	VK_JSON,
	VK_JSONB,
	VK_OTHER
} ValueKind;

/* One published column of the relation a plan is for. */
typedef struct PubColumn
{
	AttrNumber	attnum;			/* in the plan's relation (maybe a partition) */
	char	   *name;
	ValueKind	kind;
	int16		typlen;
	bool		typbyval;
	bool		is_key;
	FmgrInfo	out;			/* output function, VK_OTHER only */
} PubColumn;

/*
 * What capturing a row of one relation needs, built once per relcache
 * version of the relation (publication.c).
 */
typedef struct CapturePlan
{
	Oid			relid;			/* the relation rows come from */
	Oid			pubrelid;		/* the published table (parent for partitions) */
	bool		full_row;
	bool		has_other;		/* some column needs the pinned output settings */
	int			ncolumns;
	PubColumn  *columns;		/* published columns, table order */
	int			nkeys;
	int		   *keys;			/* indexes into columns, primary key order */
} CapturePlan;

/* tablepub.c */
extern bool tablepub_notify;
extern int	tablepub_notify_interval_ms;
extern int	tablepub_retention_s;
extern int	tablepub_pack_bytes;

/* publication.c */
extern CapturePlan *GetCapturePlan(Relation rel, Oid pubrelid);
extern Tablepub__V1__TableSchema *BuildTableSchema(Oid pubrelid);
extern void InitCapturePlanCache(void);

/* encode.c */
extern MemoryContext EncodeContext(void);
extern bytea *EncodeRowChange(CapturePlan *plan, Tablepub__V1__Op op,
							  HeapTuple oldtup, HeapTuple newtup,
							  TupleDesc desc);
extern bytea *PackChange(Change *change);
extern ProtobufCAllocator *PallocAllocator(void);

/* ddl.c */
extern void InitDdlHooks(void);
extern void ResetDroppedPartitions(void);
extern void RememberPartitionNames(Node *parsetree);

/* utf8.c */
extern char *ServerToUtf8(char *s);
extern char *NameToUtf8(char *name, const char *what);
extern char *TextToUtf8Lossy(char *s);

/* outbox.c */
extern void OutboxInsert(Oid pubrelid, bytea *change, bool bufferable);
extern void InitOutbox(void);

#endif							/* TABLEPUB_H */

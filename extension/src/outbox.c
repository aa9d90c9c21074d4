/*
 * outbox.c: appends serialized changes to the current outbox partition
 * through the heap and index AMs (no SPI, no planner, no privilege check on
 * the outbox), and wakes the relay with one NOTIFY per transaction.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

#include "tablepub.h"

#define NOTIFY_CHANNEL "tablepub"

/* Attribute numbers of tablepub.outbox_state. */
#define Anum_state_gen 1
#define Anum_state_retired 3

/* What one top-level transaction caches about the outbox. */
static struct
{
	LocalTransactionId lxid;	/* transaction the rest is valid for */
	int16		gen;			/* current generation when first needed */
	Oid			part;			/* tablepub.outbox_<gen> */
	Oid			index;			/* its BRIN index on txid */
	IndexInfo  *index_info;		/* in TopTransactionContext */
	bool		notified;		/* NOTIFY queued in this transaction */
	int			notify_level;	/* subtransaction nest level that queued it */
} xstate;

/* Last position handed out by this backend: positions strictly increase. */
static XLogRecPtr last_pos = InvalidXLogRecPtr;

/* Reads the current generation and its partition once per transaction. */
static void
LoadXactState(void)
{
	Oid			nsp = get_namespace_oid("tablepub", false);
	Oid			state_relid = get_relname_relid("outbox_state", nsp);
	Relation	state;
	TableScanDesc scan;
	HeapTuple	tup;
	char		name[NAMEDATALEN];
	Relation	part;
	List	   *indexes;
	MemoryContext old;
	int			gen = -1;

	if (!OidIsValid(state_relid))
		elog(ERROR, "relation tablepub.outbox_state is missing");
	state = table_open(state_relid, AccessShareLock);
	scan = table_beginscan(state, GetLatestSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;

		(void) heap_getattr(tup, Anum_state_retired, RelationGetDescr(state), &isnull);
		if (isnull)
			gen = DatumGetInt16(heap_getattr(tup, Anum_state_gen,
											 RelationGetDescr(state), &isnull));
	}
	table_endscan(scan);
	table_close(state, AccessShareLock);
	if (gen < 0)
		elog(ERROR, "tablepub.outbox_state has no current generation");

	snprintf(name, sizeof(name), "outbox_%d", gen);
	xstate.part = get_relname_relid(name, nsp);
	if (!OidIsValid(xstate.part))
		elog(ERROR, "relation tablepub.%s is missing", name);
	part = table_open(xstate.part, RowExclusiveLock);
	indexes = RelationGetIndexList(part);
	if (list_length(indexes) != 1)
		elog(ERROR, "relation tablepub.%s must have exactly one index", name);
	xstate.index = linitial_oid(indexes);
	{
		Relation	index = index_open(xstate.index, RowExclusiveLock);

		old = MemoryContextSwitchTo(TopTransactionContext);
		xstate.index_info = BuildIndexInfo(index);
		MemoryContextSwitchTo(old);
		index_close(index, NoLock);
	}
	table_close(part, NoLock);
	xstate.gen = gen;
	xstate.notified = false;
	xstate.lxid = MyProc->lxid;
}

/*
 * A NOTIFY queued in a subtransaction is discarded when it aborts and moves
 * to the parent when it commits; follow it, so that a transaction whose
 * notification was rolled back queues a new one.
 */
static void
OutboxSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (!xstate.notified || xstate.lxid != MyProc->lxid)
		return;
	level = GetCurrentTransactionNestLevel();
	if (xstate.notify_level < level)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		xstate.notified = false;
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		xstate.notify_level = level - 1;
}

void
InitOutbox(void)
{
	RegisterSubXactCallback(OutboxSubXactCallback, NULL);
}

/* Appends change for published table pubrelid to the outbox. */
void
OutboxInsert(Oid pubrelid, bytea *change)
{
	Relation	rel;
	Relation	index;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	HeapTuple	tup;
	XLogRecPtr	pos;
	Datum		txid;

	if (xstate.lxid != MyProc->lxid)
		LoadXactState();

	txid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	rel = table_open(xstate.part, RowExclusiveLock);
	index = index_open(xstate.index, RowExclusiveLock);

	pos = GetXLogInsertRecPtr();
	if (pos <= last_pos)
		pos = last_pos + 1;
	last_pos = pos;

	values[0] = Int16GetDatum(xstate.gen);
	values[1] = txid;
	values[2] = Int64GetDatum((int64) pos);
	values[3] = ObjectIdGetDatum(pubrelid);
	values[4] = PointerGetDatum(change);
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	heap_insert(rel, tup, GetCurrentCommandId(true), 0, NULL);

	values[0] = txid;
	values[1] = Int64GetDatum((int64) pos);
	index_insert(index, values, nulls, &tup->t_self, rel,
				 UNIQUE_CHECK_NO, false, xstate.index_info);

	index_close(index, NoLock);
	table_close(rel, NoLock);

	if (tablepub_notify && !xstate.notified)
	{
		Async_Notify(NOTIFY_CHANNEL, NULL);
		xstate.notified = true;
		xstate.notify_level = GetCurrentTransactionNestLevel();
	}
}

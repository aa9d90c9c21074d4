/*
 * outbox.c: appends serialized changes to the current outbox partition
 * through the heap and index AMs (no SPI, no planner, no privilege check on
 * the outbox), and wakes the relay with NOTIFY at commit, at most once per
 * tablepub.notify_interval per backend.
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
#include "utils/timestamp.h"
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
	Oid			index;			/* its btree index on txid */
	IndexInfo  *index_info;		/* in TopTransactionContext */
} xstate;

/* This transaction wrote something to the outbox (reset at its end). */
static bool xact_captured = false;

/* A NOTIFY was queued at this transaction's pre-commit, at notify_at. */
static bool xact_notified = false;
static TimestampTz notify_at = 0;

/* When this backend's last committed NOTIFY was queued (0: never). */
static TimestampTz last_notify = 0;

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
	xstate.lxid = MyProc->lxid;
}

/*
 * Wakes the relay. The capture only marks the transaction; at pre-commit
 * (before PreCommit_Notify in CommitTransaction) NOTIFY is queued when
 * tablepub.notify is on and this backend's last NOTIFY is at least
 * tablepub.notify_interval old. A skipped NOTIFY costs at most a few
 * milliseconds: after any wake-up the relay keeps polling until it has seen
 * nothing for longer than notify_interval (plus a margin). PREPARE never
 * notifies (PostgreSQL could not prepare the transaction); the relay finds
 * prepared transactions committed later by polling.
 */
static void
OutboxXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (xact_captured && tablepub_notify)
			{
				TimestampTz now = GetCurrentTimestamp();

				if (tablepub_notify_interval_ms <= 0 || last_notify == 0 ||
					now - last_notify >= (int64) tablepub_notify_interval_ms * 1000 ||
					now < last_notify)
				{
					Async_Notify(NOTIFY_CHANNEL, NULL);
					xact_notified = true;
					notify_at = now;
				}
			}
			break;
		case XACT_EVENT_COMMIT:
			/* Only a NOTIFY that went out counts for the throttle. */
			if (xact_notified)
				last_notify = notify_at;
			xact_captured = false;
			xact_notified = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PRE_PREPARE:
		case XACT_EVENT_PREPARE:
			xact_captured = false;
			xact_notified = false;
			break;
		default:
			break;
	}
}

void
InitOutbox(void)
{
	RegisterXactCallback(OutboxXactCallback, NULL);
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
	index_insert(index, values, nulls, &tup->t_self, rel,
				 UNIQUE_CHECK_NO, false, xstate.index_info);

	index_close(index, NoLock);
	table_close(rel, NoLock);

	xact_captured = true;
}

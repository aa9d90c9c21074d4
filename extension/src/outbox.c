/*
 * outbox.c: appends serialized changes to the current outbox partition
 * through the heap and index AMs (no SPI, no planner, no privilege check on
 * the outbox), buffering the rows of a statement for heap_multi_insert and
 * packing consecutive row changes of one table into one outbox row (pack.h),
 * and wakes the relay with NOTIFY at commit, at most once per
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
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pack.h"
#include "tablepub.h"

#define NOTIFY_CHANNEL "tablepub"

/* Attribute numbers of tablepub.outbox_state (outbox_format is looked up by name). */
#define Anum_state_gen 1
#define Anum_state_retired 3

/* outbox_state.outbox_format that allows packed rows (extension 0.4). */
#define OUTBOX_FORMAT_PACKED 2

/* What one top-level transaction caches about the outbox. */
static struct
{
	LocalTransactionId lxid;	/* transaction the rest is valid for */
	int16		gen;			/* current generation when first needed */
	Oid			part;			/* tablepub.outbox_<gen> */
	Oid			index;			/* its btree index on txid */
	IndexInfo  *index_info;		/* in relcache_cxt */
	bool		pack;			/* the partition's outbox_format allows packed rows */
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

/*
 * What stays valid across transactions until a relcache invalidation of one
 * of these relations (DROP EXTENSION, TRUNCATE by maintain(), any ALTER):
 * the catalog lookups LoadXactState would otherwise repeat for every
 * transaction. The current generation itself is read for every transaction.
 */
static struct
{
	bool		valid;
	Oid			state;			/* tablepub.outbox_state */
	AttrNumber	format_attnum;	/* its outbox_format (0.4), InvalidAttrNumber before */
	Oid			part[3];		/* tablepub.outbox_<gen>, InvalidOid: not looked up yet */
	Oid			index[3];		/* their indexes */
	IndexInfo  *index_info[3];	/* in relcache_cxt */
} relcache;
static MemoryContext relcache_cxt = NULL;

static void
ForgetOutboxRelations(Datum arg, Oid relid)
{
	int			i;

	if (!relcache.valid)
		return;
	if (OidIsValid(relid) && relid != relcache.state)
	{
		for (i = 0; i < 3; i++)
			if (relid == relcache.part[i] || relid == relcache.index[i])
				break;
		if (i == 3)
			return;
	}
	/* The running transaction keeps what it loaded: its IndexInfo stays. */
	relcache.valid = false;
}

/* Reads the current generation and its partition once per transaction. */
static void
LoadXactState(void)
{
	Relation	state;
	TableScanDesc scan;
	HeapTuple	tup;
	Relation	part;
	MemoryContext old;
	int			gen = -1;
	int			format = 1;

	if (!relcache.valid)
	{
		Oid			nsp = get_namespace_oid("tablepub", false);

		memset(&relcache, 0, sizeof(relcache));
		if (relcache_cxt == NULL)
			relcache_cxt = AllocSetContextCreate(TopMemoryContext, "tablepub outbox relations",
												 ALLOCSET_SMALL_SIZES);
		else if (xstate.lxid != MyProc->lxid)
			MemoryContextReset(relcache_cxt);
		relcache.state = get_relname_relid("outbox_state", nsp);
		if (!OidIsValid(relcache.state))
			elog(ERROR, "relation tablepub.outbox_state is missing");
		/*
		 * The version gate of packed rows: ALTER EXTENSION ... UPDATE TO
		 * '0.4' adds the column, and the relcache invalidation of the
		 * ALTER TABLE brings every backend here again.
		 */
		relcache.format_attnum = get_attnum(relcache.state, "outbox_format");
		relcache.valid = true;
	}
	/* Opening it processes pending invalidations: relcache may be reset here. */
	state = table_open(relcache.state, AccessShareLock);
	scan = table_beginscan(state, GetLatestSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;

		(void) heap_getattr(tup, Anum_state_retired, RelationGetDescr(state), &isnull);
		if (!isnull)
			continue;
		gen = DatumGetInt16(heap_getattr(tup, Anum_state_gen,
										 RelationGetDescr(state), &isnull));
		/* Only while the attribute number was looked up for this descriptor. */
		if (relcache.valid && AttributeNumberIsValid(relcache.format_attnum) &&
			relcache.format_attnum <= RelationGetDescr(state)->natts)
		{
			Datum		d = heap_getattr(tup, relcache.format_attnum,
										 RelationGetDescr(state), &isnull);

			if (!isnull)
				format = DatumGetInt16(d);
		}
	}
	table_endscan(scan);
	table_close(state, AccessShareLock);
	if (gen < 0 || gen > 2)
		elog(ERROR, "tablepub.outbox_state has no current generation");
	if (!relcache.valid)
	{
		/* Invalidated while the state was opened: look everything up again. */
		LoadXactState();
		return;
	}

	if (!OidIsValid(relcache.part[gen]))
	{
		char		name[NAMEDATALEN];

		snprintf(name, sizeof(name), "outbox_%d", gen);
		relcache.part[gen] = get_relname_relid(name, get_namespace_oid("tablepub", false));
		if (!OidIsValid(relcache.part[gen]))
			elog(ERROR, "relation tablepub.%s is missing", name);
	}
	part = table_open(relcache.part[gen], RowExclusiveLock);
	if (relcache.valid && relcache.index_info[gen] == NULL)
	{
		List	   *indexes = RelationGetIndexList(part);
		Relation	index;

		if (list_length(indexes) != 1)
			elog(ERROR, "relation tablepub.%s must have exactly one index",
				 RelationGetRelationName(part));
		relcache.index[gen] = linitial_oid(indexes);
		index = index_open(relcache.index[gen], RowExclusiveLock);
		old = MemoryContextSwitchTo(relcache_cxt);
		relcache.index_info[gen] = BuildIndexInfo(index);
		MemoryContextSwitchTo(old);
		index_close(index, NoLock);
	}
	else if (relcache.valid)
		index_close(index_open(relcache.index[gen], RowExclusiveLock), NoLock);
	table_close(part, NoLock);
	if (!relcache.valid)
	{
		/* Invalidated by the locks just taken: look everything up again. */
		LoadXactState();
		return;
	}
	xstate.gen = gen;
	xstate.part = relcache.part[gen];
	xstate.index = relcache.index[gen];
	xstate.index_info = relcache.index_info[gen];
	xstate.pack = format >= OUTBOX_FORMAT_PACKED;
	xstate.lxid = MyProc->lxid;
}

/*
 * Rows captured by the AFTER ROW triggers of one statement are buffered and
 * written with heap_multi_insert when the statement's after-trigger queue is
 * done (ExecutorFinish hook), when the buffer is full, before a SCHEMA or
 * TRUNCATE change, and at the latest at pre-commit/pre-prepare. Every row
 * gets its position when it is captured, so the order the rows are written in
 * does not matter. Buffered rows belong to one subtransaction (subid) and are
 * written only while it is the current one (heap tuples take the current
 * subtransaction's xid); a capture in another subtransaction is written
 * directly. A subtransaction that commits hands its rows to its parent; one
 * that aborts discards them.
 *
 * When they are written, consecutive buffered changes of one table are
 * packed into outbox rows of at most tablepub.pack_bytes (PackRows). A pack
 * never spans a row written directly meanwhile (counted by direct_writes):
 * the pack takes the position of its last change, so the direct row would
 * sort after changes captured before it.
 */
#define OUTBOX_BUFFER_ROWS 1000
#define OUTBOX_BUFFER_BYTES (1024 * 1024)

typedef struct BufferedRow
{
	Oid			pubrelid;
	int64		pos;
	uint64		direct_writes;	/* direct_writes when it was captured */
	bytea	   *change;			/* in buffer.cxt */
} BufferedRow;

/* Rows this backend wrote with InsertDirect(): packs end where it grows. */
static uint64 direct_writes = 0;

static struct
{
	MemoryContext cxt;			/* the changes; reset when emptied */
	SubTransactionId subid;		/* subtransaction the rows belong to */
	int64		first_pos;		/* position of rows[0] */
	int			n;
	Size		bytes;
	BufferedRow rows[OUTBOX_BUFFER_ROWS];
} buffer;

/* Virtual slots over a copy of the outbox's row type, for heap_multi_insert. */
static TupleDesc slot_desc = NULL;
static TupleTableSlot *slots[OUTBOX_BUFFER_ROWS];

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/* Hands out the next position: WAL insert position, strictly increasing. */
static int64
NextPos(void)
{
	XLogRecPtr	pos = GetXLogInsertRecPtr();

	if (pos <= last_pos)
		pos = last_pos + 1;
	last_pos = pos;
	return (int64) pos;
}

static void
FillValues(Datum *values, Oid pubrelid, int64 pos, bytea *change, Datum txid)
{
	values[0] = Int16GetDatum(xstate.gen);
	values[1] = txid;
	values[2] = Int64GetDatum(pos);
	values[3] = ObjectIdGetDatum(pubrelid);
	values[4] = PointerGetDatum(change);
}

/*
 * Forgets the buffered rows (their subtransaction aborted) and takes their
 * positions back: every position handed out since the first of them went to
 * work of the aborted subtransaction, and a position never backed by written
 * WAL must not stay ahead of the WAL (see design.md, "pos").
 */
static void
DiscardBuffer(void)
{
	if (buffer.n > 0 && last_pos >= (XLogRecPtr) buffer.first_pos)
		last_pos = (XLogRecPtr) buffer.first_pos - 1;
	buffer.n = 0;
	buffer.bytes = 0;
	if (buffer.cxt)
		MemoryContextReset(buffer.cxt);
}

/* The outbox was re-created (extension dropped and created again) differently? */
static bool
SameRowShape(TupleDesc a, TupleDesc b)
{
	int			i;

	if (a->natts != b->natts)
		return false;
	for (i = 0; i < a->natts; i++)
		if (TupleDescAttr(a, i)->atttypid != TupleDescAttr(b, i)->atttypid ||
			TupleDescAttr(a, i)->attisdropped != TupleDescAttr(b, i)->attisdropped)
			return false;
	return true;
}

/* Fills slot with an outbox row. */
static void
FillSlot(TupleTableSlot *slot, Oid pubrelid, int64 pos, bytea *change, Datum txid)
{
	ExecClearTuple(slot);
	FillValues(slot->tts_values, pubrelid, pos, change, txid);
	memset(slot->tts_isnull, false, slot_desc->natts * sizeof(bool));
	ExecStoreVirtualTuple(slot);
}

/* Bytes buffered row i adds to a pack: its length's varint and the change. */
static Size
PackedSize(int i)
{
	Size		len = VARSIZE_ANY_EXHDR(buffer.rows[i].change);

	return PackVarintSize(len) + len;
}

/*
 * Fills slots with the buffered rows, packed: each run of consecutive
 * changes of one table captured between the same two direct writes becomes
 * packed rows of 2 or more changes and at most limit bytes (marker
 * included), taken greedily in order, each with the position of its last
 * change; a change that does not fit in a pack with the next one is written
 * plain. Returns the number of slots filled.
 */
static int
PackRows(Datum txid, Size limit)
{
	int			nslots = 0;
	int			i = 0;

	while (i < buffer.n)
	{
		BufferedRow *first = &buffer.rows[i];
		Size		total = 1 + PackedSize(i);
		int			j = i + 1;
		bytea	   *packed;
		uint8	   *p;
		int			k;

		while (j < buffer.n && buffer.rows[j].pubrelid == first->pubrelid &&
			   buffer.rows[j].direct_writes == first->direct_writes &&
			   total + PackedSize(j) <= limit)
			total += PackedSize(j++);
		if (j - i == 1)
		{
			FillSlot(slots[nslots++], first->pubrelid, first->pos, first->change, txid);
			i++;
			continue;
		}
		packed = MemoryContextAlloc(buffer.cxt, VARHDRSZ + total);
		SET_VARSIZE(packed, VARHDRSZ + total);
		p = (uint8 *) VARDATA(packed);
		*p++ = PACK_MARKER;
		for (k = i; k < j; k++)
		{
			Size		len = VARSIZE_ANY_EXHDR(buffer.rows[k].change);

			p += PackPutVarint(p, len);
			memcpy(p, VARDATA_ANY(buffer.rows[k].change), len);
			p += len;
		}
		Assert(p == (uint8 *) VARDATA(packed) + total);
		FillSlot(slots[nslots++], first->pubrelid, buffer.rows[j - 1].pos, packed, txid);
		i = j;
	}
	return nslots;
}

/* Writes the buffered rows when they belong to the current subtransaction. */
static void
FlushBuffer(void)
{
	Relation	rel;
	Relation	index;
	Datum		txid;
	bool		isnull = false;
	int			i;
	int			nslots;
	Size		limit = (Size) Min(Max(tablepub_pack_bytes, 0), PACK_MAX_BYTES);

	if (buffer.n == 0 || buffer.subid != GetCurrentSubTransactionId())
		return;

	txid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	rel = table_open(xstate.part, RowExclusiveLock);
	index = index_open(xstate.index, RowExclusiveLock);
	if (slot_desc != NULL && !SameRowShape(slot_desc, RelationGetDescr(rel)))
	{
		for (i = 0; i < OUTBOX_BUFFER_ROWS; i++)
			ExecDropSingleTupleTableSlot(slots[i]);
		FreeTupleDesc(slot_desc);
		slot_desc = NULL;
	}
	if (slot_desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		slot_desc = CreateTupleDescCopy(RelationGetDescr(rel));
		for (i = 0; i < OUTBOX_BUFFER_ROWS; i++)
			slots[i] = MakeSingleTupleTableSlot(slot_desc, &TTSOpsVirtual);
		MemoryContextSwitchTo(old);
	}
	if (xstate.pack && limit > 0)
		nslots = PackRows(txid, limit);
	else
	{
		for (i = 0; i < buffer.n; i++)
			FillSlot(slots[i], buffer.rows[i].pubrelid, buffer.rows[i].pos,
					 buffer.rows[i].change, txid);
		nslots = buffer.n;
	}
	heap_multi_insert(rel, slots, nslots, GetCurrentCommandId(true), 0, NULL);
	for (i = 0; i < nslots; i++)
	{
		index_insert(index, &txid, &isnull, &slots[i]->tts_tid, rel,
					 UNIQUE_CHECK_NO, false, xstate.index_info);
		ExecClearTuple(slots[i]);
	}
	index_close(index, NoLock);
	table_close(rel, NoLock);
	buffer.n = 0;
	buffer.bytes = 0;
	MemoryContextReset(buffer.cxt);
}

/* Writes one row at once with heap_insert. */
static void
InsertDirect(Oid pubrelid, int64 pos, bytea *change)
{
	Relation	rel;
	Relation	index;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	HeapTuple	tup;
	Datum		txid = FullTransactionIdGetDatum(GetTopFullTransactionId());

	direct_writes++;
	rel = table_open(xstate.part, RowExclusiveLock);
	index = index_open(xstate.index, RowExclusiveLock);
	FillValues(values, pubrelid, pos, change, txid);
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	heap_insert(rel, tup, GetCurrentCommandId(true), 0, NULL);
	index_insert(index, &txid, nulls, &tup->t_self, rel,
				 UNIQUE_CHECK_NO, false, xstate.index_info);
	index_close(index, NoLock);
	table_close(rel, NoLock);
}

/*
 * Appends change for published table pubrelid to the outbox. Row changes
 * (bufferable) captured while a statement's after triggers run are buffered;
 * everything else is written at once, after the buffer when that is possible.
 */
void
OutboxInsert(Oid pubrelid, bytea *change, bool bufferable)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	int64		pos;

	if (xstate.lxid != MyProc->lxid)
		LoadXactState();
	pos = NextPos();
	xact_captured = true;

	if (bufferable && (buffer.n == 0 || buffer.subid == subid))
	{
		BufferedRow *row = &buffer.rows[buffer.n];
		Size		len = VARSIZE_ANY(change);

		if (buffer.n == 0)
		{
			buffer.subid = subid;
			buffer.first_pos = pos;
		}
		row->pubrelid = pubrelid;
		row->pos = pos;
		row->direct_writes = direct_writes;
		row->change = MemoryContextAlloc(buffer.cxt, len);
		memcpy(row->change, change, len);
		buffer.n++;
		buffer.bytes += len;
		if (buffer.n >= OUTBOX_BUFFER_ROWS || buffer.bytes >= OUTBOX_BUFFER_BYTES)
			FlushBuffer();
		return;
	}
	FlushBuffer();
	InsertDirect(pubrelid, pos, change);
}

/*
 * A statement's after triggers (the captures) run in ExecutorFinish: write
 * their rows when they are done. The statement that loads this library (its
 * first capture) started before the hooks existed; the next statement's
 * ExecutorStart writes its rows, so that later statements see them.
 */
static void
OutboxExecutorFinish(QueryDesc *queryDesc)
{
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	FlushBuffer();
}

static void
OutboxExecutorStart(QueryDesc *queryDesc, int eflags)
{
	FlushBuffer();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
OutboxSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (buffer.n == 0 || buffer.subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		buffer.subid = parentSubid;
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		DiscardBuffer();
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
/* Every subtransaction has ended by now: buffered rows belong to the top. */
static void
CheckBufferEmpty(void)
{
	if (buffer.n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("tablepub: %d captured changes of subtransaction %u were not written to the outbox",
						buffer.n, buffer.subid)));
}

static void
OutboxXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			FlushBuffer();
			CheckBufferEmpty();
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
		case XACT_EVENT_PRE_PREPARE:
			FlushBuffer();
			CheckBufferEmpty();
			xact_captured = false;
			break;
		case XACT_EVENT_COMMIT:
			/* Only a NOTIFY that went out counts for the throttle. */
			if (xact_notified)
				last_notify = notify_at;
			xact_captured = false;
			xact_notified = false;
			break;
		case XACT_EVENT_ABORT:
			DiscardBuffer();
			xact_captured = false;
			xact_notified = false;
			break;
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
	buffer.cxt = AllocSetContextCreate(TopMemoryContext, "tablepub outbox buffer",
									   ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(ForgetOutboxRelations, (Datum) 0);
	RegisterXactCallback(OutboxXactCallback, NULL);
	RegisterSubXactCallback(OutboxSubXactCallback, NULL);
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = OutboxExecutorStart;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = OutboxExecutorFinish;
}

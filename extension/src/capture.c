/*
 * capture.c: the trigger functions that record the changes of published
 * tables into the outbox.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/partition.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "tablepub.h"

/* The published table a capture trigger names in its one argument. */
static Oid
TriggerPubRelid(TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tablepub capture trigger \"%s\" must have one argument", trigger->tgname),
				 errhint("Capture triggers are created by tablepub.publish() only.")));
	return DatumGetObjectId(DirectFunctionCall1(oidin, CStringGetDatum(trigger->tgargs[0])));
}

/*
 * tablepub.capture_row(): AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW on a
 * published table (cloned onto its partitions).
 */
PG_FUNCTION_INFO_V1(tablepub_capture_row);
Datum
tablepub_capture_row(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	CapturePlan *plan;
	Tablepub__V1__Op op;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	MemoryContext old;
	bytea	   *change;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tablepub.capture_row() must be called as a trigger")));
	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(event) || !TRIGGER_FIRED_FOR_ROW(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tablepub.capture_row() must be fired AFTER ... FOR EACH ROW")));

	plan = GetCapturePlan(trigdata->tg_relation, TriggerPubRelid(trigdata));
	if (TRIGGER_FIRED_BY_INSERT(event))
	{
		op = TABLEPUB__V1__OP__INSERT;
		newtup = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(event))
	{
		op = TABLEPUB__V1__OP__UPDATE;
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(event))
	{
		op = TABLEPUB__V1__OP__DELETE;
		oldtup = trigdata->tg_trigtuple;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tablepub.capture_row() must be fired for INSERT, UPDATE or DELETE")));

	MemoryContextReset(EncodeContext());
	old = MemoryContextSwitchTo(EncodeContext());
	change = EncodeRowChange(plan, op, oldtup, newtup,
							 RelationGetDescr(trigdata->tg_relation));
	if (change)
		OutboxInsert(plan->pubrelid, change, true);
	MemoryContextSwitchTo(old);
	MemoryContextReset(EncodeContext());
	return PointerGetDatum(NULL);
}

/* Published tables whose TRUNCATE the current command already recorded. */
static LocalTransactionId truncate_lxid = InvalidLocalTransactionId;
static CommandId truncate_cid = InvalidCommandId;
static List *truncated = NIL;	/* in TopTransactionContext */

/*
 * tablepub.capture_truncate(): BEFORE TRUNCATE FOR EACH STATEMENT on a
 * published table and on each of its partitions. TRUNCATE of the table
 * records one TRUNCATE change (the triggers of its partitions, fired after
 * the table's, see it recorded); TRUNCATE of a partition alone cannot be
 * expressed as a change of the published table and is refused.
 */
PG_FUNCTION_INFO_V1(tablepub_capture_truncate);
Datum
tablepub_capture_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	Oid			pubrelid;
	CommandId	cid = GetCurrentCommandId(false);

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tablepub.capture_truncate() must be called as a trigger")));
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tablepub.capture_truncate() must be fired for TRUNCATE ... FOR EACH STATEMENT")));
	rel = trigdata->tg_relation;
	pubrelid = TriggerPubRelid(trigdata);

	if (truncate_lxid != MyProc->lxid || truncate_cid != cid)
	{
		truncate_lxid = MyProc->lxid;
		truncate_cid = cid;
		truncated = NIL;
	}
	if (list_member_oid(truncated, pubrelid))
		return PointerGetDatum(NULL);

	if (RelationGetRelid(rel) == pubrelid)
	{
		Change		change = TABLEPUB__V1__CHANGE__INIT;
		MemoryContext old;

		/* Refuses a table that is not published. */
		(void) GetCapturePlan(rel, pubrelid);
		MemoryContextReset(EncodeContext());
		old = MemoryContextSwitchTo(EncodeContext());
		change.op = TABLEPUB__V1__OP__TRUNCATE;
		OutboxInsert(pubrelid, PackChange(&change), false);
		MemoryContextSwitchTo(TopTransactionContext);
		truncated = lappend_oid(truncated, pubrelid);
		MemoryContextSwitchTo(old);
		MemoryContextReset(EncodeContext());
	}
	else if (list_member_oid(get_partition_ancestors(RelationGetRelid(rel)), pubrelid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot truncate partition \"%s\" of published table \"%s\"",
						RelationGetRelationName(rel), get_rel_name(pubrelid)),
				 errhint("Truncate the whole table, or DELETE FROM the partition.")));
	/* else: a partition detached since; its trigger is stale and harmless */
	return PointerGetDatum(NULL);
}

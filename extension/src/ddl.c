/*
 * ddl.c: what the DDL event triggers (tablepub--0.2--0.3.sql, "Capture and
 * DDL guards") need to know and cannot learn from SQL:
 *
 * - which ALTER TABLE subcommands moved rows into or out of a published
 *   table, or rewrote its values (ATTACH / DETACH PARTITION, ALTER COLUMN
 *   TYPE), and which ALTER TYPE renamed an enum value, from the collected
 *   parse trees of pg_event_trigger_ddl_commands();
 * - which partitions a DROP removed, recorded by an object access hook while
 *   their pg_inherits rows still exist (sql_drop runs after they are gone,
 *   and a DROP SCHEMA or DROP OWNED removes partitions it never names);
 * - which relations an ATTACH / DETACH PARTITION named, resolved at
 *   ddl_command_start with the caller's search_path;
 * - setting a capture trigger to fire in every session_replication_role, or
 *   dropping one, without running ALTER TABLE or DROP TRIGGER, which would
 *   fire the event triggers again.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/deparse_utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "tablepub.h"

/* A partition dropped by the current command, as the hook saw it. */
typedef struct DroppedPartition
{
	char	   *name;			/* schema-qualified, quoted */
	List	   *ancestors;		/* oids, nearest parent first */
} DroppedPartition;

static object_access_hook_type prev_object_access_hook = NULL;
static LocalTransactionId dropped_lxid = InvalidLocalTransactionId;
static List *dropped = NIL;		/* of DroppedPartition, in TopTransactionContext */

/*
 * Records every partition (table, partitioned table or foreign table) just
 * before it is deleted. Cheap for everything else: one syscache lookup per
 * dropped relation.
 */
static void
RecordDroppedPartition(ObjectAccessType access, Oid classId, Oid objectId,
					   int subId, void *arg)
{
	HeapTuple	tup;
	Form_pg_class form;

	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access != OAT_DROP || classId != RelationRelationId || subId != 0)
		return;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(objectId));
	if (!HeapTupleIsValid(tup))
		return;
	form = (Form_pg_class) GETSTRUCT(tup);
	if (form->relispartition &&
		(form->relkind == RELKIND_RELATION ||
		 form->relkind == RELKIND_PARTITIONED_TABLE ||
		 form->relkind == RELKIND_FOREIGN_TABLE))
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		DroppedPartition *d = palloc(sizeof(DroppedPartition));

		if (dropped_lxid != MyProc->lxid)
		{
			dropped_lxid = MyProc->lxid;
			dropped = NIL;
		}
		d->name = pstrdup(quote_qualified_identifier(get_namespace_name(form->relnamespace),
													 NameStr(form->relname)));
		d->ancestors = get_partition_ancestors(objectId);
		dropped = lappend(dropped, d);
		MemoryContextSwitchTo(old);
	}
	ReleaseSysCache(tup);
}

void
InitDdlHooks(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = RecordDroppedPartition;
}

/*
 * Forgets partitions recorded by an earlier command (one that failed in a
 * subtransaction before its sql_drop ran). Called at ddl_command_start; the
 * event trigger that calls it is also what loads this library, and with it
 * the hook, before a DROP deletes anything.
 */
void
ResetDroppedPartitions(void)
{
	dropped = NIL;
	dropped_lxid = InvalidLocalTransactionId;
}

/*
 * tablepub.dropped_partitions() RETURNS TABLE (partition text, ancestors
 * oid[]): the partitions the current command dropped, once (the list is
 * cleared).
 */
PG_FUNCTION_INFO_V1(tablepub_dropped_partitions);
Datum
tablepub_dropped_partitions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	if (dropped_lxid != MyProc->lxid)
		dropped = NIL;
	foreach(lc, dropped)
	{
		DroppedPartition *d = lfirst(lc);
		int			n = list_length(d->ancestors);
		Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
		Datum		values[2];
		bool		nulls[2] = {false, false};
		ListCell   *la;
		int			i = 0;

		foreach(la, d->ancestors)
			elems[i++] = ObjectIdGetDatum(lfirst_oid(la));
		values[0] = CStringGetTextDatum(d->name);
		values[1] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid),
													true, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ResetDroppedPartitions();
	return (Datum) 0;
}

/*
 * Partition names of the ATTACH / DETACH PARTITION subcommands of the
 * current ALTER TABLE, resolved at ddl_command_start with the user's
 * search_path: the collected subcommand has only the name, and the
 * ddl_command_end trigger runs with search_path = pg_catalog, pg_temp.
 */
typedef struct PartitionName
{
	char	   *schemaname;		/* NULL when not qualified */
	char	   *relname;
	Oid			relid;
} PartitionName;

/*
 * Of the latest ALTER TABLE: DETACH PARTITION CONCURRENTLY reaches
 * ddl_command_end in another transaction than it started in.
 */
static MemoryContext names_cxt = NULL;
static List *partition_names = NIL;	/* of PartitionName, in names_cxt */

void
RememberPartitionNames(Node *parsetree)
{
	AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
	MemoryContext old;
	ListCell   *lc;

	if (!IsA(parsetree, AlterTableStmt))
		return;
	if (names_cxt == NULL)
		names_cxt = AllocSetContextCreate(TopMemoryContext, "tablepub partition names",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(names_cxt);
	partition_names = NIL;
	old = MemoryContextSwitchTo(names_cxt);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		PartitionCmd *pc;
		PartitionName *name;

		if (cmd->subtype != AT_AttachPartition && cmd->subtype != AT_DetachPartition &&
			cmd->subtype != AT_DetachPartitionFinalize)
			continue;
		pc = (PartitionCmd *) cmd->def;
		name = palloc(sizeof(PartitionName));
		name->schemaname = pc->name->schemaname ? pstrdup(pc->name->schemaname) : NULL;
		name->relname = pstrdup(pc->name->relname);
		name->relid = RangeVarGetRelid(pc->name, NoLock, true);
		partition_names = lappend(partition_names, name);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The relation an ATTACH or DETACH PARTITION subcommand moved: the one its
 * name meant at the start of the latest ALTER TABLE (DDL run by the event
 * triggers themselves is never an ALTER TABLE), provided this transaction
 * holds a lock on it. InvalidOid when unknown.
 */
static Oid
PartitionOfSubcmd(AlterTableCmd *cmd)
{
	RangeVar   *rv = ((PartitionCmd *) cmd->def)->name;
	Oid			relid = InvalidOid;
	Relation	rel;
	ListCell   *lc;

	foreach(lc, partition_names)
	{
		PartitionName *name = lfirst(lc);

		if (strcmp(name->relname, rv->relname) == 0 &&
			(name->schemaname == NULL) == (rv->schemaname == NULL) &&
			(name->schemaname == NULL || strcmp(name->schemaname, rv->schemaname) == 0))
			relid = name->relid;
	}
	if (!OidIsValid(relid))
		return InvalidOid;
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
		return InvalidOid;
	if (!CheckRelationLockedByMe(rel, ShareUpdateExclusiveLock, true))
		relid = InvalidOid;
	relation_close(rel, NoLock);
	return relid;
}

/*
 * tablepub.alter_table_events(cmd pg_ddl_command) RETURNS TABLE (event text,
 * relid oid, attnum int2): the subcommands of a collected ALTER TABLE that
 * change rows without row triggers firing:
 *
 *   attach               relid = the partition attached
 *   detach               relid = the partition detached
 *   detach concurrently  relid = the partition (detached in two transactions)
 *   detach finalize      relid = the partition
 *   alter column type    relid, attnum = the column retyped (values may change)
 *
 * relid is NULL when the partition cannot be told for sure.
 *
 * Only valid inside a ddl_command_end event trigger, like the command.
 */
PG_FUNCTION_INFO_V1(tablepub_alter_table_events);
Datum
tablepub_alter_table_events(PG_FUNCTION_ARGS)
{
	CollectedCommand *command = (CollectedCommand *) PG_GETARG_POINTER(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	if (command->type != SCT_AlterTable)
		return (Datum) 0;
	foreach(lc, command->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = lfirst(lc);
		AlterTableCmd *cmd = (AlterTableCmd *) sub->parsetree;
		const char *event;
		Oid			relid;
		int16		attnum = 0;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (!IsA(cmd, AlterTableCmd))
			continue;
		switch (cmd->subtype)
		{
			case AT_AttachPartition:
				event = "attach";
				relid = PartitionOfSubcmd(cmd);
				/* it must be a partition of the altered table now */
				if (OidIsValid(relid) &&
					(!get_rel_relispartition(relid) ||
					 get_partition_parent(relid, true) != command->d.alterTable.objectId))
					relid = InvalidOid;
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				event = cmd->subtype == AT_DetachPartitionFinalize ? "detach finalize" :
					((PartitionCmd *) cmd->def)->concurrent ? "detach concurrently" : "detach";
				relid = PartitionOfSubcmd(cmd);
				/* and no partition at all after DETACH */
				if (OidIsValid(relid) && get_rel_relispartition(relid))
					relid = InvalidOid;
				break;
			case AT_AlterColumnType:
				event = "alter column type";
				relid = sub->address.objectId;
				attnum = sub->address.objectSubId;
				break;
			default:
				continue;
		}
		values[0] = CStringGetTextDatum(event);
		values[1] = ObjectIdGetDatum(relid);
		values[2] = Int16GetDatum(attnum);
		nulls[1] = !OidIsValid(relid);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * tablepub.renamed_enum(cmd pg_ddl_command) RETURNS oid: the enum type whose
 * value a collected ALTER TYPE ... RENAME VALUE renamed, else NULL. Every
 * stored value of the type now has another text form, with no row change.
 */
PG_FUNCTION_INFO_V1(tablepub_renamed_enum);
Datum
tablepub_renamed_enum(PG_FUNCTION_ARGS)
{
	CollectedCommand *command = (CollectedCommand *) PG_GETARG_POINTER(0);

	if (command->type != SCT_Simple || !IsA(command->parsetree, AlterEnumStmt) ||
		((AlterEnumStmt *) command->parsetree)->oldVal == NULL ||
		!OidIsValid(command->d.simple.address.objectId))
		PG_RETURN_NULL();
	PG_RETURN_OID(command->d.simple.address.objectId);
}

/* Errors unless tgname is a tablepub capture trigger of rel. */
static void
CheckCaptureTrigger(Relation rel, const char *tgname)
{
	Oid			nsp = get_namespace_oid("tablepub", false);
	bool		found = false;
	int			i;

	for (i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *tg = &rel->trigdesc->triggers[i];
		char	   *fn;

		if (strcmp(tg->tgname, tgname) != 0)
			continue;
		fn = get_func_name(tg->tgfoid);
		found = get_func_namespace(tg->tgfoid) == nsp && fn != NULL &&
			(strcmp(fn, "capture_row") == 0 || strcmp(fn, "capture_truncate") == 0);
	}
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" has no tablepub capture trigger \"%s\"",
						RelationGetRelationName(rel), tgname)));
}

/*
 * tablepub.drop_capture_trigger(tbl regclass, tgname name): drops capture
 * trigger tgname of tbl without running DROP TRIGGER, whose sql_drop event
 * trigger would refuse it while the table is in a published tree (the
 * trigger left on a partition being attached is replaced this way).
 */
PG_FUNCTION_INFO_V1(tablepub_drop_capture_trigger);
Datum
tablepub_drop_capture_trigger(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *tgname = NameStr(*PG_GETARG_NAME(1));
	Relation	rel = table_open(relid, ShareRowExclusiveLock);
	ObjectAddress trigger;

	CheckCaptureTrigger(rel, tgname);
	ObjectAddressSet(trigger, TriggerRelationId, get_trigger_oid(relid, tgname, false));
	table_close(rel, NoLock);
	performDeletion(&trigger, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
	PG_RETURN_VOID();
}

/*
 * tablepub.enable_trigger_always(tbl regclass, tgname name): makes capture
 * trigger tgname of tbl fire in every session_replication_role (ENABLE
 * ALWAYS), so that logical replication apply workers and sessions with
 * session_replication_role = replica (pg_restore, bulk loaders) are
 * captured too. Refuses any trigger that is not a tablepub capture trigger.
 */
PG_FUNCTION_INFO_V1(tablepub_enable_trigger_always);
Datum
tablepub_enable_trigger_always(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *tgname = NameStr(*PG_GETARG_NAME(1));
	Relation	rel = table_open(relid, ShareRowExclusiveLock);

	CheckCaptureTrigger(rel, tgname);
	EnableDisableTrigger(rel, tgname, TRIGGER_FIRES_ALWAYS, false, ShareRowExclusiveLock);
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}

/*
 * tablepub.c: module entry point, settings, and the small SQL-callable
 * helpers that belong to no other concern.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pack.h"
#include "tablepub.h"

PG_MODULE_MAGIC;

bool		tablepub_notify = true;
int			tablepub_notify_interval_ms = 10;
int			tablepub_retention_s = 3600;
int			tablepub_pack_bytes = PACK_MAX_BYTES;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("tablepub.notify",
							 "Wakes the relay with NOTIFY tablepub when a transaction that captured a change commits.",
							 "At most once per tablepub.notify_interval per session; PREPARE TRANSACTION never notifies. Off: the relay finds changes by polling.",
							 &tablepub_notify, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("tablepub.notify_interval",
							"Minimum time between two NOTIFY tablepub of one session; 0 notifies every transaction.",
							"A commit within this interval of the session's last NOTIFY sends none: after any wake-up the relay keeps polling until it has seen nothing for longer than this interval plus a margin, so a skipped NOTIFY costs at most a few milliseconds of latency.",
							&tablepub_notify_interval_ms, 10, 0, INT_MAX, PGC_USERSET,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("tablepub.retention",
							"How long an outbox partition stays current, and stays after it retired, before tablepub.maintain() may truncate it.",
							NULL,
							&tablepub_retention_s, 3600, 1, INT_MAX, PGC_SUSET,
							GUC_UNIT_S, NULL, NULL, NULL);
	/*
	 * Any session may choose: packing changes the outbox's layout, never
	 * what the relay publishes, and the capture keeps every pack within
	 * PACK_MAX_BYTES and well-formed whatever the value.
	 */
	DefineCustomIntVariable("tablepub.pack_bytes",
							"Most bytes of an outbox row that packs several row changes of one table; 0 writes one row per change.",
							"Packing needs extension version 0.4 (ALTER EXTENSION tablepub UPDATE); changes that do not fit two to a pack are written one per row.",
							&tablepub_pack_bytes, PACK_MAX_BYTES, 0, PACK_MAX_BYTES, PGC_USERSET,
							GUC_UNIT_BYTE, NULL, NULL, NULL);
	MarkGUCPrefixReserved("tablepub");
	InitCapturePlanCache();
	InitOutbox();
	InitDdlHooks();
}

/* tablepub.retention() RETURNS interval */
PG_FUNCTION_INFO_V1(tablepub_retention);
Datum
tablepub_retention(PG_FUNCTION_ARGS)
{
	Interval   *result = palloc0(sizeof(Interval));

	result->time = (int64) tablepub_retention_s * USECS_PER_SEC;
	PG_RETURN_INTERVAL_P(result);
}

/*
 * tablepub.check_may_manage(tbl regclass): the role the session acts as (SET
 * ROLE counts, SECURITY DEFINER does not) must own tbl or belong to
 * tablepub_admin. publish() is SECURITY DEFINER, so current_user is useless.
 */
PG_FUNCTION_INFO_V1(tablepub_check_may_manage);
Datum
tablepub_check_may_manage(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			caller = GetOuterUserId();
	Oid			admin = get_role_oid("tablepub_admin", true);
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	if (!has_privs_of_role(caller, owner) &&
		!(OidIsValid(admin) && has_privs_of_role(caller, admin)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s or a member of tablepub_admin",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid))),
				 errhint("Ask the table's owner, or have tablepub_admin granted to you.")));
	PG_RETURN_VOID();
}

/*
 * Event trigger at the start of every DDL command. Calling it loads this
 * library, whose object access hook must be in place before a DROP deletes
 * a partition of a published table (ddl.c); it forgets partitions an
 * earlier, failed command recorded, and resolves the partitions an ALTER
 * TABLE attaches or detaches with the user's search_path (ddl.c). Before DROP EXTENSION tablepub it
 * removes the capture triggers and relay grants the extension put on user
 * tables, so that the drop needs no CASCADE and leaves nothing behind.
 */
PG_FUNCTION_INFO_V1(tablepub_on_ddl_start);
Datum
tablepub_on_ddl_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	ListCell   *lc;
	bool		ours = false;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tablepub.on_ddl_start() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	ResetDroppedPartitions();
	RememberPartitionNames(trigdata->parsetree);
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_NULL();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		PG_RETURN_NULL();
	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "tablepub") == 0)
			ours = true;
	}
	if (!ours)
		PG_RETURN_NULL();

	SPI_connect();
	if (SPI_execute("SELECT tablepub.remove_all()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "tablepub.remove_all() failed");
	SPI_finish();
	PG_RETURN_NULL();
}

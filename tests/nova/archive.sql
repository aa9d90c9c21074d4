-- Archives soft-deleted rows into Nova's shadow tables, one statement per
-- table, the way `nova-manage db archive_deleted_rows` moves them (which
-- itself fails on PostgreSQL in Zed: its INSERT ... SELECT mixes the enum
-- types of instances and shadow_instances, so tables with enum columns are
-- left out here). The DELETEs are published; the shadow tables are not.
DO $$
DECLARE
    t text;
    cols text;
BEGIN
    FOREACH t IN ARRAY ARRAY['instance_metadata', 'instance_system_metadata', 'instance_faults',
                             'block_device_mapping'] LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
          FROM pg_attribute WHERE attrelid = t::regclass AND attnum > 0 AND NOT attisdropped;
        EXECUTE format('WITH gone AS (DELETE FROM %I WHERE deleted <> 0 RETURNING %s) INSERT INTO %I (%s) SELECT %s FROM gone',
                       t, cols, 'shadow_' || t, cols, cols);
    END LOOP;
END
$$;

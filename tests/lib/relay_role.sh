# The relay's least-privilege login for the test and demo scripts. Source it
# after CREATE EXTENSION tablepub (which creates the group role).

# create_relay_role: creates (once per cluster) tablepub_test_relay, a
# non-superuser LOGIN role that is only a member of tablepub_relay, as
# README.md tells operators to run the relay; every test relay connects as
# it, so a privilege the relay lacks fails the tests.
RELAY_ROLE=tablepub_test_relay
create_relay_role() {
    psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$RELAY_ROLE') THEN
        CREATE ROLE $RELAY_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS IN ROLE tablepub_relay;
    END IF;
END\$\$;
SQL
}

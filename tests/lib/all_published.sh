# Sourced by test scripts: ALL_PUBLISHED_SQL, the boolean SQL expression
# "the relay has published every committed change" (tests/lib/all_published.sql,
# comment lines dropped).
ALL_PUBLISHED_SQL=$(sed '/^--/d' "$(dirname "${BASH_SOURCE[0]}")/all_published.sql")

/*
 * utf8.c: text leaves the database as UTF-8, whatever the server encoding.
 *
 * protobuf `string` fields must hold valid UTF-8 (the C++ and Python parsers
 * reject a message that does not), so every text, name and JSON value is
 * converted from the server encoding. A SQL_ASCII database has no encoding
 * to convert from: its bytes go out unchanged when they happen to be valid
 * UTF-8, and otherwise the caller sends them as bytes (Value.raw_text) or
 * refuses them (names).
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "tablepub.h"

/*
 * s (NUL-terminated, server encoding) as UTF-8: s itself in a UTF-8
 * database, else a palloc'd conversion. NULL in a SQL_ASCII database when
 * s is not valid UTF-8. Errors when a character has no UTF-8 equivalent.
 */
char *
ServerToUtf8(char *s)
{
	int			encoding = GetDatabaseEncoding();
	int			len;

	if (encoding == PG_UTF8)
		return s;
	len = strlen(s);
	if (encoding == PG_SQL_ASCII)
		return pg_verify_mbstr(PG_UTF8, s, len, true) ? s : NULL;
	return pg_server_to_any(s, len, PG_UTF8);
}

/*
 * A name of a published object (schema, table, column, type) as UTF-8; what
 * names the kind of object for the error. Refuses a name that cannot be
 * sent, i.e. one that is not valid UTF-8 in a SQL_ASCII database.
 */
char *
NameToUtf8(char *name, const char *what)
{
	char	   *utf8 = ServerToUtf8(name);

	if (utf8 == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("%s name \"%s\" is not valid UTF-8", what, name),
				 errdetail("The database encoding is SQL_ASCII; tablepub sends names as UTF-8 and cannot tell what these bytes mean."),
				 strcmp(what, "column") == 0 ?
				 errhint("Rename the column, or leave it out of the publication.") :
				 errhint("Rename the %s.", what)));
	return utf8;
}

/*
 * Free text for humans (a RESYNC reason) as UTF-8; in a SQL_ASCII database
 * every byte of a string that is not valid UTF-8 and is not ASCII becomes
 * '?'.
 */
char *
TextToUtf8Lossy(char *s)
{
	char	   *utf8 = ServerToUtf8(s);
	char	   *p;

	if (utf8 != NULL)
		return utf8;
	utf8 = pstrdup(s);
	for (p = utf8; *p; p++)
		if (IS_HIGHBIT_SET(*p))
			*p = '?';
	return utf8;
}

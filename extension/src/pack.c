/*
 * pack.c: writing and checking the varint-length entries of a packed outbox
 * row (see pack.h), without the PostgreSQL backend, so that the fuzzer runs
 * exactly the checks decode_changes() runs on a caller's bytes.
 */
#include "pack.h"

#include <stdio.h>

/* A varint of more bytes than this does not fit 64 bits. */
#define VARINT_MAX_BYTES 10

size_t
PackVarintSize(uint64_t v)
{
	size_t		n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

size_t
PackPutVarint(uint8_t *p, uint64_t v)
{
	size_t		n = 0;

	while (v >= 0x80)
	{
		p[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t) v;
	return n;
}

/*
 * Reads the varint at data[*off], before end; returns false when it is
 * truncated or does not fit 64 bits.
 */
static bool
GetVarint(const uint8_t *data, size_t end, size_t *off, uint64_t *v)
{
	uint64_t	result = 0;
	size_t		i;

	for (i = 0; i < VARINT_MAX_BYTES && *off + i < end; i++)
	{
		uint8_t		b = data[*off + i];

		/* The tenth byte holds bit 63 only. */
		if (i == VARINT_MAX_BYTES - 1 && b > 1)
			return false;
		result |= (uint64_t) (b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0)
		{
			*off += i + 1;
			*v = result;
			return true;
		}
	}
	return false;
}

size_t
PackCheck(const uint8_t *data, size_t len, char *detail)
{
	size_t		off = 1;
	size_t		n = 0;

	if (!PackIsPacked(data, len))
	{
		snprintf(detail, PACK_DETAIL_SIZE, "A packed row starts with the byte 0x00.");
		return 0;
	}
	while (off < len)
	{
		uint64_t	entry_len;
		size_t		at = off;

		if (!GetVarint(data, len, &off, &entry_len))
		{
			snprintf(detail, PACK_DETAIL_SIZE,
					 "The length of entry %zu at byte %zu is truncated or too long.", n + 1, at);
			return 0;
		}
		if (entry_len == 0)
		{
			snprintf(detail, PACK_DETAIL_SIZE, "Entry %zu at byte %zu is empty.", n + 1, at);
			return 0;
		}
		if (entry_len > len - off)
		{
			snprintf(detail, PACK_DETAIL_SIZE,
					 "Entry %zu at byte %zu ends past the end of the row.", n + 1, at);
			return 0;
		}
		if (data[off] == PACK_MARKER)
		{
			snprintf(detail, PACK_DETAIL_SIZE,
					 "Entry %zu at byte %zu is itself a packed row.", n + 1, at);
			return 0;
		}
		off += (size_t) entry_len;
		n++;
	}
	if (n < 2)
	{
		snprintf(detail, PACK_DETAIL_SIZE, "A packed row holds 2 or more entries, this one %zu.", n);
		return 0;
	}
	return n;
}

bool
PackNext(const uint8_t *data, size_t len, size_t *off,
		 const uint8_t **entry, size_t *entry_len)
{
	uint64_t	l;

	if (*off == 0)
		*off = 1;
	if (*off >= len || !GetVarint(data, len, off, &l) || l > len - *off)
		return false;
	*entry = data + *off;
	*entry_len = (size_t) l;
	*off += (size_t) l;
	return true;
}

/*
 * Parser of the pieces list, strict: the header lines in their order, then
 * exactly `pieces` lines of 64 lower-case hex digits or "-". The counts are
 * checked against each other (pieces = ceil(size / piece_size)) so that a
 * list cannot make the client allocate or index beyond the object.
 */
#include "cf_pieces.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"

/* The next line of [*s, end) without its '\n'; NULL at the end or when unterminated. */
static const char *next_line(const char **s, const char *end, size_t *len)
{
	const char *l = *s, *nl;

	if (l >= end || !(nl = memchr(l, '\n', (size_t)(end - l))))
		return NULL;
	*len = (size_t)(nl - l);
	*s = nl + 1;
	return l;
}

static int header(const char **s, const char *end, const char *name, uint64_t max, uint64_t *v)
{
	size_t len, nlen = strlen(name);
	const char *l = next_line(s, end, &len);
	uint64_t x = 0;

	if (!l || len <= nlen + 1 || memcmp(l, name, nlen) || l[nlen] != ' ' || len - nlen - 1 > 20)
		return -EPROTO;
	for (size_t i = nlen + 1; i < len; i++) {
		if (!cb_is_digit(l[i]) || x > (max - (uint64_t)(l[i] - '0')) / 10)
			return -EPROTO;
		x = x * 10 + (uint64_t)(l[i] - '0');
	}
	*v = x;
	return 0;
}

int cf_pieces_parse(const char *text, size_t len, struct cf_pieces *p)
{
	const char *s = text, *end = text + len, *l;
	uint64_t size, psize, n;
	size_t ll;

	memset(p, 0, sizeof(*p));
	l = next_line(&s, end, &ll);
	if (!l || ll != 17 || memcmp(l, "cachebox-pieces 1", 17))
		return -EPROTO;
	if (header(&s, end, "size", UINT64_MAX, &size) ||
	    header(&s, end, "piece_size", 1u << 30, &psize) ||
	    header(&s, end, "pieces", UINT32_MAX, &n) || !psize || n != (size + psize - 1) / psize)
		return -EPROTO;
	p->size = size;
	p->piece_size = (uint32_t)psize;
	p->npieces = (uint32_t)n;
	p->hashes = malloc(n ? n * 32 : 1);
	p->known = calloc(n ? n : 1, sizeof(bool));
	if (!p->hashes || !p->known) {
		cf_pieces_fini(p);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < n; i++) {
		l = next_line(&s, end, &ll);
		if (l && ll == 1 && l[0] == '-')
			continue;
		if (!l || ll != 64 || cb_hex_decode(l, 64, p->hashes + i * 32) < 0) {
			cf_pieces_fini(p);
			return -EPROTO;
		}
		p->known[i] = true;
	}
	if (s != end) {
		cf_pieces_fini(p);
		return -EPROTO;
	}
	return 0;
}

void cf_pieces_fini(struct cf_pieces *p)
{
	free(p->hashes);
	free(p->known);
	p->hashes = NULL;
	p->known = NULL;
}

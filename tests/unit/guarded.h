/*
 * The guard-page trick of picohttpparser's tests, shared by the unit tests
 * of every parser: an input copied so that it ends exactly where an
 * unmapped page begins, so a read of buf[len] is a SIGSEGV instead of a
 * silent overread. Header-only: each test executable is one file.
 */
#ifndef CB_TEST_GUARDED_H
#define CB_TEST_GUARDED_H

#include <criterion/criterion.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guarded {
	char *map, *buf; /* buf: the copy, its last byte just before the unmapped page */
	size_t maplen;
};

/* A copy of s[0..len) at the end of a mapping; free with unguard(). */
static inline struct guarded guard(const void *s, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + pg - 1) / pg * pg;
	struct guarded g;

	if (data == 0)
		data = pg;
	g.maplen = data + pg;
	g.map = mmap(NULL, g.maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(g.map != MAP_FAILED);
	cr_assert(mprotect(g.map + data, pg, PROT_NONE) == 0);
	g.buf = g.map + data - len;
	if (len)
		memcpy(g.buf, s, len);
	return g;
}

static inline void unguard(struct guarded *g)
{
	if (g->map)
		munmap(g->map, g->maplen);
	g->map = NULL;
}

#endif

/*
 * Unit tests for st_http_chunked.c, the request body decoder of RFC 9112
 * §7.1: sizes, extensions, trailers, their limits, every input fed whole
 * and byte by byte from the end of a guarded page (guarded.h), errors
 * sticky.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <string.h>

#include "../guarded.h"
#include "st_http.h"

TestSuite(http_chunked, .description = "RFC 9112 §7.1 chunked request bodies");

/* ---- chunked bodies ----------------------------------------------------- */

static long feed_all(const char *s, size_t len, struct st_http_chunked *c, bool *done)
{
	struct guarded g = guard(s, len);
	long ret;

	st_http_chunked_init(c);
	ret = st_http_chunked_feed(c, g.buf, len, done);
	unguard(&g);
	return ret;
}

Test(http_chunked, chunked_simple)
{
	static const char body[] =
		"5\r\nhello\r\n1A;ext=\"q;v\" ; x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
		"0\r\n\r\n";
	struct st_http_chunked c;
	bool done = false;

	cr_assert_eq(feed_all(body, sizeof(body) - 1, &c, &done), (long)sizeof(body) - 1);
	cr_assert(done);
	cr_assert_eq(c.total, 31);
	/* after the end nothing more is consumed */
	cr_assert_eq(st_http_chunked_feed(&c, "5\r\n", 3, &done), 0);
	cr_assert(done);
}

Test(http_chunked, chunked_byte_by_byte)
{
	static const char body[] = "a\r\n0123456789\r\n3 ; e\r\nabc\r\n000\r\nX-Sum: 1\r\n"
				   "X-Other:two \r\n\r\n";
	struct st_http_chunked c;
	bool done = false;

	st_http_chunked_init(&c);
	for (size_t i = 0; i < sizeof(body) - 1; i++) {
		cr_assert_not(done, "done early at %zu", i);
		cr_assert_eq(st_http_chunked_feed(&c, body + i, 1, &done), 1, "byte %zu", i);
	}
	cr_assert(done);
	cr_assert_eq(c.total, 13);
}

Test(http_chunked, chunked_stops_at_end_of_body)
{
	static const char body[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	struct st_http_chunked c;
	bool done = false;

	cr_assert_eq(feed_all(body, sizeof(body) - 1, &c, &done),
		     (long)(strstr(body, "GET") - body));
	cr_assert(done);
}

Test(http_chunked, chunked_size_limits)
{
	struct st_http_chunked c;
	bool done;

	/* 2^62 is the largest chunk accepted; the data itself need not arrive here */
	cr_assert_eq(feed_all("4000000000000000\r\n", 18, &c, &done), 18);
	cr_assert_eq(c.remaining, 1ull << 62);
	cr_assert_eq(feed_all("4000000000000001\r\n", 18, &c, &done), -1);
	cr_assert_eq(feed_all("10000000000000000\r\n", 19, &c, &done), -1);
	cr_assert_eq(feed_all("ffffffffffffffffffff\r\n", 22, &c, &done), -1);
	/* leading zeros are fine, up to the line cap */
	cr_assert_eq(feed_all("00000000000000000001\r\nx\r\n0\r\n\r\n", 30, &c, &done), 30);
	cr_assert(done);
}

Test(http_chunked, chunked_total_capped)
{
	struct st_http_chunked c;
	bool done;

	/* pretend one byte already went by: a chunk of 2^62 would take the body past 2^62 */
	st_http_chunked_init(&c);
	c.total = 1;
	cr_assert_eq(st_http_chunked_feed(&c, "4000000000000000\r\n", 18, &done), -1);
	st_http_chunked_init(&c);
	c.total = 1;
	cr_assert_eq(st_http_chunked_feed(&c, "3fffffffffffffff\r\n", 18, &done), 18);
}

Test(http_chunked, chunked_long_lines)
{
	static char buf[8192];
	struct st_http_chunked c;
	bool done;
	size_t n;

	/* a size line of 4096 bytes is accepted, 4097 is not */
	memset(buf, '0', sizeof(buf));
	memcpy(buf + 4094, "\r\n\r\n", 4);
	cr_assert_eq(feed_all(buf, 4098, &c, &done), 4098);
	cr_assert(done);
	memset(buf, '0', sizeof(buf));
	cr_assert_eq(feed_all(buf, sizeof(buf), &c, &done), -1);

	/* long extension */
	n = (size_t)sprintf(buf, "1;");
	memset(buf + n, 'e', 5000);
	cr_assert_eq(feed_all(buf, n + 5000, &c, &done), -1);

	/* long trailer line */
	n = (size_t)sprintf(buf, "0\r\nX-T: ");
	memset(buf + n, 'v', 5000);
	cr_assert_eq(feed_all(buf, n + 5000, &c, &done), -1);
}

Test(http_chunked, chunked_too_many_trailers)
{
	static char buf[4096];
	struct st_http_chunked c;
	bool done;
	size_t n = (size_t)sprintf(buf, "0\r\n");

	for (int i = 0; i < ST_HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(buf + n, "T%d: v\r\n", i);
	memcpy(buf + n, "\r\n", 2);
	cr_assert_eq(feed_all(buf, n + 2, &c, &done), (long)n + 2);
	cr_assert(done);
	n += (size_t)sprintf(buf + n, "T: v\r\n\r\n");
	cr_assert_eq(feed_all(buf, n, &c, &done), -1);
}

struct chunk_case {
	char body[64];
	size_t len;
};

#define CHUNK(s)                                                                                   \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}

ParameterizedTestParameters(http_chunked, refused)
{
	static struct chunk_case cases[] = {
		CHUNK("\r\n"), /* no size */
		CHUNK("g\r\n"),
		CHUNK("-1\r\n"),
		CHUNK("+5\r\nhello\r\n"),
		CHUNK("0x5\r\nhello\r\n"),
		CHUNK(" 5\r\nhello\r\n"),
		CHUNK("5 \r\nhello\r\n"), /* BWS only before ';' */
		CHUNK("5\t\r\nhello\r\n"),
		CHUNK("5 5\r\n"),
		CHUNK("5\nhello\r\n"),	  /* bare LF */
		CHUNK("5\rhello\r\n"),	  /* bare CR */
		CHUNK("5\r\nhelloX\r\n"), /* data longer than announced */
		CHUNK("5\r\nhello\n0\r\n\r\n"),
		CHUNK("5\r\nhello\r\r\n"),
		CHUNK("5;a\x00"
		      "b\r\n"), /* NUL in an extension */
		CHUNK("5;a\nb\r\n"),
		CHUNK("5;a\rb\r\nhello\r\n0\r\n\r\n"), /* CR inside an extension */
		CHUNK("0_2e\r\n\r\n"),		       /* not a hex size (nor a Python int) */
		CHUNK("0_2e\r\n"),
		CHUNK("0\r\n x: a\r\n\r\n"), /* obs-fold / leading space in trailers */
		CHUNK("0\r\nX-A b\r\n\r\n"), /* no colon */
		CHUNK("0\r\nX-A : b\r\n\r\n"),
		CHUNK("0\r\n: b\r\n\r\n"),
		CHUNK("0\r\nX: a\x00"
		      "b\r\n\r\n"),
		CHUNK("0\r\nX: a\rb\r\n\r\n"),
		CHUNK("0\r\nX: a\r\n\n"),
		CHUNK("0\r\n\r\r"),
		CHUNK("0\r\n\n"),
	};

	return cr_make_param_array(struct chunk_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct chunk_case *cc, http_chunked, refused)
{
	struct st_http_chunked c;
	bool done = false;

	cr_assert_eq(feed_all(cc->body, cc->len, &c, &done), -1, "%zu bytes", cc->len);
	cr_assert_not(done);
	/* errors are sticky */
	cr_assert_eq(st_http_chunked_feed(&c, "0\r\n\r\n", 5, &done), -1);
}
